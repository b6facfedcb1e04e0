//! [`StateStore`] queries for [`SqliteStore`]: one short transaction per call, committed durably
//! before the call returns.

use std::time::Duration;

use rusqlite::{OptionalExtension, params};
use serde_json::{Map, Value};

use super::{SqliteStore, map_error, writes};
use crate::clock::now_rfc3339;
use crate::state::DeadLetterEntry;
use crate::state::RetentionRule;
use crate::state::lease::LeaseHolder;
use crate::state::{
    AuditEntry, CheckpointStamp, HistoryKind, IntentId, PriorIntent, RunRecord, RunStatus, StateResult, StateStore,
    StoredDeadLetter, WriteOutcome,
};

fn to_json(value: &Value) -> String {
    value.to_string()
}

fn from_json(text: Option<String>) -> Option<Value> {
    text.map(|t| crate::exact_json::from_str(&t).unwrap_or(Value::String(t)))
}

/// SHA-256 of a dead letter's record text (hex): how an entry is recognised without a key.
fn record_hash(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn dead_letter_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredDeadLetter> {
    Ok(StoredDeadLetter {
        id: row.get(0)?,
        run_id: row.get(1)?,
        entry: DeadLetterEntry {
            time: row.get(2)?,
            pipeline: row.get(3)?,
            step: row.get(4)?,
            key: row.get(5)?,
            error: row.get(6)?,
            attempts: row.get(7)?,
            record: from_json(row.get(8)?).unwrap_or(Value::Null),
            parent: from_json(row.get(9)?),
        },
    })
}

const DEAD_LETTER_COLUMNS: &str = "id, run_id, time, pipeline, step, key, error, attempts, record, parent";

impl StateStore for SqliteStore {
    fn checkpoint(&self, pipeline: &str, source: &str) -> StateResult<Option<Value>> {
        let conn = self.lock();
        let text: Option<String> = conn
            .query_row(
                "SELECT position FROM checkpoints WHERE pipeline = ?1 AND source = ?2",
                params![pipeline, source],
                |r| r.get(0),
            )
            .optional()
            .map_err(map_error)?;
        Ok(from_json(text))
    }

    fn save_checkpoint(&self, pipeline: &str, source: &str, position: &Value) -> StateResult<()> {
        self.write(|conn| {
            conn.execute(
                "INSERT INTO checkpoints (pipeline, source, position, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (pipeline, source) DO UPDATE SET position = ?3, updated_at = ?4",
                params![pipeline, source, to_json(position), now_rfc3339()],
            )
            .map_err(map_error)?;
            Ok(())
        })
    }

    fn clear_checkpoint(&self, pipeline: &str, source: &str) -> StateResult<()> {
        self.write(|conn| {
            conn.execute("DELETE FROM checkpoints WHERE pipeline = ?1 AND source = ?2", params![pipeline, source])
                .map_err(map_error)?;
            Ok(())
        })
    }

    fn checkpoint_stamps(&self) -> StateResult<Vec<CheckpointStamp>> {
        self.stamps()
    }

    fn ids(&self, key: &str) -> StateResult<Map<String, Value>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached("SELECT name, value FROM id_map WHERE key = ?1").map_err(map_error)?;
        let rows = stmt
            .query_map(params![key], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(map_error)?;
        let mut ids = Map::new();
        for row in rows {
            let (name, value) = row.map_err(map_error)?;
            ids.insert(name, from_json(Some(value)).unwrap_or(Value::Null));
        }
        Ok(ids)
    }

    fn put_id(&self, key: &str, name: &str, value: &Value) -> StateResult<()> {
        self.write(|conn| writes::put_id(conn, key, name, value))
    }

    fn begin_intent(&self, id: &IntentId, payload_hash: &str) -> StateResult<PriorIntent> {
        self.write(|conn| {
            // IMMEDIATE: it reads before it writes; a deferred transaction's read snapshot could fail the
            // write with SQLITE_BUSY_SNAPSHOT when another process commits in between.
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(map_error)?;
            let prior: Option<(String, String, Option<String>)> = tx
                .query_row(
                    "SELECT status, payload_hash, response FROM intents WHERE pipeline = ?1 AND sink = ?2 AND key = ?3",
                    params![id.pipeline, id.sink, id.key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(map_error)?;
            let now = now_rfc3339();
            let prior = match prior {
                None => {
                    tx.execute(
                        "INSERT INTO intents (pipeline, sink, key, payload_hash, status, attempts, created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, 'pending', 1, ?5, ?5)",
                        params![id.pipeline, id.sink, id.key, payload_hash, now],
                    )
                    .map_err(map_error)?;
                    PriorIntent::None
                }
                Some((status, hash, response)) if status == "done" => {
                    PriorIntent::Done { payload_hash: hash, response: from_json(response) }
                }
                Some((_, hash, _)) => {
                    tx.execute(
                        "UPDATE intents SET attempts = attempts + 1, updated_at = ?4
                         WHERE pipeline = ?1 AND sink = ?2 AND key = ?3",
                        params![id.pipeline, id.sink, id.key, now],
                    )
                    .map_err(map_error)?;
                    PriorIntent::Pending { payload_hash: hash }
                }
            };
            tx.commit().map_err(map_error)?;
            Ok(prior)
        })
    }

    fn complete_intent(&self, id: &IntentId, payload_hash: &str, response: Option<&Value>) -> StateResult<()> {
        self.write(|conn| writes::complete_intent(conn, id, payload_hash, response))
    }

    fn abandon_intent(&self, id: &IntentId) -> StateResult<()> {
        self.write(|conn| {
            conn.execute(
                "DELETE FROM intents WHERE pipeline = ?1 AND sink = ?2 AND key = ?3 AND status = 'pending'",
                params![id.pipeline, id.sink, id.key],
            )
            .map_err(map_error)?;
            Ok(())
        })
    }

    fn push_dead_letter(&self, entry: &DeadLetterEntry, run_id: Option<i64>) -> StateResult<i64> {
        self.write(|conn| {
            // IMMEDIATE: it reads before it writes; a deferred transaction's read snapshot could fail the
            // write with SQLITE_BUSY_SNAPSHOT when another process commits in between.
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(map_error)?;
            let record = to_json(&entry.record);
            let parent = entry.parent.as_ref().map(to_json);
            let hash = record_hash(&record);
            // The same record failing again at the same component in a later run is one entry, one more
            // attempt. A record is recognised by its key; without one (a line that does not parse, a
            // source without `key`), by its content. Within one run, two failures are two records (a
            // source may repeat a key or a line); children of an `explode` may share their original's key:
            // they are told apart by content too. Without a run id (library use) nothing is merged.
            let existing: Option<i64> = tx
                .query_row(
                    "SELECT id FROM dead_letters WHERE pipeline = ?1 AND step = ?2
                         AND (CASE WHEN ?3 IS NULL THEN key IS NULL AND record_hash = ?4
                              ELSE key = ?3 AND (?5 IS NULL OR record_hash = ?4) END)
                         AND ?6 IS NOT NULL AND (run_id IS NULL OR run_id != ?6)
                     ORDER BY id LIMIT 1",
                    params![entry.pipeline, entry.step, entry.key, hash, parent, run_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_error)?;
            let id = match existing {
                Some(id) => {
                    tx.execute(
                        "UPDATE dead_letters SET run_id = ?2, time = ?3, error = ?4, attempts = max(attempts + 1, ?5),
                             record = ?6, parent = ?7, record_hash = ?8 WHERE id = ?1",
                        params![id, run_id, entry.time, entry.error, entry.attempts, record, parent, hash],
                    )
                    .map_err(map_error)?;
                    id
                }
                None => {
                    tx.execute(
                        "INSERT INTO dead_letters
                             (run_id, time, pipeline, step, key, error, attempts, record, parent, record_hash)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                        params![
                            run_id,
                            entry.time,
                            entry.pipeline,
                            entry.step,
                            entry.key,
                            entry.error,
                            entry.attempts,
                            record,
                            parent,
                            hash
                        ],
                    )
                    .map_err(map_error)?;
                    tx.last_insert_rowid()
                }
            };
            tx.commit().map_err(map_error)?;
            Ok(id)
        })
    }

    fn dead_letters(&self, pipeline: Option<&str>) -> StateResult<Vec<StoredDeadLetter>> {
        let conn = self.lock();
        let sql =
            format!("SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE ?1 IS NULL OR pipeline = ?1 ORDER BY id");
        let mut stmt = conn.prepare_cached(&sql).map_err(map_error)?;
        let rows = stmt.query_map(params![pipeline], dead_letter_row).map_err(map_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(map_error)
    }

    fn dead_letter_counts(&self) -> StateResult<Vec<(String, u64)>> {
        self.count_dead_letters()
    }

    fn dead_letter(&self, id: i64) -> StateResult<Option<StoredDeadLetter>> {
        let conn = self.lock();
        let sql = format!("SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE id = ?1");
        conn.query_row(&sql, params![id], dead_letter_row).optional().map_err(map_error)
    }

    fn drop_dead_letter(&self, id: i64) -> StateResult<bool> {
        let n =
            self.write(|conn| conn.execute("DELETE FROM dead_letters WHERE id = ?1", params![id]).map_err(map_error))?;
        Ok(n > 0)
    }

    fn start_run(&self, pipeline: &str, trigger: &str) -> StateResult<i64> {
        self.write(|conn| {
            let tx = conn.transaction().map_err(map_error)?;
            let now = now_rfc3339();
            tx.execute(
                "UPDATE runs SET status = 'interrupted', ended_at = coalesce(ended_at, ?2),
                     error = coalesce(error, 'the process ended without finishing the run')
                 WHERE pipeline = ?1 AND status = 'running'",
                params![pipeline, now],
            )
            .map_err(map_error)?;
            let holder = LeaseHolder::this_process();
            tx.execute(
                "INSERT INTO runs (pipeline, trigger, started_at, status, host, pid) VALUES (?1, ?2, ?3, 'running', ?4, ?5)",
                params![pipeline, trigger, now, holder.host, holder.pid],
            )
            .map_err(map_error)?;
            let id = tx.last_insert_rowid();
            tx.commit().map_err(map_error)?;
            Ok(id)
        })
    }

    fn finish_run(&self, id: i64, status: RunStatus, summary: &Value, error: Option<&str>) -> StateResult<()> {
        self.write(|conn| {
            conn.execute(
                "UPDATE runs SET status = ?2, ended_at = ?3, summary = ?4, error = ?5 WHERE id = ?1",
                params![id, status.as_str(), now_rfc3339(), to_json(summary), error],
            )
            .map_err(map_error)?;
            Ok(())
        })
    }

    fn runs(&self, pipeline: Option<&str>, limit: usize) -> StateResult<Vec<RunRecord>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, pipeline, trigger, started_at, ended_at, status, summary, error FROM runs
                 WHERE ?1 IS NULL OR pipeline = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(map_error)?;
        let rows = stmt
            .query_map(params![pipeline, limit as i64], |r| {
                Ok(RunRecord {
                    id: r.get(0)?,
                    pipeline: r.get(1)?,
                    trigger: r.get(2)?,
                    started_at: r.get(3)?,
                    ended_at: r.get(4)?,
                    status: RunStatus::parse(&r.get::<_, String>(5)?),
                    summary: from_json(r.get(6)?),
                    error: r.get(7)?,
                })
            })
            .map_err(map_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(map_error)
    }

    fn audit(&self, entries: &[AuditEntry]) -> StateResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.write(|conn| {
            // Immediate: the dead-letter probe reads before the first write; a deferred transaction would
            // take its snapshot then, and another process's commit in between would make the write fail
            // (SQLITE_BUSY_SNAPSHOT) instead of waiting for the lock.
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(map_error)?;
            writes::audit(&tx, entries)?;
            tx.commit().map_err(map_error)
        })
    }

    fn record_outcome(&self, outcome: &WriteOutcome) -> StateResult<()> {
        self.write(|conn| {
            // Immediate, as in `audit`: its dead-letter probe may read before the first write.
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(map_error)?;
            writes::outcome(&tx, outcome)?;
            tx.commit().map_err(map_error)
        })
    }

    fn trace(&self, key: &str) -> StateResult<Vec<AuditEntry>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT run_id, time, pipeline, key, component, action, target, detail FROM audit
                 WHERE key = ?1 ORDER BY id",
            )
            .map_err(map_error)?;
        let rows = stmt
            .query_map(params![key], |r| {
                Ok(AuditEntry {
                    run_id: r.get(0)?,
                    time: r.get(1)?,
                    pipeline: r.get(2)?,
                    key: r.get(3)?,
                    component: r.get(4)?,
                    action: r.get(5)?,
                    target: r.get(6)?,
                    detail: from_json(r.get(7)?),
                })
            })
            .map_err(map_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(map_error)
    }

    fn prune(&self, pipeline: &str, kind: HistoryKind, rule: &RetentionRule) -> StateResult<u64> {
        self.prune_history(pipeline, kind, rule)
    }

    fn acquire_lease(&self, pipeline: &str, holder: &LeaseHolder, ttl: Duration) -> StateResult<()> {
        self.take_lease(pipeline, holder, ttl)
    }

    fn release_lease(&self, pipeline: &str, holder: &LeaseHolder) -> StateResult<()> {
        self.give_back_lease(pipeline, holder)
    }
}
