//! Every pipeline shipped in `pipelines/` validates and runs with its books balanced, and its tests
//! (`pipelines/**/tests/*.yaml`, run by `weir test`) pass: what each example produces is checked there,
//! record by record, against committed snapshots and the facts each example exists to show.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use weir::api::{Execution, RunOptions, RunSummary, compile, load_paths};

use crate::support::cli::weir;
use crate::support::repo;

/// Runs every pipeline under `dir` with `WEIR_OUT` pointing at `out`; returns the summaries by name.
fn run_all(dir: &Path, out: &Path) -> BTreeMap<String, RunSummary> {
    let out_text = out.display().to_string();
    let env = move |name: &str| if name == "WEIR_OUT" { Some(out_text.clone()) } else { std::env::var(name).ok() };
    let pipelines = load_paths(&[dir.to_path_buf()], &env).unwrap_or_else(|d| panic!("pipelines must load:\n{d}"));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut summaries = BTreeMap::new();
    for p in pipelines {
        let plan = compile(&p).unwrap_or_else(|d| panic!("{} must compile:\n{d}", p.config.name));
        let summary = runtime.block_on(async {
            Execution::start(plan, RunOptions { stop: Arc::new(AtomicBool::new(false)), ..RunOptions::default() })
                .wait()
                .await
        });
        summaries.insert(p.config.name.clone(), summary);
    }
    summaries
}

/// The client folders under `pipelines/` that run here: every one but `demo/`, whose pipelines talk to
/// the two simulators and are run against them, every one of them, by `demo.rs`.
fn offline_folders() -> Vec<std::path::PathBuf> {
    let mut folders: Vec<_> = std::fs::read_dir(repo().join("pipelines"))
        .expect("pipelines/ is readable")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.ends_with("demo"))
        .collect();
    folders.sort();
    folders
}

#[test]
fn shipped_pipelines_run_with_balanced_books() {
    let entries: Vec<_> =
        std::fs::read_dir(repo().join("pipelines")).expect("readable").flatten().map(|e| e.path()).collect();
    assert!(entries.iter().all(|p| p.is_dir()), "pipelines/ holds client folders only: {entries:?}");
    assert_eq!(
        crate::demo::demo_pipelines_not_run_here(),
        Vec::<String>::new(),
        "pipelines/demo/ is left out here only because demo.rs runs each of its pipelines"
    );
    let out = tempfile::tempdir().expect("tempdir");
    let mut summaries = BTreeMap::new();
    for folder in offline_folders() {
        summaries.extend(run_all(&folder, out.path()));
    }
    assert!(summaries.len() >= 4, "expected the four examples, ran {:?}", summaries.keys());
    for (name, s) in &summaries {
        assert!(s.is_success(), "{name} failed:\n{s}");
        assert!(s.balances(), "{name}: received != delivered + filtered + dead-lettered:\n{s}");
        assert!(s.records.delivered > 0, "{name} delivered nothing:\n{s}");
    }
}

#[test]
fn the_shipped_pipelines_tests_pass_and_leave_nothing_behind() {
    let before = files_under(&repo().join("pipelines"));
    let output = weir(&["test", "pipelines"], &repo());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "weir test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let passed: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("test result: ok. "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a summary line");
    assert!(passed >= 13, "expected every example's tests to run:\n{stdout}");
    assert_eq!(files_under(&repo().join("pipelines")), before, "a test run must write no file");
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out.sort();
    out
}
