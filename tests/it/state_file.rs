//! The state file as an operator meets it: an empty file refused, the audit log and run history pruned
//! by each pipeline's `retention:` after a run, `weir state compact` and `weir state check`.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::support::cli::weir;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Five keyed records; `retention` is spliced into the pipeline.
fn folder(retention: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines: String = (1..=5).map(|i| format!("{{\"id\":{i}}}\n")).collect();
    std::fs::write(dir.path().join("in.ndjson"), lines).expect("write");
    let pipeline = format!(
        "name: p\nsource: {{ id: in, type: file, path: in.ndjson, key: \"k:{{{{ record.id }}}}\" }}\n\
         sinks:\n  - {{ id: out, type: file, path: out.ndjson }}\n{retention}"
    );
    std::fs::write(dir.path().join("p.yaml"), pipeline).expect("write");
    dir
}

fn traced(d: &Path, key: &str) -> usize {
    let out = weir(&["trace", key, "--json"], d);
    serde_json::from_slice::<Value>(&out.stdout).expect("json").as_array().map_or(0, Vec::len)
}

#[test]
fn an_empty_state_file_is_refused_not_started_over() {
    let dir = folder("");
    let d = dir.path();
    std::fs::create_dir_all(d.join(".weir")).expect("mkdir");
    std::fs::write(d.join(".weir/state.db"), b"").expect("truncate");
    let run = weir(&["run", "p.yaml"], d);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert!(stderr(&run).contains("empty (0 bytes)"), "{}", stderr(&run));
    assert!(!d.join("out.ndjson").exists(), "nothing ran");
}

#[test]
fn retention_prunes_after_each_run_and_compact_and_check_work() {
    let dir = folder("retention:\n  audit: { max_entries: 2 }\n  runs: { max_entries: 1 }\n");
    let d = dir.path();
    let run = weir(&["run", "p.yaml"], d);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!((1..=5).map(|i| traced(d, &format!("k:{i}"))).collect::<Vec<_>>(), vec![0, 0, 0, 1, 1]);
    assert_eq!(weir(&["run", "p.yaml"], d).status.code(), Some(0));
    let runs: Value = serde_json::from_slice(&weir(&["runs", "--json"], d).stdout).expect("json");
    assert_eq!(runs.as_array().map(Vec::len), Some(1), "{runs}");

    let compact = weir(&["state", "compact"], d);
    assert_eq!(compact.status.code(), Some(0), "{}", stderr(&compact));
    assert!(stderr(&compact).contains("MiB →"), "{}", stderr(&compact));
    let check = weir(&["state", "check"], d);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    assert!(stderr(&check).ends_with(": ok\n"), "{}", stderr(&check));
}

#[test]
fn without_retention_keys_recent_history_is_kept() {
    let dir = folder("");
    let d = dir.path();
    assert_eq!(weir(&["run", "p.yaml"], d).status.code(), Some(0));
    assert_eq!((1..=5).map(|i| traced(d, &format!("k:{i}"))).sum::<usize>(), 5);
}
