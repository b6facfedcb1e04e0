//! One dead-letter entry: what the dead-letter queue keeps of a record a component could not process.
//! The state store holds them; the runtime writes them (`kernel::dead_letter`).

use serde::Serialize;
use serde_json::Value;

/// One dead-letter entry, as written (one JSON object per line).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct DeadLetterEntry {
    /// When it was written (RFC 3339, UTC).
    pub(crate) time: String,
    /// The pipeline's name.
    pub(crate) pipeline: String,
    /// The id of the component that rejected the record.
    pub(crate) step: String,
    /// The record's key, if it has one.
    pub(crate) key: Option<String>,
    /// Why it was rejected.
    pub(crate) error: String,
    /// How many times it has been attempted.
    pub(crate) attempts: u32,
    /// The record as it entered the failing component.
    pub(crate) record: Value,
    /// The record it was exploded from (what templates read as `parent`), so a replay gives the step
    /// what it was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) parent: Option<Value>,
}
