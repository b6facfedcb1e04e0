//! Sinks: where records go. Each sink is one file with its config struct, `build()` and runtime;
//! [`SinkConfig`] is the closed registry of sink types. A sink reports per-record rejections (bound for
//! the dead-letter output) separately from failures of the sink itself. Writes block by default; a sink
//! that keeps several writes in flight says so with [`Sink::concurrent`] (see [`concurrent`]).

pub(crate) mod concurrent;
pub(crate) mod dry_run;
pub(crate) mod file;
pub(crate) mod http;
pub(crate) mod id_map;
pub(crate) mod stdout;

use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::record::Record;

crate::config::registry::component_registry! {
    /// Every sink type, selected by `type:`.
    SinkConfig, "sink", build(BuildContext) -> Box<dyn Sink>, BuildErrors {
        "file" => File(file::FileSinkConfig),
        "http" => Http(Box<http::HttpSinkConfig>),
        "id_map" => IdMap(id_map::IdMapSinkConfig),
        "stdout" => Stdout(stdout::StdoutSinkConfig),
    }
}

/// A failure of the sink itself (not of one record).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    /// What went wrong.
    pub message: String,
    /// Whether trying again later may succeed.
    pub retryable: bool,
}

impl SinkError {
    /// An I/O failure, which may succeed later (disk full, permissions fixed).
    pub(crate) fn io(context: impl std::fmt::Display, e: std::io::Error) -> Self {
        Self { message: format!("{context}: {e}"), retryable: true }
    }
}

/// A record a sink could not write, by its index in the batch, and why.
pub type RecordRejection = (usize, String);

/// What a sink is given when its run starts.
#[derive(Debug, Clone)]
pub struct SinkContext {
    /// The pipeline's name.
    pub(crate) pipeline: String,
    /// The sink's id.
    pub(crate) sink: String,
    /// The state store (intent ledger, id map, audit), when the run has one.
    pub(crate) state: Option<std::sync::Arc<dyn crate::state::StateStore>>,
    /// This run's id in the run history.
    pub(crate) run_id: Option<i64>,
    /// The source resumes from a checkpoint: part of its input was delivered by earlier runs, so a
    /// sink that rewrites its output from scratch must append to it instead.
    pub(crate) resumed: bool,
}

/// A built sink. Writes are blocking; the runtime runs each sink on a blocking thread — unless the sink
/// answers [`Sink::concurrent`], whose writes are futures the runtime keeps several of in flight.
pub trait Sink: Send {
    /// Called once on the sink's thread before the first write (open connections, take state).
    fn open(&mut self, _ctx: &SinkContext) -> Result<(), SinkError> {
        Ok(())
    }

    /// Writes a batch durably enough that it may be acknowledged as delivered, except the records it
    /// returns as rejected.
    fn write(&mut self, batch: &[Record]) -> Result<Vec<RecordRejection>, SinkError>;

    /// True when the sink's only effect is on the run's state store (the id map): `weir test` then
    /// keeps it, writing into the test's in-memory store, instead of replacing it with a stand-in.
    fn writes_only_state(&self) -> bool {
        false
    }

    /// After `write` failed: how many records at the start of that batch were settled before the
    /// failure — written, or rejected as listed (indexes into the batch) — so the runtime acknowledges
    /// them and only the rest stays unacknowledged. A sink that writes record by record (`http`) says
    /// so; the default (nothing settled) suits a sink whose batch is one unit.
    fn settled_before_failure(&mut self) -> Option<(usize, Vec<RecordRejection>)> {
        None
    }

    /// What the sink would send for `batch`, one line each, secrets masked: what `weir run --dry-run`
    /// prints. `None` (the default): the records themselves, as they reach the sink.
    fn describe(&self, _batch: &[Record]) -> Option<Vec<String>> {
        None
    }

    /// Where records go, for the audit log (a path, a URL).
    fn target(&self) -> String {
        String::new()
    }

    /// True when the sink writes its own, more precise audit entries (created / found / skipped);
    /// otherwise the runtime records `delivered` for each keyed record.
    fn audits_itself(&self) -> bool {
        false
    }

    /// Offered the source's checkpoints before `open`. A sink whose output can be cut back to what a
    /// checkpoint covers (a file) records what it writes there and its output's length is committed
    /// with each checkpoint, which makes delivery into it exactly once; it then answers true.
    fn commit_with(&mut self, _checkpoints: &std::sync::Arc<crate::kernel::checkpoint::Checkpoints>) -> bool {
        false
    }

    /// True when the sink writes of each record its value as compact JSON text and nothing else: a
    /// source whose records go only to this sink then encodes them on its own threads
    /// ([`Record::encoded`](crate::kernel::record::Record::encoded)), and the sink writes that text.
    fn takes_encoded_json(&self) -> bool {
        false
    }

    /// The sink's writes when it keeps several in flight (asked after `open`); the runtime then
    /// starts them through [`ConcurrentWrites::start_write`](concurrent::ConcurrentWrites::start_write)
    /// and never calls `write`. `None` (the default) writes one batch at a time with `write`.
    fn concurrent(&mut self) -> Option<&mut dyn concurrent::ConcurrentWrites> {
        None
    }

    /// Completes the output once every input has ended.
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
