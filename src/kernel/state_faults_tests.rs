//! Faults of the state store itself (a unit test of the kernel: it drives the dead-letter sender and
//! the checkpoints directly, which the public API does not offer): when it is full (a size-limited state file, which SQLite reports
//! exactly like a full disk), dead-letter entries and checkpoints are not written, the records concerned
//! stay unacknowledged, nothing stored before is damaged, and everything resumes once space returns.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::kernel::ack::{AckTracker, InputEnd, InputPosition};
use crate::kernel::checkpoint::{Checkpoints, Resumable};
use crate::kernel::dead_letter::{DeadLetterEntry, DeadLetterSender};
use crate::kernel::record::{Acks, Record};
use crate::sources::file::FilePositions;
use crate::state::sqlite::SqliteStore;
use crate::state::{StateError, StateStore};
use serde_json::json;

/// Fills the store up to a size limit a little above its current size.
fn full_store(dir: &std::path::Path) -> Arc<SqliteStore> {
    let store = Arc::new(SqliteStore::open(&dir.join("state.db")).expect("open"));
    store.save_checkpoint("p", "in", &json!({"files": {}})).expect("first checkpoint");
    let size = store.size().expect("size");
    store.set_size_limit(Some(size + 16 * 1024)).expect("limit");
    let filler = DeadLetterEntry {
        time: "t".into(),
        pipeline: "p".into(),
        step: "s".into(),
        key: None,
        error: "filler".into(),
        attempts: 1,
        record: json!("x".repeat(2000)),
        parent: None,
    };
    for _ in 0..100 {
        if let Err(e) = store.push_dead_letter(&filler, None) {
            assert!(matches!(e, StateError::Full(_)), "{e:?}");
            return store;
        }
    }
    panic!("the size limit never filled up");
}

fn integrity(path: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check")
}

fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < Duration::from_secs(60), "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_dead_letter_waits_for_space_unacknowledged_then_lands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = full_store(dir.path());
    let before = store.dead_letters(None).expect("list").len();
    let dlq = DeadLetterSender::to_store("p", store.clone(), None, Arc::new(AtomicBool::new(false)));
    let tracker = AckTracker::new();
    let mut record = Record::new(json!({"id": 7, "payload": "y".repeat(20_000)}));
    record.key = Some("order:7".into());
    record.acks = Acks::One(tracker.track(InputPosition { stream: 0, seq: 0 }));

    let sender = dlq.clone();
    let writer = std::thread::spawn(move || sender.send(record, "map", "boom"));
    wait_until("the dead letter met the full store twice", || dlq.retried() >= 2);
    let waiting = tracker.summary();
    assert_eq!((waiting.dead_lettered, waiting.in_flight()), (0, 1), "not acknowledged while the store is full");
    assert_eq!(integrity(&dir.path().join("state.db")), "ok");
    assert_eq!(store.dead_letters(None).expect("list").len(), before, "nothing half-written");

    store.set_size_limit(None).expect("space returns");
    writer.join().expect("the writer finishes once there is space");
    assert_eq!(tracker.summary().dead_lettered, 1);
    let entries = store.dead_letters(None).expect("list");
    assert_eq!(entries.len(), before + 1);
    assert_eq!(entries.last().map(|e| e.entry.key.as_deref()), Some(Some("order:7")));
    assert_eq!(integrity(&dir.path().join("state.db")), "ok");
}

#[test]
fn a_checkpoint_does_not_advance_while_the_store_is_full() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.ndjson");
    // Long lines: the checkpoint of a file name this long needs more space than is left.
    let name_part = "n".repeat(4000);
    std::fs::write(&input, "{\"n\":1}\n{\"n\":2}\n").expect("write");
    let store = full_store(dir.path());
    let tracker = AckTracker::new();
    let checkpoints =
        Checkpoints::load(store.clone() as Arc<dyn StateStore>, "p", "in", Arc::clone(&tracker), false).expect("load");
    let key = format!("{name_part}.ndjson");
    let positions = Arc::new(FilePositions::restore(checkpoints.saved_position(), &[]).expect("nothing saved"));
    checkpoints.keep(Arc::clone(&positions) as Arc<dyn Resumable>);
    positions.open_stream(0, &key, &input, &mut std::fs::File::open(&input).expect("open")).expect("stream");
    let first = tracker.track_until(InputPosition { stream: 0, seq: 0 }, InputEnd { offset: 8, lines: 1 });
    first.delivered();
    drop(first);

    let error = checkpoints.save().expect_err("no space for the new position");
    assert!(error.is_retryable(), "{error:?}");
    assert_eq!(store.checkpoint("p", "in").expect("read"), Some(json!({"files": {}})), "the old position stays");
    assert_eq!(integrity(&dir.path().join("state.db")), "ok");

    store.set_size_limit(None).expect("space returns");
    assert!(checkpoints.save().expect("saved once there is space"));
    let saved = store.checkpoint("p", "in").expect("read").expect("saved");
    assert_eq!(saved["files"][key.as_str()]["offset"], json!(8));
    assert_eq!(saved["files"][key.as_str()]["records"], json!(1));
}
