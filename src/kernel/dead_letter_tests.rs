//! Unit tests of the dead-letter output (`kernel::dead_letter`).

use super::*;
use crate::kernel::ack::{AckTracker, InputPosition};
use crate::kernel::record::Acks;

#[test]
fn writes_entry_then_acknowledges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("dlq/p.ndjson");
    let dlq = DeadLetterSender::to_file("p", &path);
    let tracker = AckTracker::new();
    let mut record = Record::new(serde_json::json!({"a": 1}));
    record.acks = Acks::One(tracker.track(InputPosition { stream: 0, seq: 0 }));
    record.key = Some("k1".into());
    dlq.send(record, "map", "boom");
    assert_eq!(tracker.summary().dead_lettered, 1);
    let text = std::fs::read_to_string(&path).expect("written");
    let entry: DeadLetterEntry = serde_json::from_str(text.trim()).expect("json");
    assert_eq!((entry.step.as_str(), entry.key.as_deref(), entry.error.as_str()), ("map", Some("k1"), "boom"));
    assert_eq!(entry.record, serde_json::json!({"a": 1}));
}

#[test]
fn unwritable_path_leaves_input_unacknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").expect("write");
    let dlq = DeadLetterSender::to_file("p", &blocker.join("sub/dlq.ndjson"));
    let tracker = AckTracker::new();
    let mut record = Record::new(serde_json::json!(1));
    record.acks = Acks::One(tracker.track(InputPosition { stream: 0, seq: 0 }));
    dlq.send(record, "s", "e");
    assert_eq!(tracker.summary().unacknowledged, 1);
    assert_eq!(dlq.failed(), 1);
}

#[test]
fn a_record_the_store_cannot_hold_is_stored_truncated_instead_of_failing_every_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(crate::state::sqlite::SqliteStore::open(&dir.path().join("s.db")).expect("open"));
    // The store takes at most ~64 KiB more: it stands in for SQLite's 1 GB limit on one value.
    store.set_size_limit(Some(store.size().expect("size") + 64 * 1024)).expect("limit");
    let send = |dlq: &DeadLetterSender| {
        let tracker = AckTracker::new();
        let mut record = Record::new(serde_json::json!({"blob": "x".repeat(200_000)}));
        record.acks = Acks::One(tracker.track(InputPosition { stream: 0, seq: 0 }));
        dlq.send(record, "map", "in.ndjson:7: boom");
        tracker.summary()
    };
    let stop = Arc::new(AtomicBool::new(true));
    let whole = DeadLetterSender::to_store("p", store.clone(), None, Arc::clone(&stop));
    assert_eq!(send(&whole).unacknowledged, 1, "too big for the store: the run would fail on it every time");
    let capped = DeadLetterSender::to_store("p", store.clone(), None, stop).with_max_record(4096);
    assert_eq!(send(&capped).dead_lettered, 1);
    let stored = store.dead_letters(None).expect("list");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].entry.record[TRUNCATED]["bytes"], serde_json::json!(200_011));
    assert!(stored[0].entry.error.starts_with("in.ndjson:7: boom; the record (200011 bytes)"), "{stored:?}");
}
