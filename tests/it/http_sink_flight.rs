//! The `http` sink's query, batches and requests in flight against a scripted API (`support::stub`) and
//! the order receiver: a query's bracketed keys and awkward values arrive encoded; batches carry their
//! records and a rejected batch dead-letters all of them; answers complete out of order while the
//! checkpoint stays contiguous (a failed run resumes without losing a record or repeating a settled
//! one); at one request at a time, a failing answer stops the write; two updates of one key never overtake each other; a rate limit holds with many requests in
//! flight; idempotent creates stay single with lost answers and requests in flight.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use weir::api::{Execution, RunOptions, RunSummary, SqliteStore, StateStore, compile, load_paths};

use crate::support::receiver::{Config, Receiver};
use crate::support::stub::{Seen, Stub};

/// Runs `yaml` (as `p.yaml` in `dir`, beside any `connections.yaml`) to the end.
pub(crate) fn run(dir: &Path, yaml: &str, state: Option<&Arc<SqliteStore>>, from_start: bool) -> RunSummary {
    run_with(dir, yaml, state, from_start, &[])
}

/// [`run`], with the environment variables `vars` set for the config (`${secret:…}`).
pub(crate) fn run_with(
    dir: &Path,
    yaml: &str,
    state: Option<&Arc<SqliteStore>>,
    from_start: bool,
    vars: &[(&str, &str)],
) -> RunSummary {
    let file = dir.join("p.yaml");
    std::fs::write(&file, yaml).expect("write pipeline");
    let env =
        |n: &str| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string()).or_else(|| std::env::var(n).ok());
    let pipelines = load_paths(&[file], &env).unwrap_or_else(|d| panic!("{d}"));
    let plan = compile(&pipelines[0]).unwrap_or_else(|d| panic!("{d}"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let state = state.map(|s| Arc::clone(s) as Arc<dyn StateStore>);
    rt.block_on(async {
        Execution::start(plan, RunOptions { state, from_start, ..RunOptions::default() }).wait().await
    })
}

/// Writes `in.ndjson` with `{"n": i, "k": key(i)}` for `i` in `0..n`.
pub(crate) fn write_input(dir: &Path, n: usize, key: impl Fn(usize) -> String) {
    let text: String = (0..n).map(|i| format!("{}\n", json!({"n": i, "k": key(i)}))).collect();
    std::fs::write(dir.join("in.ndjson"), text).expect("write input");
}

/// The dead letters written to `dead.ndjson`.
pub(crate) fn dead_letters(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("dead.ndjson"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a dead letter is JSON"))
        .collect()
}

/// The `n` of each record a request carried (its body, or each element of its list).
fn numbers(seen: &Seen) -> Vec<u64> {
    let items = match &seen.body {
        Value::Array(items) => items.clone(),
        Value::Object(o) if o.contains_key("sourceItems") => o["sourceItems"].as_array().cloned().unwrap_or_default(),
        other => vec![other.clone()],
    };
    items.iter().filter_map(|v| v["n"].as_u64()).collect()
}

fn pipeline(base: &str, runtime: &str, sink: &str) -> String {
    format!(
        "name: p\nruntime: {runtime}\nsource: {{ id: in, type: file, path: in.ndjson, key: \"k:{{{{ record.k }}}}\" }}\n\
         dead_letter: {{ path: dead.ndjson }}\nsinks:\n  - {{ id: api, type: http, url: \"{base}/items\", {sink} }}\n"
    )
}

#[test]
fn a_query_arrives_with_bracketed_keys_and_awkward_values_encoded() {
    let stub = Stub::start(|_, _| (200, json!({})));
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("in.ndjson"), "{\"k\": \"a/b c+d%\", \"n\": 1}\n").expect("write input");
    let sink = "query: { \"searchCriteria[filter_groups][0][filters][0][value]\": \"{{ record.k }}\", \"n\": \"{{ record.n }}\" }";
    let summary = run(dir.path(), &pipeline(stub.base_url(), "{}", sink), None, true);
    assert!(summary.is_success(), "{summary}");
    let seen = stub.requests().all();
    assert_eq!(
        seen[0].target,
        "/items?searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bvalue%5D=a%2Fb+c%2Bd%25&n=1"
    );
}

#[test]
fn batches_carry_their_records_and_a_rejected_batch_dead_letters_each_of_them() {
    // Each request answers 201, except one holding record 4: 400.
    let stub = Stub::start(|seen, _| {
        if numbers(seen).contains(&4) {
            (400, json!({"message": "sourceItems[1]: invalid qty"}))
        } else {
            (201, json!([]))
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let state = Arc::new(SqliteStore::open(&dir.path().join("state.db")).expect("state"));
    write_input(dir.path(), 7, |i| format!("SKU-{i}"));
    let sink = "batch_size: 3, body: { sourceItems: \"{{ records }}\" }";
    let summary = run(dir.path(), &pipeline(stub.base_url(), "{}", sink), Some(&state), true);
    assert!(summary.is_success(), "{summary}");
    let seen = stub.requests().all();
    let carried: Vec<Vec<u64>> = seen.iter().map(numbers).collect();
    assert_eq!(carried, [vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
    assert_eq!((summary.records.delivered, summary.records.dead_lettered), (4, 3), "{summary}");
    let dead = dead_letters(dir.path());
    let dead_n: Vec<u64> = dead.iter().filter_map(|d| d["record"]["n"].as_u64()).collect();
    assert_eq!(dead_n, [3, 4, 5]);
    let reason = dead[0]["error"].as_str().unwrap_or_default();
    assert!(
        reason.contains("HTTP 400") && reason.contains("invalid qty") && reason.contains("a batch of 3"),
        "{reason}"
    );
    // Every record has its own audit entry.
    assert_eq!(state.trace("k:SKU-1").expect("trace")[0].action, "sent");
    assert_eq!(state.trace("k:SKU-5").expect("trace")[0].action, "dead_lettered");
}

#[test]
fn one_request_at_a_time_a_failing_answer_stops_the_write_before_the_next_request() {
    // Record 1 is answered 500, which `on_status` makes fatal: as in a write one request after
    // another, record 2 is never sent.
    let stub = Stub::start(|seen, _| if numbers(seen) == [1] { (500, json!({})) } else { (201, json!({})) });
    let dir = tempfile::tempdir().expect("tempdir");
    write_input(dir.path(), 4, |i| format!("SKU-{i}"));
    let sink = "max_in_flight: 1, on_status: { \"500\": fail }";
    let summary = run(dir.path(), &pipeline(stub.base_url(), "{}", sink), None, true);
    assert!(summary.error.as_deref().unwrap_or_default().contains("HTTP 500"), "{summary}");
    let carried: Vec<Vec<u64>> = stub.requests().all().iter().map(numbers).collect();
    assert_eq!(carried, [vec![0], vec![1]], "no request after the failing one");
    assert_eq!(summary.records.delivered, 1, "{summary}");
}

#[test]
fn answers_complete_out_of_order_and_a_failed_run_resumes_from_a_contiguous_checkpoint() {
    // Record 0's answer waits until record 5 has been answered; record 13 fails (500) in the first run.
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let fail = Arc::clone(&failing);
    let stub = Stub::start(move |seen, requests| {
        let n = numbers(seen)[0];
        if n == 0 {
            let five_done = |all: &[Seen]| all.iter().any(|s| numbers(s) == [5] && s.answered.is_some());
            assert!(requests.wait_until(Duration::from_secs(10), five_done), "record 5 was not sent meanwhile");
        }
        if n == 13 && fail.load(std::sync::atomic::Ordering::SeqCst) { (500, json!({})) } else { (201, json!({})) }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let state = Arc::new(SqliteStore::open(&dir.path().join("state.db")).expect("state"));
    write_input(dir.path(), 40, |i| format!("K{i}"));
    let sink = "max_in_flight: 8, retry: { max_attempts: 1 }";
    let yaml = pipeline(stub.base_url(), "{ batch_size: 4 }", sink);
    let summary = run(dir.path(), &yaml, Some(&state), false);
    assert!(!summary.is_success(), "record 13 fails the run: {summary}");
    let first = stub.requests().all();
    let zero = first.iter().find(|s| numbers(s) == [0]).expect("record 0 sent");
    let five = first.iter().find(|s| numbers(s) == [5]).expect("record 5 sent");
    assert!(five.answered < zero.answered, "answered out of order");

    failing.store(false, std::sync::atomic::Ordering::SeqCst);
    let summary = run(dir.path(), &yaml, Some(&state), false);
    assert!(summary.is_success(), "{summary}");
    let all = stub.requests().all();
    let mut count = [0u32; 40];
    for seen in &all {
        for n in numbers(seen) {
            count[n as usize] += 1;
        }
    }
    // Nothing lost; what the checkpoint covered (records before the failed one's) is not sent again.
    assert!(count.iter().all(|&c| c >= 1), "{count:?}");
    assert!(count[..13].iter().all(|&c| c == 1), "settled before the failure, sent once: {count:?}");
    assert_eq!(count[13], 2, "the failed record, sent again");
}

#[test]
fn two_updates_of_one_key_never_overtake_each_other() {
    for runtime in ["{ batch_size: 1 }", "{}"] {
        // The first update of key A is answered once B and C have arrived: requests are in flight together.
        let stub = Stub::start(|seen, requests| {
            if seen.body["k"] == "A" && seen.body["n"] == 0 {
                let others = |all: &[Seen]| ["B", "C"].iter().all(|k| all.iter().any(|s| s.body["k"] == *k));
                assert!(requests.wait_until(Duration::from_secs(10), others), "B and C were not sent meanwhile");
            }
            (200, json!({}))
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = ["A", "B", "C", "A", "D"];
        write_input(dir.path(), keys.len(), |i| keys[i].to_string());
        let summary = run(dir.path(), &pipeline(stub.base_url(), runtime, "max_in_flight: 4"), None, true);
        assert!(summary.is_success(), "{summary}");
        let seen = stub.requests().all();
        let a: Vec<&Seen> = seen.iter().filter(|s| s.body["k"] == "A").collect();
        assert_eq!(a.iter().map(|s| s.body["n"].as_u64()).collect::<Vec<_>>(), [Some(0), Some(3)], "{runtime}");
        assert!(a[0].answered.is_some_and(|t| t <= a[1].arrived), "the second update waited ({runtime})");
    }
}

#[test]
fn a_rate_limit_holds_with_many_requests_in_flight() {
    let stub = Stub::start(|_, _| (200, json!({})));
    let dir = tempfile::tempdir().expect("tempdir");
    let connections = format!(
        "connections:\n  api:\n    type: http\n    base_url: \"{}\"\n    rate_limit: api\nrate_limits:\n  api: {{ per_second: 20, burst: 5 }}\n",
        stub.base_url()
    );
    std::fs::write(dir.path().join("connections.yaml"), connections).expect("write connections");
    write_input(dir.path(), 65, |i| format!("K{i}"));
    let yaml = pipeline("", "{ batch_size: 4 }", "max_in_flight: 16")
        .replace("url: \"/items\"", "connection: api, path: /items");
    let summary = run(dir.path(), &yaml, None, true);
    assert!(summary.is_success(), "{summary}");
    let times: Vec<_> = stub.requests().all().iter().map(|s| s.arrived).collect();
    assert_eq!(times.len(), 65);
    // Counted where they arrive, not where the limiter let them go: on a loaded machine requests let
    // go apart can arrive together. A window of 2 s holds what the limiter let go in 2 s plus what
    // was let go up to `DELAY` before and arrived late: 5 + 20 × (2 + 0.5) = 55 at most. Without the
    // limit all 65 arrive within a fraction of a second.
    const DELAY: f64 = 0.5;
    let most = times
        .iter()
        .map(|t| times.iter().filter(|u| **u >= *t && **u - *t < Duration::from_secs(2)).count())
        .max()
        .unwrap_or(0);
    let bound = 5 + (20.0 * (2.0 + DELAY)) as usize;
    assert!(most <= bound, "{most} requests within two seconds (limit 20/s + burst 5, arrival delay {DELAY} s)");
    let span = times.iter().max().zip(times.iter().min()).map(|(a, b)| *a - *b).unwrap_or_default();
    assert!(span >= Duration::from_millis(2800), "60 requests past the burst at 20/s take 3 s: {span:?}");
}

#[test]
fn idempotent_creates_stay_single_with_requests_in_flight_and_lost_answers() {
    let receiver = Receiver::start(Config { drop_fraction: 0.4, seed: 7, ..Config::default() });
    let dir = tempfile::tempdir().expect("tempdir");
    let state = Arc::new(SqliteStore::open(&dir.path().join("state.db")).expect("state"));
    let text: String = (0..30).map(|i| format!("{}\n", json!({"reference": format!("R{i}"), "k": i}))).collect();
    std::fs::write(dir.path().join("in.ndjson"), text).expect("write input");
    let base = receiver.base_url();
    let yaml = format!(
        r#"name: p
runtime: {{ batch_size: 3 }}
source: {{ id: in, type: file, path: in.ndjson, key: "order:{{{{ record.reference }}}}" }}
sinks:
  - id: erp
    type: http
    url: "{base}/orders"
    body: {{ reference: "{{{{ record.reference }}}}" }}
    max_in_flight: 8
    retry_backoff: 1ms
    idempotency:
      lookup: {{ url: "{base}/orders?reference={{{{ record.reference | urlencode }}}}", found: "$[0]" }}
"#
    );
    let summary = run(dir.path(), &yaml, Some(&state), true);
    assert!(summary.is_success(), "{summary}");
    let stats = receiver.stats();
    assert!(stats.dropped > 0, "some answers were lost");
    assert_eq!(stats.creates.len(), 30);
    assert!(stats.creates.values().all(|&c| c == 1), "{:?}", stats.creates);
    // Again: every record is skipped, nothing is created.
    let summary = run(dir.path(), &yaml, Some(&state), true);
    assert!(summary.is_success(), "{summary}");
    assert_eq!(receiver.stats().total_creates, 30);
}
