//! The state store as users meet it through the command line: dead letters listed, shown, replayed
//! after a fix and dropped; run history; the audit trail of a key; checkpoints across runs; one process
//! per pipeline; refusal of a state file Weir cannot trust.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::cli::weir;

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write");
}

/// Orders whose size maps through a table that lacks `XXL`: order 2 is dead-lettered at `size_code`.
fn order_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "orders.ndjson",
        "{\"id\":1,\"size\":\"M\"}\n{\"id\":2,\"size\":\"XXL\"}\n{\"id\":3,\"size\":\"S\"}\n",
    );
    write(dir.path(), "sizes.csv", "size,code\nS,SM\nM,MD\n");
    write(
        dir.path(),
        "orders.yaml",
        r#"name: orders
source: { id: in, type: file, path: orders.ndjson, key: "order:{{ record.id }}" }
tables: { sizes: sizes.csv }
steps:
  - id: size_code
    type: template
    set:
      code: "{{ record.size | lookup('sizes', column='code') }}"
sinks:
  - { id: erp, type: file, path: out.ndjson }
"#,
    );
    dir
}

fn output_ids(dir: &Path) -> Vec<i64> {
    std::fs::read_to_string(dir.join("out.ndjson"))
        .expect("output")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json")["id"].as_i64().expect("id"))
        .collect()
}

#[test]
fn dead_letters_are_listed_replayed_after_a_fix_and_traced() {
    let dir = order_folder();
    let d = dir.path();
    let run = weir(&["run", "orders.yaml"], d);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(output_ids(d), vec![1, 3]);

    let list = json(&weir(&["dlq", "list", "--json"], d));
    let entries = list.as_array().expect("array");
    assert_eq!(entries.len(), 1, "{list}");
    let entry = &entries[0];
    assert_eq!((entry["pipeline"].as_str(), entry["step"].as_str()), (Some("orders"), Some("size_code")));
    assert_eq!((entry["key"].as_str(), entry["attempts"].as_u64()), (Some("order:2"), Some(1)));
    assert!(entry["error"].as_str().is_some_and(|e| e.contains("XXL")), "{entry}");
    assert_eq!(entry["record"], serde_json::json!({"id": 2, "size": "XXL"}));
    let id = entry["id"].as_i64().expect("id").to_string();
    let shown = json(&weir(&["dlq", "show", &id], d));
    assert_eq!(shown["record"], entry["record"]);
    let table = weir(&["dlq", "list"], d);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.starts_with("ID") && table.contains("order:2") && table.contains("size_code"), "{table}");

    // Replayed before the fix: rejected again, one more attempt, still one entry.
    let replay = weir(&["dlq", "replay", "--all", "--config", "orders.yaml"], d);
    assert_eq!(replay.status.code(), Some(0), "{}", String::from_utf8_lossy(&replay.stderr));
    let list = json(&weir(&["dlq", "list", "orders", "--json"], d));
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["attempts"].as_u64(), Some(2));

    // The table is fixed; the replay delivers the record after what the first run wrote.
    write(d, "sizes.csv", "size,code\nS,SM\nM,MD\nXXL,2X\n");
    let id = list[0]["id"].as_i64().expect("id").to_string();
    let replay = weir(&["dlq", "replay", &id, "--config", "."], d);
    let stderr = String::from_utf8_lossy(&replay.stderr);
    assert_eq!(replay.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("replayed 1 entry: 1 delivered"), "{stderr}");
    assert_eq!(json(&weir(&["dlq", "list", "--json"], d)), serde_json::json!([]));
    assert_eq!(output_ids(d), vec![1, 3, 2]);

    let runs = json(&weir(&["runs", "orders", "--json"], d));
    let triggers: Vec<&str> = runs.as_array().expect("runs").iter().filter_map(|r| r["trigger"].as_str()).collect();
    assert_eq!(triggers, vec!["replay", "replay", "cli"]);
    assert!(runs.as_array().expect("runs").iter().all(|r| r["status"] == "succeeded"), "{runs}");
    assert_eq!(runs[2]["summary"]["records"]["dead_lettered"].as_u64(), Some(1));

    let trace = json(&weir(&["trace", "order:2", "--json"], d));
    let actions: Vec<&str> = trace.as_array().expect("trace").iter().filter_map(|a| a["action"].as_str()).collect();
    assert_eq!(actions, vec!["dead_lettered", "dead_lettered", "delivered"], "{trace}");
    assert_eq!(trace[2]["target"].as_str().map(|t| t.ends_with("out.ndjson")), Some(true));

    // Dropping needs no pipeline.
    weir(&["run", "--from-start", "orders.yaml"], d);
    write(d, "sizes.csv", "size,code\n");
    let _ = weir(&["run", "--from-start", "orders.yaml"], d);
    let before = json(&weir(&["dlq", "list", "--json"], d)).as_array().map_or(0, Vec::len);
    assert_eq!(before, 3);
    let dropped = weir(&["dlq", "drop", "--all", "--pipeline", "orders"], d);
    assert!(String::from_utf8_lossy(&dropped.stderr).contains("dropped 3 entries"));
    assert_eq!(json(&weir(&["dlq", "list", "--json"], d)), serde_json::json!([]));
}

#[test]
fn a_second_run_reads_only_what_was_appended() {
    let dir = order_folder();
    let d = dir.path();
    write(d, "sizes.csv", "size,code\nS,SM\nM,MD\nXXL,2X\n");
    assert_eq!(weir(&["run", "orders.yaml"], d).status.code(), Some(0));
    assert_eq!(output_ids(d), vec![1, 2, 3]);
    let again = weir(&["run", "orders.yaml", "--json"], d);
    let summary: Value = serde_json::from_slice(&again.stdout).expect("summary");
    assert_eq!(summary["records"]["received"].as_u64(), Some(0));
    let mut orders = std::fs::read_to_string(d.join("orders.ndjson")).expect("read");
    orders.push_str("{\"id\":4,\"size\":\"S\"}\n");
    write(d, "orders.ndjson", &orders);
    assert_eq!(weir(&["run", "orders.yaml"], d).status.code(), Some(0));
    assert_eq!(output_ids(d), vec![1, 2, 3, 4], "appended, not rewritten");
    assert_eq!(weir(&["run", "--from-start", "orders.yaml"], d).status.code(), Some(0));
    assert_eq!(output_ids(d), vec![1, 2, 3, 4], "--from-start rewrites the whole output");
}

#[test]
fn a_last_line_still_being_written_is_read_whole_by_the_next_run() {
    let dir = order_folder();
    let d = dir.path();
    write(d, "sizes.csv", "size,code\nS,SM\nM,MD\n");
    // A writer has flushed half of the second line when the run reads the file.
    write(d, "orders.ndjson", "{\"id\":1,\"size\":\"M\"}\n{\"id\":2,\"si");
    let first = weir(&["run", "orders.yaml"], d);
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(output_ids(d), vec![1]);
    // The writer finishes the line: the next run reads it whole, not its second half.
    let mut orders = std::fs::read_to_string(d.join("orders.ndjson")).expect("read");
    orders.push_str("ze\":\"S\"}\n");
    write(d, "orders.ndjson", &orders);
    let second = weir(&["run", "orders.yaml"], d);
    assert_eq!(second.status.code(), Some(0), "{}", String::from_utf8_lossy(&second.stderr));
    assert_eq!(output_ids(d), vec![1, 2]);
}

#[test]
fn a_replayed_line_that_still_does_not_parse_is_dead_lettered_again() {
    let dir = order_folder();
    let d = dir.path();
    write(d, "orders.ndjson", "{\"id\":1,\"size\":\"M\"}\n{oops\n");
    assert_eq!(weir(&["run", "orders.yaml"], d).status.code(), Some(0));
    let list = json(&weir(&["dlq", "list", "--json"], d));
    assert_eq!((list[0]["step"].as_str(), list[0]["record"].as_str()), (Some("in"), Some("{oops")), "{list}");
    let replay = weir(&["dlq", "replay", "--all", "--config", "orders.yaml"], d);
    let stderr = String::from_utf8_lossy(&replay.stderr);
    assert!(stderr.contains("replayed 1 entry: 1 dead-lettered again"), "{stderr}");
    assert_eq!(output_ids(d), vec![1], "the broken line is not delivered as a string");
    let list = json(&weir(&["dlq", "list", "--json"], d));
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!((list[0]["record"].as_str(), list[0]["attempts"].as_u64()), (Some("{oops"), Some(2)), "{list}");
    assert!(list[0]["error"].as_str().is_some_and(|e| e.contains("invalid JSON")), "{list}");
}

#[test]
fn a_replayed_record_whose_key_failed_gets_the_fixed_key() {
    let dir = order_folder();
    let d = dir.path();
    let yaml = std::fs::read_to_string(d.join("orders.yaml")).expect("read");
    write(d, "orders.yaml", &yaml.replace("record.id }}", "record.ref }}"));
    assert_eq!(weir(&["run", "orders.yaml"], d).status.code(), Some(0));
    let list = json(&weir(&["dlq", "list", "--json"], d));
    assert_eq!(list.as_array().map(Vec::len), Some(3), "every key failed: {list}");
    assert!(list[0]["error"].as_str().is_some_and(|e| e.starts_with("record key:")), "{list}");
    write(d, "orders.yaml", &yaml);
    write(d, "sizes.csv", "size,code\nS,SM\nM,MD\nXXL,2X\n");
    let replay = weir(&["dlq", "replay", "--all", "--config", "orders.yaml"], d);
    let stderr = String::from_utf8_lossy(&replay.stderr);
    assert!(stderr.contains("replayed 3 entries: 3 delivered"), "{stderr}");
    let trace = json(&weir(&["trace", "order:2", "--json"], d));
    let actions: Vec<&str> = trace.as_array().expect("trace").iter().filter_map(|a| a["action"].as_str()).collect();
    assert_eq!(actions, vec!["delivered"], "delivered under the key the fixed template gives: {trace}");
}

/// Orders wrapped in an envelope; the steps read only a few fields, so the source parses only those
/// (`kernel::projection`), and size `XXL` is missing from the table.
fn envelope_folder(steps: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "orders.ndjson",
        "{\"meta\":\"a\",\"data\":{\"id\":1,\"size\":\"M\",\"qty\":1}}\n\
         {\"meta\":\"b\",\"data\":{\"id\":2,\"size\":\"XXL\",\"qty\":3}}\n",
    );
    write(dir.path(), "sizes.csv", "size,code\nS,SM\nM,MD\n");
    let yaml = format!(
        "name: orders\nsource: {{ id: in, type: file, path: orders.ndjson }}\ntables: {{ sizes: sizes.csv }}\nsteps:\n{steps}\n\
         sinks:\n  - {{ id: erp, type: file, path: out.ndjson }}\n"
    );
    write(dir.path(), "orders.yaml", &yaml);
    dir
}

/// Runs the pipeline, adds `XXL` to the table, replays: the dead letter must be delivered.
fn dead_letter_is_delivered_after_the_fix(d: &Path, expected_record: Value) {
    assert_eq!(weir(&["run", "orders.yaml"], d).status.code(), Some(0));
    let list = json(&weir(&["dlq", "list", "--json"], d));
    assert_eq!(list[0]["record"], expected_record, "the record as it entered the failing step: {list}");
    write(d, "sizes.csv", "size,code\nS,SM\nM,MD\nXXL,2X\n");
    let replay = weir(&["dlq", "replay", "--all", "--config", "orders.yaml"], d);
    let stderr = String::from_utf8_lossy(&replay.stderr);
    assert!(stderr.contains("replayed 1 entry: 1 delivered"), "{stderr}");
    assert_eq!(output_ids(d), vec![1, 2]);
}

#[test]
fn a_record_replaced_by_a_jsonpath_root_is_dead_lettered_as_replaced() {
    let dir = envelope_folder(
        "  - { id: unwrap, type: jsonpath, root: \"$.data\" }\n  - id: shape\n    type: template\n    \
         value: { id: \"{{ record.id }}\", code: \"{{ record.size | lookup('sizes', column='code') }}\" }",
    );
    dead_letter_is_delivered_after_the_fix(dir.path(), serde_json::json!({"id": 2, "size": "XXL", "qty": 3}));
}

#[test]
fn a_record_changed_by_a_step_is_dead_lettered_with_the_change() {
    let dir = envelope_folder(
        "  - { id: double, type: template, set: { qty2: \"{{ record.data.qty * 2 }}\" } }\n  - id: shape\n    \
         type: template\n    value: { id: \"{{ record.data.id }}\", qty2: \"{{ record.qty2 }}\", \
         code: \"{{ record.data.size | lookup('sizes', column='code') }}\" }",
    );
    let entered = serde_json::json!({"meta": "b", "data": {"id": 2, "size": "XXL", "qty": 3}, "qty2": 6});
    dead_letter_is_delivered_after_the_fix(dir.path(), entered);
}

#[test]
fn only_one_process_runs_a_pipeline_at_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let fifo = d.join("out.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    write(d, "in.ndjson", "{\"n\":1}\n");
    // The sink writes into a FIFO nobody reads yet: opening it blocks, so the first run stays alive,
    // holding the pipeline's lease, until the test reads.
    write(
        d,
        "slow.yaml",
        "name: slow\nsource: { id: in, type: file, path: in.ndjson }\nsinks:\n  - { id: out, type: file, path: out.fifo }\n",
    );
    let first = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["run", "slow.yaml", "--quiet"])
        .current_dir(d)
        .env("WEIR_LOG", "off")
        .env_remove("WEIR_STATE")
        .spawn()
        .expect("spawn");
    // Wait (bounded) until the first run is recorded as running: it holds the lease from then on.
    let started = std::time::Instant::now();
    loop {
        let runs = weir(&["runs", "slow", "--json"], d);
        if runs.status.success() && json(&runs)[0]["status"] == "running" {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the first run never started");
        std::thread::yield_now();
    }
    let second = weir(&["run", "slow.yaml"], d);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("being run by another Weir process"), "{stderr}");
    assert!(stderr.contains(&format!("pid {}", first.id())), "{stderr}");
    let received = std::fs::read_to_string(&fifo).expect("read the FIFO");
    assert_eq!(received.trim(), "{\"n\":1}");
    let first = first.wait_with_output().expect("first run ends");
    assert_eq!(first.status.code(), Some(0));
    // The lease was released at the end: another run takes it (and finds nothing new to read).
    std::fs::remove_file(&fifo).expect("remove fifo");
    assert_eq!(weir(&["run", "slow.yaml"], d).status.code(), Some(0));
}

#[test]
fn a_state_file_weir_cannot_trust_stops_the_run() {
    let dir = order_folder();
    let d = dir.path();
    std::fs::create_dir_all(d.join(".weir")).expect("mkdir");
    write(d, ".weir/state.db", &"not a database ".repeat(500));
    let run = weir(&["run", "orders.yaml"], d);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not a Weir state file or it is corrupt"), "{stderr}");
    assert!(!d.join("out.ndjson").exists(), "nothing ran");
    // `--state` elsewhere works, and so does a dry run (which writes no state).
    assert_eq!(weir(&["run", "--state", "other.db", "orders.yaml"], d).status.code(), Some(0));
    assert_eq!(weir(&["run", "--dry-run", "orders.yaml"], d).status.code(), Some(0));
}

#[test]
fn a_replaced_json_array_file_is_read_again_not_skipped_by_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(
        d,
        "snap.yaml",
        "name: snap\nsource: { id: in, type: file, path: snapshot.json, format: json }\nsinks:\n  - { id: out, type: file, path: out.ndjson }\n",
    );
    let received = |args: &[&str]| -> u64 {
        let out = weir(args, d);
        let summary: Value = serde_json::from_slice(&out.stdout).expect("summary");
        summary["records"]["received"].as_u64().expect("received")
    };
    write(d, "snapshot.json", r#"[{"sku":"A","qty":1},{"sku":"B","qty":2}]"#);
    assert_eq!(received(&["run", "snap.yaml", "--json"]), 2);
    assert_eq!(received(&["run", "snap.yaml", "--json"]), 0, "unchanged: nothing new");
    // Tomorrow's snapshot: as many elements, even the same length, other values.
    write(d, "snapshot.json", r#"[{"sku":"A","qty":7},{"sku":"B","qty":9}]"#);
    assert_eq!(received(&["run", "snap.yaml", "--json"]), 2, "a replaced file is read from its start");
}
