//! `weir diff`'s engine: one version of a pipeline run as a test runs it (every sink a stand-in, state
//! in memory, nothing sent anywhere) on given records or its own input, what each sink received and
//! what was dead-lettered collected ([`Capture`]); two captures paired record by record
//! ([`compare`](super::diff_pairs::compare)).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::compare::Received;
use super::components::Components;
use super::run::{TEST_DEADLINE, in_memory_state, run_sandboxed};
use crate::assemble::load::LoadedPipeline;
use crate::config::diagnostic::Diagnostics;
use crate::graph::plan::compile;

/// Why a version of the pipeline could not be run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DiffError {
    /// It does not compile.
    #[error("{0}")]
    Invalid(Diagnostics),
    /// The records cannot go where asked.
    #[error("{0}")]
    Target(String),
    /// A component that makes requests would be reached: the run would send something.
    #[error(
        "{kind} `{id}` (type `{type_name}`) would send requests; `weir diff` sends nothing: give the records to a step after it with --input FILE --to STEP"
    )]
    Requests {
        /// The component's kind.
        kind: &'static str,
        /// Its id.
        id: String,
        /// Its type.
        type_name: &'static str,
    },
    /// The in-memory state could not be opened.
    #[error("{0}")]
    State(String),
}

/// A dead-lettered record, as `weir diff` compares them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DeadLetter {
    /// The record's key, else the record itself (compact JSON).
    pub(crate) label: String,
    /// The component that rejected it.
    pub(crate) step: String,
    /// Why.
    pub(crate) error: String,
}

/// What one version of the pipeline did with the inputs.
#[derive(Debug, Default)]
pub(crate) struct Capture {
    /// The records each sink received, in order, by sink id (every sink of the pipeline).
    pub(crate) sinks: BTreeMap<String, Vec<Received>>,
    /// The records dead-lettered, sorted.
    pub(crate) dead_letters: Vec<DeadLetter>,
    /// Why the run failed, if it did.
    pub(crate) error: Option<String>,
}

/// Records given to a pipeline instead of its own input.
#[derive(Debug, Clone)]
pub(crate) struct Inputs {
    /// The source or step they go to; the pipeline's only source when `None`.
    pub(crate) to: Option<String>,
    /// The records.
    pub(crate) records: Vec<Value>,
}

/// The records of every fixture file of `paths`, in order; every file's errors.
pub(crate) fn read_inputs(paths: &[PathBuf]) -> Result<Vec<Value>, Diagnostics> {
    let mut records = Vec::new();
    let mut diagnostics = Diagnostics::default();
    for path in paths {
        match super::fixture::read_fixture(path) {
            Ok(more) => records.extend(more),
            Err(d) => {
                let mut d = *d;
                d.hint = Some("the path is relative to the current folder".into());
                diagnostics.push(d);
            }
        }
    }
    if diagnostics.is_empty() { Ok(records) } else { Err(diagnostics) }
}

/// Runs `pipeline` on `inputs` (its own sources' input when `None`), every sink a stand-in and state in
/// memory, and collects what came out.
pub(crate) fn capture(
    pipeline: &LoadedPipeline,
    inputs: Option<&Inputs>,
    runtime: &tokio::runtime::Runtime,
) -> Result<Capture, DiffError> {
    let plan = compile(pipeline).map_err(DiffError::Invalid)?;
    let components = Components::of(&plan);
    let given = match inputs {
        None => Vec::new(),
        Some(inputs) => vec![(target(&components, inputs.to.as_deref())?, inputs.records.clone())],
    };
    let starts: Vec<&str> = given.iter().map(|(id, _)| id.as_str()).collect();
    if let Some((id, kind, type_name)) = components.unanswered_requests(&plan.graph, &starts, &|_| false).first() {
        return Err(DiffError::Requests { kind, id: id.clone(), type_name });
    }
    let state = in_memory_state().map_err(DiffError::State)?;
    let name = plan.name.clone();
    let sink_ids = components.ids(&["sink"]).into_iter().map(str::to_string).collect::<Vec<_>>();
    let run = run_sandboxed(plan, &state, &given, &|_| false, runtime);
    let mut error = run.summary.error.clone();
    if run.timed_out {
        error = Some(format!("the run was stopped after {} s", TEST_DEADLINE.as_secs()));
    }
    let sinks = sink_ids.into_iter().map(|id| (id.clone(), run.recorder.sink_records(&id))).collect();
    let stored =
        state.dead_letters(Some(&name)).map_err(|e| DiffError::State(format!("cannot read the dead letters: {e}")))?;
    let mut dead_letters: Vec<DeadLetter> = stored
        .into_iter()
        .map(|d| DeadLetter {
            label: d.entry.key.clone().unwrap_or_else(|| super::compare::shown(&d.entry.record)),
            step: d.entry.step,
            error: d.entry.error,
        })
        .collect();
    dead_letters.sort();
    Ok(Capture { sinks, dead_letters, error })
}

/// The component the records go to: `to` if it is a source or a step, else the only source.
fn target(components: &Components, to: Option<&str>) -> Result<String, DiffError> {
    match to {
        Some(to) if components.get(to).is_some_and(|(kind, _)| kind != "sink") => Ok(to.to_string()),
        Some(to) => Err(DiffError::Target(format!(
            "the pipeline has no source or step `{to}` (it has: {})",
            components.ids(&["source", "step"]).join(", ")
        ))),
        None => match components.ids(&["source"])[..] {
            [only] => Ok(only.to_string()),
            ref several => Err(DiffError::Target(format!(
                "the pipeline has several sources ({}): say which gets the records with --to ID",
                several.join(", ")
            ))),
        },
    }
}
