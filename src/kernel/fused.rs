//! Stateless steps run by the source itself. When the steps right after the source form a chain (each
//! reads only its predecessor, which feeds only it) of steps without state, the source applies them to
//! each batch before sending it on, on whichever thread built the batch. A record then stays on one
//! thread from parsing to the sink's channel instead of crossing one per step, and when the source
//! parses on several threads, the steps run on all of them too. Batches still leave the source in input
//! order.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::channel::Batch;
use super::dead_letter::DeadLetterSender;
use super::stats::NodeCounters;
use crate::kernel::record::OnError;
use crate::kernel::record::Record;
use crate::kernel::step::{Output, Transform};

/// The first fatal error of a run.
#[derive(Debug, Default, Clone)]
pub(crate) struct Failure(Arc<Mutex<Option<String>>>);

impl Failure {
    /// Records the error (the first one wins) and asks everything to stop.
    pub(crate) fn set(&self, message: String, stop: &AtomicBool) {
        stop.store(true, Ordering::SeqCst);
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            // A closed standard output (`weir run … | head`) is the reader's choice, not a failure.
            if !crate::stdout::stdout_closed() {
                tracing::error!(error = %message, "pipeline failed");
            }
            *slot = Some(message);
        }
    }

    /// True once a fatal error happened.
    pub(crate) fn is_set(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// The error, taken.
    pub(crate) fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Where a step's rejected records and fatal errors go.
#[derive(Debug, Clone)]
pub(crate) struct StepEnv {
    /// The step's id.
    pub(crate) id: String,
    /// What to do with records it rejects.
    pub(crate) on_error: OnError,
    /// Its counters.
    pub(crate) counters: Arc<NodeCounters>,
    /// The dead-letter output.
    pub(crate) dlq: DeadLetterSender,
    /// The run's failure.
    pub(crate) failure: Failure,
    /// The run's stop flag.
    pub(crate) stop: Arc<AtomicBool>,
    /// Told what the step passed on (`weir test`); `None` in normal runs.
    pub(crate) tap: Option<Arc<dyn super::tap::Tap>>,
    /// Its log span ([`crate::telemetry::logs::node_span`]): entered while it works inside the source.
    pub(crate) span: tracing::Span,
}

impl StepEnv {
    /// Counts what one call of the step produced and routes its rejected records (by `on_error`) and
    /// fatal error; returns the records to pass on, counted as emitted (none once the run failed).
    pub(crate) fn route(&self, out: Output) -> Vec<Record> {
        NodeCounters::add(&self.counters.filtered, out.filtered as usize);
        let (filtered, rejected) = (out.filtered, out.rejected.len());
        for rejected in out.rejected {
            match self.on_error {
                OnError::DeadLetter => {
                    NodeCounters::add(&self.counters.dead_lettered, 1);
                    self.dlq.send(rejected.record, &self.id, rejected.error);
                }
                OnError::Drop => {
                    NodeCounters::add(&self.counters.filtered, 1);
                    rejected.record.mark_filtered();
                }
                OnError::Fail => {
                    self.failure.set(format!("step `{}`: {}", self.id, rejected.error), &self.stop);
                    rejected.record.mark_unacknowledged();
                }
            }
        }
        if let Some(fatal) = out.fatal {
            self.failure.set(format!("step `{}`: {fatal}", self.id), &self.stop);
        }
        if self.failure.is_set() {
            // Dropped: these inputs stay unacknowledged, whatever became of their other records.
            out.records.iter().for_each(Record::mark_unacknowledged);
            return Vec::new();
        }
        NodeCounters::add(&self.counters.emitted, out.records.len());
        if let Some(tap) = &self.tap {
            tap.step(&self.id, &out.records, filtered, rejected);
        }
        out.records
    }
}

/// The steps a source runs itself, in order.
#[derive(Default)]
pub struct Chain {
    steps: Vec<(StepEnv, Box<dyn Transform>)>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.steps.iter().map(|(env, _)| &env.id)).finish()
    }
}

impl Chain {
    /// A chain of these steps (each replicable, see [`Transform::replicate`]).
    pub(crate) fn new(steps: Vec<(StepEnv, Box<dyn Transform>)>) -> Self {
        Self { steps }
    }

    /// A copy with its own step instances, for another thread.
    pub(crate) fn replicate(&self) -> Self {
        Self {
            steps: self
                .steps
                .iter()
                .map(|(env, t)| (env.clone(), t.replicate().expect("the executor fuses replicable steps only")))
                .collect(),
        }
    }

    /// Asks the last step to emit compact JSON text ([`Transform::emit_encoded_json`]).
    pub(crate) fn emit_encoded_json(&mut self) {
        if let Some((_, last)) = self.steps.last_mut() {
            last.emit_encoded_json();
        }
    }

    /// Runs a batch through every step.
    pub(crate) fn run(&mut self, mut batch: Batch) -> Batch {
        for (env, step) in &mut self.steps {
            if batch.is_empty() {
                break;
            }
            if env.failure.is_set() {
                // After a fatal error nothing more is delivered; these inputs stay unacknowledged.
                batch.iter().for_each(Record::mark_unacknowledged);
                return Vec::new();
            }
            NodeCounters::add(&env.counters.received, batch.len());
            let _in_step = env.span.enter();
            let mut out = Output::default();
            step.process(batch, &mut out);
            batch = env.route(out);
        }
        batch
    }
}
