//! The `reconcile` step over right-hand sets written to a temporary folder: each kind of finding, the
//! comparison's options, what is rejected or fatal, and how the inputs of findings are acknowledged.

use super::*;
use crate::kernel::ack::{AckTracker, InputPosition};
use crate::kernel::record::Acks;
use crate::transforms::testing::{context, run, values};
use serde_json::json;

/// A step reading `right` (NDJSON lines, written to a temporary folder), with `extra` config keys.
fn step(dir: &tempfile::TempDir, right: &[Value], extra: Value) -> Reconcile {
    let text: String = right.iter().map(|v| format!("{v}\n")).collect();
    std::fs::write(dir.path().join("right.ndjson"), text).expect("write right set");
    over(dir, "right.ndjson", extra)
}

/// A step whose right-hand set is `file` of the folder (which need not exist).
fn over(dir: &tempfile::TempDir, file: &str, extra: Value) -> Reconcile {
    let mut cfg = json!({
        "right": {"path": dir.path().join(file).display().to_string()},
        "left_key": "{{ record.sku }}",
        "right_key": "{{ record.sku }}",
    });
    extra.as_object().into_iter().flatten().for_each(|(k, v)| cfg[k] = v.clone());
    serde_json::from_value::<ReconcileConfig>(cfg).expect("valid config").build(&context()).expect("builds")
}

fn report(s: &Reconcile) -> Vec<(&'static str, u64)> {
    s.report().expect("reconcile reports").0
}

#[test]
fn each_kind_of_finding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let right = [json!({"sku": "A", "qty": 5.0}), json!({"sku": "B", "qty": 7}), json!({"sku": "R", "qty": 1})];
    let mut s = step(&dir, &right, json!({}));
    let out =
        run(&mut s, vec![json!({"sku": "A", "qty": 5}), json!({"sku": "B", "qty": 6}), json!({"sku": "L", "qty": 2})]);
    assert_eq!(
        values(&out),
        vec![
            json!({"kind": "different", "key": "B", "left": {"sku": "B", "qty": 6}, "right": {"sku": "B", "qty": 7},
                   "differences": [{"field": "qty", "left": 6, "right": 7}]}),
            json!({"kind": "missing_right", "key": "L", "left": {"sku": "L", "qty": 2}, "right": null, "differences": []}),
            json!({"kind": "missing_left", "key": "R", "left": null, "right": {"sku": "R", "qty": 1}, "differences": []}),
        ]
    );
    assert_eq!(out.filtered, 1, "A is the same on both sides (5 == 5.0) and filtered");
    assert_eq!(out.records[2].key.as_deref(), Some("R"), "a missing_left finding is keyed by its key");
    assert_eq!(report(&s), vec![("matching", 1), ("different", 1), ("missing_left", 1), ("missing_right", 1)]);
}

#[test]
fn emit_matching_passes_matching_findings_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = step(&dir, &[json!({"sku": "A", "qty": 1})], json!({"emit_matching": true}));
    let out = run(&mut s, vec![json!({"sku": "A", "qty": 1.0})]);
    assert_eq!(out.filtered, 0);
    assert_eq!(values(&out)[0]["kind"], json!("matching"));
    assert_eq!(values(&out)[0]["differences"], json!([]));
}

#[test]
fn tolerance_and_renamed_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    let right = [json!({"sku": "A", "quantity": 10.4, "status": 1}), json!({"sku": "B", "quantity": 11, "status": 1})];
    let compare = json!({"compare": [{"left": "qty", "right": "quantity"}, "status"], "tolerance": 0.5});
    let mut s = step(&dir, &right, compare);
    let out =
        run(&mut s, vec![json!({"sku": "A", "qty": 10, "status": 1}), json!({"sku": "B", "qty": 10, "status": 1})]);
    assert_eq!(out.filtered, 1, "A is within the tolerance");
    assert_eq!(
        values(&out),
        vec![json!({"kind": "different", "key": "B", "left": {"sku": "B", "qty": 10, "status": 1},
        "right": {"sku": "B", "quantity": 11, "status": 1}, "differences": [{"field": "qty", "left": 10, "right": 11}]})]
    );
}

#[test]
fn compare_omitted_compares_every_top_level_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = step(&dir, &[json!({"sku": "A", "qty": 1, "extra": true})], json!({}));
    let out = run(&mut s, vec![json!({"sku": "A", "qty": 1})]);
    assert_eq!(values(&out)[0]["differences"], json!([{"field": "extra", "left": null, "right": true}]));
}

#[test]
fn a_duplicate_left_key_is_rejected_and_a_bad_left_key_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = step(&dir, &[json!({"sku": "A"})], json!({}));
    let out = run(&mut s, vec![json!({"sku": "A"}), json!({"sku": "A", "n": 2}), json!({"no_sku": 1})]);
    assert_eq!(out.filtered, 1);
    assert_eq!(out.rejected.len(), 2);
    assert_eq!(out.rejected[0].record.value, json!({"sku": "A", "n": 2}));
    assert_eq!(out.rejected[0].error, "duplicate left key `A`: an earlier record has the same key");
    assert!(out.rejected[1].error.starts_with("left_key: "), "{}", out.rejected[1].error);
    assert!(out.records.is_empty(), "A was seen on the left, so it is not missing_left");
}

#[test]
fn the_right_set_is_read_at_run_time_and_any_problem_with_it_is_fatal() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Building reads nothing, so a missing file is no build error.
    let mut s = over(&dir, "absent.ndjson", json!({}));
    let out = run(&mut s, vec![json!({"sku": "A"})]);
    let fatal = out.fatal.expect("fatal");
    assert!(fatal.starts_with("reading the right-hand set: no file matches"), "{fatal}");
    assert!(out.records.is_empty() && out.rejected.is_empty() && out.filtered == 0);

    let mut s = step(&dir, &[json!({"sku": "A"}), json!({"sku": "B"}), json!({"sku": "A"})], json!({}));
    let fatal = run(&mut s, vec![]).fatal.expect("fatal");
    assert!(fatal.contains("key `A` appears twice: record 1 of `"), "{fatal}");
    assert!(fatal.ends_with("right.ndjson`"), "{fatal}");

    let mut s = step(&dir, &[json!({"sku": "A"}), json!({"id": 2})], json!({}));
    let fatal = run(&mut s, vec![json!({"sku": "A"})]).fatal.expect("fatal");
    assert!(fatal.contains("right_key of record 2 of `"), "{fatal}");

    std::fs::write(dir.path().join("right.ndjson"), "{\"sku\": \"A\"}\n{broken\n").expect("write");
    let fatal = run(&mut over(&dir, "right.ndjson", json!({})), vec![]).fatal.expect("fatal");
    assert!(fatal.contains("right.ndjson:2: invalid JSON"), "{fatal}");
}

#[test]
fn an_incomplete_input_reports_no_missing_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = step(&dir, &[json!({"sku": "A"}), json!({"sku": "B"}), json!({"sku": "C"})], json!({}));
    let mut out = Output::default();
    s.process(vec![Record::new(json!({"sku": "A"}))], &mut out);
    s.input_incomplete();
    s.flush(&mut out);
    assert!(out.records.is_empty(), "{:?}", values(&out));
    assert_eq!(report(&s).last(), Some(&("right_not_checked", 2)));
}

#[test]
fn inputs_of_findings_are_acknowledged_by_the_sink_and_matches_as_filtered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = step(&dir, &[json!({"sku": "A", "q": 1}), json!({"sku": "B", "q": 1}), json!({"sku": "R"})], json!({}));
    let tracker = AckTracker::new();
    let batch: Vec<Record> = [json!({"sku": "A", "q": 1}), json!({"sku": "B", "q": 2}), json!({"sku": "L"})]
        .into_iter()
        .enumerate()
        .map(|(i, v)| Record {
            acks: Acks::One(tracker.track(InputPosition { stream: 0, seq: i as u64 })),
            ..Record::new(v)
        })
        .collect();
    let mut out = Output::default();
    s.process(batch, &mut out);
    s.flush(&mut out);
    assert_eq!(out.records.len(), 3);
    assert!(matches!(out.records[2].acks, Acks::None), "missing_left stands for no input");
    out.records.iter().for_each(Record::mark_delivered);
    drop(out);
    let summary = tracker.summary();
    assert_eq!((summary.received, summary.delivered, summary.filtered, summary.in_flight()), (3, 2, 1, 0));
}
