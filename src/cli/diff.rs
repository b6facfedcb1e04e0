//! `weir diff`: a pipeline as it is at a git revision (its whole folder: tables, `shared.yaml`,
//! `connections.yaml`) and as it is now, run on the same records the way `weir test` runs them, and
//! what changed printed record by record and field by field.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, anyhow, bail};

use crate::assemble::load::{LoadedPipeline, load_paths_partial, process_env};
use crate::cli::output::print_line;
use crate::config::secrets;
use crate::expr::jsonpath::JsonPath;
use crate::testing::diff::{Inputs, capture, read_inputs};
use crate::testing::diff_pairs::{PipelineDiff, compare};

/// `weir diff` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = "Exit codes:
  0    the run goes as it did (with --check; always without it)
  1    something changed (with --check)
  2    bad arguments, not a git repository, an unknown revision, or an invalid pipeline (either version)")]
pub(crate) struct DiffArgs {
    /// The pipeline file.
    pipeline: PathBuf,
    /// The git revision to compare with: a commit, a branch, a tag (`main`, `HEAD~1`).
    #[arg(long, value_name = "GIT_REV")]
    against: String,
    /// Fixture files (.ndjson/.jsonl, .json, .csv) whose records both versions get, instead of reading
    /// their sources (then the current version reads its files as they are now, the old one its files
    /// as they were at GIT_REV).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    input: Vec<PathBuf>,
    /// The source or step the records of --input go to (default: the pipeline's only source).
    #[arg(long, value_name = "ID", requires = "input")]
    to: Option<String>,
    /// Pair records by this field (a JSONPath, `$.sku`) instead of by record key.
    #[arg(long, value_name = "JSONPATH")]
    key: Option<String>,
    /// Exit 1 when anything changed, 0 when nothing did.
    #[arg(long)]
    check: bool,
}

/// Runs `weir diff`.
pub(crate) fn diff(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let prepared = match prepare(&args) {
        Ok(prepared) => prepared,
        Err(e) => {
            eprintln!("{}", secrets::redact(&format!("{e:#}")));
            return Ok(ExitCode::from(2));
        }
    };
    let Prepared { old, new, inputs, key, _checkout } = prepared;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let runs = capture(&old, inputs.as_ref(), &runtime)
        .map_err(|e| anyhow!("the pipeline at {}: {e}", args.against))
        .and_then(|old| Ok((old, capture(&new, inputs.as_ref(), &runtime)?)));
    let (old_run, new_run) = match runs {
        Ok(runs) => runs,
        Err(e) => {
            eprintln!("{}", secrets::redact(&format!("error: {e:#}")));
            return Ok(ExitCode::from(2));
        }
    };
    let diff = compare(&old_run, &new_run, key.as_ref());
    print_line(&secrets::redact(&shown(&diff)))?;
    Ok(if args.check && diff.is_change() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Everything checked before running: both versions loaded, the inputs read.
struct Prepared {
    old: LoadedPipeline,
    new: LoadedPipeline,
    inputs: Option<Inputs>,
    key: Option<JsonPath>,
    /// The old version's folder, removed when dropped.
    _checkout: tempfile::TempDir,
}

fn prepare(args: &DiffArgs) -> anyhow::Result<Prepared> {
    let key = match &args.key {
        Some(text) => Some(JsonPath::compile(text).map_err(|e| anyhow!("error: --key `{text}`: {e}"))?),
        None => None,
    };
    let inputs = if args.input.is_empty() {
        None
    } else {
        let records = read_inputs(&args.input).map_err(|d| anyhow!("{d}"))?;
        Some(Inputs { to: args.to.clone(), records })
    };
    if !args.pipeline.is_file() {
        bail!("error: {} is not a pipeline file (`weir diff` compares one pipeline)", args.pipeline.display());
    }
    let new = load_one(&args.pipeline).map_err(|e| anyhow!("{e}"))?;
    let (checkout, old_path) = checkout(&args.pipeline, &args.against)?;
    let old = load_one(&old_path).map_err(|e| anyhow!("the pipeline at {} does not load:\n{e}", args.against))?;
    Ok(Prepared { old, new, inputs, key, _checkout: checkout })
}

/// The one pipeline of `path`, or every error.
fn load_one(path: &Path) -> Result<LoadedPipeline, String> {
    let (mut pipelines, diagnostics) = load_paths_partial(&[path.to_path_buf()], &process_env);
    if !diagnostics.is_empty() {
        return Err(diagnostics.to_string());
    }
    pipelines.pop().ok_or_else(|| format!("error: no pipeline in {}", path.display()))
}

/// `git ARGS` in `dir`: its standard output, or its standard error as the error.
fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .context("error: cannot run git (is it installed?)")?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    } else {
        Err(anyhow!("{}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// The folder of `pipeline` as it was at `rev`, extracted into a temporary folder, and the pipeline's
/// path in it.
fn checkout(pipeline: &Path, rev: &str) -> anyhow::Result<(tempfile::TempDir, PathBuf)> {
    if rev.starts_with('-') || rev.is_empty() {
        bail!("error: `{rev}` is not a git revision");
    }
    let file = pipeline.canonicalize().with_context(|| format!("error: {}", pipeline.display()))?;
    let dir = file.parent().unwrap_or(Path::new("/"));
    let top = git(dir, &["rev-parse", "--show-toplevel"])
        .map_err(|e| anyhow!("error: {} is not in a git repository: {e}", pipeline.display()))?;
    let top = PathBuf::from(top).canonicalize().context("error: the git repository's folder")?;
    let slashed =
        |p: &Path| p.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/");
    let folder_rel = slashed(dir.strip_prefix(&top).unwrap_or(Path::new("")));
    let file_rel = slashed(file.strip_prefix(&top).unwrap_or(&file));
    git(&top, &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")])
        .map_err(|_| anyhow!("error: unknown revision `{rev}` in {}", top.display()))?;
    git(&top, &["cat-file", "-e", &format!("{rev}:{file_rel}")])
        .map_err(|_| anyhow!("error: {file_rel} did not exist at {rev}"))?;
    let tmp = tempfile::tempdir().context("error: creating a temporary folder")?;
    let tar = tmp.path().join("folder.tar");
    let tree = tmp.path().join("tree");
    std::fs::create_dir(&tree).context("error: creating a temporary folder")?;
    let tar_text = tar.to_string_lossy().into_owned();
    let mut archive = vec!["archive", "--format=tar", "-o", &tar_text, rev];
    if !folder_rel.is_empty() {
        archive.extend(["--", &folder_rel]);
    }
    git(&top, &archive).map_err(|e| anyhow!("error: reading {folder_rel} at {rev}: {e}"))?;
    let status = Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(&tree)
        .status()
        .context("error: cannot run tar (is it installed?)")?;
    if !status.success() {
        bail!("error: extracting {folder_rel} at {rev} failed");
    }
    Ok((tmp, tree.join(file_rel)))
}

/// The diff as printed: each sink, the dead letters, the run errors, and a last line.
fn shown(diff: &PipelineDiff) -> String {
    let value = crate::testing::compare::shown;
    let mut out = Vec::new();
    for sink in &diff.sinks {
        out.push(format!(
            "sink {}: {} changed, {} added, {} removed, {} unchanged",
            sink.id,
            sink.changed.len(),
            sink.added.len(),
            sink.removed.len(),
            sink.unchanged
        ));
        let mut lines: Vec<(_, Vec<String>)> = Vec::new();
        for (pair, differences) in &sink.changed {
            let mut block = vec![format!("  ~ {pair}")];
            block.extend(differences.iter().map(|d| format!("      {}", d.change())));
            lines.push((pair, block));
        }
        lines.extend(sink.added.iter().map(|(pair, v)| (pair, vec![format!("  + {pair}  {}", value(v))])));
        lines.extend(sink.removed.iter().map(|(pair, v)| (pair, vec![format!("  - {pair}  {}", value(v))])));
        lines.sort_by(|a, b| a.0.cmp(b.0));
        out.extend(lines.into_iter().flat_map(|(_, block)| block));
    }
    let (new, gone) = (&diff.new_dead_letters, &diff.gone_dead_letters);
    out.push(format!("dead letters: {} new, {} gone", new.len(), gone.len()));
    for (sign, letters) in [("+", new), ("-", gone)] {
        out.extend(letters.iter().map(|d| format!("  {sign} {} at {}: {}", d.label, d.step, d.error)));
    }
    if let Some((before, now)) = &diff.errors {
        let said = |e: &Option<String>| e.clone().unwrap_or_else(|| "succeeded".into());
        out.push(format!("the run: before: {}\n         now: {}", said(before), said(now)));
    }
    let n = diff.records_changed();
    out.push(match n {
        0 if diff.errors.is_none() => "no change".to_string(),
        1 => "1 record changed".to_string(),
        n => format!("{n} records changed"),
    });
    out.join("\n")
}
