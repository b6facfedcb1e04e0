//! One pipeline under `weir serve`: a task that waits for its next due time (its schedule, the runs it
//! missed while the engine was down) or for a request (an event, the API), runs it — never two runs
//! of one pipeline at once, a request during a run making one more run after it — and keeps the
//! status the API shows.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{Notify, watch};

use super::deployment::{Deployed, Trigger};
use crate::config::schedule::MissedRuns;
use crate::graph::plan::compile;
use crate::kernel::stats::RunSummary;
use crate::runtime::executor::{Execution, RunOptions};
use crate::runtime::recorded;
use crate::state::{StateError, StateStore};

/// A pipeline's place in the service: what is deployed now, its status, its wake-up call.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) name: String,
    deployed: Mutex<Arc<Deployed>>,
    status: Mutex<Status>,
    /// A run was asked for (event, API): the task wakes, or runs once more after the current run.
    asked: Notify,
    asked_by: Mutex<Option<&'static str>>,
    /// The stop flag of the run in progress (drain on shutdown).
    current_stop: Mutex<Option<Arc<AtomicBool>>>,
    /// A new version was deployed, or the pipeline was removed: the task looks again.
    changed: Notify,
    retired: AtomicBool,
}

/// What the API says about a pipeline.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Status {
    /// A run is in progress.
    pub(crate) running: bool,
    /// When the next scheduled run is due (none for event and manual pipelines).
    pub(crate) next_run: Option<String>,
    /// The last run this process made: when it started, how it ended, its counters.
    pub(crate) last_run: Option<LastRun>,
}

/// The end of a run, as the status shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LastRun {
    pub(crate) run_id: Option<i64>,
    pub(crate) trigger: &'static str,
    pub(crate) started_at: String,
    pub(crate) status: String,
    pub(crate) received: u64,
    pub(crate) delivered: u64,
    pub(crate) filtered: u64,
    pub(crate) dead_lettered: u64,
    pub(crate) error: Option<String>,
}

impl Slot {
    pub(crate) fn new(deployed: Arc<Deployed>) -> Slot {
        Slot {
            name: deployed.loaded.config.name.clone(),
            deployed: Mutex::new(deployed),
            status: Mutex::new(Status::default()),
            asked: Notify::new(),
            asked_by: Mutex::new(None),
            current_stop: Mutex::new(None),
            changed: Notify::new(),
            retired: AtomicBool::new(false),
        }
    }

    /// Puts a new version in place: the next run uses it (a run in progress finishes with the old).
    pub(crate) fn replace(&self, deployed: Arc<Deployed>) {
        *lock(&self.deployed) = deployed;
        self.changed.notify_one();
    }

    /// The pipeline is gone from the folder: its task ends after the run in progress, if any.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
        self.changed.notify_one();
    }

    pub(crate) fn deployed(&self) -> Arc<Deployed> {
        Arc::clone(&lock(&self.deployed))
    }

    pub(crate) fn status(&self) -> Status {
        lock(&self.status).clone()
    }

    /// Asks for a run (`by`: `event`, `api`): now if idle, else once more after the current run.
    /// Requests made during one run are one run.
    pub(crate) fn ask(&self, by: &'static str) {
        *lock(&self.asked_by) = Some(by);
        self.asked.notify_one();
    }

    /// Stops the run in progress, if any: its sources stop reading, in-flight records drain.
    pub(crate) fn stop_current(&self) {
        if let Some(stop) = &*lock(&self.current_stop) {
            stop.store(true, Ordering::SeqCst);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The start time of the pipeline's newest run in the history, whatever started it.
fn last_start(store: &dyn StateStore, pipeline: &str) -> Option<DateTime<Utc>> {
    let runs = store.runs(Some(pipeline), 1).ok()?;
    let started = &runs.first()?.started_at;
    DateTime::parse_from_rfc3339(started).ok().map(|t| t.with_timezone(&Utc))
}

/// Drives one pipeline until `shutdown` turns true: runs missed while the engine was down, then each
/// run as it falls due or is asked for.
pub(crate) async fn drive(slot: Arc<Slot>, store: Arc<dyn StateStore>, mut shutdown: watch::Receiver<bool>) {
    let (name, store_for_history) = (slot.name.clone(), Arc::clone(&store));
    let last = tokio::task::spawn_blocking(move || last_start(&*store_for_history, &name)).await.ok().flatten();
    let now = Utc::now();
    // The runs owed from before this process started, then where the schedule goes on from.
    let (mut owed, mut base) = match &slot.deployed().trigger {
        Trigger::Schedule(schedule) => {
            let owed = schedule.missed_runs(last, now).len();
            let skipping = schedule.missed == MissedRuns::Skip
                && last.and_then(|l| schedule.next_after(l)).is_some_and(|t| t <= now);
            if owed > 0 {
                tracing::info!(pipeline = %slot.name, "{owed} run(s) missed while the engine was down: running now");
            }
            (owed, if skipping { Some(now) } else { last })
        }
        _ => (0, None),
    };
    loop {
        if *shutdown.borrow() || slot.retired.load(Ordering::SeqCst) {
            return;
        }
        let deployed = slot.deployed();
        let due = match &deployed.trigger {
            _ if owed > 0 => Some(Utc::now()),
            Trigger::Schedule(schedule) => match base {
                Some(base) => schedule.next_after(base),
                // Never ran: `every` starts at once, a cron at its next time.
                None => match &schedule.cadence {
                    crate::config::schedule::Cadence::Every(_) => Some(Utc::now()),
                    crate::config::schedule::Cadence::Cron { .. } => schedule.next_after(Utc::now()),
                },
            },
            Trigger::Events | Trigger::Manual => None,
        };
        lock(&slot.status).next_run = due.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let wait = due.map(|t| (t - Utc::now()).to_std().unwrap_or_default());
        let trigger = tokio::select! {
            // Shutdown, or the service is gone.
            changed = shutdown.changed() => if changed.is_ok() { continue } else { return },
            _ = slot.asked.notified() => lock(&slot.asked_by).take().unwrap_or("api"),
            // A new version (its schedule may differ) or a removal: look again.
            _ = slot.changed.notified() => continue,
            _ = sleep(wait) => if owed > 0 { "missed" } else { "schedule" },
        };
        owed = owed.saturating_sub(usize::from(trigger == "missed"));
        let started = Utc::now();
        run(&slot, &deployed, &store, trigger).await;
        if trigger != "event" && trigger != "api" {
            base = Some(started);
        }
    }
}

/// Sleeps for `wait`, or forever when there is nothing to wait for.
async fn sleep(wait: Option<std::time::Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}

/// One run of the deployed pipeline, recorded in the history and the slot's status.
async fn run(slot: &Slot, deployed: &Deployed, store: &Arc<dyn StateStore>, trigger: &'static str) {
    let config = &deployed.loaded.config;
    let stop = Arc::new(AtomicBool::new(false));
    *lock(&slot.current_stop) = Some(Arc::clone(&stop));
    lock(&slot.status).running = true;
    let started_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let outcome = run_recorded(deployed, store, trigger, &stop).await;
    *lock(&slot.current_stop) = None;
    let mut status = lock(&slot.status);
    status.running = false;
    match outcome {
        Ok((run_id, summary)) => {
            let r = &summary.records;
            let state = if summary.is_success() {
                "succeeded"
            } else if summary.interrupted && summary.error.is_none() {
                "interrupted"
            } else {
                "failed"
            };
            tracing::info!(pipeline = %config.name, trigger, received = r.received, delivered = r.delivered,
                dead_lettered = r.dead_lettered, "run ended: {state}");
            status.last_run = Some(LastRun {
                run_id,
                trigger,
                started_at,
                status: state.into(),
                received: r.received,
                delivered: r.delivered,
                filtered: r.filtered,
                dead_lettered: r.dead_lettered,
                error: summary.error.clone(),
            });
        }
        Err(RunRefused::LeaseHeld(who)) => {
            tracing::info!(pipeline = %config.name, "not run: another engine runs it ({who})");
        }
        Err(RunRefused::Other(error)) => {
            tracing::warn!(pipeline = %config.name, "run not started: {error}");
            status.last_run = Some(LastRun {
                run_id: None,
                trigger,
                started_at,
                status: "failed".into(),
                received: 0,
                delivered: 0,
                filtered: 0,
                dead_lettered: 0,
                error: Some(error),
            });
        }
    }
}

/// Why a run did not start.
enum RunRefused {
    /// Another engine holds the pipeline's lease (a replica ran it this tick).
    LeaseHeld(String),
    Other(String),
}

async fn run_recorded(
    deployed: &Deployed,
    store: &Arc<dyn StateStore>,
    trigger: &'static str,
    stop: &Arc<AtomicBool>,
) -> Result<(Option<i64>, RunSummary), RunRefused> {
    let config = &deployed.loaded.config;
    let plan = compile(&deployed.loaded).map_err(|d| RunRefused::Other(d.to_string()))?;
    let session = match recorded::begin(store, &config.name, trigger, stop).await {
        Ok(session) => session,
        Err(StateError::LeaseHeld(info)) => return Err(RunRefused::LeaseHeld(info.to_string())),
        Err(e) => return Err(RunRefused::Other(e.to_string())),
    };
    let run_id = session.run_id();
    let options = RunOptions {
        dry_run: false,
        limit: None,
        stop: Arc::clone(stop),
        state: Some(Arc::clone(store)),
        run_id: Some(run_id),
        from_start: false,
        replay: None,
        tap: None,
    };
    let summary = Execution::start(plan, options).wait().await;
    recorded::end(store, session, &summary, &config.retention).await;
    Ok((Some(run_id), summary))
}
