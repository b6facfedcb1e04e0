//! Weir's memory: checkpoints, the id map, the intent ledger, the dead-letter queue, run history, the
//! per-record audit log and the webhook inbox, behind one [`StateStore`] trait. The embedded default is SQLite
//! ([`sqlite::SqliteStore`]); a server-backed store (PostgreSQL) can implement the same trait.

mod dead_letter_entry;
pub(crate) mod inbox;
pub(crate) mod lease;
pub(crate) mod outcome;
pub(crate) mod retention;
pub(crate) mod session;
pub(crate) mod sqlite;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) use dead_letter_entry::DeadLetterEntry;
pub use inbox::{Acceptance, EventInbox, EventOutcome, EventStatus, InboxEvent, NewEvent, OutcomeKind, Settlement};
pub(crate) use retention::{RetentionConfig, RetentionRule};

pub(crate) use lease::{LeaseHolder, LeaseInfo};
pub(crate) use outcome::{CapturedId, CompletedIntent, WriteOutcome};

/// Why the state store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state file cannot be used at all; Weir refuses to start rather than re-syncing from scratch.
    #[error("state store {path}: {message}")]
    Unusable {
        /// The state file.
        path: String,
        /// What is wrong and what to do about it.
        message: String,
    },
    /// The disk (or the store's size limit) is full; nothing was written. Retryable once space returns.
    #[error("state store is full (no space left): {0}")]
    Full(String),
    /// Another process holds a lock for longer than the busy timeout. Retryable.
    #[error("state store is busy: {0}")]
    Busy(String),
    /// Another engine process runs this pipeline.
    #[error("{0}")]
    LeaseHeld(LeaseInfo),
    /// Any other database error.
    #[error("state store error: {message}")]
    Other {
        /// The database's message.
        message: String,
        /// Whether trying again may succeed (I/O errors).
        retryable: bool,
    },
}

impl StateError {
    /// Whether the same call may succeed later (disk full, busy, transient I/O).
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            StateError::Full(_) | StateError::Busy(_) => true,
            StateError::Other { retryable, .. } => *retryable,
            StateError::Unusable { .. } | StateError::LeaseHeld(_) => false,
        }
    }
}

/// Result of state operations.
pub(crate) type StateResult<T> = Result<T, StateError>;

/// Identifies one idempotent write: which sink of which pipeline, for which record key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentId {
    /// The pipeline's name.
    pub pipeline: String,
    /// The sink's id.
    pub sink: String,
    /// The record's key (e.g. `order:000000042`).
    pub key: String,
}

/// What the ledger knew about a key before this attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum PriorIntent {
    /// Never attempted (or the last attempt was rejected for good): create.
    None,
    /// Attempted, outcome unknown (a crash, a timeout, a lost response): look the key up in the target
    /// before creating again.
    Pending {
        /// Hash of the payload of that attempt.
        payload_hash: String,
    },
    /// Created before; do not create again.
    Done {
        /// Hash of the payload that was created.
        payload_hash: String,
        /// What the target answered (captured values live in the id map).
        response: Option<Value>,
    },
}

/// A dead-letter entry as stored, with its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredDeadLetter {
    /// Id for `weir dlq show|replay|drop`.
    pub(crate) id: i64,
    /// The run that wrote it, when known.
    pub(crate) run_id: Option<i64>,
    /// The entry.
    #[serde(flatten)]
    pub(crate) entry: DeadLetterEntry,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still running (or its process died: see `interrupted`).
    Running,
    /// Every input was acknowledged.
    Succeeded,
    /// Stopped by an error.
    Failed,
    /// Stopped by a signal, or its process disappeared.
    Interrupted,
}

impl RunStatus {
    /// As the run history and the metrics write it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> RunStatus {
        match s {
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "interrupted" => RunStatus::Interrupted,
            _ => RunStatus::Running,
        }
    }
}

/// The kinds of history that retention prunes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryKind {
    /// The per-record audit log (`weir trace`).
    Audit,
    /// The run history (`weir runs`).
    Runs,
}

/// Prunes a pipeline's audit log and run history as its `retention:` says; returns how many entries
/// were removed.
pub(crate) fn apply_retention(store: &dyn StateStore, pipeline: &str, retention: &RetentionConfig) -> StateResult<u64> {
    Ok(store.prune(pipeline, HistoryKind::Audit, &retention.audit)?
        + store.prune(pipeline, HistoryKind::Runs, &retention.runs)?)
}

/// One run of a pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Run id.
    pub(crate) id: i64,
    /// The pipeline's name.
    pub(crate) pipeline: String,
    /// What started it: `cli`, `replay`, `schedule`, …
    pub(crate) trigger: String,
    /// Start time (RFC 3339, UTC).
    pub(crate) started_at: String,
    /// End time, when it ended.
    pub(crate) ended_at: Option<String>,
    /// How it ended.
    pub(crate) status: RunStatus,
    /// The run summary (counters per node), when it ended.
    pub(crate) summary: Option<Value>,
    /// The error that stopped it, if any.
    pub(crate) error: Option<String>,
}

/// One audited action on one keyed record: what was sent where, or where it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The run, when known.
    pub(crate) run_id: Option<i64>,
    /// When (RFC 3339, UTC).
    pub(crate) time: String,
    /// The pipeline's name.
    pub(crate) pipeline: String,
    /// The record's key.
    pub(crate) key: String,
    /// The component (sink or step id).
    pub(crate) component: String,
    /// `delivered`, `created`, `found`, `skipped`, `dead_lettered`, …
    pub action: String,
    /// Where it went (a file path, a URL).
    pub target: String,
    /// Details: status code, remote ids.
    pub detail: Option<Value>,
}

/// When a source's checkpoint was last saved, for the metrics (checkpoint age, watermark lag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointStamp {
    /// The pipeline's name.
    pub(crate) pipeline: String,
    /// The source's id.
    pub(crate) source: String,
    /// When it was saved (RFC 3339, UTC).
    pub(crate) saved_at: String,
    /// Its top-level `watermark` field when that is text: an incremental source's last change time
    /// delivered (the `http` source's `incremental`).
    pub(crate) watermark: Option<String>,
}

/// Everything Weir remembers between runs. Implementations are shared between threads; every method
/// commits durably before it returns. The webhook inbox is part of it ([`EventInbox`]).
pub trait StateStore: EventInbox + Send + Sync + std::fmt::Debug {
    /// The saved position of a source, if any.
    fn checkpoint(&self, pipeline: &str, source: &str) -> StateResult<Option<Value>>;
    /// Saves a source's position (only ever called with fully acknowledged positions).
    fn save_checkpoint(&self, pipeline: &str, source: &str, position: &Value) -> StateResult<()>;
    /// Forgets a source's position (`weir run --from-start`).
    fn clear_checkpoint(&self, pipeline: &str, source: &str) -> StateResult<()>;
    /// When every saved checkpoint was saved, with its watermark (for the metrics, at every scrape:
    /// cheap, without reading whole positions out).
    fn checkpoint_stamps(&self) -> StateResult<Vec<CheckpointStamp>>;

    /// Every remote id recorded for a key (`{"erp_order_id": "SO123"}`).
    fn ids(&self, key: &str) -> StateResult<serde_json::Map<String, Value>>;
    /// Records a remote id for a key (replacing an older value of the same name).
    fn put_id(&self, key: &str, name: &str, value: &Value) -> StateResult<()>;

    /// Starts an idempotent write: records a pending intent with the payload's hash unless one exists,
    /// and says what was known before.
    fn begin_intent(&self, id: &IntentId, payload_hash: &str) -> StateResult<PriorIntent>;
    /// Records that the write happened (the target created or already had it).
    fn complete_intent(&self, id: &IntentId, payload_hash: &str, response: Option<&Value>) -> StateResult<()>;
    /// Forgets a pending intent whose write was rejected for good (nothing was created).
    fn abandon_intent(&self, id: &IntentId) -> StateResult<()>;
    /// Records the outcome of one write: completes its intent, records the captured ids and appends the
    /// audit entries. Stores should do it in one transaction (this default does not).
    fn record_outcome(&self, outcome: &WriteOutcome) -> StateResult<()> {
        if let Some(c) = &outcome.completed {
            self.complete_intent(&c.id, &c.payload_hash, c.response.as_ref())?;
        }
        for id in &outcome.ids {
            self.put_id(&id.key, &id.name, &id.value)?;
        }
        self.audit(&outcome.audit)
    }

    /// Stores a dead-letter entry; returns its id.
    fn push_dead_letter(&self, entry: &DeadLetterEntry, run_id: Option<i64>) -> StateResult<i64>;
    /// Dead-letter entries, oldest first, of one pipeline or all.
    fn dead_letters(&self, pipeline: Option<&str>) -> StateResult<Vec<StoredDeadLetter>>;
    /// How many dead-letter entries each pipeline that has any has (for the metrics, at every scrape:
    /// counted, not read).
    fn dead_letter_counts(&self) -> StateResult<Vec<(String, u64)>>;
    /// One dead-letter entry.
    fn dead_letter(&self, id: i64) -> StateResult<Option<StoredDeadLetter>>;
    /// Removes a dead-letter entry; false when there was none.
    fn drop_dead_letter(&self, id: i64) -> StateResult<bool>;

    /// Records the start of a run; runs of the same pipeline still marked running are marked
    /// interrupted (the caller holds the pipeline's lease, so they cannot be alive).
    fn start_run(&self, pipeline: &str, trigger: &str) -> StateResult<i64>;
    /// Records the end of a run.
    fn finish_run(&self, id: i64, status: RunStatus, summary: &Value, error: Option<&str>) -> StateResult<()>;
    /// Runs, newest first.
    fn runs(&self, pipeline: Option<&str>, limit: usize) -> StateResult<Vec<RunRecord>>;

    /// Appends audit entries (one transaction).
    fn audit(&self, entries: &[AuditEntry]) -> StateResult<()>;
    /// Everything audited for a key, oldest first.
    fn trace(&self, key: &str) -> StateResult<Vec<AuditEntry>>;

    /// Removes a pipeline's history of one kind beyond `rule`: entries older than `max_age`, and all
    /// but the newest `max_entries`. Runs still running are kept. Returns how many were removed.
    fn prune(&self, pipeline: &str, kind: HistoryKind, rule: &RetentionRule) -> StateResult<u64>;

    /// Takes (or renews) the right to run a pipeline for `ttl`; fails with [`StateError::LeaseHeld`]
    /// when another live holder has it.
    fn acquire_lease(&self, pipeline: &str, holder: &LeaseHolder, ttl: std::time::Duration) -> StateResult<()>;
    /// Gives the lease up (only if `holder` has it).
    fn release_lease(&self, pipeline: &str, holder: &LeaseHolder) -> StateResult<()>;
}
