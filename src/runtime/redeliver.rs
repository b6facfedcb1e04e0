//! Dead letters sent again, as one recorded run of their pipeline (`weir dlq replay`, the admin API
//! of `weir serve`): under the pipeline's lease, each still-queued entry's record re-injected where it
//! was rejected, with the pipeline as configured now; an entry that gets through (or is filtered, or is
//! rejected elsewhere, making a new entry) is removed, one rejected again at the same place stays with
//! one more attempt, one left undecided stays.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde::Serialize;

use super::executor::{Execution, RunOptions};
use super::recorded;
use super::replay::Replay;
use crate::graph::plan::Plan;
use crate::kernel::ack::Outcome;
use crate::kernel::stats::RunSummary;
use crate::state::{RetentionConfig, StateError, StateStore, StoredDeadLetter};

/// What a replay did.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Redelivered {
    /// The pipeline.
    pub(crate) pipeline: String,
    /// The replay's run id in the run history.
    pub(crate) run_id: i64,
    /// How many entries were replayed (those still queued when the lease was taken).
    pub(crate) replayed: usize,
    /// How many ended which way: `delivered`, `filtered`, `dead-lettered again`, `undecided (kept)`.
    pub(crate) outcomes: BTreeMap<&'static str, usize>,
    /// Components that entries name but the pipeline no longer has (their entries are kept).
    pub(crate) missing_components: Vec<String>,
    /// Entries whose record was stored truncated: not replayable, kept.
    pub(crate) truncated: Vec<i64>,
    /// The run's summary.
    pub(crate) summary: RunSummary,
}

impl Redelivered {
    /// True when every entry was settled and the run did not fail.
    pub(crate) fn settled(&self) -> bool {
        self.summary.error.is_none() && !self.outcomes.contains_key("undecided (kept)")
    }
}

/// Replays `entries` (all of `plan`'s pipeline) and settles them in the store.
pub(crate) async fn redeliver(
    plan: Plan,
    entries: Vec<StoredDeadLetter>,
    store: &Arc<dyn StateStore>,
    retention: &RetentionConfig,
    stop: Arc<AtomicBool>,
) -> Result<Redelivered, StateError> {
    let pipeline = plan.name.clone();
    let session = recorded::begin(store, &pipeline, "replay", &stop).await?;
    let run_id = session.run_id();
    // Chosen before the lease was taken: another replay may have handled some since.
    let mut still_queued = Vec::with_capacity(entries.len());
    for e in entries {
        if store.dead_letter(e.id)?.is_some() {
            still_queued.push(e);
        }
    }
    let replay = Arc::new(Replay { entries: still_queued, whole_input: false });
    let missing_components = replay.missing_components(&plan.graph);
    let truncated = replay.truncated();
    let options = RunOptions {
        stop,
        state: Some(Arc::clone(store)),
        run_id: Some(run_id),
        replay: Some(Arc::clone(&replay)),
        ..RunOptions::default()
    };
    let execution = Execution::start(plan, options);
    let tracker = execution.progress_handle();
    let summary = execution.wait().await;
    let settled = replay.outcomes(&tracker);
    recorded::end(store, session, &summary, retention).await;
    let mut outcomes = BTreeMap::new();
    for (id, outcome) in settled {
        // Rejected again at the same component: this entry was updated (one more attempt) and stays;
        // rejected elsewhere (or without a key): the new entry replaces this one.
        let updated =
            outcome == Outcome::DeadLettered && store.dead_letter(id)?.is_some_and(|e| e.run_id == Some(run_id));
        if outcome != Outcome::Unacknowledged && !updated {
            store.drop_dead_letter(id)?;
        }
        let label = match outcome {
            Outcome::Delivered => "delivered",
            Outcome::Filtered => "filtered",
            Outcome::DeadLettered => "dead-lettered again",
            Outcome::Unacknowledged => "undecided (kept)",
        };
        *outcomes.entry(label).or_insert(0) += 1;
    }
    Ok(Redelivered {
        pipeline,
        run_id,
        replayed: replay.entries.len(),
        outcomes,
        missing_components,
        truncated,
        summary,
    })
}
