//! The `weir` command line: validate, run, draw and describe pipelines. The only place that uses
//! `anyhow`; everything below it returns typed errors.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use weir::config::load::{LoadedPipeline, load_paths_partial, process_env};
use weir::config::schema;
use weir::config::secrets;
use weir::graph::plan::{Plan, compile};
use weir::runtime::executor::{Execution, RunOptions};

/// mimalloc instead of glibc malloc: records are allocated on one thread (the source) and freed on
/// another (a step or sink), the pattern where glibc's per-thread arenas spend their time consolidating
/// (measured in docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXIT_CODES: &str = "Exit codes:
  0    success
  1    the run failed (a source or sink failed, or records were left unacknowledged; for a folder:
       in any of its pipelines)
  2    invalid configuration (every error is printed, with file:line:col)
  130  interrupted by SIGINT/SIGTERM after draining in-flight records";

#[derive(Debug, Parser)]
#[command(name = "weir", version, about = "Declarative integration engine: YAML pipelines between an ERP and Adobe Commerce", after_help = EXIT_CODES)]
struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `weir=debug`. Also read from WEIR_LOG.
    #[arg(long, global = true, env = "WEIR_LOG", default_value = "warn")]
    log: String,
    /// The state file (intents, id map, audit). Also read from WEIR_STATE.
    #[arg(long, global = true, env = "WEIR_STATE", value_name = "PATH")]
    state: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check pipeline files or client folders: syntax, types, graph, and every expression compiled.
    #[command(after_help = EXIT_CODES)]
    Validate {
        /// Pipeline files or client folders (searched recursively).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Run a pipeline (or every pipeline of a folder, one after another, a failure not stopping the
    /// others) to the end of its input.
    #[command(after_help = EXIT_CODES)]
    Run {
        /// A pipeline file or a client folder.
        path: PathBuf,
        /// Run sources and steps but print what each sink would receive instead of writing it.
        #[arg(long)]
        dry_run: bool,
        /// Stop reading after N records.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
        /// No progress bar and no summary.
        #[arg(long, short)]
        quiet: bool,
        /// Print the summary as JSON on stderr.
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of pipeline files (or write it to a file).
    Schema {
        /// Which schema.
        #[arg(long, value_enum, default_value_t = SchemaKind::Pipeline)]
        kind: SchemaKind,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Print a pipeline's DAG.
    #[command(after_help = EXIT_CODES)]
    Graph {
        /// A pipeline file.
        path: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SchemaKind {
    /// Pipeline files.
    Pipeline,
    /// `connections.yaml`.
    Connections,
    /// `shared.yaml`.
    Shared,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// Log output with every registered secret masked.
struct RedactingStderr;

impl std::io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = secrets::redact(&String::from_utf8_lossy(buf));
        std::io::stderr().write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(|| RedactingStderr).with_target(false).init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", secrets::redact(&format!("error: {e:#}")));
            ExitCode::from(1)
        }
    }
}

/// Loads and compiles; prints every config error and returns `None` when there are any.
fn load_and_compile(paths: &[PathBuf]) -> Option<Vec<(LoadedPipeline, Plan)>> {
    let (pipelines, mut diagnostics) = load_paths_partial(paths, &process_env);
    let mut plans = Vec::new();
    for p in pipelines {
        match compile(&p) {
            Ok(plan) => plans.push((p, plan)),
            Err(d) => d.0.into_iter().for_each(|x| diagnostics.push(x)),
        }
    }
    if diagnostics.is_empty() {
        Some(plans)
    } else {
        eprintln!("{diagnostics}");
        None
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let state_path = cli.state.clone();
    match cli.command {
        Command::Validate { paths } => Ok(match load_and_compile(&paths) {
            Some(plans) => {
                for (p, _) in &plans {
                    println!("ok: {} ({})", p.config.name, p.file.display);
                }
                println!("{} pipeline{} valid", plans.len(), if plans.len() == 1 { "" } else { "s" });
                ExitCode::SUCCESS
            }
            None => ExitCode::from(2),
        }),
        Command::Schema { kind, output } => {
            let value = match kind {
                SchemaKind::Pipeline => schema::pipeline_schema(),
                SchemaKind::Connections => schema::connections_schema(),
                SchemaKind::Shared => schema::shared_schema(),
            };
            let text = schema::to_text(&value);
            match output {
                Some(path) => std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?,
                None => print!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Graph { path, format } => {
            let Some(plans) = load_and_compile(std::slice::from_ref(&path)) else { return Ok(ExitCode::from(2)) };
            for (p, plan) in plans {
                match format {
                    GraphFormat::Dot => print!("{}", plan.graph.to_dot(&p.config.name)),
                    GraphFormat::Mermaid => print!("{}", plan.graph.to_mermaid()),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { path, dry_run, limit, quiet, json } => {
            let Some(plans) = load_and_compile(std::slice::from_ref(&path)) else { return Ok(ExitCode::from(2)) };
            let state = match state_path {
                Some(p) => {
                    Some(Arc::new(weir::state::sqlite::SqliteStore::open(&p)?) as Arc<dyn weir::state::StateStore>)
                }
                None => None,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?;
            runtime.block_on(run_plans(
                plans,
                RunOptions { dry_run, limit, state, ..RunOptions::default() },
                quiet,
                json,
            ))
        }
    }
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
/// signal does. Exit code 1 when any failed, else 130 when interrupted.
async fn run_plans(
    plans: Vec<(LoadedPipeline, Plan)>,
    options: RunOptions,
    quiet: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let stopper = Arc::new(Stopper::default());
    watch_signals(Arc::clone(&stopper));
    let total = plans.len();
    let mut failed: Vec<String> = Vec::new();
    let mut not_run: Vec<String> = Vec::new();
    let mut interrupted = false;
    for (loaded, plan) in plans {
        let Some(stop) = stopper.next() else {
            not_run.push(loaded.config.name.clone());
            continue;
        };
        let execution = Execution::start(plan, RunOptions { stop, ..options.clone() });
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar
        });
        let summary = match &bar {
            Some(bar) => {
                let mut wait = std::pin::pin!(execution.wait_with_progress(bar.clone()));
                (&mut wait).await
            }
            None => execution.wait().await,
        };
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        if json {
            eprintln!("{}", serde_json::to_string(&summary).unwrap_or_default());
        } else if !quiet {
            eprint!("{summary}");
        }
        if summary.error.is_some() || !summary.is_success() {
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
    } else if interrupted || !not_run.is_empty() {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// Progress display for interactive runs.
trait WaitWithProgress {
    async fn wait_with_progress(self, bar: indicatif::ProgressBar) -> weir::runtime::stats::RunSummary;
}

impl WaitWithProgress for Execution {
    async fn wait_with_progress(self, bar: indicatif::ProgressBar) -> weir::runtime::stats::RunSummary {
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
