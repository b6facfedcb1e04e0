//! Telemetry end to end: a pipeline through an `http` sink against a loopback API that answers some
//! 429s, 500s and a 422, then the metrics text holds that pipeline's node counts, the connection's
//! statuses, retries and latency, the rate limit's waits and the dead letters in the state store;
//! and `weir run` with JSON logs at `trace` writes the run's fields and a record's key, never a
//! secret of the connection.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use weir::api::{Execution, RunOptions, SqliteStore, StateStore, compile, load_paths, render_metrics};

use crate::support::stub::{Requests, Seen, Stub};

/// How the API answers an order: `flaky-…` 500 and `busy-…` 429 the first time, `bad-…` 422 (with
/// the request's `Authorization` header in the body, as a careless API would), others 201.
fn answer(seen: &Seen, requests: &Requests) -> (u16, Value) {
    let reference = seen.body["reference"].as_str().unwrap_or_default().to_string();
    let earlier = requests.all().iter().filter(|s| s.index < seen.index && s.body["reference"] == reference).count();
    let authorization = seen.headers.get("authorization").cloned().unwrap_or_default();
    match reference.split('-').next() {
        Some("flaky") if earlier == 0 => (500, json!({"message": "try again"})),
        Some("busy") if earlier == 0 => (429, json!({"message": "slow down"})),
        Some("bad") => (422, json!({"message": "invalid order", "seen": authorization})),
        _ => (201, json!({"id": seen.index, "reference": reference})),
    }
}

/// A folder with the connection `connection` to `api` (rate limited by `limit`, 5 per second, its
/// token `${secret:TELEMETRY_TOKEN}`) and the pipeline `name` sending `orders.ndjson` to it.
fn folder(dir: &Path, api: &Stub, name: &str, connection: &str, limit: &str) -> std::path::PathBuf {
    std::fs::write(
        dir.join("connections.yaml"),
        format!(
            "rate_limits:\n  {limit}: {{ per_second: 5 }}\nconnections:\n  {connection}:\n    type: http\n    \
             base_url: \"{}\"\n    rate_limit: {limit}\n    auth: {{ type: bearer, token: \"${{secret:TELEMETRY_TOKEN}}\" }}\n    \
             headers: {{ X-Api-Key: \"${{secret:TELEMETRY_KEY}}\" }}\n",
            api.base_url()
        ),
    )
    .expect("write connections");
    let orders: String = ["ok-1", "ok-2", "flaky-1", "busy-1", "bad-1"]
        .iter()
        .map(|r| format!("{}\n", json!({ "reference": r })))
        .collect();
    std::fs::write(dir.join("orders.ndjson"), orders).expect("write orders");
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &file,
        format!(
            "name: {name}\nsource: {{ id: orders, type: file, path: orders.ndjson, key: \"order:{{{{ record.reference }}}}\" }}\n\
             sinks:\n  - id: erp_orders\n    type: http\n    connection: {connection}\n    path: /orders\n    \
             body: {{ reference: \"{{{{ record.reference }}}}\" }}\n    retry: {{ max_attempts: 3, initial: 10ms }}\n"
        ),
    )
    .expect("write pipeline");
    file
}

const TOKEN: &str = "tel-t0ken-\"quoted\"-5ecret";
const KEY: &str = "tel-api-key-9c8b7a";

fn secrets(name: &str) -> Option<String> {
    match name {
        "TELEMETRY_TOKEN" => Some(TOKEN.into()),
        "TELEMETRY_KEY" => Some(KEY.into()),
        _ => std::env::var(name).ok(),
    }
}

/// The value of the sample `name{…}` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (sample_name, rest) = series.split_once('{').unwrap_or((series, "}"));
        let all = labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        (sample_name == name && all).then(|| value.parse().ok()).flatten()
    })
}

#[test]
fn the_metrics_count_an_http_sinks_records_answers_retries_and_dead_letters() {
    let api = Stub::start(answer);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = folder(dir.path(), &api, "telemetry_orders", "telemetry_shop", "telemetry_limit");
    let pipelines = load_paths(&[file], &secrets).unwrap_or_else(|d| panic!("{d}"));
    let plan = compile(&pipelines[0]).unwrap_or_else(|d| panic!("{d}"));
    let store = Arc::new(SqliteStore::open(&dir.path().join("state.db")).expect("state"));
    let state = Some(Arc::clone(&store) as Arc<dyn StateStore>);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let summary =
        rt.block_on(async { Execution::start(plan, RunOptions { state, ..RunOptions::default() }).wait().await });
    assert!(summary.is_success(), "{summary}");
    assert_eq!((summary.records.delivered, summary.records.dead_lettered), (4, 1), "{summary}");

    let text = render_metrics(Some(&*store));
    let node = |kind| {
        [
            ("pipeline", "telemetry_orders"),
            ("node", if kind == "sink" { "erp_orders" } else { "orders" }),
            ("kind", kind),
        ]
    };
    assert_eq!(sample(&text, "weir_records_out_total", &node("source")), Some(5.0), "{text}");
    assert_eq!(sample(&text, "weir_records_in_total", &node("sink")), Some(5.0), "{text}");
    assert_eq!(sample(&text, "weir_records_out_total", &node("sink")), Some(4.0), "{text}");
    assert_eq!(sample(&text, "weir_records_dead_lettered_total", &node("sink")), Some(1.0), "{text}");
    let status = |code| {
        sample(
            &text,
            "weir_http_requests_total",
            &[("connection", "telemetry_shop"), ("method", "POST"), ("status", code)],
        )
    };
    assert_eq!(
        (status("201"), status("500"), status("429"), status("422")),
        (Some(4.0), Some(1.0), Some(1.0), Some(1.0)),
        "{text}"
    );
    let retries =
        |reason| sample(&text, "weir_http_retries_total", &[("connection", "telemetry_shop"), ("reason", reason)]);
    assert_eq!((retries("500"), retries("429")), (Some(1.0), Some(1.0)), "{text}");
    let latency = [("connection", "telemetry_shop")];
    assert_eq!(sample(&text, "weir_http_request_duration_seconds_count", &latency), Some(7.0), "{text}");
    // Seven requests at five a second, one at a time: all but the first wait for their permit.
    let waits = sample(&text, "weir_rate_limit_waits_total", &[("limit", "telemetry_limit")]).unwrap_or(0.0);
    assert!(waits >= 1.0, "{text}");
    assert_eq!(
        sample(&text, "weir_runs_total", &[("pipeline", "telemetry_orders"), ("status", "succeeded")]),
        Some(1.0)
    );
    assert_eq!(sample(&text, "weir_dead_letters", &[("pipeline", "telemetry_orders")]), Some(1.0), "{text}");
    assert_eq!(sample(&text, "weir_state_store_up", &[]), Some(1.0), "{text}");
    assert!(!text.contains("order:") && !text.contains("/orders"), "no record key or URL in a label: {text}");
}

#[test]
fn json_logs_carry_the_run_node_and_key_and_never_a_secret() {
    let api = Stub::start(answer);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = folder(dir.path(), &api, "telemetry_logs", "logs_shop", "logs_limit");
    let out = crate::support::cli::command(&["run", "--quiet", file.to_str().expect("a UTF-8 path")], dir.path())
        .env("WEIR_LOG", "trace")
        .env("WEIR_LOG_FORMAT", "json")
        .env("TELEMETRY_TOKEN", TOKEN)
        .env("TELEMETRY_KEY", KEY)
        .output()
        .expect("the weir binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    // Whole, JSON-escaped (once or twice) or cut: no part of a secret is in the logs.
    for fragment in [TOKEN, KEY, "t0ken", "5ecret", "9c8b7a"] {
        assert!(!stderr.contains(fragment), "`{fragment}` is in the logs");
    }
    let dead = lines
        .iter()
        .find(|l| l["message"] == "record dead-lettered")
        .unwrap_or_else(|| panic!("no dead-letter event: {stderr}"));
    assert_eq!(dead["key"], "order:bad-1");
    let span = &dead["span"];
    assert_eq!(
        (&span["pipeline"], &span["node"], &span["kind"]),
        (&json!("telemetry_logs"), &json!("erp_orders"), &json!("sink"))
    );
    assert!(span["run_id"].is_i64(), "{dead}");
    assert!(dead["reason"].as_str().is_some_and(|r| r.contains("***")), "the echoed token is masked: {dead}");
    let retry = lines
        .iter()
        .find(|l| l["message"] == "sending the request again" && l["key"] == "order:flaky-1")
        .unwrap_or_else(|| panic!("no retry event for flaky-1: {stderr}"));
    assert_eq!((&retry["connection"], &retry["status"]), (&json!("logs_shop"), &json!(500)));
    let finished = lines.iter().find(|l| l["message"] == "run finished").unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!((&finished["status"], &finished["span"]["pipeline"]), (&json!("succeeded"), &json!("telemetry_logs")));
}
