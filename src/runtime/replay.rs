//! Replaying dead letters: each entry's record is re-injected at the component that rejected it, with
//! the pipeline as it is configured now (a fixed mapping, a table row added). The source does not run;
//! components upstream of the injection points see no input. Every injected record is its own tracked
//! input, so the caller learns each entry's outcome and removes only the entries that got through.

use std::sync::Arc;

use petgraph::graph::NodeIndex;
use serde_json::Value;

use crate::graph::{NodeKind, PipelineGraph};
use crate::kernel::ack::{InputPosition, Outcome};
use crate::kernel::channel::Outputs;
use crate::kernel::dead_letter::TRUNCATED;
use crate::kernel::record::with_context;
use crate::kernel::record::{Acks, Record};
use crate::kernel::stats::NodeCounters;
use crate::sources::SourceContext;
use crate::state::StoredDeadLetter;

/// Dead letters to re-inject into one pipeline.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// The entries, in the order they are injected; an entry's index is its input sequence number.
    pub(crate) entries: Vec<StoredDeadLetter>,
    /// The entries are the whole input, not a few records of it (`weir test` gives a step all it
    /// receives): steps that report on their whole input (`reconcile`'s `missing_left`) do so.
    pub(crate) whole_input: bool,
}

impl Replay {
    /// How often each entry had been attempted, by sequence number.
    pub(crate) fn previous_attempts(&self) -> Vec<u32> {
        self.entries.iter().map(|e| e.entry.attempts).collect()
    }

    /// The components, by id, that entries name but the pipeline no longer has.
    pub(crate) fn missing_components(&self, graph: &PipelineGraph) -> Vec<String> {
        let mut missing: Vec<String> = self
            .entries
            .iter()
            .filter(|e| node_of(graph, &e.entry.step).is_none())
            .map(|e| e.entry.step.clone())
            .collect();
        missing.sort();
        missing.dedup();
        missing
    }

    /// The ids of entries holding a truncated record (too big to store): they cannot be replayed.
    pub(crate) fn truncated(&self) -> Vec<i64> {
        self.entries.iter().filter(|e| e.entry.record.get(TRUNCATED).is_some()).map(|e| e.id).collect()
    }

    /// Each entry's outcome: the dead-letter id and what became of its record.
    pub(crate) fn outcomes(&self, progress: &super::sources::Progress) -> Vec<(i64, Outcome)> {
        progress
            .outcomes()
            .into_iter()
            .filter_map(|(p, o)| self.entries.get(p.seq as usize).map(|e| (e.id, o)))
            .collect()
    }
}

fn node_of(graph: &PipelineGraph, id: &str) -> Option<NodeIndex> {
    graph.graph.node_indices().find(|n| graph.graph[*n].id == id)
}

/// Sends every entry's record to its component's input. An entry rejected by the source itself is
/// taken as the source would take it: a line that did not parse is parsed again, and the source's key
/// is rendered; what the source would reject again (a line that still does not parse, a CSV row that
/// was not kept, a key that still fails) is dead-lettered again instead of being sent on. Runs on a
/// blocking thread; `sources` are the sources' contexts, by source index (their key and dead-letter
/// output), all sharing the replay's tracker.
pub(crate) fn inject(
    replay: &Replay,
    graph: &PipelineGraph,
    sources: &[SourceContext],
    input_of: impl Fn(NodeIndex) -> Outputs,
) {
    let Some(first) = sources.first() else { return };
    for (seq, stored) in replay.entries.iter().enumerate() {
        let entry = &stored.entry;
        let position = InputPosition { stream: 0, seq: seq as u64 };
        let acks = Acks::One(first.tracker.track(position));
        // Not sent (its input stays unacknowledged, the entry is kept): no such component any more, or
        // a record stored truncated.
        let Some(node) = node_of(graph, &entry.step) else { continue };
        if entry.record.get(TRUNCATED).is_some() {
            continue;
        }
        let parent = entry.parent.clone().map(Arc::new);
        let mut record = Record {
            value: Value::Null,
            key: entry.key.as_deref().map(Arc::from),
            parent,
            acks,
            original: None,
            encoded: None,
        };
        let outputs = match graph.graph[node].kind {
            NodeKind::Source(i) => {
                let Some(source) = sources.get(i) else { continue };
                NodeCounters::add(&source.counters.received, 1);
                let parsed = match &entry.record {
                    Value::String(text) => crate::exact_json::from_str(text).map_err(|_| entry.record.clone()),
                    // A malformed CSV row: its text was not kept.
                    Value::Null => Err(Value::Null),
                    other => Ok(other.clone()),
                };
                let rejected = match parsed {
                    Ok(value) => {
                        record.value = value;
                        match &source.key {
                            Some(key) => match with_context(&mut record, |c| key.render(c)) {
                                Ok(k) => {
                                    record.key = Some(k.into());
                                    None
                                }
                                Err(e) => Some(format!("record key: {e}")),
                            },
                            None => None,
                        }
                    }
                    Err(raw) => {
                        record.value = raw;
                        Some(entry.error.clone())
                    }
                };
                if let Some(error) = rejected {
                    NodeCounters::add(&source.counters.dead_lettered, 1);
                    source.dead_letter.send(record, &source.id, error);
                    continue;
                }
                NodeCounters::add(&source.counters.emitted, 1);
                Outputs::merge(graph.downstream(node).into_iter().map(&input_of).collect())
            }
            NodeKind::Step(_) | NodeKind::Sink(_) => {
                record.value = entry.record.clone();
                input_of(node)
            }
        };
        // A closed input (the run is stopping) leaves the record unacknowledged: the entry is kept.
        outputs.blocking_send(vec![record]);
    }
}
