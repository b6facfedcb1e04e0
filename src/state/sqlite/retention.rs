//! Keeping the state file's history bounded: pruning a pipeline's audit log and run history by age and
//! count, and giving freed pages back to the disk (`weir state compact`), plus the full integrity check
//! (`weir state check`).

use rusqlite::params;

use super::{SqliteStore, map_error};
use crate::state::RetentionRule;
use crate::state::{HistoryKind, StateResult};

/// RFC 3339 time `age` before now, in the format entries are written with.
fn cutoff(age: std::time::Duration) -> String {
    let then = time::OffsetDateTime::now_utc() - age;
    then.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl SqliteStore {
    pub(super) fn prune_history(&self, pipeline: &str, kind: HistoryKind, rule: &RetentionRule) -> StateResult<u64> {
        // Entries are appended in time order, so "older than" is "before the first entry that is not":
        // the deletions walk the (pipeline, id) index from the oldest end.
        let (by_age, by_count) = match kind {
            HistoryKind::Audit => (
                "DELETE FROM audit WHERE pipeline = ?1 AND id < (SELECT coalesce(min(id), 9223372036854775807)
                     FROM audit WHERE pipeline = ?1 AND time >= ?2)",
                "DELETE FROM audit WHERE pipeline = ?1 AND id <= (SELECT id FROM audit WHERE pipeline = ?1
                     ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            ),
            HistoryKind::Runs => (
                "DELETE FROM runs WHERE pipeline = ?1 AND status != 'running' AND started_at < ?2",
                "DELETE FROM runs WHERE pipeline = ?1 AND status != 'running' AND id <= (SELECT id FROM runs
                     WHERE pipeline = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            ),
        };
        self.write(|conn| {
            let tx = conn.transaction().map_err(map_error)?;
            let mut removed = 0;
            if let Some(age) = rule.max_age {
                removed += tx.execute(by_age, params![pipeline, cutoff(age.0)]).map_err(map_error)?;
            }
            if let Some(keep) = rule.max_entries {
                removed +=
                    tx.execute(by_count, params![pipeline, keep.min(i64::MAX as u64) as i64]).map_err(map_error)?;
            }
            tx.commit().map_err(map_error)?;
            Ok(removed as u64)
        })
    }

    /// Rewrites the state file without its free pages (`VACUUM`) and empties the write-ahead log;
    /// returns the file's size before and after, in bytes. Waits for (up to the busy timeout) and
    /// fails rather than interrupt a running pipeline's writes.
    pub(crate) fn compact(&self) -> StateResult<(u64, u64)> {
        let before = self.size()?;
        self.write(|conn| {
            conn.execute_batch("VACUUM").map_err(map_error)?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(map_error)
        })?;
        Ok((before, self.size()?))
    }

    /// SQLite's full `integrity_check` (indexes cross-checked against their tables; slower than the
    /// `quick_check` every open runs): the problems found, none when the file is sound.
    pub(crate) fn integrity_check(&self) -> StateResult<Vec<String>> {
        let conn = self.lock();
        let mut stmt = conn.prepare("PRAGMA integrity_check(100)").map_err(map_error)?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(map_error)?;
        let found = rows.collect::<Result<Vec<_>, _>>().map_err(map_error)?;
        Ok(if found == ["ok"] { Vec::new() } else { found })
    }
}
