//! The records each node counts, as Prometheus counters that never go back: the totals of the runs
//! that ended, plus, for a run in progress, its nodes' live counters read at scrape time. A run's
//! counters are the executor's own atomics (the kernel's `NodeCounters`, behind [`LiveRecords`]):
//! recording costs the hot path nothing; only starting and ending a run take the lock here.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// The counts of one node, as its counters hold them now.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordCounts {
    /// Records that arrived (for a source: records read).
    pub(crate) received: u64,
    /// Records passed downstream (sources and steps).
    pub(crate) emitted: u64,
    /// Records dropped on purpose.
    pub(crate) filtered: u64,
    /// Records sent to the dead-letter output.
    pub(crate) dead_lettered: u64,
    /// Records written (sinks).
    pub(crate) delivered: u64,
}

impl RecordCounts {
    fn add(&mut self, other: RecordCounts) {
        self.received += other.received;
        self.emitted += other.emitted;
        self.filtered += other.filtered;
        self.dead_lettered += other.dead_lettered;
        self.delivered += other.delivered;
    }

    /// What left the node: written for a sink, passed downstream for a source or a step.
    pub(crate) fn out(&self, kind: &str) -> u64 {
        if kind == "sink" { self.delivered } else { self.emitted }
    }
}

/// A node's live counters, read at scrape time.
pub(crate) trait LiveRecords: Send + Sync {
    /// The counts now.
    fn records(&self) -> RecordCounts;
}

/// Which node: its pipeline, its id and whether it is a `source`, `step` or `sink`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub(crate) struct NodeLabels {
    pub(crate) pipeline: String,
    pub(crate) node: String,
    pub(crate) kind: &'static str,
}

/// The nodes of one run in progress and their live counters.
type LiveRun = Vec<(NodeLabels, Arc<dyn LiveRecords>)>;

/// Every node's counts: of ended runs, and the live counters of runs in progress (by run token).
#[derive(Default)]
struct Nodes {
    ended: HashMap<NodeLabels, RecordCounts>,
    live: HashMap<u64, LiveRun>,
}

static NODES: Mutex<Option<Nodes>> = Mutex::new(None);
static NEXT_RUN: AtomicU64 = AtomicU64::new(0);

fn with_nodes<T>(f: impl FnOnce(&mut Nodes) -> T) -> T {
    let mut guard = NODES.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(Nodes::default))
}

/// Every node's counts now (ended runs plus runs in progress), in label order.
pub(crate) fn totals() -> BTreeMap<NodeLabels, RecordCounts> {
    with_nodes(|nodes| {
        let mut totals: BTreeMap<NodeLabels, RecordCounts> =
            nodes.ended.iter().map(|(labels, counts)| (labels.clone(), *counts)).collect();
        for (labels, live) in nodes.live.values().flatten() {
            totals.entry(labels.clone()).or_default().add(live.records());
        }
        totals
    })
}

/// A run being counted: its nodes' counters are read live until it ends ([`WatchedRun::ended`]; or
/// when it is dropped, as a run that stopped without an end).
pub(crate) struct WatchedRun {
    token: u64,
    pipeline: String,
    ended: bool,
}

impl std::fmt::Debug for WatchedRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchedRun").field("pipeline", &self.pipeline).finish_non_exhaustive()
    }
}

/// Starts counting a run of `pipeline` whose nodes are `(id, kind, counters)`.
pub(crate) fn run_started(
    pipeline: &str,
    nodes: impl IntoIterator<Item = (String, &'static str, Arc<dyn LiveRecords>)>,
) -> WatchedRun {
    let token = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
    let watched: LiveRun = nodes
        .into_iter()
        .map(|(node, kind, counts)| (NodeLabels { pipeline: pipeline.to_string(), node, kind }, counts))
        .collect();
    with_nodes(|n| n.live.insert(token, watched));
    super::metrics::run_began(pipeline);
    WatchedRun { token, pipeline: pipeline.to_string(), ended: false }
}

impl WatchedRun {
    /// The run ended with `status` (`succeeded`, `failed`, `interrupted`) after `duration`: its counts
    /// join the totals, and the run counters and gauges are updated.
    pub(crate) fn ended(mut self, status: &'static str, duration: Duration) {
        self.fold();
        super::metrics::run_ended(&self.pipeline, status, duration);
    }

    fn fold(&mut self) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        with_nodes(|nodes| {
            for (labels, live) in nodes.live.remove(&self.token).unwrap_or_default() {
                nodes.ended.entry(labels).or_default().add(live.records());
            }
        });
    }
}

impl Drop for WatchedRun {
    fn drop(&mut self) {
        if !self.ended {
            self.fold();
            super::metrics::run_abandoned(&self.pipeline);
        }
    }
}

/// Registers the records each node counted ([`totals`]) for one scrape, one counter per kind of count.
pub(super) fn register(registry: &mut Registry) {
    let names = [
        ("weir_records_in", "Records that arrived at a node (for a source: records read)"),
        ("weir_records_out", "Records that left a node: passed downstream (sources, steps) or written (sinks)"),
        ("weir_records_filtered", "Records a node dropped on purpose"),
        ("weir_records_dead_lettered", "Records a node sent to the dead-letter queue"),
    ];
    let families: [Family<NodeLabels, Counter>; 4] = Default::default();
    for (labels, counts) in totals() {
        let values = [counts.received, counts.out(labels.kind), counts.filtered, counts.dead_lettered];
        for (family, value) in families.iter().zip(values) {
            family.get_or_create(&labels).inc_by(value);
        }
    }
    for ((name, help), family) in names.into_iter().zip(families) {
        registry.register(name, help, family);
    }
}
