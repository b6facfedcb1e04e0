//! Getting a pipeline's sources ready to run: each gets its acknowledgement tracker (telling the
//! source's listener each outcome), its checkpoint (loaded, and the source's saved position handed
//! back to it), and whether it resumes. Also which edges of the graph are side inputs, and the
//! progress over every source.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use petgraph::graph::NodeIndex;

use crate::expr::template::StringTemplate;
use crate::graph::PipelineGraph;
use crate::graph::plan::{BuiltSource, BuiltStep};
use crate::kernel::ack::{AckSummary, AckTracker, InputPosition, Outcome};
use crate::kernel::checkpoint::Checkpoints;
use crate::kernel::fused::Failure;
use crate::kernel::projection::Projection;
use crate::kernel::stats::NodeCounters;
use crate::sources::Source;
use crate::state::StateStore;

/// What of the run's options the sources need.
pub(super) struct SourceOptions<'a> {
    /// The state store, when the run has one.
    pub(super) state: Option<&'a Arc<dyn StateStore>>,
    /// A dry run keeps no checkpoint.
    pub(super) dry_run: bool,
    /// Read every source from its start.
    pub(super) from_start: bool,
    /// A replay of dead letters: no source reads.
    pub(super) replay: bool,
}

/// A source ready to start.
pub(super) struct PreparedSource {
    pub(super) id: String,
    pub(super) type_name: &'static str,
    pub(super) source: Box<dyn Source>,
    pub(super) key: Option<StringTemplate>,
    pub(super) projection: Option<Projection>,
    pub(super) tracker: Arc<AckTracker>,
    pub(super) counters: Arc<NodeCounters>,
    /// Its checkpoint, when the run keeps one for it.
    pub(super) checkpoints: Option<Arc<Checkpoints>>,
    /// Some input is read on from a saved position: what was read of it before is delivered.
    pub(super) resumed: bool,
}

/// The side-input edges of the graph (`from` → `to`): the inputs steps read whole before their others
/// (`Transform::side_inputs`, checked when the plan was compiled).
pub(super) fn side_inputs(graph: &PipelineGraph, steps: &[BuiltStep]) -> Vec<(NodeIndex, NodeIndex)> {
    let mut edges = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let to = graph.steps[i];
        for side in step.transform.side_inputs() {
            if let Some(from) = graph.upstream(to).into_iter().find(|&n| graph.graph[n].id == side.id) {
                edges.push((from, to));
            }
        }
    }
    edges
}

/// Prepares every source. In a replay every source shares one recording tracker (its positions are the
/// entries' numbers) and no source takes its position back (none reads); a source that feeds only side
/// inputs keeps no checkpoint: a right-hand set is read whole on every run.
pub(super) fn prepare_sources(
    pipeline: &str,
    graph: &PipelineGraph,
    sources: Vec<BuiltSource>,
    side_inputs: &[(NodeIndex, NodeIndex)],
    options: &SourceOptions<'_>,
    failure: &Failure,
    stop: &Arc<AtomicBool>,
) -> Vec<PreparedSource> {
    let replay_tracker = options.replay.then(AckTracker::recording);
    let mut prepared = Vec::new();
    for (i, built) in sources.into_iter().enumerate() {
        let BuiltSource { id, type_name, source: mut src, key, projection } = built;
        let node = graph.sources[i];
        let tracker = match (&replay_tracker, src.acknowledgements()) {
            (Some(shared), _) => Arc::clone(shared),
            (None, Some(listener)) => AckTracker::notifying(listener),
            (None, None) => AckTracker::new(),
        };
        let downstream = graph.downstream(node);
        let only_side = !downstream.is_empty() && downstream.iter().all(|&d| side_inputs.contains(&(node, d)));
        let keeps_checkpoint = !options.dry_run && src.checkpointed() && !only_side;
        let checkpoints = match options.state {
            Some(state) if keeps_checkpoint => {
                match Checkpoints::load(Arc::clone(state), pipeline, &id, Arc::clone(&tracker), options.from_start) {
                    Ok(c) if options.replay => Some(Arc::new(c.for_replay())),
                    Ok(c) => Some(Arc::new(c)),
                    Err(e) => {
                        failure.set(format!("source `{id}`: cannot read its checkpoint: {e}"), stop);
                        None
                    }
                }
            }
            _ => None,
        };
        // The source takes back its saved position (not in a replay, which reads no input: the saved
        // position stays as it is).
        let mut resumed = false;
        if let Some(c) = checkpoints.as_ref().filter(|_| !options.replay) {
            match src.restore(c.saved_position()) {
                Ok(Some(position)) => {
                    resumed = position.resumes();
                    c.keep(position);
                }
                Ok(None) => {}
                Err(why) => {
                    let e = crate::kernel::checkpoint::unreadable(pipeline, &id, &why);
                    failure.set(format!("source `{id}`: cannot read its checkpoint: {e}"), stop);
                }
            }
        }
        let counters = Arc::new(NodeCounters::default());
        prepared.push(PreparedSource {
            id,
            type_name,
            source: src,
            key,
            projection,
            tracker,
            counters,
            checkpoints,
            resumed,
        });
    }
    prepared
}

/// The acknowledgement progress of a run, over all its sources.
#[derive(Debug, Clone)]
pub struct Progress(Vec<Arc<AckTracker>>);

impl Progress {
    pub(super) fn new(trackers: Vec<Arc<AckTracker>>) -> Self {
        let mut unique: Vec<Arc<AckTracker>> = Vec::new();
        for t in trackers {
            if !unique.iter().any(|u| Arc::ptr_eq(u, &t)) {
                unique.push(t);
            }
        }
        Self(unique)
    }

    /// Outcomes so far, summed over the sources.
    pub fn summary(&self) -> AckSummary {
        self.0.iter().map(|t| t.summary()).fold(AckSummary::default(), |a, b| AckSummary {
            received: a.received + b.received,
            delivered: a.delivered + b.delivered,
            filtered: a.filtered + b.filtered,
            dead_lettered: a.dead_lettered + b.dead_lettered,
            unacknowledged: a.unacknowledged + b.unacknowledged,
        })
    }

    /// Every input's outcome, for recording trackers (a replay's).
    pub(crate) fn outcomes(&self) -> Vec<(InputPosition, Outcome)> {
        self.0.iter().flat_map(|t| t.outcomes()).collect()
    }
}
