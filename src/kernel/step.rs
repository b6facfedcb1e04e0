//! What a step is to the rest of Weir: the [`Transform`] trait every built step implements, and the
//! [`Output`] of one call (records passed on, rejected, filtered, or a fatal error). The step types
//! themselves are components (`transforms`).

use std::time::Instant;

use crate::expr::reads::Reads;
use crate::kernel::record::Record;

/// A record that a step could not process, bound for the dead-letter output.
#[derive(Debug)]
pub(crate) struct Rejected {
    /// The record as it entered the step.
    pub(crate) record: Record,
    /// Why it was rejected.
    pub(crate) error: String,
}

/// What a step produced from one call.
#[derive(Debug, Default)]
pub(crate) struct Output {
    /// Records passed downstream.
    pub(crate) records: Vec<Record>,
    /// Records bound for the dead-letter output.
    pub(crate) rejected: Vec<Rejected>,
    /// How many records were dropped on purpose.
    pub(crate) filtered: u64,
    /// A fatal error that must stop the pipeline (e.g. a lookup miss with policy `error`).
    pub(crate) fatal: Option<String>,
}

impl Output {
    /// Passes a record downstream.
    pub(crate) fn emit(&mut self, record: Record) {
        self.records.push(record);
    }

    /// Drops a record on purpose; its inputs count it as filtered.
    pub(crate) fn filter(&mut self, record: Record) {
        record.mark_filtered();
        self.filtered += 1;
    }

    /// Sends a record to the dead-letter output.
    pub(crate) fn reject(&mut self, record: Record, error: impl std::fmt::Display) {
        self.rejected.push(Rejected { record, error: error.to_string() });
    }

    /// Stops the pipeline; the record is not acknowledged and will be read again on the next run.
    pub(crate) fn fail(&mut self, record: Record, error: impl std::fmt::Display) {
        drop(record);
        if self.fatal.is_none() {
            self.fatal = Some(error.to_string());
        }
    }
}

/// Runs `f`, which blocks (a request, a full store waited out), from a tokio task: on a multi-threaded
/// runtime through `block_in_place`, so the worker's other tasks (the steps downstream) move to another
/// thread and keep flowing, and blocking clients (reqwest's) may be used; elsewhere (a blocking
/// thread, a unit test) directly.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// An input a step reads whole before its other inputs (`reconcile`'s `right`): named by a key of the
/// step's config, which names one of the step's `inputs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SideInput {
    /// The id of the component it reads.
    pub(crate) id: String,
    /// The config key that names it (for errors).
    pub(crate) key: &'static str,
}

/// A built step.
/// What a step is given when the run starts.
#[derive(Clone)]
pub(crate) struct StepContext {
    /// The pipeline's name.
    pub(crate) pipeline: String,
    /// The step's id.
    pub(crate) step: String,
    /// The state store (intent ledger, id map, audit), when the run has one (never in a dry run).
    pub(crate) state: Option<std::sync::Arc<dyn crate::state::StateStore>>,
    /// This run's id in the run history.
    pub(crate) run_id: Option<i64>,
    /// `--dry-run`: nothing may change anywhere.
    pub(crate) dry_run: bool,
}

pub(crate) trait Transform: Send {
    /// Called once before the run reads anything: take what the step needs of the run (the state
    /// store). An error stops the run before a record is read.
    fn open(&mut self, _ctx: &StepContext) -> Result<(), String> {
        Ok(())
    }

    /// Processes a batch of records.
    fn process(&mut self, batch: Vec<Record>, out: &mut Output);

    /// The inputs this step reads whole before its others, by component id. The runtime hands their
    /// batches to [`Transform::take_side`], each input to its end, before any batch of the other
    /// inputs reaches [`Transform::process`]; records the step keeps carry their acknowledgements
    /// until it emits or filters them.
    fn side_inputs(&self) -> Vec<SideInput> {
        Vec::new()
    }

    /// A batch of side input `input` (its index in [`Transform::side_inputs`]).
    fn take_side(&mut self, _input: usize, batch: Vec<Record>, out: &mut Output) {
        batch.into_iter().for_each(|r| out.filter(r));
    }

    /// Called once when every input has ended: emit whatever is buffered.
    fn flush(&mut self, _out: &mut Output) {}

    /// When the step wants [`Transform::on_deadline`] called (time-based batches).
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// Called at or after [`Transform::deadline`].
    fn on_deadline(&mut self, _out: &mut Output) {}

    /// Called just before [`Transform::flush`] when the source did not read its whole input (the run
    /// was interrupted or failed, or stopped at `--limit`): a step that draws conclusions from what it
    /// did *not* see (`reconcile`'s `missing_left`) must not draw them.
    fn input_incomplete(&mut self) {}

    /// Counts the step keeps about its work, collected by the runtime after [`Transform::flush`] and
    /// shown in the run summary.
    fn report(&self) -> Option<crate::kernel::stats::StepReport> {
        None
    }

    /// Which fields of its input records the step reads; `Reads::All` when it may read or pass on
    /// anything. Answered from its compiled expressions; used to parse only what a pipeline needs.
    fn reads(&self) -> Reads {
        Reads::All
    }

    /// The `$.array[?@.key == literal]` queries the step selects array elements with (not counted in
    /// [`Transform::reads`]): the source then skips the elements they cannot match.
    fn element_filters(&self) -> Vec<crate::expr::jsonpath::ElementFilter> {
        Vec::new()
    }

    /// True when the step's output records are built anew, so nothing downstream reads its input's
    /// other fields.
    fn replaces_record(&self) -> bool {
        false
    }

    /// Asks the step to emit its records as compact JSON text ([`Record::encoded`]) where it can make
    /// that text more cheaply than it builds their value: sent to the last step a source runs itself
    /// when the records' only destination is a sink writing that text. A step that cannot ignores it.
    fn emit_encoded_json(&mut self) {}

    /// Another instance of this step, for another thread, when the step keeps no state between records
    /// (what it does to a record depends on that record only). Such steps may run inside the source,
    /// on every thread that parses (`kernel::fused`).
    fn replicate(&self) -> Option<Box<dyn Transform>> {
        None
    }
}
