//! Statements shared by single writes and by [`crate::state::StateStore::record_outcome`], which runs
//! several of them in one transaction.

use rusqlite::{Connection, params};
use serde_json::Value;

use super::map_error;
use crate::clock::now_rfc3339;
use crate::state::{AuditEntry, IntentId, StateResult, WriteOutcome};

pub(super) fn put_id(conn: &Connection, key: &str, name: &str, value: &Value) -> StateResult<()> {
    conn.prepare_cached(
        "INSERT INTO id_map (key, name, value, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (key, name) DO UPDATE SET value = ?3, updated_at = ?4",
    )
    .and_then(|mut stmt| stmt.execute(params![key, name, value.to_string(), now_rfc3339()]))
    .map_err(map_error)?;
    Ok(())
}

pub(super) fn complete_intent(
    conn: &Connection,
    id: &IntentId,
    payload_hash: &str,
    response: Option<&Value>,
) -> StateResult<()> {
    let now = now_rfc3339();
    conn.prepare_cached(
        "INSERT INTO intents (pipeline, sink, key, payload_hash, status, response, attempts, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'done', ?5, 1, ?6, ?6)
         ON CONFLICT (pipeline, sink, key) DO UPDATE SET status = 'done', payload_hash = ?4,
             response = ?5, updated_at = ?6",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![id.pipeline, id.sink, id.key, payload_hash, response.map(Value::to_string), now])
    })
    .map_err(map_error)?;
    Ok(())
}

/// Audit actions that mean the record got through.
const SUCCESS: &[&str] = &["delivered", "created", "found", "skipped", "sent", "exists"];

/// Appends audit entries. A record that got through resolves the dead-letter entries that earlier runs
/// wrote for its key: they no longer stand for a failure (and replaying them would deliver it twice).
pub(super) fn audit(conn: &Connection, entries: &[AuditEntry]) -> StateResult<()> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO audit (run_id, time, pipeline, key, component, action, target, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(map_error)?;
    let mut resolve = conn
        .prepare_cached(
            "DELETE FROM dead_letters WHERE pipeline = ?1 AND key = ?2 AND (run_id IS NULL OR run_id != ?3)",
        )
        .map_err(map_error)?;
    // Whether each pipeline has dead letters at all, asked once per call: most writes resolve none, and
    // a probe per successful entry was a visible share of a busy sink's commits.
    let mut holds_dead_letters: std::collections::HashMap<&str, bool> = std::collections::HashMap::new();
    let mut any =
        conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM dead_letters WHERE pipeline = ?1)").map_err(map_error)?;
    for e in entries {
        if let Some(run_id) = e.run_id.filter(|_| SUCCESS.contains(&e.action.as_str())) {
            let holds = match holds_dead_letters.get(e.pipeline.as_str()) {
                Some(&holds) => holds,
                None => {
                    let holds: bool = any.query_row(params![e.pipeline], |r| r.get(0)).map_err(map_error)?;
                    holds_dead_letters.insert(&e.pipeline, holds);
                    holds
                }
            };
            if holds {
                resolve.execute(params![e.pipeline, e.key, run_id]).map_err(map_error)?;
            }
        }
        stmt.execute(params![
            e.run_id,
            e.time,
            e.pipeline,
            e.key,
            e.component,
            e.action,
            e.target,
            e.detail.as_ref().map(Value::to_string)
        ])
        .map_err(map_error)?;
    }
    Ok(())
}

/// Every change of one write's outcome, within the caller's transaction.
pub(super) fn outcome(conn: &Connection, outcome: &WriteOutcome) -> StateResult<()> {
    if let Some(c) = &outcome.completed {
        complete_intent(conn, &c.id, &c.payload_hash, c.response.as_ref())?;
    }
    for id in &outcome.ids {
        put_id(conn, &id.key, &id.name, &id.value)?;
    }
    audit(conn, &outcome.audit)
}
