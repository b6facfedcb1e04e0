//! The `weir` command line: validate, run, draw and describe pipelines. The only place that uses
//! `anyhow`; everything below it returns typed errors. `src/main.rs` calls [`main`]; the subcommands
//! beyond validation live in the modules below: running pipelines (`run`), testing them (`test`,
//! `diff`) and the state commands (`dlq`, `runs`, `trace`).

pub(crate) mod checks;
pub(crate) mod diff;
pub(crate) mod healthcheck;
pub(crate) mod init;
pub(crate) mod output;
pub(crate) mod run;
pub(crate) mod serve;
pub(crate) mod sim;
pub(crate) mod state;
pub(crate) mod test;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::assemble::load::{LoadedPipeline, load_paths_partial, process_env};
use crate::assemble::schema;
use crate::config::secrets;
use crate::graph::plan::{Plan, compile};
use crate::state::StateStore;
use crate::state::sqlite::SqliteStore;
use crate::telemetry::logs::LogFormat;

use output::{print, print_line};

const EXIT_CODES: &str = "Exit codes:
  0    success (also: standard output closed by its reader, as in `weir dlq list | head`)
  1    the run failed (a source or sink failed, records were left unacknowledged, or more were
       dead-lettered than --max-dead-letters allows; for a folder: in any of its pipelines)
  2    invalid configuration (every error is printed, with file:line:col)
  130  interrupted by SIGINT/SIGTERM after draining in-flight records";

#[derive(Debug, Parser)]
#[command(name = "weir", version, about = "Declarative integration engine: YAML pipelines between an ERP and Adobe Commerce", after_help = EXIT_CODES)]
struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `weir=debug`. Also read from WEIR_LOG.
    #[arg(long, global = true, env = "WEIR_LOG", default_value = "warn")]
    log: String,
    /// Log lines as `text`, as `json` (one object per line, with `pipeline`, `run_id`, `node` and a
    /// record's `key` as fields), or `auto`: text on a terminal, JSON otherwise. Also read from
    /// WEIR_LOG_FORMAT.
    #[arg(long, global = true, env = "WEIR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    log_format: LogFormat,
    /// The state file (checkpoints, id map, dead letters, run history). Default: `.weir/state.db` in
    /// the pipeline's folder for `run`, in the current folder for `dlq`, `runs` and `trace`.
    #[arg(long, global = true, env = "WEIR_STATE", value_name = "PATH")]
    state: Option<PathBuf>,
    /// Tables (`dlq list`, `runs`, `trace`) show long text whole instead of cutting it with `…` (only
    /// done on a terminal anyway).
    #[arg(long, global = true)]
    wide: bool,
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
    /// Create a client folder: connections, tables, sample input, one pipeline and a `.gitignore` for
    /// state and outputs. Never overwrites a file.
    #[command(after_help = EXIT_CODES)]
    Init {
        /// The folder to create (or fill, when it holds none of the scaffold's files).
        dir: PathBuf,
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
        /// Print the summary as one JSON line on stdout (logs stay on stderr).
        #[arg(long)]
        json: bool,
        /// Read sources from the beginning, ignoring (and then replacing) saved checkpoints.
        #[arg(long)]
        from_start: bool,
        /// Fail the run (exit 1) when more inputs than this were dead-lettered: a count (`0`, `10`) or a
        /// percentage of the inputs read (`5%`).
        #[arg(long, value_name = "N|P%")]
        max_dead_letters: Option<checks::DeadLetterLimit>,
    },
    /// Run every pipeline of a folder as a long-lived service: each under its `schedule` (or on events,
    /// or when asked), with `/healthz`, `/readyz` and an admin API; SIGTERM drains and stops.
    #[command(after_help = EXIT_CODES)]
    Serve(serve::ServeArgs),
    /// The dead-letter queue: list, show, replay and drop entries.
    #[command(after_help = EXIT_CODES)]
    Dlq {
        #[command(subcommand)]
        command: state::DlqCommand,
    },
    /// Run history: when each run started and ended, how, and its counters.
    #[command(after_help = EXIT_CODES)]
    Runs {
        /// Only this pipeline's runs.
        pipeline: Option<String>,
        /// How many runs, newest first.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Everything recorded about one record key: what was sent where, created, skipped, dead-lettered.
    #[command(after_help = EXIT_CODES)]
    Trace {
        /// The record key, e.g. `order:000000042`.
        key: String,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The state file itself: compact it, check it.
    #[command(after_help = EXIT_CODES)]
    State {
        #[command(subcommand)]
        command: state::StateCommand,
    },
    /// Run the tests of pipelines (`tests/*.yaml` in client folders): given records, mocked or
    /// recorded HTTP, expected records, dead letters and counters. In-process, on state in memory;
    /// nothing is sent anywhere (except with `--record`). Exit 0 when every test passed, 1 when one
    /// failed, 2 when a test file is invalid.
    Test(test::TestArgs),
    /// Compare a pipeline with itself at a git revision: run both versions (as `weir test` runs a
    /// pipeline: nothing sent, no state written) on the same records and print what changed, record by
    /// record and field by field. `--check`: exit 1 when anything changed.
    Diff(diff::DiffArgs),
    /// Print the JSON Schema of pipeline files (or write it to a file).
    Schema {
        /// Which schema.
        #[arg(long, value_enum, default_value_t = SchemaKind::Pipeline)]
        kind: SchemaKind,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Run a simulator of a system Weir talks to (for tests): `weir sim commerce --port 0`.
    Sim {
        #[command(subcommand)]
        command: sim::SimCommand,
    },
    /// Ask a running `weir serve` whether it is ready (`/readyz`), for a container's `HEALTHCHECK`: exit
    /// 0 on a 2xx answer, 1 otherwise, with the reason it gave.
    Healthcheck(healthcheck::HealthcheckArgs),
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
    /// Test files (`tests/*.yaml`).
    Test,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// Runs the command line: parses the process's arguments, sets up logging, runs the command and returns
/// its exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::logs::init(&cli.log, cli.log_format, output::stderr_colors());
    match run(cli) {
        Ok(code) => code,
        // `weir … | head`: the reader has what it wanted; end quietly, as ripgrep does.
        Err(e) if output::is_closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", secrets::redact(&format!("error: {e:#}")));
            ExitCode::from(1)
        }
    }
}

/// Loads and compiles; prints every config error and returns `None` when there are any.
pub(crate) fn load_and_compile(paths: &[PathBuf]) -> Option<Vec<(LoadedPipeline, Plan)>> {
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

/// Warns (on stderr) about file formats that contradict their paths' extensions.
fn print_format_warnings(plans: &[(LoadedPipeline, Plan)]) {
    for (p, _) in plans {
        for warning in checks::format_warnings(&p.config) {
            eprintln!("warning: {}: {warning}", p.file.display);
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    output::set_table_width(cli.wide);
    match cli.command {
        Command::Validate { paths } => Ok(match load_and_compile(&paths) {
            Some(plans) => {
                print_format_warnings(&plans);
                for (p, _) in &plans {
                    print_line(&format!("ok: {} ({})", p.config.name, p.file.display))?;
                }
                print_line(&format!("{} pipeline{} valid", plans.len(), if plans.len() == 1 { "" } else { "s" }))?;
                ExitCode::SUCCESS
            }
            None => ExitCode::from(2),
        }),
        Command::Init { dir } => init::init(&dir),
        Command::Test(args) => test::test(args),
        Command::Diff(args) => diff::diff(args),
        Command::Sim { command } => sim::sim(command),
        Command::Healthcheck(args) => healthcheck::healthcheck(args),
        Command::Schema { kind, output } => {
            let value = match kind {
                SchemaKind::Pipeline => schema::pipeline_schema(),
                SchemaKind::Connections => schema::connections_schema(),
                SchemaKind::Shared => schema::shared_schema(),
                SchemaKind::Test => crate::testing::test_schema(),
            };
            let text = schema::to_text(&value);
            match output {
                Some(path) => std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?,
                None => print(&text)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Graph { path, format } => {
            let Some(plans) = load_and_compile(std::slice::from_ref(&path)) else { return Ok(ExitCode::from(2)) };
            for (p, plan) in plans {
                match format {
                    GraphFormat::Dot => print(&plan.graph.to_dot(&p.config.name))?,
                    GraphFormat::Mermaid => print(&plan.graph.to_mermaid())?,
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { path, dry_run, limit, quiet, json, from_start, max_dead_letters } => {
            let Some(plans) = load_and_compile(std::slice::from_ref(&path)) else { return Ok(ExitCode::from(2)) };
            print_format_warnings(&plans);
            // A dry run writes nothing, state included.
            let (state, state_path) = if dry_run {
                (None, None)
            } else {
                let folder = if path.is_dir() { path.clone() } else { path.parent().unwrap_or(&path).to_path_buf() };
                let state_path = state_path(cli.state.as_deref(), &folder);
                (Some(open_state(Some(&state_path), &folder)?), Some(state_path))
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?;
            // `weir dlq` looks in `./.weir/state.db`: the end-of-run hint names any other state file.
            let state_flag = state_path.filter(|p| p != std::path::Path::new(".weir/state.db"));
            let options = run::RunSettings { dry_run, limit, quiet, json, from_start, max_dead_letters, state_flag };
            runtime.block_on(run::run_plans(plans, state, options))
        }
        Command::Serve(args) => serve::serve_command(args, cli.state.as_deref()),
        Command::Dlq { command } => {
            let store = open_existing_state(cli.state.as_deref())?;
            state::dlq(command, store)
        }
        Command::Runs { pipeline, limit, json } => {
            let store = open_existing_state(cli.state.as_deref())?;
            state::runs(&*store, pipeline.as_deref(), limit, json)
        }
        Command::State { command } => state::state(command, cli.state.as_deref()),
        Command::Trace { key, json } => {
            let store = open_existing_state(cli.state.as_deref())?;
            state::trace(&*store, &key, json)
        }
    }
}

/// For the commands that inspect state (`dlq`, `runs`, `trace`): the state file must exist already —
/// `--state`/`WEIR_STATE`, else `.weir/state.db` in the current folder.
fn open_existing_state(explicit: Option<&std::path::Path>) -> anyhow::Result<Arc<dyn StateStore>> {
    let path = explicit.map_or_else(|| std::path::Path::new(".weir").join("state.db"), std::path::Path::to_path_buf);
    if !path.exists() {
        anyhow::bail!(
            "no state file at {}: nothing has run here yet; run from the pipelines' folder or pass --state PATH",
            crate::config::paths::shown(&path)
        );
    }
    open_state(Some(&path), std::path::Path::new("."))
}

/// The state file: `--state`/`WEIR_STATE`, else `.weir/state.db` in `folder`.
fn state_path(explicit: Option<&std::path::Path>, folder: &std::path::Path) -> PathBuf {
    explicit.map_or_else(|| folder.join(".weir").join("state.db"), std::path::Path::to_path_buf)
}

/// Opens the state file: `--state`/`WEIR_STATE`, else `.weir/state.db` in `folder`.
fn open_state(explicit: Option<&std::path::Path>, folder: &std::path::Path) -> anyhow::Result<Arc<dyn StateStore>> {
    let path = state_path(explicit, folder);
    let store = SqliteStore::open(&path)?;
    Ok(Arc::new(store))
}
