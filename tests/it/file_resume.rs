//! Resuming file sources through `weir run`: every format resumes exactly where the last acknowledged
//! record ended — a row or line a writer has not finished is held back (never delivered cut, never
//! dead-lettered again on every run), line numbers stay right across resumes, a byte order mark is
//! read past — and file sinks: a `truncate` sink rewrites its output when its input was replaced, a JSON
//! array is extended when resuming, bytes after the committed length are cut, an edited output is not,
//! and replayed records stay.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::cli::weir;

/// Runs the pipeline `p.yaml`, expecting success; its JSON summary.
fn run(dir: &Path) -> Value {
    let out = weir(&["run", "p.yaml", "--json"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the summary is JSON")
}

fn append(dir: &Path, name: &str, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(dir.join(name)).expect("open");
    f.write_all(text.as_bytes()).expect("append");
}

/// A folder with `name` holding `text`, read by `p.yaml` (with `format`) into `out.ndjson`.
fn folder(name: &str, format: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(name), text).expect("write input");
    std::fs::write(
        dir.path().join("p.yaml"),
        format!(
            "name: p\nsource: {{ id: in, type: file, path: {name}, format: {format} }}\n\
             sinks:\n  - {{ id: out, type: file, path: out.ndjson }}\n"
        ),
    )
    .expect("write pipeline");
    dir
}

fn output(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("out.ndjson"))
        .expect("output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

fn dead_letters(dir: &Path) -> Vec<Value> {
    let out = weir(&["dlq", "list", "--json"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("a JSON list")
}

fn dead_letter_errors(dir: &Path) -> Vec<String> {
    dead_letters(dir).iter().map(|e| e["error"].as_str().unwrap_or("").to_string()).collect()
}

fn held_back(summary: &Value) -> Option<u64> {
    summary["components"][0]["report"]["held_back_unterminated"].as_u64()
}

#[test]
fn a_csv_row_cut_by_its_writer_is_read_whole_once_finished() {
    let dir = folder("in.csv", "csv", "id,v\n1,a\n2,b\n3,c");
    let d = dir.path();
    let first = run(d);
    assert_eq!(held_back(&first), Some(1), "{first}");
    assert_eq!(output(d), vec![serde_json::json!({"id": "1", "v": "a"}), serde_json::json!({"id": "2", "v": "b"})]);
    // The writer finishes the row and adds one.
    append(d, "in.csv", "c\n4,d\n");
    let second = run(d);
    assert_eq!(held_back(&second), None);
    let ids: Vec<(String, String)> = output(d)
        .iter()
        .map(|v| (v["id"].as_str().unwrap_or("").into(), v["v"].as_str().unwrap_or("").into()))
        .collect();
    let expected = [("1", "a"), ("2", "b"), ("3", "cc"), ("4", "d")];
    assert_eq!(ids, expected.map(|(a, b)| (a.to_string(), b.to_string())));
}

#[test]
fn an_unfinished_ndjson_line_is_held_back_not_dead_lettered_on_every_run() {
    let dir = folder("in.ndjson", "ndjson", "{\"n\":1}\n{\"n\":2,\"na");
    let d = dir.path();
    for _ in 0..3 {
        let summary = run(d);
        assert_eq!(held_back(&summary), Some(1), "{summary}");
    }
    assert_eq!(dead_letters(d), Vec::<Value>::new(), "never dead-lettered");
    assert_eq!(output(d), vec![serde_json::json!({"n": 1})]);
    append(d, "in.ndjson", "me\":\"x\"}\n");
    run(d);
    assert_eq!(output(d), vec![serde_json::json!({"n": 1}), serde_json::json!({"n": 2, "name": "x"})]);
}

#[test]
fn line_numbers_stay_right_across_resumes() {
    // Blank lines before the resume point count.
    let dir = folder("in.ndjson", "ndjson", "{\"n\":1}\n\n\n{\"n\":2}\n");
    let d = dir.path();
    run(d);
    append(d, "in.ndjson", "\n{oops\n");
    run(d);
    let errors = dead_letter_errors(d);
    assert!(errors.len() == 1 && errors[0].contains("in.ndjson:6:"), "{errors:?}");

    // A CSV row with a quoted line break, then a short row read by a later run.
    let dir = folder("in.csv", "csv", "id,v\n1,\"a\nb\"\n2,c\n");
    let d = dir.path();
    run(d);
    append(d, "in.csv", "3\n");
    run(d);
    let errors = dead_letter_errors(d);
    assert!(errors.len() == 1 && errors[0].contains("in.csv:5:"), "{errors:?}");

    // CRLF, cut between the `\r` and the `\n` of a row: held back until its `\n` is there.
    let dir = folder("in.csv", "csv", "id,v\r\n1,a\r\n2,b\r");
    let d = dir.path();
    assert_eq!(held_back(&run(d)), Some(1));
    append(d, "in.csv", "\n3,c\r\nbad\r\n");
    run(d);
    assert_eq!(output(d).len(), 3, "nothing lost or read twice across the cut");
    assert_eq!(dead_letter_errors(d).len(), 1, "only the short row");
}

#[test]
fn a_json_array_with_a_byte_order_mark_is_read() {
    let dir = folder("in.json", "json", "\u{feff}[{\"n\":1},{\"n\":2}]");
    let d = dir.path();
    let summary = run(d);
    assert_eq!(summary["records"]["delivered"].as_u64(), Some(2), "{summary}");
    assert_eq!(output(d), vec![serde_json::json!({"n": 1}), serde_json::json!({"n": 2})]);
}

#[test]
fn a_truncating_sink_rewrites_its_output_when_the_input_was_replaced() {
    let dir = folder("in.ndjson", "ndjson", "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
    let d = dir.path();
    run(d);
    // Appended: the run resumes, the sink appends.
    append(d, "in.ndjson", "{\"n\":4}\n");
    run(d);
    let n = |d: &Path| output(d).iter().map(|v| v["n"].as_i64().unwrap_or(0)).collect::<Vec<_>>();
    assert_eq!(n(d), vec![1, 2, 3, 4]);
    // Replaced by another export: read from its start, and the output is rewritten, not extended.
    std::fs::write(d.join("in.ndjson"), "{\"n\":7}\n{\"n\":8}\n").expect("replace");
    run(d);
    assert_eq!(n(d), vec![7, 8]);
}

/// The folder of `folder`, with `n` records and the pipeline writing them with `sink_format` too.
fn sink_folder(n: u64, sink_format: &str) -> tempfile::TempDir {
    let text: String = (1..=n).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    let dir = folder("in.ndjson", "ndjson", &text);
    std::fs::write(
        dir.path().join("p.yaml"),
        format!(
            "name: p\nsource: {{ id: in, type: file, path: in.ndjson }}\n\
             sinks:\n  - {{ id: out, type: file, path: out.{sink_format}, format: {sink_format} }}\n"
        ),
    )
    .expect("write pipeline");
    dir
}

fn run_logged(dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["run", "p.yaml", "--quiet"])
        .current_dir(dir)
        .env("WEIR_LOG", "warn")
        .env("NO_COLOR", "1")
        .env_remove("WEIR_STATE")
        .env_remove("WEIR_FAULT")
        .output()
        .expect("the weir binary runs");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{log}");
    log
}

#[test]
fn a_resumed_json_array_sink_extends_its_array() {
    let dir = sink_folder(2, "json");
    let d = dir.path();
    run(d);
    append(d, "in.ndjson", "{\"n\":3}\n");
    let log = run_logged(d);
    assert!(!log.contains("cutting"), "the closing bracket is not news: {log}");
    let array: Value = serde_json::from_str(&std::fs::read_to_string(d.join("out.json")).expect("read")).expect("json");
    assert_eq!(array, serde_json::json!([{"n": 1}, {"n": 2}, {"n": 3}]));
}

#[test]
fn what_an_interrupted_run_wrote_is_cut_and_what_others_added_is_not() {
    let dir = sink_folder(2, "ndjson");
    let d = dir.path();
    run(d);
    // Added by someone after a run that ended cleanly: kept.
    append(d, "out.ndjson", "{\"note\":1}\n");
    append(d, "in.ndjson", "{\"n\":3}\n");
    let log = run_logged(d);
    assert!(log.contains("not written by Weir"), "{log}");
    let kept = "{\"n\":1}\n{\"n\":2}\n{\"note\":1}\n{\"n\":3}\n";
    assert_eq!(std::fs::read_to_string(d.join("out.ndjson")).expect("read"), kept);
    // An interrupted run: bytes after the last checkpoint, for inputs the next run reads again.
    append(d, "in.ndjson", "{\"n\":4}\n");
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["run", "p.yaml", "--quiet"])
        .current_dir(d)
        .env("WEIR_FAULT", "file_batch_written:1")
        .env_remove("WEIR_STATE")
        .output()
        .expect("weir runs");
    assert!(out.status.code().is_none(), "aborted");
    assert_eq!(std::fs::read_to_string(d.join("out.ndjson")).expect("read"), format!("{kept}{{\"n\":4}}\n"));
    let log = run_logged(d);
    assert!(log.contains("cutting 8 bytes"), "{log}");
    assert_eq!(std::fs::read_to_string(d.join("out.ndjson")).expect("read"), format!("{kept}{{\"n\":4}}\n"));
    // Edited by someone before the committed length: not cut, said so, added to.
    std::fs::write(d.join("out.ndjson"), "{\"n\":1,\"checked\":true}\n").expect("edit");
    append(d, "in.ndjson", "{\"n\":5}\n");
    let log = run_logged(d);
    assert!(log.contains("changed since the last run"), "{log}");
    assert_eq!(std::fs::read_to_string(d.join("out.ndjson")).expect("read"), "{\"n\":1,\"checked\":true}\n{\"n\":5}\n");
}

#[test]
fn replayed_records_stay_in_the_output_when_the_next_run_resumes() {
    let dir = sink_folder(3, "ndjson");
    let d = dir.path();
    std::fs::write(d.join("sizes.csv"), "n,code\n1,A\n3,C\n").expect("table");
    std::fs::write(
        d.join("p.yaml"),
        "name: p\nsource: { id: in, type: file, path: in.ndjson }\ntables: { sizes: sizes.csv }\n\
         steps:\n  - { id: code, type: template, set: { code: \"{{ record.n | string | lookup('sizes', column='code') }}\" } }\n\
         sinks:\n  - { id: out, type: file, path: out.ndjson }\n",
    )
    .expect("write pipeline");
    run(d);
    assert_eq!(dead_letters(d).len(), 1, "record 2 misses the table");
    std::fs::write(d.join("sizes.csv"), "n,code\n1,A\n2,B\n3,C\n4,D\n").expect("fix the table");
    let replay = weir(&["dlq", "replay", "--all"], d);
    assert_eq!(replay.status.code(), Some(0), "{}", String::from_utf8_lossy(&replay.stderr));
    append(d, "in.ndjson", "{\"n\":4}\n");
    run(d);
    let codes: Vec<String> = output(d).iter().map(|v| v["code"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(codes, ["A", "C", "B", "D"]);
}
