//! File positions through the kernel's checkpoints: resume after the acknowledged lines, follow
//! appends, start over on replaced files, refuse unreadable positions.

use std::sync::Arc;

use super::*;
use crate::kernel::ack::{AckTracker, InputEnd, InputPosition};
use crate::kernel::checkpoint::Checkpoints;
use crate::state::StateStore;
use crate::state::sqlite::SqliteStore;

fn setup() -> (tempfile::TempDir, Arc<dyn StateStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn StateStore> = Arc::new(SqliteStore::open(&dir.path().join("state.db")).expect("open"));
    (dir, store)
}

/// Reads `path` as one run would: restores the position, registers the file, acknowledges the first
/// `ack` lines, saves.
fn run_once(store: &Arc<dyn StateStore>, path: &Path, ack: usize) -> ResumeAt {
    let tracker = AckTracker::new();
    let cp = Checkpoints::load(Arc::clone(store), "p", "src", Arc::clone(&tracker), false).expect("load");
    let positions =
        Arc::new(FilePositions::restore(cp.saved_position(), &[("in".into(), path.to_path_buf())]).expect("restore"));
    cp.keep(Arc::clone(&positions) as Arc<dyn Resumable>);
    let start = positions.open_stream(0, "in", path, &mut File::open(path).expect("open")).expect("stream");
    assert_eq!(positions.resumes(), start != ResumeAt::default(), "resumes() says what open_stream does");
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
    let saved = store.checkpoint("p", "src").expect("read").expect("saved");
    assert_eq!(saved["files"]["in"]["offset"], serde_json::json!(24), "stored as the `files` field: {saved}");
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
fn unreadable_file_positions_are_an_error() {
    let saved = serde_json::json!({"files": "not a map"});
    let saved = saved.as_object().expect("an object");
    let error = FilePositions::restore(saved, &[]).expect_err("an unreadable position is an error");
    assert!(error.contains("its files"), "{error}");
}

#[test]
fn nothing_acknowledged_saves_nothing_new() {
    let (dir, store) = setup();
    let path = dir.path().join("in.ndjson");
    std::fs::write(&path, "1\n2\n").expect("write");
    run_once(&store, &path, 0);
    assert_eq!(store.checkpoint("p", "src").expect("read"), None);
}
