//! Unit tests of the `http` step: build errors, and the cache's bounds. Requests are tested against
//! local servers in `tests/it/http_step.rs`.

use serde_json::{Value, json};

use super::HttpStepConfig;
use super::cache::{AnswerCache, Found};
use crate::transforms::testing::context;

fn build_errors(cfg: Value) -> Vec<(String, String)> {
    let cfg: HttpStepConfig = serde_json::from_value(cfg).expect("valid config");
    match cfg.build(&context()) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(|d| (d.field.join("."), d.message.clone())).collect(),
    }
}

#[test]
fn every_problem_is_reported_at_its_key() {
    let errors = build_errors(json!({
        "url": "http://127.0.0.1:1/x/{{ record.sku }}",
        "method": "GET",
        "graphql": {"query": "{ a }"},
        "body": {"a": 1},
        "select": "$[",
        "into": "$..a",
        "on_status": {"6xx": "retry"},
    }));
    let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
    for field in ["graphql", "method", "select", "into", "on_status"] {
        assert!(fields.contains(&field), "{field} missing from {errors:?}");
    }
    let query = build_errors(json!({"url": "http://127.0.0.1:1/x", "into": "c", "query": {"q": "{{ record. }}"}}));
    assert_eq!(query.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(), ["query.q"], "{query:?}");
    assert_eq!(build_errors(json!({"url": "http://127.0.0.1:1/c", "into": "c"})), Vec::<(String, String)>::new());
    assert_eq!(build_errors(json!({"url": "ftp://x", "into": "c"}))[0].0, "url");
}

#[test]
fn the_cache_keeps_within_its_entries_and_bytes_least_recently_used_out_first() {
    let mut cache = AnswerCache::new(2, 1000);
    cache.put("a".into(), &Found::Value(json!(1)));
    cache.put("b".into(), &Found::Missing("404".into()));
    assert_eq!(cache.get("a"), Some(Found::Value(json!(1))));
    cache.put("c".into(), &Found::Value(json!(3)));
    assert_eq!(cache.get("b"), None, "b was the least recently used");
    assert_eq!(cache.size(), (2, 4));
    assert_eq!(cache.hits, 1);

    let mut cache = AnswerCache::new(100, 20);
    cache.put("k1".into(), &Found::Value(json!("12345678")));
    cache.put("k2".into(), &Found::Value(json!("12345678")));
    assert_eq!(cache.size(), (1, 12), "two entries of 12 bytes exceed 20: the older one goes");
    assert_eq!(cache.get("k1"), None);
    cache.put("big".into(), &Found::Value(json!("a value longer than the whole budget")));
    assert_eq!(cache.get("big"), None, "larger than the budget: not kept");
    assert_eq!(cache.size(), (1, 12));

    let mut off = AnswerCache::new(0, 1000);
    off.put("a".into(), &Found::Value(json!(1)));
    assert_eq!(off.get("a"), None);
}
