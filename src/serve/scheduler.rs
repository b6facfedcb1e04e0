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
use crate::runtime::redeliver::redeliver;
use crate::sources::webhook::WebhookIngress;
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
    /// Dead-letter entries to replay (ids), asked for through the API.
    replays: Mutex<Vec<i64>>,
    /// The hook of a pipeline with a `webhook` source.
    ingress: Mutex<Option<Arc<WebhookIngress>>>,
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
            replays: Mutex::new(Vec::new()),
            ingress: Mutex::new(None),
            current_stop: Mutex::new(None),
            changed: Notify::new(),
            retired: AtomicBool::new(false),
        }
    }

    /// Puts a new version in place: the next run uses it (a run in progress finishes with the old).
    pub(crate) fn replace(&self, deployed: Arc<Deployed>) {
        let following = self.follows();
        *lock(&self.deployed) = deployed;
        // A following run never ends by itself: it is stopped (drained) so that the new version starts.
        if following {
            self.stop_current();
        }
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

    /// Asks for these dead-letter entries (of this pipeline) to be replayed: as a run of the
    /// pipeline, now if idle, else after the run in progress.
    pub(crate) fn ask_replay(&self, ids: Vec<i64>) {
        lock(&self.replays).extend(ids);
        if self.follows() {
            self.stop_current();
        }
        self.asked.notify_one();
    }

    /// True for a pipeline fed by events: its run follows the inbox until stopped.
    fn follows(&self) -> bool {
        matches!(self.deployed().trigger, Trigger::Events)
    }

    /// The webhook ingress of the version deployed now (pipelines with a `webhook` source).
    pub(crate) fn ingress(&self) -> Option<Arc<WebhookIngress>> {
        lock(&self.ingress).clone()
    }

    /// Sets the ingress that goes with the version deployed now.
    pub(crate) fn set_ingress(&self, ingress: Option<Arc<WebhookIngress>>) {
        *lock(&self.ingress) = ingress;
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
    let mut resume_at: Option<DateTime<Utc>> = None;
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
            // Events: one run follows the inbox; when it ends (a reload, a replay, a failure) the
            // next starts, a second later after a failure so that a broken one does not spin.
            Trigger::Events => Some(resume_at.unwrap_or_else(Utc::now)),
            Trigger::Manual => None,
        };
        lock(&slot.status).next_run = due.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let wait = due.map(|t| (t - Utc::now()).to_std().unwrap_or_default());
        let trigger = tokio::select! {
            // Shutdown, or the service is gone.
            changed = shutdown.changed() => if changed.is_ok() { continue } else { return },
            _ = slot.asked.notified() => {
                let ids = std::mem::take(&mut *lock(&slot.replays));
                if !ids.is_empty() {
                    replay(&slot, &deployed, &store, ids).await;
                }
                match lock(&slot.asked_by).take() {
                    Some(by) => by,
                    None => continue,
                }
            }
            // A new version (its schedule may differ) or a removal: look again.
            _ = slot.changed.notified() => continue,
            _ = sleep(wait) => match deployed.trigger {
                Trigger::Events => "events",
                _ if owed > 0 => "missed",
                _ => "schedule",
            },
        };
        owed = owed.saturating_sub(usize::from(trigger == "missed"));
        let started = Utc::now();
        let succeeded = run(&slot, &deployed, &store, trigger).await;
        resume_at = (!succeeded).then(|| Utc::now() + chrono::Duration::seconds(1));
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

/// One run of the deployed pipeline, recorded in the history and the slot's status; true when it
/// succeeded.
async fn run(slot: &Slot, deployed: &Deployed, store: &Arc<dyn StateStore>, trigger: &'static str) -> bool {
    let config = &deployed.loaded.config;
    let stop = Arc::new(AtomicBool::new(false));
    *lock(&slot.current_stop) = Some(Arc::clone(&stop));
    // Replaced between the choice of this version and now: a following run would never end by itself.
    if !std::ptr::eq(&*slot.deployed(), deployed) {
        stop.store(true, Ordering::SeqCst);
    }
    lock(&slot.status).running = true;
    let started_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let follow = matches!(deployed.trigger, Trigger::Events);
    let outcome = run_recorded(deployed, store, trigger, &stop, follow).await;
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
            let succeeded = state != "failed";
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
            succeeded
        }
        Err(RunRefused::LeaseHeld(who)) => {
            tracing::info!(pipeline = %config.name, "not run: another engine runs it ({who})");
            false
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
            false
        }
    }
}

/// Replays the dead-letter entries `ids` that are still queued and belong to this pipeline, as a
/// run of it (`redeliver`), and shows the outcome as the last run.
async fn replay(slot: &Slot, deployed: &Deployed, store: &Arc<dyn StateStore>, ids: Vec<i64>) {
    let config = &deployed.loaded.config;
    let (reader, name) = (Arc::clone(store), config.name.clone());
    let entries = tokio::task::spawn_blocking(move || {
        ids.into_iter()
            .filter_map(|id| reader.dead_letter(id).ok().flatten())
            .filter(|e| e.entry.pipeline == name)
            .collect()
    })
    .await
    .unwrap_or_default();
    if Vec::is_empty(&entries) {
        return;
    }
    let plan = match compile(&deployed.loaded) {
        Ok(plan) => plan,
        Err(errors) => {
            tracing::warn!(pipeline = %config.name, "replay not started: {errors}");
            return;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    *lock(&slot.current_stop) = Some(Arc::clone(&stop));
    lock(&slot.status).running = true;
    let started_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let done = redeliver(plan, entries, store, &config.retention, stop).await;
    *lock(&slot.current_stop) = None;
    let mut status = lock(&slot.status);
    status.running = false;
    match done {
        Ok(done) => {
            let count = |label: &str| done.outcomes.get(label).copied().unwrap_or(0) as u64;
            tracing::info!(pipeline = %config.name, replayed = done.replayed, outcomes = ?done.outcomes, "replay ended");
            status.last_run = Some(LastRun {
                run_id: Some(done.run_id),
                trigger: "replay",
                started_at,
                status: if done.settled() { "succeeded" } else { "failed" }.into(),
                received: done.replayed as u64,
                delivered: count("delivered"),
                filtered: count("filtered"),
                dead_lettered: count("dead-lettered again"),
                error: done.summary.error.clone(),
            });
        }
        Err(e) => tracing::warn!(pipeline = %config.name, "replay not made: {e}"),
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
    follow: bool,
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
        follow,
    };
    let summary = Execution::start(plan, options).wait().await;
    recorded::end(store, session, &summary, &config.retention).await;
    Ok((Some(run_id), summary))
}
