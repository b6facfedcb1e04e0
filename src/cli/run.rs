//! `weir run`: runs the pipelines of a file or folder one after another — each under its lease and
//! recorded in the run history — with a progress bar on a TTY, the summary, and signal handling
//! (drain on the first SIGINT/SIGTERM, exit on the second).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::assemble::load::LoadedPipeline;
use crate::cli::checks::{self, DeadLetterLimit};
use crate::cli::output::print_line;
use crate::graph::plan::Plan;
use crate::runtime::executor::{Execution, RunOptions};
use crate::runtime::recorded;
use crate::state::StateStore;

/// How `weir run` runs.
#[derive(Debug, Clone)]
pub(crate) struct RunSettings {
    pub(crate) dry_run: bool,
    pub(crate) limit: Option<u64>,
    pub(crate) quiet: bool,
    pub(crate) json: bool,
    pub(crate) from_start: bool,
    /// `--max-dead-letters`: more dead letters than this fail the run.
    pub(crate) max_dead_letters: Option<DeadLetterLimit>,
    /// The state file, when `weir dlq` run from here would not find it without `--state`.
    pub(crate) state_flag: Option<std::path::PathBuf>,
}

/// What SIGINT/SIGTERM stop: the whole folder run (`signalled`, checked before each pipeline starts)
/// and the pipeline running now (its own stop flag, which its failure also sets without affecting the
/// pipelines after it).
#[derive(Default)]
struct Stopper {
    signalled: AtomicBool,
    current: Mutex<Option<Arc<AtomicBool>>>,
}

impl Stopper {
    /// A fresh stop flag for the next pipeline, or `None` when a signal already stopped the run.
    fn next(&self) -> Option<Arc<AtomicBool>> {
        let stop = Arc::new(AtomicBool::new(false));
        // Published before `signalled` is checked: a signal arriving in between still reaches it.
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&stop));
        (!self.signalled.load(Ordering::SeqCst)).then_some(stop)
    }

    fn signal(&self) {
        self.signalled.store(true, Ordering::SeqCst);
        if let Some(stop) = &*self.current.lock().unwrap_or_else(|e| e.into_inner()) {
            stop.store(true, Ordering::SeqCst);
        }
    }
}

/// Stops the run on the first SIGINT/SIGTERM (drain), exits at once on the second.
fn watch_signals(stopper: Arc<Stopper>) {
    tokio::spawn(async move {
        let mut count = 0;
        loop {
            #[cfg(unix)]
            {
                let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => return,
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            #[cfg(not(unix))]
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            count += 1;
            if count == 1 {
                eprintln!("stopping: draining in-flight records (signal again to exit at once)");
                stopper.signal();
            } else {
                std::process::exit(130);
            }
        }
    });
}

/// Runs the pipelines one after another. A pipeline that fails does not stop the next one; only a
/// signal (or a closed standard output) does. Exit code 1 when any failed, else 0 when standard output
/// was closed, else 130 when interrupted.
pub(crate) async fn run_plans(
    plans: Vec<(LoadedPipeline, Plan)>,
    state: Option<Arc<dyn StateStore>>,
    settings: RunSettings,
) -> anyhow::Result<ExitCode> {
    let RunSettings { dry_run, limit, quiet, json, from_start, max_dead_letters, state_flag } = settings;
    let stopper = Arc::new(Stopper::default());
    watch_signals(Arc::clone(&stopper));
    let total = plans.len();
    let mut failed: Vec<String> = Vec::new();
    let mut not_run: Vec<String> = Vec::new();
    let mut interrupted = false;
    let mut stdout_closed = false;
    for (loaded, plan) in plans {
        let Some(stop) = stopper.next() else {
            not_run.push(loaded.config.name.clone());
            continue;
        };
        let session = match &state {
            Some(store) => match recorded::begin(store, &loaded.config.name, "cli", &stop).await {
                Ok(session) => Some(session),
                Err(e) => {
                    eprintln!("error: {}: {e}", loaded.config.name);
                    failed.push(format!("{} ({})", loaded.config.name, loaded.file.display));
                    continue;
                }
            },
            None => None,
        };
        let options = RunOptions {
            dry_run,
            limit,
            stop,
            state: state.clone(),
            run_id: session.as_ref().map(crate::state::session::RunSession::run_id),
            from_start,
            replay: None,
            tap: None,
        };
        let execution = Execution::start(plan, options);
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar
        });
        let mut summary = match &bar {
            Some(bar) => {
                let mut wait = std::pin::pin!(execution.wait_with_progress(bar.clone()));
                (&mut wait).await
            }
            None => execution.wait().await,
        };
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        // `weir run … | head`: the reader went away. Not a failure: the run stopped like an interrupted
        // one, and what was not printed stays unacknowledged, to be read again next run.
        let closed = crate::sinks::stdout::stdout_closed();
        if closed {
            summary.error = None;
            summary.interrupted = true;
        }
        if let (Some(flag), Some(hint)) = (&state_flag, &mut summary.dead_letter_path) {
            *hint = hint.replace("(weir dlq list ", &format!("(weir dlq list --state {} ", flag.display()));
        }
        if let (Some(session), Some(store)) = (session, &state) {
            recorded::end(store, session, &summary, &loaded.config.retention).await;
        }
        if json {
            // On stdout, one line per pipeline, so that logs (on stderr) never mix with it.
            let _ = print_line(&serde_json::to_string(&summary).unwrap_or_default());
        } else if !quiet {
            eprint!("{summary}");
            if let Some(warning) = checks::mostly_dead_lettered(&summary) {
                eprintln!("{warning}");
            }
        }
        if closed {
            eprintln!("  stopped: standard output was closed; the records not printed are read again next run");
            stdout_closed = true;
            break;
        }
        let too_many = max_dead_letters.filter(|limit| limit.exceeded(&summary));
        if let Some(limit) = too_many {
            eprintln!(
                "error: {}: {} inputs dead-lettered, more than --max-dead-letters {limit}",
                summary.pipeline, summary.records.dead_lettered
            );
        }
        if summary.error.is_some() || !summary.is_success() || too_many.is_some() {
            failed.push(format!("{} ({})", summary.pipeline, loaded.file.display));
        } else if summary.interrupted {
            interrupted = true;
        }
    }
    if total > 1 && !json {
        if !failed.is_empty() {
            eprintln!("failed: {} of {total} pipelines: {}", failed.len(), failed.join(", "));
        }
        if !not_run.is_empty() {
            eprintln!("not started (interrupted): {}", not_run.join(", "));
        }
    }
    Ok(if !failed.is_empty() {
        ExitCode::from(1)
    } else if stdout_closed {
        ExitCode::SUCCESS
    } else if interrupted || !not_run.is_empty() {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// Progress display for interactive runs.
trait WaitWithProgress {
    async fn wait_with_progress(self, bar: indicatif::ProgressBar) -> crate::kernel::stats::RunSummary;
}

impl WaitWithProgress for Execution {
    async fn wait_with_progress(self, bar: indicatif::ProgressBar) -> crate::kernel::stats::RunSummary {
        let progress = self.progress_handle();
        let ticker = tokio::spawn(async move {
            loop {
                let p = progress.summary();
                bar.set_message(format!(
                    "received {}  delivered {}  filtered {}  dead-lettered {}",
                    p.received, p.delivered, p.filtered, p.dead_lettered
                ));
                bar.tick();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let summary = self.wait().await;
        ticker.abort();
        summary
    }
}
