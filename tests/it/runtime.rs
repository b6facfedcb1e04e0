//! The runtime end to end: fan-out and fan-in, acknowledgements and the summary's books, backpressure
//! from a slow sink, dead letters that do not stop the pipeline, and SIGTERM draining in-flight work.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use weir::api::{Execution, RunOptions, RunSummary, compile, load_paths};

fn write_input(path: &Path, n: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create input"));
    for i in 0..n {
        writeln!(f, "{}", json!({"id": i, "kind": if i % 3 == 0 { "a" } else { "b" }, "qty": i % 7})).expect("write");
    }
}

fn start(dir: &Path, yaml: &str, options: RunOptions) -> Execution {
    let file = dir.join("p.yaml");
    std::fs::write(&file, yaml).expect("write pipeline");
    let pipelines = load_paths(&[file], &|n| std::env::var(n).ok()).unwrap_or_else(|d| panic!("{d}"));
    let plan = compile(&pipelines[0]).unwrap_or_else(|d| panic!("{d}"));
    Execution::start(plan, options)
}

fn run(dir: &Path, yaml: &str) -> RunSummary {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async { start(dir, yaml, RunOptions::default()).wait().await })
}

fn count_lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0)
}

#[test]
fn fan_out_and_fan_in_deliver_every_copy_and_the_books_balance() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_input(&dir.path().join("in.ndjson"), 3000);
    let summary = run(
        dir.path(),
        r#"
name: fan
runtime: { batch_size: 64, channel_capacity: 2 }
source: { id: in, type: file, path: in.ndjson }
steps:
  - { id: only_a, type: filter, when: "record.kind == 'a'" }
  - { id: tag_b, type: set, inputs: [in], fields: { tagged: true } }
sinks:
  - { id: merged, type: file, path: merged.ndjson, inputs: [only_a, tag_b] }
  - { id: a_only, type: file, path: a.ndjson, inputs: [only_a] }
"#,
    );
    assert!(summary.is_success(), "{summary}");
    assert!(summary.balances(), "{summary}");
    // Every input reaches `merged` through tag_b; a third also through only_a (fan-in), and a_only
    // gets a copy of those (fan-out).
    assert_eq!(count_lines(&dir.path().join("merged.ndjson")), 3000 + 1000);
    assert_eq!(count_lines(&dir.path().join("a.ndjson")), 1000);
    assert_eq!(summary.records.received, 3000);
    assert_eq!(summary.records.delivered, 3000, "every input delivered at least once: {summary}");
    let filter = summary.components.iter().find(|c| c.id == "only_a").expect("filter stats");
    assert_eq!((filter.received, filter.emitted, filter.filtered), (3000, 1000, 2000));
}

#[test]
fn bad_records_are_dead_lettered_and_the_pipeline_keeps_going() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut input = String::new();
    for i in 0..100 {
        input.push_str(&match i % 10 {
            3 => "{not json\n".to_string(),
            7 => format!("{}\n", json!({"id": i})),
            _ => format!("{}\n", json!({"id": i, "qty": i})),
        });
    }
    std::fs::write(dir.path().join("in.ndjson"), input).expect("write");
    let summary = run(
        dir.path(),
        r#"
name: dlq
source: { id: in, type: file, path: in.ndjson, key: "item:{{ record.id }}" }
dead_letter: { path: dead.ndjson }
steps:
  - id: shape
    type: template
    value: { id: "{{ record.id }}", double: "{{ record.qty * 2 }}" }
sinks:
  - { id: out, type: file, path: out.ndjson }
"#,
    );
    assert!(summary.is_success(), "{summary}");
    assert!(summary.balances(), "{summary}");
    assert_eq!((summary.records.delivered, summary.records.dead_lettered), (80, 20));
    let dead: Vec<Value> = std::fs::read_to_string(dir.path().join("dead.ndjson"))
        .expect("dead letters written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(dead.len(), 20);
    let parse_error = dead.iter().find(|d| d["step"] == "in").expect("a parse error from the source");
    assert_eq!(parse_error["record"], json!("{not json"));
    let step_error = dead.iter().find(|d| d["step"] == "shape").expect("a template error");
    assert_eq!(step_error["key"], json!("item:7"));
    assert_eq!(step_error["record"], json!({"id": 7}));
    assert!(step_error["error"].as_str().is_some_and(|e| e.contains("undefined")), "{step_error}");
}

/// Creates a named pipe (the test reads the sink's output through it at its own pace).
fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success(), "mkfifo failed");
}

#[test]
fn a_slow_sink_holds_the_source_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let total = 200_000;
    write_input(&dir.path().join("in.ndjson"), total);
    let fifo = dir.path().join("out.fifo");
    mkfifo(&fifo);
    let yaml = r#"
name: slow
runtime: { batch_size: 100, channel_capacity: 2 }
source: { id: in, type: file, path: in.ndjson }
steps:
  - { id: pass, type: set, fields: { seen: true } }
sinks:
  - { id: out, type: file, path: out.fifo }
"#;
    // The reader stops after 1,000 lines and, while it stops, the source must stall: at most the
    // records that fit in the pipe buffer, the channels (2 × 2 batches of 100), one batch being worked on
    // per component, and the sink's write buffer can be ahead of what was read.
    let (rt, execution, mut reader) = start_into_fifo(dir.path(), yaml, &fifo);
    let progress = execution.progress_handle();
    let mut line = String::new();
    for _ in 0..1000 {
        line.clear();
        reader.read_line(&mut line).expect("read");
    }
    let ahead = received_once_stalled(&progress).saturating_sub(1000);
    assert!(
        ahead < 50_000,
        "the source ran {ahead} records ahead of a sink that stopped reading (of {total}); backpressure is broken"
    );
    let rest = reader.lines().count();
    let summary = rt.block_on(execution.wait());
    assert!(summary.is_success(), "{summary}");
    assert_eq!(1000 + rest, total);
    assert_eq!(summary.records.delivered as usize, total);
}

/// Starts `yaml` (whose sink writes into `fifo`) and opens the pipe's reading end: the test reads the
/// sink's output at its own pace.
fn start_into_fifo(
    dir: &Path,
    yaml: &str,
    fifo: &Path,
) -> (tokio::runtime::Runtime, Execution, BufReader<std::fs::File>) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let execution = rt.block_on(async { start(dir, yaml, RunOptions::default()) });
    let reader = BufReader::new(std::fs::File::open(fifo).expect("open fifo"));
    (rt, execution, reader)
}

/// Waits until the source stops taking records (it is held back) and returns how many it took.
fn received_once_stalled(progress: &weir::api::Progress) -> u64 {
    let mut stalled_at = 0;
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let received = progress.summary().received;
        if received == stalled_at {
            break;
        }
        stalled_at = received;
    }
    stalled_at
}

#[test]
fn large_records_are_held_back_by_bytes_not_only_by_count() {
    // 400 records of 256 KiB (100 MiB): with batches of up to 256 records and 4 batches per channel,
    // a count bound alone lets the source read all of them ahead of a sink that stopped; with batches
    // closed at 1 MiB, only a few MiB can be in flight.
    let dir = tempfile::tempdir().expect("tempdir");
    let total = 400;
    let mut f = std::io::BufWriter::new(std::fs::File::create(dir.path().join("in.ndjson")).expect("create"));
    let padding = "x".repeat(256 * 1024);
    for i in 0..total {
        writeln!(f, "{}", json!({"id": i, "blob": padding})).expect("write");
    }
    drop(f);
    let fifo = dir.path().join("out.fifo");
    mkfifo(&fifo);
    let yaml = r#"
name: big
source: { id: in, type: file, path: in.ndjson }
steps:
  - { id: pass, type: set, fields: { seen: true } }
sinks:
  - { id: out, type: file, path: out.fifo }
"#;
    let (rt, execution, mut reader) = start_into_fifo(dir.path(), yaml, &fifo);
    let progress = execution.progress_handle();
    let mut line = String::new();
    reader.read_line(&mut line).expect("read");
    let ahead = received_once_stalled(&progress).saturating_sub(1);
    // Bound: the parse window (8 chunks), two channels of 4 batches, a batch per component and the
    // pipe, each of at most 1 MiB plus one record: about 4 records each, under 100 in all.
    assert!(ahead < 100, "the source read {ahead} records of 256 KiB ahead of a stopped sink (of {total})");
    let rest = reader.lines().count();
    let summary = rt.block_on(execution.wait());
    assert!(summary.is_success(), "{summary}");
    assert_eq!(1 + rest, total);
}

#[test]
fn sigterm_drains_in_flight_records_and_exits_130() {
    let dir = tempfile::tempdir().expect("tempdir");
    let total = 200_000;
    write_input(&dir.path().join("in.ndjson"), total);
    mkfifo(&dir.path().join("out.fifo"));
    std::fs::write(
        dir.path().join("p.yaml"),
        r#"
name: drain
runtime: { batch_size: 100, channel_capacity: 2 }
source: { id: in, type: file, path: in.ndjson }
sinks:
  - { id: out, type: file, path: out.fifo }
"#,
    )
    .expect("write pipeline");
    let child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["run", "--json"])
        .arg(dir.path().join("p.yaml"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weir starts");
    let mut reader = BufReader::new(std::fs::File::open(dir.path().join("out.fifo")).expect("open fifo"));
    let mut line = String::new();
    for _ in 0..500 {
        line.clear();
        reader.read_line(&mut line).expect("read");
    }
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    // Keep reading: everything already in flight is delivered, then the sink closes the pipe.
    let delivered_lines = 500 + reader.lines().count();
    let output = child.wait_with_output().expect("weir exits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "stderr: {stderr}");
    // The JSON summary is stdout, whole; the logs stay on stderr.
    let summary: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("no JSON summary on stdout ({e}); stderr: {stderr}"));
    let records = &summary["records"];
    assert_eq!(summary["interrupted"], json!(true));
    assert_eq!(records["unacknowledged"], json!(0), "{summary}");
    assert_eq!(records["delivered"].as_u64(), Some(delivered_lines as u64), "{summary}");
    assert_eq!(records["received"], records["delivered"], "every record read was drained: {summary}");
    assert!((delivered_lines as u64) < total as u64, "the signal must have stopped the source early");
}

#[test]
fn reconcile_counts_its_findings_in_the_summary_and_the_books_balance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let left: String = (0..500).map(|i| format!("{}\n", json!({"sku": format!("S{i}"), "qty": i % 10}))).collect();
    // The right set lacks S0..S9, has S1000..S1004 besides, and differs on every S*7.
    let right: String = (10..505)
        .map(|i| {
            let sku = if i >= 500 { format!("S{}", i + 500) } else { format!("S{i}") };
            let qty = if i % 10 == 7 { 100.0 } else { f64::from(i % 10) };
            format!("{}\n", json!({"sku": sku, "qty": qty}))
        })
        .collect();
    std::fs::write(dir.path().join("left.ndjson"), &left).expect("write");
    std::fs::write(dir.path().join("right.ndjson"), &right).expect("write");
    let yaml = r#"
name: drift
runtime: { batch_size: 16, channel_capacity: 2 }
source: { id: in, type: file, path: left.ndjson }
steps:
  - id: drift
    type: reconcile
    right: { path: right.ndjson }
    left_key: "{{ record.sku }}"
    right_key: "{{ record.sku }}"
    compare: [qty]
sinks:
  - { id: findings, type: file, path: findings.ndjson }
"#;
    let summary = run(dir.path(), yaml);
    assert!(summary.is_success(), "{summary}");
    assert!(summary.balances(), "{summary}");
    let r = &summary.records;
    assert_eq!((r.received, r.delivered, r.filtered, r.dead_lettered), (500, 59, 441, 0), "{summary}");
    let drift = summary.components.iter().find(|c| c.id == "drift").expect("step stats");
    let report = drift.report.as_ref().expect("reconcile reports its counts");
    assert_eq!(report.0, vec![("matching", 441), ("different", 49), ("missing_left", 5), ("missing_right", 10)]);
    assert_eq!(drift.emitted, 64, "49 different + 10 missing_right + 5 missing_left");
    assert_eq!(count_lines(&dir.path().join("findings.ndjson")), 64);
    assert!(summary.to_string().contains("step drift: matching 441, different 49, missing_left 5, missing_right 10"));

    // Stopped at a limit, the step cannot know what it did not see: no missing_left findings.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let options = RunOptions { limit: Some(100), ..RunOptions::default() };
    let limited = rt.block_on(async { start(dir.path(), yaml, options).wait().await });
    assert!(limited.balances(), "{limited}");
    let drift = limited.components.iter().find(|c| c.id == "drift").expect("step stats");
    let report = drift.report.as_ref().expect("reconcile reports its counts");
    assert_eq!(report.0[2], ("missing_left", 0), "{limited}");
    assert_eq!(report.0.last(), Some(&("right_not_checked", 405)), "{limited}");
}

#[test]
fn steps_run_by_the_source_keep_the_input_order_and_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_input(&dir.path().join("in.ndjson"), 5000);
    // `kind` and `out` are stateless: they run inside the source, on every thread that parses.
    let yaml = r#"
name: fused
runtime: { batch_size: 7, channel_capacity: 2 }
source: { id: in, type: file, path: in.ndjson }
dead_letter: { path: dead.ndjson }
steps:
  - { id: kind, type: jsonpath, set: { k: "$.kind" } }
  - id: out
    type: template
    value: { id: "{{ record.id }}", k: "{{ record.k | upper }}", q: "{{ 10 // record.qty }}" }
sinks:
  - { id: all, type: file, path: all.ndjson }
"#;
    let ids = |path: &Path| -> Vec<u64> {
        std::fs::read_to_string(path)
            .expect("output")
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("json")["id"].as_u64().expect("id"))
            .collect()
    };
    let summary = run(dir.path(), yaml);
    assert!(summary.is_success(), "{summary}");
    assert!(summary.balances(), "{summary}");
    // qty 0 divides by zero: those records are dead-lettered by the template step.
    let expected: Vec<u64> = (0..5000).filter(|i| i % 7 != 0).collect();
    assert_eq!(ids(&dir.path().join("all.ndjson")), expected);
    let out = summary.components.iter().find(|c| c.id == "out").expect("template stats");
    assert_eq!(
        (out.received, out.emitted, out.dead_lettered),
        (5000, expected.len() as u64, 5000 - expected.len() as u64)
    );

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let options = RunOptions { limit: Some(1234), ..RunOptions::default() };
    let summary = rt.block_on(async { start(dir.path(), yaml, options).wait().await });
    assert_eq!(summary.records.received, 1234, "{summary}");
    let expected: Vec<u64> = (0..1234).filter(|i| i % 7 != 0).collect();
    assert_eq!(ids(&dir.path().join("all.ndjson")), expected);
}

#[test]
fn a_derived_record_whose_dead_letter_cannot_be_written_leaves_its_input_unacknowledged() {
    // Each order explodes into two lines; the second line of order 1 fails the template. Its dead-letter
    // entry cannot be written (the folder is a file), so order 1 must stay unacknowledged — even though
    // its first line was delivered — and the run must fail, or its second line is lost for good.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("blocked"), "a file, not a folder").expect("write");
    std::fs::write(
        dir.path().join("in.ndjson"),
        "{\"id\":0,\"items\":[{\"q\":1},{\"q\":2}]}\n{\"id\":1,\"items\":[{\"q\":1},{\"r\":2}]}\n",
    )
    .expect("write");
    let summary = run(
        dir.path(),
        r#"
name: lost-child
source: { id: in, type: file, path: in.ndjson }
dead_letter: { path: blocked/dead.ndjson }
steps:
  - { id: lines, type: explode, path: "$.items[*]" }
  - { id: shape, type: template, value: { q: "{{ record.q }}" } }
sinks:
  - { id: out, type: file, path: out.ndjson }
"#,
    );
    assert_eq!(count_lines(&dir.path().join("out.ndjson")), 3, "{summary}");
    assert_eq!((summary.records.delivered, summary.records.unacknowledged), (1, 1), "{summary}");
    assert!(!summary.is_success(), "{summary}");
}
