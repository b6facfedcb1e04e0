//! The state commands: `weir dlq list|show|replay|drop`, `weir runs`, `weir trace`,
//! `weir state compact|check`.
//! Tables for people, `--json` for scripts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::cli::output::{one_line, print_line};
use crate::config::secrets;
use crate::runtime::redeliver::redeliver;
use crate::state::{StateStore, StoredDeadLetter};

/// `weir dlq …`
#[derive(Debug, Subcommand)]
pub(crate) enum DlqCommand {
    /// List dead-letter entries, oldest first.
    List {
        /// Only this pipeline's entries.
        pipeline: Option<String>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one entry whole, with its record.
    Show {
        /// The entry's id (from `weir dlq list`).
        id: i64,
    },
    /// Send entries again, each at the step or sink that rejected it, with the pipeline as configured
    /// now. An entry is removed once its record got through; rejected again, it stays (one more
    /// attempt); it is kept when the run stopped before deciding.
    Replay {
        #[command(flatten)]
        selection: EntrySelection,
        /// Where the pipelines are: a pipeline file or a client folder.
        #[arg(long, default_value = ".")]
        config: PathBuf,
    },
    /// Remove entries without sending them.
    Drop {
        #[command(flatten)]
        selection: EntrySelection,
    },
}

/// Which entries `replay` and `drop` act on: by id, or all (of one pipeline).
#[derive(Debug, Args)]
pub(crate) struct EntrySelection {
    /// Entry ids.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    ids: Vec<i64>,
    /// Every entry (of `--pipeline`, when given).
    #[arg(long)]
    all: bool,
    /// Only entries of this pipeline.
    #[arg(long)]
    pipeline: Option<String>,
}

impl EntrySelection {
    /// The entries selected.
    fn entries(&self, store: &dyn StateStore) -> anyhow::Result<Vec<StoredDeadLetter>> {
        let pipeline = self.pipeline.as_deref();
        if self.all {
            return Ok(store.dead_letters(pipeline)?);
        }
        let mut out = Vec::new();
        for id in &self.ids {
            match store.dead_letter(*id)? {
                Some(e) if pipeline.is_none_or(|p| p == e.entry.pipeline) => out.push(e),
                Some(_) => {}
                None => anyhow::bail!("no dead-letter entry {id}"),
            }
        }
        Ok(out)
    }
}

/// Runs a `weir dlq` command.
pub(crate) fn dlq(command: DlqCommand, store: Arc<dyn StateStore>) -> anyhow::Result<ExitCode> {
    match command {
        DlqCommand::List { pipeline, json } => {
            let entries = store.dead_letters(pipeline.as_deref())?;
            if json {
                print_json(&entries)?;
            } else {
                let rows = entries.iter().map(|d| {
                    let e = &d.entry;
                    vec![
                        d.id.to_string(),
                        short_time(&e.time),
                        e.pipeline.clone(),
                        e.step.clone(),
                        e.key.clone().unwrap_or_else(|| "-".into()),
                        e.attempts.to_string(),
                        one_line(&e.error, 60),
                    ]
                });
                print_table(&["ID", "TIME", "PIPELINE", "STEP", "KEY", "ATTEMPTS", "ERROR"], rows)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Show { id } => match store.dead_letter(id)? {
            Some(entry) => {
                print_json(&entry)?;
                Ok(ExitCode::SUCCESS)
            }
            None => {
                eprintln!("error: no dead-letter entry {id}");
                Ok(ExitCode::from(1))
            }
        },
        DlqCommand::Drop { selection } => {
            let entries = selection.entries(&*store)?;
            let mut dropped = 0;
            for e in &entries {
                dropped += usize::from(store.drop_dead_letter(e.id)?);
            }
            eprintln!("dropped {dropped} entr{}", if dropped == 1 { "y" } else { "ies" });
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Replay { selection, config } => {
            let entries = selection.entries(&*store)?;
            replay(entries, store, &config)
        }
    }
}

fn replay(
    entries: Vec<StoredDeadLetter>,
    store: Arc<dyn StateStore>,
    config: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    if entries.is_empty() {
        eprintln!("nothing to replay");
        return Ok(ExitCode::SUCCESS);
    }
    let Some(plans) = super::load_and_compile(&[config.to_path_buf()]) else { return Ok(ExitCode::from(2)) };
    let mut by_pipeline: BTreeMap<String, Vec<StoredDeadLetter>> = BTreeMap::new();
    for e in entries {
        by_pipeline.entry(e.entry.pipeline.clone()).or_default().push(e);
    }
    let mut plan_retention: BTreeMap<String, _> =
        plans.iter().map(|(p, _)| (p.config.name.clone(), p.config.retention.clone())).collect();
    let mut plans: BTreeMap<String, _> = plans.into_iter().map(|(p, plan)| (p.config.name.clone(), plan)).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    let mut failed = false;
    for (pipeline, entries) in by_pipeline {
        let Some(plan) = plans.remove(&pipeline) else {
            eprintln!(
                "error: pipeline `{pipeline}` is not in {}; its {} entries are kept",
                config.display(),
                entries.len()
            );
            failed = true;
            continue;
        };
        let stop = Arc::new(AtomicBool::new(false));
        let retention = plan_retention.remove(&pipeline).unwrap_or_default();
        let done = runtime.block_on(redeliver(plan, entries, &store, &retention, stop))?;
        for missing in &done.missing_components {
            eprintln!("warning: `{pipeline}` has no component `{missing}` any more; its entries are kept");
        }
        for id in &done.truncated {
            eprintln!(
                "warning: entry {id} holds a truncated record (too big to store whole) and cannot be replayed; \
                 it is kept: fix the record at its source, run again, then drop the entry"
            );
        }
        eprintln!(
            "{pipeline}: replayed {} entr{}: {}",
            done.replayed,
            if done.replayed == 1 { "y" } else { "ies" },
            done.outcomes.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ")
        );
        failed |= !done.settled();
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// `weir state …`
#[derive(Debug, Subcommand)]
pub(crate) enum StateCommand {
    /// Give the space of pruned history and dropped entries back to the disk (SQLite `VACUUM`). Safe
    /// at any time; it waits for, or fails rather than interrupt, a running pipeline's writes.
    Compact,
    /// Check the whole state file (SQLite `integrity_check`, slower and more thorough than the
    /// `quick_check` every command runs when it opens the file). Exit 1 when it is damaged.
    Check,
}

/// Runs a `weir state` command on the state file (`--state`, else `.weir/state.db` here).
pub(crate) fn state(command: StateCommand, explicit: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let path = explicit.map_or_else(|| PathBuf::from(".weir").join("state.db"), std::path::Path::to_path_buf);
    if !path.exists() {
        anyhow::bail!("no state file at {}: pass --state PATH", path.display());
    }
    let store = crate::state::sqlite::SqliteStore::open(&path)?;
    match command {
        StateCommand::Compact => {
            let (before, after) = store.compact()?;
            let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
            eprintln!("compacted {}: {:.1} MiB → {:.1} MiB", path.display(), mib(before), mib(after));
            Ok(ExitCode::SUCCESS)
        }
        StateCommand::Check => {
            let problems = store.integrity_check()?;
            if problems.is_empty() {
                eprintln!("{}: ok", path.display());
                return Ok(ExitCode::SUCCESS);
            }
            for p in &problems {
                eprintln!("{}: {p}", path.display());
            }
            eprintln!("the state file is damaged: restore it from a backup");
            Ok(ExitCode::from(1))
        }
    }
}

/// `weir runs`
pub(crate) fn runs(
    store: &dyn StateStore,
    pipeline: Option<&str>,
    limit: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let runs = store.runs(pipeline, limit)?;
    if json {
        print_json(&runs)?;
        return Ok(ExitCode::SUCCESS);
    }
    let count = |r: &crate::state::RunRecord, name: &str| {
        r.summary.as_ref().and_then(|s| s["records"][name].as_u64()).map_or_else(|| "-".into(), |n| n.to_string())
    };
    let rows = runs.iter().map(|r| {
        vec![
            r.id.to_string(),
            r.pipeline.clone(),
            r.trigger.clone(),
            short_time(&r.started_at),
            r.ended_at.as_deref().map_or_else(|| "-".into(), short_time),
            format!("{:?}", r.status).to_lowercase(),
            count(r, "received"),
            count(r, "delivered"),
            count(r, "filtered"),
            count(r, "dead_lettered"),
            r.error.as_deref().map_or_else(|| "-".into(), |e| one_line(e, 50)),
        ]
    });
    print_table(
        &[
            "ID",
            "PIPELINE",
            "TRIGGER",
            "STARTED",
            "ENDED",
            "STATUS",
            "RECEIVED",
            "DELIVERED",
            "FILTERED",
            "DLQ",
            "ERROR",
        ],
        rows,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `weir trace KEY`
pub(crate) fn trace(store: &dyn StateStore, key: &str, json: bool) -> anyhow::Result<ExitCode> {
    let entries = store.trace(key)?;
    if json {
        print_json(&entries)?;
    } else {
        let rows = entries.iter().map(|a| {
            vec![
                short_time(&a.time),
                a.run_id.map_or_else(|| "-".into(), |r| r.to_string()),
                a.pipeline.clone(),
                a.component.clone(),
                a.action.clone(),
                a.target.clone(),
                a.detail.as_ref().map_or_else(|| "-".into(), |d| one_line(&d.to_string(), 60)),
            ]
        });
        print_table(&["TIME", "RUN", "PIPELINE", "COMPONENT", "ACTION", "TARGET", "DETAIL"], rows)?;
    }
    if entries.is_empty() {
        eprintln!("nothing recorded for key `{key}`");
    }
    Ok(ExitCode::SUCCESS)
}

/// `2026-11-28T00:47:28.536953152Z` → `2026-11-28 00:47:28` (tables only; JSON keeps the full time).
fn short_time(time: &str) -> String {
    time.get(..19).map_or_else(|| time.to_string(), |t| t.replace('T', " "))
}

fn print_json(value: &impl serde::Serialize) -> std::io::Result<()> {
    print_line(&secrets::redact(&serde_json::to_string_pretty(value).unwrap_or_default()))
}

/// Left-aligned columns, two spaces apart.
fn print_table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> std::io::Result<()> {
    let rows: Vec<Vec<String>> = rows.collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        print_line(&secrets::redact(padded.join("  ").trim_end()))
    };
    line(header.iter().map(|h| h.to_string()).collect())?;
    rows.into_iter().try_for_each(line)
}
