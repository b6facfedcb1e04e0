//! Sources: where records come from. Each source is one file with its config struct, `build()` and
//! runtime; [`SourceConfig`] is the closed registry of source types.

pub(crate) mod emit;
pub(crate) mod file;
pub(crate) mod graphql;
pub(crate) mod http;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde_json::{Map, Value};

use crate::expr::template::StringTemplate;
use crate::kernel::ack::{AckListener, AckTracker};
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::checkpoint::Resumable;
use crate::kernel::dead_letter::DeadLetterSender;
use crate::kernel::fused::Chain;

crate::config::registry::component_registry! {
    /// Every source type, selected by `type:`.
    SourceConfig, "source", build(BuildContext) -> Box<dyn Source>, BuildErrors {
        "file" => File(file::FileSourceConfig),
        "http" => Http(Box<http::HttpSourceConfig>),
        "graphql" => Graphql(Box<graphql::GraphqlSourceConfig>),
    }
}

/// Source types whose records arrive as events (each accepted event asks `weir serve` for a run)
/// rather than being fetched on a schedule.
const EVENT_DRIVEN: &[&str] = &["webhook"];

impl SourceConfig {
    /// True for a source fed by events pushed to Weir (a webhook), which `weir serve` runs when one
    /// arrives.
    pub(crate) fn is_event_driven(&self) -> bool {
        EVENT_DRIVEN.contains(&self.type_name())
    }
}

/// A built source: where a pipeline's records come from. The runtime knows no source type: it asks a
/// source whether it keeps a position, hands it back what it saved, and runs it. A finite source (a
/// file, one poll of an API) returns at the end of its input; a long-lived one (a webhook, a queue
/// consumer, a poller) runs until `SourceContext::stop` is set. Each input's acknowledgement comes back
/// through the source's [`AckListener`] (a queue consumer acks or rejects the broker's message then),
/// and checkpoints advance over the contiguous acknowledged prefix of each input stream.
pub trait Source: Send + std::fmt::Debug {
    /// True when the source keeps a resumable position in the state store, so a run goes on where the
    /// last one stopped; false when every run reads from the start.
    fn checkpointed(&self) -> bool {
        false
    }

    /// Before the run (checkpointed sources, runs with a state store): takes back the position the last
    /// run saved — the source's fields of its checkpoint, empty when there is none or with
    /// `--from-start` — and returns the position the checkpoint saves from now on. An error (fields
    /// it cannot read) stops the run: reading everything again would resend what was delivered.
    fn restore(&mut self, _saved: &Map<String, Value>) -> Result<Option<Arc<dyn Resumable>>, String> {
        Ok(None)
    }

    /// Told every input's final outcome (delivered, filtered, dead-lettered, unacknowledged), in
    /// completion order, for a source that settles inputs upstream one by one. `None`: the
    /// checkpoint's contiguous position is all the source needs.
    fn acknowledgements(&self) -> Option<Arc<dyn AckListener>> {
        None
    }

    /// Starts reading. `chain` holds the steps the source runs itself on its batches
    /// (`kernel::fused`), which the source must pass each batch through before sending it on (the
    /// emitter of `sources::file` shows how).
    fn run(self: Box<Self>, ctx: SourceContext, chain: Chain) -> SourceRun;
}

/// A running source, as the runtime schedules it.
pub enum SourceRun {
    /// Reading blocks (files, parsing): run on a blocking thread.
    Blocking(Box<dyn FnOnce() -> Result<(), SourceError> + Send>),
    /// Reading awaits (network): run as a task.
    Async(Pin<Box<dyn Future<Output = Result<(), SourceError>> + Send>>),
}

impl std::fmt::Debug for SourceRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourceRun::Blocking(_) => "SourceRun::Blocking",
            SourceRun::Async(_) => "SourceRun::Async",
        })
    }
}

/// Why a source stopped before reading everything.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Reading failed (I/O, or a document that cannot be resumed after an error).
    #[error("{message}")]
    Read {
        /// What went wrong.
        message: String,
        /// Whether trying again later may succeed.
        retryable: bool,
    },
}

impl SourceError {}

/// Everything a running source needs from the runtime.
pub struct SourceContext {
    /// Where batches go.
    pub(crate) output: crate::kernel::channel::Outputs,
    /// Hands out acknowledgement handles and counts outcomes.
    pub(crate) tracker: Arc<AckTracker>,
    /// Where unparseable inputs go.
    pub(crate) dead_letter: DeadLetterSender,
    /// Records per batch.
    pub(crate) batch_size: usize,
    /// Input bytes per batch: a batch closes at `batch_size` records or this many bytes.
    pub(crate) batch_bytes: usize,
    /// Stop after this many records.
    pub(crate) limit: Option<u64>,
    /// Set when the pipeline should stop reading (SIGINT/SIGTERM).
    pub(crate) stop: Arc<AtomicBool>,
    /// The source's key template.
    pub(crate) key: Option<StringTemplate>,
    /// The source's id (for dead-letter entries).
    pub(crate) id: String,
    /// The source's counters.
    pub(crate) counters: Arc<crate::kernel::stats::NodeCounters>,
    /// Build only these fields of each record (`None`: build everything).
    pub(crate) projection: Option<crate::kernel::projection::Projection>,
    /// Encode each record as compact JSON where it is built ([`crate::kernel::record::Record::encode_json`]):
    /// set when the records' only destination is a sink that writes exactly that.
    pub(crate) encode_json: bool,
}

impl SourceContext {
    /// How often [`SourceContext::stopped`] looks at the stop flag.
    const STOP_POLL: std::time::Duration = std::time::Duration::from_millis(50);

    /// True once the pipeline should stop reading (SIGINT/SIGTERM, a failure elsewhere).
    pub(crate) fn should_stop(&self) -> bool {
        self.stop.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Completes once the pipeline should stop reading: what a long-lived async source waits for
    /// besides its input (`tokio::select!`). The flag is set from signal handlers and threads, so it
    /// is looked at every 50 ms rather than awaited.
    pub async fn stopped(&self) {
        let mut tick = tokio::time::interval(Self::STOP_POLL);
        while !self.should_stop() {
            tick.tick().await;
        }
    }
}
