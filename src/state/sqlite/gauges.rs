//! What the metrics read from the SQLite store at every scrape: counts and timestamps from indexes and
//! small columns, never whole records or positions.

use super::{SqliteStore, map_error};
use crate::state::{CheckpointStamp, StateResult};

impl SqliteStore {
    /// Every checkpoint's save time and its top-level `watermark` when that is text.
    pub(super) fn stamps(&self) -> StateResult<Vec<CheckpointStamp>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT pipeline, source, updated_at,
                     CASE WHEN json_type(position, '$.watermark') = 'text' THEN json_extract(position, '$.watermark') END
                 FROM checkpoints ORDER BY pipeline, source",
            )
            .map_err(map_error)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(CheckpointStamp {
                    pipeline: r.get(0)?,
                    source: r.get(1)?,
                    saved_at: r.get(2)?,
                    watermark: r.get(3)?,
                })
            })
            .map_err(map_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(map_error)
    }

    /// Dead-letter entries per pipeline (the `dead_letters_pipeline` index covers it).
    pub(super) fn count_dead_letters(&self) -> StateResult<Vec<(String, u64)>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached("SELECT pipeline, count(*) FROM dead_letters GROUP BY pipeline ORDER BY pipeline")
            .map_err(map_error)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.unsigned_abs()))).map_err(map_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(map_error)
    }
}
