//! The rendered text read back by a small parser of the Prometheus text format (0.0.4): every line a
//! `# HELP`, a `# TYPE` before its family's samples, or a sample whose name, labels and value are
//! well formed. The metrics are the process's: each test uses names of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::*;
use crate::state::sqlite::SqliteStore;
use crate::state::{DeadLetterEntry, StateStore};
use crate::telemetry::metrics::{http, rate_limit_paused, rate_limit_waited, unix_now};
use crate::telemetry::nodes::{LiveRecords, RecordCounts, run_started};

#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `l="v",…` into labels, unescaping `\\`, `\"` and `\n`.
fn parse_labels(mut text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    while !text.is_empty() {
        let (name, rest) = text.split_once("=\"").unwrap_or_else(|| panic!("label without a value: {text}"));
        assert!(valid_name(name) && !name.starts_with("__"), "label name `{name}`");
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => panic!("bad escape {other:?} in {rest}"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value: {rest}"),
            }
        };
        assert!(labels.insert(name.to_string(), value).is_none(), "label `{name}` twice");
        text = rest[end + 1..].strip_prefix(',').unwrap_or(&rest[end + 1..]);
    }
    labels
}

/// Every sample of `text`, checking the format as it goes.
fn parse(text: &str) -> Vec<Sample> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(help) = line.strip_prefix("# HELP ") {
            let (name, _) = help.split_once(' ').unwrap_or((help, ""));
            assert!(valid_name(name), "HELP of `{name}`");
        } else if let Some(typed) = line.strip_prefix("# TYPE ") {
            let (name, kind) = typed.split_once(' ').unwrap_or_else(|| panic!("TYPE without a type: {line}"));
            assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind), "type `{kind}`");
            assert!(types.insert(name.to_string(), kind.to_string()).is_none(), "TYPE of `{name}` twice");
        } else if line.starts_with('#') || line.is_empty() {
            assert!(line.is_empty() || line.starts_with("# "), "comment: {line}");
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("sample without a value: {line}"));
            let value = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("value `{v}` in {line}")),
            };
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}').expect("labels end with }"))),
                None => (series, BTreeMap::new()),
            };
            assert!(valid_name(name), "sample name `{name}`");
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| types.get(*f).is_some_and(|t| t == "histogram")))
                .unwrap_or(name);
            assert!(types.contains_key(family), "`{name}` has no TYPE line before it");
            samples.push(Sample { name: name.to_string(), labels, value });
        }
    }
    samples
}

/// The value of the sample `name` whose labels include `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
}

#[derive(Default)]
struct Counts(AtomicU64);

impl LiveRecords for Counts {
    fn records(&self) -> RecordCounts {
        let n = self.0.load(Ordering::Relaxed);
        RecordCounts { received: n, emitted: n - 1, filtered: 1, dead_lettered: 0, delivered: n - 1 }
    }
}

#[test]
fn what_is_recorded_renders_as_prometheus_text() {
    let http = http("shop_render");
    http.answered("POST", Some(201), Duration::from_millis(12));
    http.answered("POST", Some(429), Duration::from_millis(3));
    http.answered("PROPFIND", None, Duration::from_secs(2));
    http.retried(Some(429));
    http.retried(None);
    rate_limit_waited("shop_render_limit", Duration::from_millis(250));
    rate_limit_paused("shop_render_limit");
    let samples = parse(&render(None));
    let request = |method: &str, status: &str| {
        value(
            &samples,
            "weir_http_requests_total",
            &[("connection", "shop_render"), ("method", method), ("status", status)],
        )
    };
    assert_eq!(request("POST", "201"), Some(1.0));
    assert_eq!(request("POST", "429"), Some(1.0));
    assert_eq!(request("other", "none"), Some(1.0), "an unknown method is `other`, no answer `none`");
    let retried =
        |reason| value(&samples, "weir_http_retries_total", &[("connection", "shop_render"), ("reason", reason)]);
    assert_eq!((retried("429"), retried("no_response")), (Some(1.0), Some(1.0)));
    let latency = |suffix: &str, extra: &[(&str, &str)]| {
        let labels: Vec<(&str, &str)> =
            [("connection", "shop_render")].into_iter().chain(extra.iter().copied()).collect();
        value(&samples, &format!("weir_http_request_duration_seconds{suffix}"), &labels)
    };
    assert_eq!(latency("_count", &[]), Some(3.0));
    assert_eq!(latency("_bucket", &[("le", "0.005")]), Some(1.0), "the 3 ms answer");
    assert_eq!(latency("_bucket", &[("le", "0.02")]), Some(2.0));
    assert_eq!(latency("_bucket", &[("le", "+Inf")]), Some(3.0));
    let limit = [("limit", "shop_render_limit")];
    assert_eq!(value(&samples, "weir_rate_limit_waits_total", &limit), Some(1.0));
    assert_eq!(value(&samples, "weir_rate_limit_wait_seconds_total", &limit), Some(0.25));
    assert_eq!(value(&samples, "weir_rate_limit_pauses_total", &limit), Some(1.0));
    assert!(value(&samples, "weir_state_store_up", &[]).is_none(), "no store, no store metrics");
}

#[test]
fn node_counts_are_live_during_a_run_and_kept_after_it() {
    let counts = Arc::new(Counts::default());
    counts.0.store(10, Ordering::Relaxed);
    let nodes = [("erp_render".to_string(), "sink", Arc::clone(&counts) as Arc<dyn LiveRecords>)];
    let run = run_started("nodes_render", nodes);
    let node = [("pipeline", "nodes_render"), ("node", "erp_render"), ("kind", "sink")];
    let samples = parse(&render(None));
    assert_eq!(value(&samples, "weir_records_in_total", &node), Some(10.0), "read live");
    assert_eq!(value(&samples, "weir_records_out_total", &node), Some(9.0), "a sink's out is what it wrote");
    assert_eq!(value(&samples, "weir_runs_in_progress", &[("pipeline", "nodes_render")]), Some(1.0));
    counts.0.store(12, Ordering::Relaxed);
    run.ended("succeeded", Duration::from_millis(1500));
    // A second run of the same pipeline adds to the first one's counts.
    let again = Arc::new(Counts::default());
    again.0.store(5, Ordering::Relaxed);
    let run = run_started("nodes_render", [("erp_render".to_string(), "sink", again as Arc<dyn LiveRecords>)]);
    drop(run);
    let samples = parse(&render(None));
    assert_eq!(value(&samples, "weir_records_in_total", &node), Some(17.0));
    assert_eq!(value(&samples, "weir_records_filtered_total", &node), Some(2.0));
    let pipeline = [("pipeline", "nodes_render")];
    assert_eq!(value(&samples, "weir_runs_total", &[("pipeline", "nodes_render"), ("status", "succeeded")]), Some(1.0));
    assert_eq!(
        value(&samples, "weir_runs_in_progress", &pipeline),
        Some(0.0),
        "a dropped run is no longer in progress"
    );
    assert_eq!(value(&samples, "weir_run_last_duration_seconds", &pipeline), Some(1.5));
    let ended = value(&samples, "weir_run_last_end_timestamp_seconds", &pipeline).expect("the end time");
    assert!((ended - unix_now()).abs() < 3600.0, "a Unix time of today: {ended}");
    assert_eq!(value(&samples, "weir_run_last_success_timestamp_seconds", &pipeline), Some(ended));
}

#[test]
fn the_store_gives_dead_letters_checkpoint_age_and_watermark_lag() {
    let store = SqliteStore::open_in_memory().expect("store");
    for key in ["order:1", "order:2"] {
        let entry = DeadLetterEntry {
            time: crate::clock::now_rfc3339(),
            pipeline: "dlq_render".into(),
            step: "map".into(),
            key: Some(key.into()),
            error: "boom".into(),
            attempts: 1,
            record: serde_json::json!({ "key": key }),
            parent: None,
        };
        store.push_dead_letter(&entry, None).expect("stored");
    }
    let an_hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let watermark = an_hour_ago.format(format).expect("formats");
    store.save_checkpoint("dlq_render", "orders", &serde_json::json!({ "watermark": watermark })).expect("saved");
    store.save_checkpoint("dlq_render", "files", &serde_json::json!({ "offset": 12 })).expect("saved");
    let samples = parse(&render(Some(&store)));
    assert_eq!(value(&samples, "weir_state_store_up", &[]), Some(1.0));
    assert_eq!(value(&samples, "weir_dead_letters", &[("pipeline", "dlq_render")]), Some(2.0));
    let source = |s| [("pipeline", "dlq_render"), ("source", s)];
    let lag = value(&samples, "weir_watermark_lag_seconds", &source("orders")).expect("a time watermark");
    assert!((3590.0..3700.0).contains(&lag), "an hour behind: {lag}");
    assert!(value(&samples, "weir_watermark_lag_seconds", &source("files")).is_none(), "no watermark");
    let age = value(&samples, "weir_checkpoint_age_seconds", &source("files")).expect("saved");
    assert!((-5.0..60.0).contains(&age), "saved just now: {age}");
}

#[test]
fn labels_with_quotes_and_backslashes_are_escaped() {
    http("we\"ird\\name\nx").retried(Some(503));
    let samples = parse(&render(None));
    assert_eq!(value(&samples, "weir_http_retries_total", &[("connection", "we\"ird\\name\nx")]), Some(1.0));
    let names: BTreeSet<&str> = samples.iter().map(|s| s.name.as_str()).collect();
    assert!(names.iter().all(|n| n.starts_with("weir_")), "{names:?}");
}
