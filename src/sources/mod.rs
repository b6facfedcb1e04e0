//! Sources: where records come from. Each source is one file with its config struct, `build()` and
//! runtime; [`SourceConfig`] is the closed registry of source types.

pub mod file;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::expr::template::StringTemplate;
use crate::kernel::ack::AckTracker;
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::dead_letter::DeadLetterSender;

crate::config::registry::component_registry! {
    /// Every source type, selected by `type:`.
    SourceConfig, "source" {
        "file" => File(file::FileSourceConfig),
    }
}

/// A built source.
#[derive(Debug)]
pub enum Source {
    /// `type: file`
    File(file::FileSource),
}

impl SourceConfig {
    /// Compiles the source.
    pub fn build(&self, ctx: &BuildContext) -> Result<Source, BuildErrors> {
        Ok(match self {
            SourceConfig::File(c) => Source::File(c.build(ctx)?),
        })
    }
}

impl Source {
    /// Whether the source resumes from checkpoints.
    pub fn checkpointed(&self) -> bool {
        match self {
            Source::File(f) => f.checkpointed,
        }
    }

    /// True when some input would be read on from its checkpoint rather than from its start (what was
    /// read of it before is already delivered; a replaced input is read whole again).
    pub fn resumes(&self, checkpoints: &crate::kernel::checkpoint::Checkpoints) -> bool {
        match self {
            Source::File(f) => f.resumes(checkpoints),
        }
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

impl SourceError {
    /// True when a later attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SourceError::Read { retryable, .. } => *retryable,
        }
    }
}

/// Everything a running source needs from the runtime.
pub struct SourceContext {
    /// Where batches go.
    pub output: crate::kernel::channel::Outputs,
    /// Hands out acknowledgement handles and counts outcomes.
    pub tracker: Arc<AckTracker>,
    /// Where unparseable inputs go.
    pub dead_letter: DeadLetterSender,
    /// Records per batch.
    pub batch_size: usize,
    /// Input bytes per batch: a batch closes at `batch_size` records or this many bytes.
    pub batch_bytes: usize,
    /// Stop after this many records.
    pub limit: Option<u64>,
    /// Set when the pipeline should stop reading (SIGINT/SIGTERM).
    pub stop: Arc<AtomicBool>,
    /// The source's key template.
    pub key: Option<StringTemplate>,
    /// The source's id (for dead-letter entries).
    pub id: String,
    /// The source's counters.
    pub counters: Arc<crate::kernel::stats::NodeCounters>,
    /// Build only these fields of each record (`None`: build everything).
    pub projection: Option<crate::kernel::projection::Projection>,
    /// Where to resume each input, and where acknowledged progress is saved (`None`: read everything,
    /// remember nothing).
    pub checkpoints: Option<Arc<crate::kernel::checkpoint::Checkpoints>>,
    /// Encode each record as compact JSON where it is built ([`crate::kernel::record::Record::encode_json`]):
    /// set when the records' only destination is a sink that writes exactly that.
    pub encode_json: bool,
}
