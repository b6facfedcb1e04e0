//! The bad-config corpus: every `tests/bad_configs/NN-name.yaml` is run through `weir validate` (the real
//! binary, from the repository root so paths print as `tests/bad_configs/…`), which must exit with code 2
//! and print exactly the rendered errors stored beside it in `NN-name.stderr`. A case may also be a client
//! folder `NN-name/` (a pipeline plus `connections.yaml`, `shared.yaml` …), validated as a folder.
//!
//! To accept new output (after adding a case or changing a message), run with `WEIR_BLESS=1`:
//! `WEIR_BLESS=1 cargo test --test it config_errors::` rewrites the `.stderr` snapshots instead of comparing
//! them; review the diff before committing.
//!
//! Besides the snapshots, the harness checks that the corpus holds at least 30 cases, that no case takes
//! long (hostile inputs must be refused quickly), that the secret set for the run never reaches stderr,
//! and that no error points at `:1:1` unless the case is about the whole file.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The corpus must not shrink below this.
const MIN_CASES: usize = 30;

/// A case taking longer than this is a hang (deep nesting, alias bombs …).
const TIMEOUT: Duration = Duration::from_secs(20);

/// Value of `WEIR_TEST_SECRET` during the run; it must never be printed.
const SECRET: &str = "s3cr3t-hunter2-do-not-print";

/// Value of `WEIR_TEST_SHORT_SECRET` during the run: too short to be used as a secret.
const SHORT_SECRET: &str = "abc";

/// Cases whose errors may point at `:1:1`: they are about the file as a whole.
const AT_START_ALLOWED: &[&str] = &["23-empty-file", "25-alias-bomb", "38-missing-top-level-key", "54-utf16"];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("bad_configs")
}

/// Every case, by stem (`NN-name`, a `.yaml` file or a folder), sorted.
fn cases() -> Vec<String> {
    let mut stems: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("tests/bad_configs exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.file_stem().expect("has a stem").to_string_lossy().into_owned())
        .collect();
    stems.sort();
    stems
}

/// The path `weir validate` is given for a case, relative to the repository root.
fn case_path(stem: &str) -> String {
    if corpus_dir().join(stem).is_dir() {
        format!("tests/bad_configs/{stem}")
    } else {
        format!("tests/bad_configs/{stem}.yaml")
    }
}

/// Runs `weir validate` on one case: (exit code, stderr, elapsed).
fn run_case(stem: &str) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("validate")
        .arg(case_path(stem))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("WEIR_TEST_SECRET", SECRET)
        .env("WEIR_TEST_SHORT_SECRET", SHORT_SECRET)
        .env("WEIR_LOG", "warn")
        .env_remove("WEIR_TEST_SURELY_UNSET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the weir binary runs");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stderr.read_to_end(&mut bytes).expect("stderr is readable");
        bytes
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("waitable") {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            child.kill().expect("killable");
            panic!("case `{stem}` did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = started.elapsed();
    let bytes = reader.join().expect("reader thread");
    (status.code(), String::from_utf8_lossy(&bytes).into_owned(), elapsed)
}

/// A line diff of `expected` and `actual` (longest common subsequence), `-` for expected-only lines and
/// `+` for actual-only ones, with the unchanged lines around them for context.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let mut lines = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            lines.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            lines.push(('-', a[i]));
            i += 1;
        } else {
            lines.push(('+', b[j]));
            j += 1;
        }
    }
    const CONTEXT: usize = 2;
    let changed: Vec<usize> = lines.iter().enumerate().filter(|(_, (t, _))| *t != ' ').map(|(n, _)| n).collect();
    let mut out = String::from("--- expected\n+++ actual\n");
    let mut last_shown: Option<usize> = None;
    for (n, (tag, text)) in lines.iter().enumerate() {
        if !changed.iter().any(|&c| c.abs_diff(n) <= CONTEXT) {
            continue;
        }
        if last_shown.is_some_and(|l| n > l + 1) || (last_shown.is_none() && n > 0) {
            out.push_str("@@\n");
        }
        out.push_str(&format!("{tag}{text}\n"));
        last_shown = Some(n);
    }
    out
}

/// The `file:line:col` locations of a rendered error output.
fn locations(stderr: &str) -> Vec<&str> {
    stderr.lines().filter_map(|l| l.trim_start().strip_prefix("--> ")).collect()
}

#[test]
fn bad_configs_render_their_snapshots() {
    let bless = std::env::var("WEIR_BLESS").is_ok_and(|v| v == "1");
    let stems = cases();
    assert!(stems.len() >= MIN_CASES, "the bad-config corpus has {} cases; it needs at least {MIN_CASES}", stems.len());
    let mut failures = Vec::new();
    for stem in &stems {
        let ok_name = stem.len() > 3
            && stem[..2].chars().all(|c| c.is_ascii_digit())
            && stem[2..].starts_with('-')
            && stem[3..].chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok_name {
            failures.push(format!("{stem}: case files are named `NN-short-name.yaml`"));
        }
        let (code, stderr, elapsed) = run_case(stem);
        if code != Some(2) {
            failures.push(format!("{stem}: exit code {code:?}, expected 2 (invalid configuration); stderr:\n{stderr}"));
        }
        if stderr.contains(SECRET) {
            failures.push(format!("{stem}: the secret's value appears in stderr"));
        }
        if elapsed > Duration::from_secs(5) {
            failures.push(format!("{stem}: took {elapsed:?}; bad configs must be refused quickly"));
        }
        if !AT_START_ALLOWED.contains(&stem.as_str()) {
            for loc in locations(&stderr) {
                if loc.ends_with(":1:1") {
                    failures
                        .push(format!("{stem}: an error points at `{loc}`; errors must point at the offending line"));
                }
            }
        }
        let snapshot = corpus_dir().join(format!("{stem}.stderr"));
        if bless {
            std::fs::write(&snapshot, &stderr).expect("snapshot is writable");
            continue;
        }
        match std::fs::read_to_string(&snapshot) {
            Ok(expected) if expected == stderr => {}
            Ok(expected) => failures.push(format!(
                "{stem}: stderr differs from {stem}.stderr (rerun with WEIR_BLESS=1 to accept):\n{}",
                diff(&expected, &stderr)
            )),
            Err(e) => failures.push(format!("{stem}: no snapshot ({e}); run with WEIR_BLESS=1 to create it")),
        }
    }
    for entry in std::fs::read_dir(corpus_dir()).expect("tests/bad_configs exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_some_and(|e| e == "stderr")
            && !path.with_extension("yaml").exists()
            && !path.with_extension("").is_dir()
        {
            failures.push(format!("{}: snapshot without a case", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad-config cases failed:\n\n{}",
        failures.len(),
        stems.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_snapshots_point_inside_the_file() {
    // Checks the committed snapshots themselves (the test above checks fresh output).
    for stem in cases() {
        let Ok(text) = std::fs::read_to_string(corpus_dir().join(format!("{stem}.stderr"))) else {
            continue;
        };
        assert!(!text.contains(SECRET), "{stem}.stderr holds the secret's value");
        if AT_START_ALLOWED.contains(&stem.as_str()) {
            continue;
        }
        for loc in locations(&text) {
            assert!(
                !loc.ends_with(":1:1"),
                "{stem}.stderr: an error points at `{loc}`; errors must point at the offending line"
            );
        }
    }
}

#[test]
fn diff_marks_changed_lines() {
    let d = diff("a\nb\nc\n", "a\nx\nc\n");
    assert!(d.contains("-b\n") && d.contains("+x\n") && d.contains(" a\n"), "{d}");
}
