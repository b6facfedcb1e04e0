//! [`EventInbox`] for [`SqliteStore`]: the `webhook_events` table. Sequence numbers come from
//! `AUTOINCREMENT` inside the inserting transaction, and SQLite has one writer at a time, so they grow
//! in commit order: a reader that has seen sequence number N never later finds a smaller one appear.

use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, map_error};
use crate::clock::now_rfc3339;
use crate::state::StateResult;
use crate::state::inbox::{
    Acceptance, EventInbox, EventOutcome, EventStatus, InboxEvent, NewEvent, OutcomeKind, Settlement,
};

fn outcome_of(kind: Option<String>, reason: Option<String>) -> Option<EventOutcome> {
    kind.as_deref().and_then(OutcomeKind::parse).map(|kind| EventOutcome { kind, reason })
}

impl EventInbox for SqliteStore {
    fn inbox_accept(&self, pipeline: &str, event: &NewEvent<'_>) -> StateResult<Acceptance> {
        self.write(|conn| {
            // IMMEDIATE: the duplicate probe and the insert see the same state, whatever other processes do.
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(map_error)?;
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO webhook_events (pipeline, event_id, received_at_ms, headers, body, malformed)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (pipeline, event_id) DO NOTHING",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        pipeline,
                        event.event_id,
                        event.received_at_ms,
                        event.headers.to_string(),
                        event.body,
                        event.malformed
                    ])
                })
                .map_err(map_error)?;
            let acceptance = if inserted == 1 {
                Acceptance::Accepted { seq: tx.last_insert_rowid() }
            } else {
                let (seq, kind, reason): (i64, Option<String>, Option<String>) = tx
                    .query_row(
                        "SELECT seq, outcome, reason FROM webhook_events WHERE pipeline = ?1 AND event_id = ?2",
                        params![pipeline, event.event_id],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .map_err(map_error)?;
                Acceptance::Duplicate { seq, outcome: outcome_of(kind, reason) }
            };
            tx.commit().map_err(map_error)?;
            Ok(acceptance)
        })
    }

    fn inbox_events(
        &self,
        pipeline: &str,
        after: i64,
        through: Option<i64>,
        limit: usize,
    ) -> StateResult<Vec<InboxEvent>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                // No `?3 IS NULL OR …`: SQLite plans such a test with the value bound, and prepares the
                // statement again whenever that value changes (8% of `weir serve`'s CPU under load).
                "SELECT seq, event_id, received_at_ms, body, malformed FROM webhook_events
                 WHERE pipeline = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq LIMIT ?4",
            )
            .map_err(map_error)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let through = through.unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![pipeline, after, through, limit], |r| {
                Ok(InboxEvent {
                    seq: r.get(0)?,
                    event_id: r.get(1)?,
                    received_at_ms: r.get(2)?,
                    body: r.get(3)?,
                    malformed: r.get(4)?,
                })
            })
            .map_err(map_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(map_error)
    }

    fn inbox_last_seq(&self, pipeline: &str) -> StateResult<i64> {
        self.lock()
            .query_row("SELECT coalesce(max(seq), 0) FROM webhook_events WHERE pipeline = ?1", params![pipeline], |r| {
                r.get(0)
            })
            .map_err(map_error)
    }

    fn inbox_settle(&self, pipeline: &str, settlements: &[Settlement<'_>]) -> StateResult<()> {
        if settlements.is_empty() {
            return Ok(());
        }
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(map_error)?;
            {
                let mut settle = tx
                    .prepare_cached(
                        "UPDATE webhook_events SET outcome = ?3, settled_at = ?4, reason = ?5
                         WHERE pipeline = ?1 AND event_id = ?2",
                    )
                    .map_err(map_error)?;
                let now = now_rfc3339();
                for s in settlements {
                    let reason = s.reason.filter(|_| s.kind == OutcomeKind::DeadLettered);
                    settle.execute(params![pipeline, s.event_id, s.kind.as_str(), now, reason]).map_err(map_error)?;
                }
            }
            tx.commit().map_err(map_error)
        })
    }

    fn inbox_status(&self, pipeline: &str, event_id: &str) -> StateResult<EventStatus> {
        let row: Option<(Option<String>, Option<String>)> = self
            .lock()
            .query_row(
                "SELECT outcome, reason FROM webhook_events WHERE pipeline = ?1 AND event_id = ?2",
                params![pipeline, event_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(map_error)?;
        Ok(match row {
            None => EventStatus::Unknown,
            Some((kind, reason)) => match outcome_of(kind, reason) {
                Some(outcome) => EventStatus::Settled(outcome),
                None => EventStatus::Pending,
            },
        })
    }

    fn inbox_prune(&self, pipeline: &str, through: i64, received_before_ms: i64) -> StateResult<u64> {
        let removed = self.write(|conn| {
            conn.execute(
                "DELETE FROM webhook_events WHERE pipeline = ?1 AND seq <= ?2 AND received_at_ms < ?3",
                params![pipeline, through, received_before_ms],
            )
            .map_err(map_error)
        })?;
        Ok(removed as u64)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::state::sqlite::SqliteStore;

    fn event<'a>(id: &'a str, body: &'a [u8], headers: &'a serde_json::Value) -> NewEvent<'a> {
        NewEvent { event_id: id, received_at_ms: 1_000, headers, body, malformed: None }
    }

    #[test]
    fn events_are_kept_once_in_arrival_order_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.db");
        let store = SqliteStore::open(&path).expect("open");
        let h = json!({});
        let a = store.inbox_accept("p", &event("a", b"{\"n\":1}", &h)).expect("accept");
        let b = store.inbox_accept("p", &event("b", b"{\"n\":2}", &h)).expect("accept");
        let other = store.inbox_accept("q", &event("a", b"{}", &h)).expect("another pipeline, same id");
        let again = store.inbox_accept("p", &event("a", b"{\"n\":3}", &h)).expect("accept");
        let (Acceptance::Accepted { seq: first }, Acceptance::Accepted { seq: second }) = (a, b) else {
            panic!("both accepted")
        };
        assert!(second > first);
        assert!(matches!(other, Acceptance::Accepted { .. }));
        assert_eq!(again, Acceptance::Duplicate { seq: first, outcome: None });
        drop(store);
        let store = SqliteStore::open(&path).expect("reopen");
        let events = store.inbox_events("p", 0, None, 10).expect("events");
        assert_eq!(events.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(events[0].body, b"{\"n\":1}", "the first body is kept, not the duplicate's");
        assert_eq!(store.inbox_events("p", first, None, 10).expect("after").len(), 1);
        assert_eq!(store.inbox_events("p", 0, Some(first), 10).expect("through").len(), 1);
        assert_eq!(store.inbox_events("p", 0, None, 1).expect("limit").len(), 1);
        assert_eq!(store.inbox_last_seq("p").expect("last"), second);
        assert_eq!(store.inbox_last_seq("none").expect("last"), 0);
    }

    #[test]
    fn outcomes_are_recorded_with_the_dead_letter_reason_and_reported_to_duplicates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("state.db")).expect("open");
        let h = json!({});
        for id in ["a", "b", "c"] {
            store.inbox_accept("p", &event(id, b"{}", &h)).expect("accept");
        }
        assert_eq!(store.inbox_status("p", "a").expect("status"), EventStatus::Pending);
        assert_eq!(store.inbox_status("p", "zzz").expect("status"), EventStatus::Unknown);
        store
            .inbox_settle(
                "p",
                &[
                    Settlement { event_id: "a", kind: OutcomeKind::Delivered, reason: Some("only for dead letters") },
                    Settlement { event_id: "b", kind: OutcomeKind::DeadLettered, reason: Some("postcode not allowed") },
                    Settlement { event_id: "c", kind: OutcomeKind::Filtered, reason: None },
                ],
            )
            .expect("settle");
        let delivered = EventOutcome { kind: OutcomeKind::Delivered, reason: None };
        assert_eq!(store.inbox_status("p", "a").expect("status"), EventStatus::Settled(delivered.clone()));
        let dead = EventOutcome { kind: OutcomeKind::DeadLettered, reason: Some("postcode not allowed".into()) };
        assert_eq!(store.inbox_status("p", "b").expect("status"), EventStatus::Settled(dead));
        let again = store.inbox_accept("p", &event("a", b"{}", &h)).expect("accept");
        assert!(matches!(again, Acceptance::Duplicate { outcome: Some(o), .. } if o == delivered));
    }

    #[test]
    fn pruning_forgets_only_old_events_the_checkpoint_passed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("state.db")).expect("open");
        let h = json!({});
        let at = |id: &'static str, ms: i64| NewEvent { received_at_ms: ms, ..event(id, b"{}", &h) };
        let mut seqs = Vec::new();
        for (id, ms) in [("old", 100), ("old-unread", 100), ("new", 5_000)] {
            match store.inbox_accept("p", &at(id, ms)).expect("accept") {
                Acceptance::Accepted { seq } => seqs.push(seq),
                other => panic!("{other:?}"),
            }
        }
        // The checkpoint passed "old" only: "old-unread" is kept however old it is.
        assert_eq!(store.inbox_prune("p", seqs[0], 1_000).expect("prune"), 1);
        assert_eq!(store.inbox_status("p", "old").expect("status"), EventStatus::Unknown);
        assert_eq!(store.inbox_prune("p", seqs[2], 1_000).expect("prune"), 1);
        assert_eq!(store.inbox_status("p", "new").expect("status"), EventStatus::Pending);
        // A pruned id may be accepted again (the replay window refuses it first when it is old).
        assert!(matches!(store.inbox_accept("p", &at("old", 100)).expect("accept"), Acceptance::Accepted { .. }));
    }
}
