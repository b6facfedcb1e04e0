//! What a test run saw: every record each step passed on and each sink received (a [`Tap`]), which
//! ways each step went (for coverage), and the sink that stands in for every unmocked sink — it takes
//! everything and writes nothing.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::compare::Received;
use crate::kernel::record::Record;
use crate::kernel::tap::Tap;
use crate::sinks::{RecordRejection, Sink, SinkError};

/// Which ways a step went during a run.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StepWays {
    /// It passed records on.
    pub(crate) passed: bool,
    /// It dropped records on purpose (a filter, `on_error: drop`).
    pub(crate) filtered: bool,
    /// It rejected records (dead-lettered, or failed the run).
    pub(crate) rejected: bool,
}

/// Records what goes through a run.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    steps: Mutex<BTreeMap<String, Vec<Received>>>,
    sinks: Mutex<BTreeMap<String, Vec<Received>>>,
    ways: Mutex<BTreeMap<String, StepWays>>,
}

fn received(batch: &[Record]) -> impl Iterator<Item = Received> + '_ {
    batch.iter().map(|r| (r.key.as_deref().map(str::to_string), r.value.clone()))
}

impl Tap for Recorder {
    fn step(&self, step: &str, passed: &[Record], filtered: u64, rejected: usize) {
        // A call that produced nothing (the end of the input reaching a step that got none) reached
        // nothing.
        if passed.is_empty() && filtered == 0 && rejected == 0 {
            return;
        }
        let mut steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
        steps.entry(step.to_string()).or_default().extend(received(passed));
        let mut ways = self.ways.lock().unwrap_or_else(|e| e.into_inner());
        let w = ways.entry(step.to_string()).or_default();
        w.passed |= !passed.is_empty();
        w.filtered |= filtered > 0;
        w.rejected |= rejected > 0;
    }

    fn sink(&self, sink: &str, batch: &[Record]) {
        let mut sinks = self.sinks.lock().unwrap_or_else(|e| e.into_inner());
        sinks.entry(sink.to_string()).or_default().extend(received(batch));
    }
}

impl Recorder {
    /// What step `id` passed on.
    pub(crate) fn step_records(&self, id: &str) -> Vec<Received> {
        self.steps.lock().unwrap_or_else(|e| e.into_inner()).get(id).cloned().unwrap_or_default()
    }

    /// What sink `id` received.
    pub(crate) fn sink_records(&self, id: &str) -> Vec<Received> {
        self.sinks.lock().unwrap_or_else(|e| e.into_inner()).get(id).cloned().unwrap_or_default()
    }

    /// Which ways each step went.
    pub(crate) fn ways(&self) -> BTreeMap<String, StepWays> {
        self.ways.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Stands in for a sink in a test: every record is delivered, nothing is written.
#[derive(Debug, Default)]
pub(crate) struct AcceptingSink;

impl Sink for AcceptingSink {
    fn write(&mut self, _batch: &[Record]) -> Result<Vec<RecordRejection>, SinkError> {
        Ok(Vec::new())
    }

    fn target(&self) -> String {
        "weir test".into()
    }
}
