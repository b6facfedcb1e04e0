//! Checkpoints of file positions: resume after the acknowledged lines, follow appends, start over on
//! replaced files, refuse unreadable checkpoints.

use super::*;
use crate::kernel::ack::{InputEnd, InputPosition};
use crate::state::sqlite::SqliteStore;
use serde_json::json;

fn setup() -> (tempfile::TempDir, Arc<dyn StateStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn StateStore> = Arc::new(SqliteStore::open(&dir.path().join("state.db")).expect("open"));
    (dir, store)
}

/// Reads `path` as one run would: registers it, acknowledges the first `ack` lines, saves.
fn run_once(store: &Arc<dyn StateStore>, path: &Path, ack: usize) -> ResumeAt {
    let tracker = AckTracker::new();
    let cp = Checkpoints::load(Arc::clone(store), "p", "src", Arc::clone(&tracker), false).expect("load");
    let start = cp.open_stream(0, "in", path, &mut File::open(path).expect("open")).expect("stream");
    let text = std::fs::read(path).expect("read");
    let mut end = start.offset;
    let lines: Vec<u64> = text[start.offset as usize..]
        .split_inclusive(|b| *b == b'\n')
        .map(|l| {
            end += l.len() as u64;
            end
        })
        .collect();
    for (seq, end) in lines.into_iter().take(ack).enumerate() {
        let end = InputEnd { offset: end, lines: start.lines + seq as u64 + 1 };
        let r = tracker.track_until(InputPosition { stream: 0, seq: seq as u64 }, end);
        r.delivered();
    }
    cp.save().expect("save");
    start
}

#[test]
fn resumes_after_the_acknowledged_lines_and_follows_appends() {
    let (dir, store) = setup();
    let path = dir.path().join("in.ndjson");
    std::fs::write(&path, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n").expect("write");
    assert_eq!(run_once(&store, &path, 2), ResumeAt::default());
    assert_eq!(run_once(&store, &path, 1), ResumeAt { offset: 16, records: 2, lines: 2 });
    // Appended: the same file, resumed after what was read.
    std::fs::write(&path, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n{\"n\":4}\n").expect("append");
    assert_eq!(run_once(&store, &path, 0), ResumeAt { offset: 24, records: 3, lines: 3 });
}

#[test]
fn a_replaced_or_truncated_file_is_read_from_the_start() {
    let (dir, store) = setup();
    let path = dir.path().join("in.csv");
    std::fs::write(&path, "sku,qty\nA,1\nB,2\n").expect("write");
    run_once(&store, &path, 3);
    // Same header, other rows: the bytes before the offset differ.
    std::fs::write(&path, "sku,qty\nC,7\nD,8\nE,9\n").expect("replace");
    assert_eq!(run_once(&store, &path, 0), ResumeAt::default());
    run_once(&store, &path, 4);
    std::fs::write(&path, "sku,qty\n").expect("truncate");
    assert_eq!(run_once(&store, &path, 0), ResumeAt::default());
}

#[test]
fn an_unreadable_checkpoint_stops_the_run_instead_of_starting_over() {
    let (_dir, store) = setup();
    store.save_checkpoint("p", "src", &serde_json::json!({"files": "not a map"})).expect("save");
    let error = Checkpoints::load(Arc::clone(&store), "p", "src", AckTracker::new(), false)
        .expect_err("an unreadable checkpoint is an error");
    assert!(error.to_string().contains("--from-start"), "{error}");
    assert!(Checkpoints::load(store, "p", "src", AckTracker::new(), true).is_ok(), "--from-start ignores it");
}

#[test]
fn nothing_acknowledged_saves_nothing_new() {
    let (dir, store) = setup();
    let path = dir.path().join("in.ndjson");
    std::fs::write(&path, "1\n2\n").expect("write");
    run_once(&store, &path, 0);
    assert_eq!(store.checkpoint("p", "src").expect("read"), None);
}

#[test]
fn outputs_are_committed_with_the_position_that_covers_them() {
    let (dir, store) = setup();
    let path = dir.path().join("in.ndjson");
    std::fs::write(&path, "1\n2\n").expect("write");
    let out = dir.path().join("out.ndjson");
    std::fs::write(&out, "a\nb\n").expect("write output");
    let tracker = AckTracker::new();
    let cp = Checkpoints::load(Arc::clone(&store), "p", "src", Arc::clone(&tracker), false).expect("load");
    cp.open_stream(0, "in", &path, &mut File::open(&path).expect("open")).expect("stream");
    cp.expect_output("out");
    let first = tracker.track_until(InputPosition { stream: 0, seq: 0 }, InputEnd { offset: 2, lines: 1 });
    let mut record = crate::kernel::record::Record::new(serde_json::json!(1));
    record.acks = crate::kernel::record::Acks::One(first);
    let mut inputs = BatchInputs::default();
    inputs.add(&record);
    record.mark_delivered();
    drop(record);
    assert!(!cp.save().expect("save"), "no save while an output has not opened");
    cp.open_output("out", &out, File::open(&out).expect("open"), 0).expect("registered");
    let saved = store.checkpoint("p", "src").expect("read").expect("saved at once");
    assert_eq!((saved["outputs"]["out"]["len"].clone(), saved.get("files").cloned()), (json!(0), Some(json!({}))));
    // The output wrote the first input's record: 2 bytes.
    cp.wrote("out", inputs, 2);
    assert!(cp.save().expect("save"));
    let saved = store.checkpoint("p", "src").expect("read").expect("saved");
    assert_eq!(saved["files"]["in"]["offset"], json!(2));
    assert_eq!(saved["outputs"]["out"]["len"], json!(2));
    let reloaded = Checkpoints::load(store, "p", "src", AckTracker::new(), false).expect("load");
    let committed = reloaded.saved_output("out").expect("committed");
    assert!(output_unchanged(&out, &committed).expect("read"));
    std::fs::write(&out, "x\nb\n").expect("edit");
    assert!(!output_unchanged(&out, &committed).expect("read"), "an edit before the length is seen");
}
