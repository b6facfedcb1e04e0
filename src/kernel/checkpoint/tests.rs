//! Checkpoints with an opaque source position: the source's fields round-trip, outputs commit with
//! the position that covers them, an unreadable checkpoint stops the run.

use super::*;
use crate::kernel::ack::{InputEnd, InputPosition};
use crate::state::sqlite::SqliteStore;
use serde_json::json;

fn setup() -> (tempfile::TempDir, Arc<dyn StateStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn StateStore> = Arc::new(SqliteStore::open(&dir.path().join("state.db")).expect("open"));
    (dir, store)
}

/// A source position that is the acknowledged count of stream 0 on top of the saved one.
#[derive(Debug)]
struct Counted(u64);

impl Resumable for Counted {
    fn resumes(&self) -> bool {
        self.0 > 0
    }

    fn position(&self, acknowledged: &Acknowledged) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("read".into(), json!(self.0 + acknowledged.stream(0).0));
        fields
    }
}

fn acknowledge(tracker: &Arc<AckTracker>, seq: u64) -> crate::kernel::record::Record {
    let ack = tracker.track_until(InputPosition { stream: 0, seq }, InputEnd { offset: 2 * (seq + 1), lines: seq + 1 });
    let mut record = crate::kernel::record::Record::new(json!(seq));
    record.acks = crate::kernel::record::Acks::One(ack);
    record
}

#[test]
fn the_source_position_is_opaque_and_round_trips() {
    let (_dir, store) = setup();
    let tracker = AckTracker::new();
    let cp = Checkpoints::load(Arc::clone(&store), "p", "src", Arc::clone(&tracker), false).expect("load");
    assert!(cp.saved_position().is_empty());
    cp.keep(Arc::new(Counted(0)));
    for seq in 0..3 {
        let r = acknowledge(&tracker, seq);
        r.mark_delivered();
    }
    assert!(cp.save().expect("save"));
    assert_eq!(store.checkpoint("p", "src").expect("read"), Some(json!({"read": 3})));
    let reloaded = Checkpoints::load(Arc::clone(&store), "p", "src", AckTracker::new(), false).expect("load");
    assert_eq!(reloaded.saved_position().get("read"), Some(&json!(3)));
    assert!(!reloaded.save().expect("save"), "a source that has not taken its position back keeps the saved one");
    assert_eq!(store.checkpoint("p", "src").expect("read"), Some(json!({"read": 3})));
}

#[test]
fn an_unreadable_checkpoint_stops_the_run_instead_of_starting_over() {
    let (_dir, store) = setup();
    for bad in [json!("not an object"), json!({"outputs": {"out": "not a position"}})] {
        store.save_checkpoint("p", "src", &bad).expect("save");
        let error = Checkpoints::load(Arc::clone(&store), "p", "src", AckTracker::new(), false)
            .expect_err("an unreadable checkpoint is an error");
        assert!(error.to_string().contains("--from-start"), "{error}");
        assert!(
            Checkpoints::load(Arc::clone(&store), "p", "src", AckTracker::new(), true).is_ok(),
            "--from-start ignores it"
        );
    }
}

#[test]
fn outputs_are_committed_with_the_position_that_covers_them() {
    let (dir, store) = setup();
    let out = dir.path().join("out.ndjson");
    std::fs::write(&out, "a\nb\n").expect("write output");
    let tracker = AckTracker::new();
    let cp = Checkpoints::load(Arc::clone(&store), "p", "src", Arc::clone(&tracker), false).expect("load");
    cp.keep(Arc::new(Counted(0)));
    cp.expect_output("out");
    let record = acknowledge(&tracker, 0);
    let mut inputs = BatchInputs::default();
    inputs.add(&record);
    record.mark_delivered();
    drop(record);
    assert!(!cp.save().expect("save"), "no save while an output has not opened");
    cp.open_output("out", &out, File::open(&out).expect("open"), 0).expect("registered");
    let saved = store.checkpoint("p", "src").expect("read").expect("saved at once");
    assert_eq!((saved["outputs"]["out"]["len"].clone(), saved.get("read").cloned()), (json!(0), None));
    // The output wrote the first input's record: 2 bytes.
    cp.wrote("out", inputs, 2);
    assert!(cp.save().expect("save"));
    let saved = store.checkpoint("p", "src").expect("read").expect("saved");
    assert_eq!(saved["read"], json!(1));
    assert_eq!(saved["outputs"]["out"]["len"], json!(2));
    let reloaded = Checkpoints::load(store, "p", "src", AckTracker::new(), false).expect("load");
    assert!(!reloaded.saved_position().contains_key("outputs"), "the outputs are the kernel's, not the source's");
    let committed = reloaded.saved_output("out").expect("committed");
    assert!(output_unchanged(&out, &committed).expect("read"));
    std::fs::write(&out, "x\nb\n").expect("edit");
    assert!(!output_unchanged(&out, &committed).expect("read"), "an edit before the length is seen");
}
