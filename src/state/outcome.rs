//! The durable result of one write to a target: the intent marked done, the remote ids captured from
//! the answer, and the audit entries, recorded together by [`super::StateStore::record_outcome`] — so a
//! crash can never leave an intent done whose ids were not captured (the next run would skip the record
//! and the ids would be lost).

use serde_json::Value;

use super::{AuditEntry, IntentId};

/// An intent to mark done.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CompletedIntent {
    /// Which write.
    pub(crate) id: IntentId,
    /// Hash of the payload the target holds.
    pub(crate) payload_hash: String,
    /// What to remember of the target's answer (status, captured ids).
    pub(crate) response: Option<Value>,
}

/// One remote id to record in the id map.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CapturedId {
    /// The record key it belongs to.
    pub(crate) key: String,
    /// Its name (`erp_order_id`).
    pub(crate) name: String,
    /// Its value.
    pub(crate) value: Value,
}

/// Everything one write changes in the state store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteOutcome {
    /// The intent to mark done, for idempotent writes.
    pub(crate) completed: Option<CompletedIntent>,
    /// Ids captured from the answer.
    pub(crate) ids: Vec<CapturedId>,
    /// Audit entries.
    pub(crate) audit: Vec<AuditEntry>,
}
