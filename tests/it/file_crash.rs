//! Exactly once into files, end to end: `weir run` reading NDJSON orders through a filter into three
//! file sinks (NDJSON, a JSON array, CSV) is aborted at seeded points — right after a file sink wrote a
//! batch that no checkpoint knows yet, or right after a checkpoint was saved — and restarted, 24 times
//! (a run that gets to the end before its fault point gets more input appended), then run to the end.
//! Every output holds every kept record exactly once: what an aborted run wrote after its last
//! checkpoint was cut away by the next run, which wrote it again. The same holds for a pipeline whose
//! one NDJSON sink gets records encoded on the parse threads.
//!
//! Kill points are chosen by a deterministic seed and reached by counting (`WEIR_FAULT`), never by time;
//! checkpoints are saved every 2 ms (`WEIR_CHECKPOINT_INTERVAL_MS`) so that aborted runs do commit
//! progress. Whether a given kill falls before or after a save varies from run to run; the assertions
//! hold either way.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

use serde_json::Value;

const SEED: u64 = 0x5eed_f11e;
const RECORDS: u64 = 20_000;
const KILLS: usize = 24;
/// Records appended when a run reached the end before its fault point.
const CHUNK: u64 = 2_000;

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn run(dir: &Path, fault: Option<&str>) -> (ExitStatus, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
    command
        .args(["run", "p.yaml", "--quiet"])
        .current_dir(dir)
        .env("WEIR_LOG", "warn")
        .env("WEIR_CHECKPOINT_INTERVAL_MS", "2")
        .env_remove("WEIR_FAULT")
        .env_remove("WEIR_STATE")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if let Some(f) = fault {
        command.env("WEIR_FAULT", f);
    }
    let out = command.output().expect("weir runs");
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The `n` of every record kept of the first `total`: all but multiples of 7 (the filter drops them).
fn expected(total: u64) -> Vec<u64> {
    (0..total).filter(|n| !n.is_multiple_of(7)).collect()
}

/// Appends the orders numbered `from..to` to the input.
fn append_orders(dir: &Path, from: u64, to: u64) {
    use std::io::Write;
    let text: String = (from..to).map(|n| format!("{{\"n\":{n},\"sku\":\"S{n:05}\"}}\n")).collect();
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("orders.ndjson")).expect("open");
    f.write_all(text.as_bytes()).expect("append");
}

fn sorted(mut ns: Vec<u64>) -> Vec<u64> {
    ns.sort_unstable();
    ns
}

/// Runs `pipeline` in a new folder, aborting it at 24 seeded fault points and restarting it, then runs
/// it to the end; the folder and how many orders its input ended with.
fn kill_and_restart(pipeline: &str) -> (tempfile::TempDir, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    append_orders(d, 0, RECORDS);
    std::fs::write(d.join("p.yaml"), pipeline).expect("write pipeline");
    let mut rng = SEED;
    let (mut kills, mut total) = (0, RECORDS);
    for attempt in 0.. {
        assert!(attempt < 3 * KILLS, "only {kills} of {attempt} runs were killed");
        if kills == KILLS {
            break;
        }
        let fault = if xorshift(&mut rng).is_multiple_of(3) {
            format!("checkpoint_saved:{}", 1 + xorshift(&mut rng) % 6)
        } else {
            format!("file_batch_written:{}", 1 + xorshift(&mut rng) % 40)
        };
        let (status, log) = run(d, Some(&fault));
        if status.signal().is_some() {
            kills += 1;
            continue;
        }
        assert_eq!(status.code(), Some(0), "{fault}: {log}");
        // The run got to the end before its fault point: more input, so that later runs have work.
        append_orders(d, total, total + CHUNK);
        total += CHUNK;
    }
    let (status, log) = run(d, None);
    assert_eq!(status.code(), Some(0), "{log}");
    (dir, total)
}

/// The `n` of every line of an NDJSON output.
fn ndjson_ns(path: &Path) -> Vec<u64> {
    let lines = std::fs::read_to_string(path).expect("ndjson output");
    lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"))["n"].as_u64().unwrap_or(0))
        .collect()
}

#[test]
fn killed_and_restarted_file_runs_write_every_record_exactly_once() {
    let (dir, total) = kill_and_restart(
        r#"name: files
source: { id: orders, type: file, path: orders.ndjson }
steps:
  - { id: keep, type: filter, when: "record.n % 7 != 0" }
sinks:
  - { id: lines, type: file, path: out/orders.ndjson }
  - { id: array, type: file, path: out/orders.json, format: json }
  - { id: table, type: file, path: out/orders.csv, format: csv, columns: [n, sku] }
runtime: { batch_size: 50 }
"#,
    );
    let d = dir.path();
    assert_eq!(sorted(ndjson_ns(&d.join("out/orders.ndjson"))), expected(total), "NDJSON output");

    let array: Value = serde_json::from_str(&std::fs::read_to_string(d.join("out/orders.json")).expect("json output"))
        .expect("the JSON output is one valid array");
    let ns: Vec<u64> = array.as_array().expect("an array").iter().map(|v| v["n"].as_u64().unwrap_or(0)).collect();
    assert_eq!(sorted(ns), expected(total), "JSON output");

    let csv = std::fs::read_to_string(d.join("out/orders.csv")).expect("csv output");
    let mut rows = csv.lines();
    assert_eq!(rows.next(), Some("n,sku"), "one header");
    let ns: Vec<u64> = rows.map(|r| r.split(',').next().and_then(|n| n.parse().ok()).unwrap_or(u64::MAX)).collect();
    assert_eq!(sorted(ns), expected(total), "CSV output");
}

/// One NDJSON sink as the only destination: records are encoded on the parse threads, by the
/// template's shortcut straight to text (`Record::encoded`); exactly once holds the same.
#[test]
fn records_encoded_where_they_are_parsed_are_written_exactly_once_too() {
    let (dir, total) = kill_and_restart(
        r#"name: encoded
source: { id: orders, type: file, path: orders.ndjson }
steps:
  - { id: keep, type: filter, when: "record.n % 7 != 0" }
  - id: item
    type: template
    value: { n: "{{ record.n }}", item: "{{ record.sku }}-{{ record.n }}" }
sinks:
  - { id: lines, type: file, path: out/items.ndjson }
runtime: { batch_size: 50 }
"#,
    );
    let d = dir.path();
    assert_eq!(sorted(ndjson_ns(&d.join("out/items.ndjson"))), expected(total), "NDJSON output");
    let first = std::fs::read_to_string(d.join("out/items.ndjson")).expect("output");
    assert!(first.starts_with("{\"n\":1,\"item\":\"S00001-1\"}\n"), "{}", &first[..60.min(first.len())]);
}

/// Two sources in one pipeline, each with its own checkpoint: each one's own output stays exactly
/// once through the kills; an output fed by both (fan-in) is committed with neither checkpoint, so it
/// holds every record at least once from each source — never fewer.
#[test]
fn with_two_sources_each_sources_own_output_is_exactly_once() {
    let (dir, total) = kill_and_restart(
        r#"name: two
sources:
  - { id: first, type: file, path: orders.ndjson }
  - { id: second, type: file, path: orders.ndjson }
steps:
  - { id: keep, type: filter, inputs: [first], when: "record.n % 7 != 0" }
  - { id: keep_too, type: filter, inputs: [second], when: "record.n % 7 != 0" }
sinks:
  - { id: from_first, type: file, path: out/first.ndjson, inputs: [keep] }
  - { id: from_second, type: file, path: out/second.ndjson, inputs: [keep_too] }
  - { id: both, type: file, path: out/both.ndjson, inputs: [keep, keep_too] }
runtime: { batch_size: 50 }
"#,
    );
    let d = dir.path();
    assert_eq!(sorted(ndjson_ns(&d.join("out/first.ndjson"))), expected(total), "the first source's output");
    assert_eq!(sorted(ndjson_ns(&d.join("out/second.ndjson"))), expected(total), "the second source's output");
    let mut counts = std::collections::BTreeMap::new();
    for n in ndjson_ns(&d.join("out/both.ndjson")) {
        *counts.entry(n).or_insert(0u32) += 1;
    }
    let missing: Vec<u64> = expected(total).into_iter().filter(|n| counts.get(n).copied().unwrap_or(0) < 2).collect();
    assert!(missing.is_empty(), "records the fan-in output lost: {:?}…", &missing[..missing.len().min(10)]);
}
