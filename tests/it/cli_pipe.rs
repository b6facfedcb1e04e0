//! Output into pipes: a closed standard output (`weir … | head`) ends a command quietly with exit 0,
//! as with ripgrep, and tables are not cut off a terminal. On a closed pipe:
//! no panic, no error message; `weir run` stops reading, and the records it could not print stay
//! unacknowledged, so the next run prints them again.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::cli::weir;

/// Runs `weir` with its standard output a pipe whose reading end is already closed: every write fails
/// with EPIPE, deterministically.
fn weir_into_closed_pipe(args: &[&str], dir: &Path) -> Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .current_dir(dir)
        .env("WEIR_LOG", "warn")
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("weir runs")
}

/// A folder whose pipeline prints to stdout and dead-letters one bad line.
fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("in.ndjson"), "{\"id\":1}\n{oops\n{\"id\":2}\n{\"id\":3}\n").expect("write");
    std::fs::write(
        dir.path().join("p.yaml"),
        "name: p\nsource: { id: in, type: file, path: in.ndjson }\nsinks:\n  - { id: out, type: stdout }\n",
    )
    .expect("write");
    dir
}

#[test]
fn state_commands_end_quietly_on_a_closed_pipe() {
    let dir = folder();
    let first = weir(&["run", "p.yaml", "--quiet"], dir.path());
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    for args in
        [&["dlq", "list"][..], &["dlq", "list", "--json"], &["runs"], &["runs", "--json"], &["dlq", "show", "1"]]
    {
        let out = weir_into_closed_pipe(args, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} must end quietly: {stderr}");
    }
}

#[test]
fn other_commands_end_quietly_on_a_closed_pipe() {
    let dir = folder();
    for args in [&["validate", "p.yaml"][..], &["schema"], &["graph", "p.yaml"]] {
        let out = weir_into_closed_pipe(args, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} must end quietly: {stderr}");
    }
}

#[test]
fn a_run_into_a_closed_pipe_stops_quietly_and_loses_nothing() {
    let dir = folder();
    for args in [&["run", "p.yaml"][..], &["run", "p.yaml", "--dry-run"]] {
        let out = weir_into_closed_pipe(args, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("FAILED") && !stderr.contains("error"), "{args:?}: {stderr}");
        assert!(stderr.contains("standard output was closed"), "{args:?}: {stderr}");
    }
    // Nothing was printed, so nothing was acknowledged: the next run prints every record.
    let again = weir(&["run", "p.yaml", "--quiet"], dir.path());
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&again.stdout).lines().count(), 3, "every record again");
}

#[test]
fn tables_are_not_cut_off_a_terminal() {
    let dir = folder();
    assert_eq!(weir(&["run", "p.yaml", "--quiet"], dir.path()).status.code(), Some(0));
    let json = weir(&["dlq", "list", "--json"], dir.path());
    let entries: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let error = entries[0]["error"].as_str().expect("an error").to_string();
    assert!(error.chars().count() > 60, "the fixture's error is long enough to be cut: {error}");
    // Captured here, so not a terminal: the table shows the whole text.
    let table = String::from_utf8_lossy(&weir(&["dlq", "list"], dir.path()).stdout).into_owned();
    assert!(table.contains(&error) && !table.contains('…'), "{table}");
    let wide = String::from_utf8_lossy(&weir(&["dlq", "list", "--wide"], dir.path()).stdout).into_owned();
    assert!(wide.contains(&error), "{wide}");
}
