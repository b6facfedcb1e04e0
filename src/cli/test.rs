//! `weir test`: loads the test files under the paths given, runs their tests one after another (one
//! line each as they end), prints each failure record by record, and writes JUnit XML, snapshots and
//! recorded cassettes when asked.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use crate::assemble::load::process_env;
use crate::cli::output::print_line;
use crate::config::secrets;
use crate::testing::report::{Totals, failures, junit, line};

/// `weir test` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = "Exit codes:
  0    every test passed
  1    a test failed
  2    a test file (or its pipeline) is invalid: every error is printed, with file:line:col")]
pub(crate) struct TestArgs {
    /// Test files, or folders searched for `tests/*.yaml` (default: the current folder).
    paths: Vec<PathBuf>,
    /// Only the tests whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    filter: Option<String>,
    /// Also write the results as JUnit XML to this file (for CI).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write each snapshot file from this run's output instead of comparing with it; review the
    /// change with `git diff`.
    #[arg(long)]
    update: bool,
    /// After the results, list what no test exercised: steps never reached, filters not seen both
    /// ways, `on_error` paths never taken, table rows never hit.
    #[arg(long)]
    coverage: bool,
    /// For the tests that name a `cassette:`, send the HTTP requests to the real API (writes included)
    /// and record every exchange, secrets masked, as the cassette; later runs replay it offline.
    #[arg(long)]
    record: bool,
}

pub(crate) fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let paths = if args.paths.is_empty() { vec![PathBuf::from(".")] } else { args.paths };
    let options = crate::testing::LoadOptions { update: args.update, record: args.record };
    let files = match crate::testing::load_all(&paths, &process_env, options) {
        Ok(files) => files,
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            return Ok(ExitCode::from(2));
        }
    };
    let count: usize = files.iter().map(|f| f.tests.len()).sum();
    print_line(&format!("running {count} test{} from {} file{}", plural(count), files.len(), plural(files.len())))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    if args.coverage {
        crate::testing::coverage::track(&files);
    }
    let started = Instant::now();
    let mut printed = Ok(());
    let (outcomes, filtered_out) =
        crate::testing::run_all(&files, args.filter.as_deref(), &runtime, &mut |file, outcome| {
            if printed.is_ok() {
                printed = print_line(&line(file, outcome));
            }
        });
    printed?;
    let totals = Totals::of(&outcomes, filtered_out);
    if totals.failed > 0 {
        print_line(&format!("\nfailures:{}", secrets::redact(&failures(&files, &outcomes))))?;
    }
    print_line(&format!("\n{}", totals.summary(started.elapsed())))?;
    if args.coverage {
        let mut coverage = crate::testing::coverage::Coverage::default();
        for (file, outcomes) in files.iter().zip(&outcomes) {
            coverage.add(file, outcomes);
        }
        print_line(&format!("\n{}", coverage.report().trim_end()))?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, secrets::redact(&junit(&files, &outcomes)))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.record {
        for (path, exchanges) in crate::testing::write_cassettes(&outcomes).context("writing cassettes")? {
            eprintln!("recorded {} ({exchanges} exchange{})", path.display(), plural(exchanges));
        }
    }
    if args.update {
        for path in crate::testing::write_snapshots(&outcomes).context("writing snapshots")? {
            eprintln!("updated {}", path.display());
        }
    }
    Ok(if totals.failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
