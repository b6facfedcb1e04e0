//! What `weir serve` runs: the pipelines of one folder, each compiled once at load to prove it builds,
//! with its trigger — a schedule, events (a `webhook` source), or none (runs only when asked).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::assemble::load::{LoadedPipeline, load_paths_partial};
use crate::config::diagnostic::Diagnostics;
use crate::config::schedule::Schedule;
use crate::graph::plan::compile;

/// One pipeline as deployed: its config and what starts its runs.
#[derive(Debug)]
pub(crate) struct Deployed {
    pub(crate) loaded: LoadedPipeline,
    pub(crate) trigger: Trigger,
}

/// What starts a pipeline's runs under `weir serve`.
#[derive(Debug, Clone)]
pub(crate) enum Trigger {
    /// Its `schedule:`.
    Schedule(Schedule),
    /// Events (a `webhook` source): each accepted event asks for a run.
    Events,
    /// Nothing: it runs when asked (`POST /api/pipelines/{name}/run`).
    Manual,
}

impl Trigger {
    /// In words, for the API and the log.
    pub(crate) fn describe(&self) -> String {
        match self {
            Trigger::Schedule(s) => s.describe(),
            Trigger::Events => "events".into(),
            Trigger::Manual => "manual".into(),
        }
    }
}

/// Loads and compiles every pipeline under `folder`. Answers the pipelines that are sound, by name,
/// and the errors of the others (empty when all are sound).
pub(crate) fn load(
    folder: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> (BTreeMap<String, Arc<Deployed>>, Diagnostics) {
    let (pipelines, mut diagnostics) = load_paths_partial(&[folder.to_path_buf()], env);
    let mut deployed = BTreeMap::new();
    for loaded in pipelines {
        if let Err(errors) = compile(&loaded) {
            errors.0.into_iter().for_each(|d| diagnostics.push(d));
            continue;
        }
        // A schedule that does not build was reported by the loader; it never reaches here.
        let schedule = loaded.config.schedule.as_ref().and_then(|s| s.build().ok());
        let trigger = match schedule {
            Some(schedule) => Trigger::Schedule(schedule),
            None if loaded.config.sources.iter().any(|s| s.config.is_event_driven()) => Trigger::Events,
            None => Trigger::Manual,
        };
        deployed.insert(loaded.config.name.clone(), Arc::new(Deployed { loaded, trigger }));
    }
    (deployed, diagnostics)
}
