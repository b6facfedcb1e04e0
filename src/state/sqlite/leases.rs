//! Pipeline leases in the state file (`leases`): one holder per pipeline across processes, taken
//! over at once from a holder on this host whose process is gone.

use std::time::Duration;

use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, map_error};
use crate::clock::now_rfc3339;
use crate::state::lease::{LeaseHolder, LeaseInfo, process_alive};
use crate::state::{StateError, StateResult};

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl SqliteStore {
    /// [`crate::state::StateStore::acquire_lease`].
    pub(super) fn take_lease(&self, pipeline: &str, holder: &LeaseHolder, ttl: Duration) -> StateResult<()> {
        self.write(|conn| {
            // IMMEDIATE: take the write lock before reading, so two processes cannot both see the lease free.
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(map_error)?;
            let now = now_ms();
            let current: Option<(String, String, u32, String, i64)> = tx
                .query_row(
                    "SELECT holder, host, pid, acquired_at, expires_at_ms FROM leases WHERE pipeline = ?1",
                    params![pipeline],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()
                .map_err(map_error)?;
            let expires = now + ttl.as_millis() as i64;
            match current {
                Some((id, ..)) if id == holder.id => {
                    tx.execute("UPDATE leases SET expires_at_ms = ?2 WHERE pipeline = ?1", params![pipeline, expires])
                        .map_err(map_error)?;
                }
                Some((_, host, pid, since, expires_at))
                    // A holder on this host whose process is gone cannot renew: take over at once.
                    if expires_at > now && (host != holder.host || process_alive(pid)) =>
                {
                    return Err(StateError::LeaseHeld(LeaseInfo {
                        pipeline: pipeline.to_string(),
                        host,
                        pid,
                        since,
                        expires_in_ms: expires_at - now,
                    }));
                }
                _ => {
                    tx.execute(
                        "INSERT INTO leases (pipeline, holder, host, pid, acquired_at, expires_at_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (pipeline) DO UPDATE SET holder = ?2, host = ?3, pid = ?4, acquired_at = ?5,
                             expires_at_ms = ?6",
                        params![pipeline, holder.id, holder.host, holder.pid, now_rfc3339(), expires],
                    )
                    .map_err(map_error)?;
                }
            }
            tx.commit().map_err(map_error)
        })
    }

    /// [`crate::state::StateStore::release_lease`].
    pub(super) fn give_back_lease(&self, pipeline: &str, holder: &LeaseHolder) -> StateResult<()> {
        self.write(|conn| {
            conn.execute("DELETE FROM leases WHERE pipeline = ?1 AND holder = ?2", params![pipeline, holder.id])
                .map_err(map_error)?;
            Ok(())
        })
    }
}
