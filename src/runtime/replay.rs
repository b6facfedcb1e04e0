//! Replaying dead letters: each entry's record is re-injected at the component that rejected it, with
//! the pipeline as it is configured now (a fixed mapping, a table row added). The source does not run;
//! components upstream of the injection points see no input. Every injected record is its own tracked
//! input, so the caller learns each entry's outcome and removes only the entries that got through.

use std::sync::Arc;

use petgraph::graph::NodeIndex;
use serde_json::Value;

use super::ack::{AckTracker, InputPosition, Outcome};
use super::channel::Outputs;
use crate::graph::{NodeKind, PipelineGraph};
use crate::record::{Acks, Record};
use crate::state::StoredDeadLetter;

/// Dead letters to re-inject into one pipeline.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// The entries, in the order they are injected; an entry's index is its input sequence number.
    pub entries: Vec<StoredDeadLetter>,
}

impl Replay {
    /// How often each entry had been attempted, by sequence number.
    pub fn previous_attempts(&self) -> Vec<u32> {
        self.entries.iter().map(|e| e.entry.attempts).collect()
    }

    /// The components, by id, that entries name but the pipeline no longer has.
    pub fn missing_components(&self, graph: &PipelineGraph) -> Vec<String> {
        let mut missing: Vec<String> = self
            .entries
            .iter()
            .filter(|e| node_of(graph, &e.entry.step).is_none())
            .map(|e| e.entry.step.clone())
            .collect();
        missing.dedup();
        missing
    }

    /// Each entry's outcome: the dead-letter id and what became of its record.
    pub fn outcomes(&self, tracker: &AckTracker) -> Vec<(i64, Outcome)> {
        tracker
            .outcomes()
            .into_iter()
            .filter_map(|(p, o)| self.entries.get(p.seq as usize).map(|e| (e.id, o)))
            .collect()
    }
}

fn node_of(graph: &PipelineGraph, id: &str) -> Option<NodeIndex> {
    graph.graph.node_indices().find(|n| graph.graph[*n].id == id)
}

/// Sends every entry's record to its component's input (for an entry rejected by the source itself —
/// a line that did not parse — to the source's readers, parsed again first). Runs on a blocking thread.
pub fn inject(
    replay: &Replay,
    graph: &PipelineGraph,
    tracker: &Arc<AckTracker>,
    input_of: impl Fn(NodeIndex) -> Outputs,
) {
    for (seq, stored) in replay.entries.iter().enumerate() {
        let entry = &stored.entry;
        let position = InputPosition { stream: 0, seq: seq as u64 };
        let acks = Acks::One(tracker.track(position));
        let Some(node) = node_of(graph, &entry.step) else { continue };
        let (outputs, value) = match graph.graph[node].kind {
            NodeKind::Source => {
                let value = match &entry.record {
                    Value::String(text) => serde_json::from_str(text).unwrap_or_else(|_| entry.record.clone()),
                    other => other.clone(),
                };
                let readers = graph.downstream(node).into_iter().map(&input_of).collect::<Vec<_>>();
                (Outputs::merge(readers), value)
            }
            NodeKind::Step(_) | NodeKind::Sink(_) => (input_of(node), entry.record.clone()),
        };
        let record = Record { value, key: entry.key.as_deref().map(Arc::from), parent: None, acks, original: None };
        // A closed input (the run is stopping) leaves the record unacknowledged: the entry is kept.
        outputs.blocking_send(vec![record]);
    }
}
