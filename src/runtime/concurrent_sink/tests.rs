//! Writes in flight, driven by a test-only sink whose writes complete when the test says so: the limit
//! is reached and kept, completions out of order are settled as they come while the acknowledged prefix
//! waits for the first write, one key is never in two writes, a failure drains without starting more,
//! a stop drains everything, and rejections reach the dead-letter output with their reason.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::kernel::ack::{AckTracker, InputPosition};
use crate::kernel::channel::batch_channel;
use crate::kernel::dead_letter::DeadLetterSender;
use crate::kernel::fused::Failure;
use crate::kernel::record::Acks;
use crate::runtime::tasks::run_sink;
use crate::sinks::RecordRejection;
use crate::sinks::concurrent::{ConcurrentWrites, FailedWrite, WriteFuture};
use crate::sinks::{SinkContext, SinkError};

/// A write the sink started, as the test sees it.
struct Started {
    /// The seq of the batch's first record: which batch this is.
    first: u64,
    /// Completes the write with this result.
    complete: oneshot::Sender<WriteOutcome>,
}

/// What the sink saw, checked by the tests after the run.
#[derive(Default)]
struct Probe {
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    /// Keys held by writes in flight, as the sink sees them.
    keys: Mutex<HashSet<String>>,
    /// "start N" and "end N", in order.
    log: Mutex<Vec<String>>,
    /// Broken promises: a key in two writes, a write started after the run failed.
    violations: Mutex<Vec<String>>,
}

impl Probe {
    fn note(&self, line: String) {
        self.log.lock().expect("log").push(line);
    }

    fn violation(&self, what: String) {
        self.violations.lock().expect("violations").push(what);
    }

    fn position(&self, line: &str) -> usize {
        let log = self.log.lock().expect("log");
        log.iter().position(|l| l == line).unwrap_or_else(|| panic!("`{line}` not in {log:?}"))
    }
}

/// The test-only concurrent sink: each write tells the test it started and waits for its verdict.
struct Gated {
    max: usize,
    started: mpsc::UnboundedSender<Started>,
    probe: Arc<Probe>,
    failure: Failure,
}

impl Sink for Gated {
    fn write(&mut self, _batch: &[Record]) -> Result<Vec<RecordRejection>, SinkError> {
        Err(SinkError { message: "writes only in flight".into(), retryable: false })
    }

    fn concurrent(&mut self) -> Option<&mut dyn ConcurrentWrites> {
        Some(self)
    }
}

impl ConcurrentWrites for Gated {
    fn max_in_flight(&self) -> NonZeroUsize {
        NonZeroUsize::new(self.max).unwrap_or(NonZeroUsize::MIN)
    }

    fn start_write(&mut self, batch: Arc<Batch>) -> WriteFuture {
        let probe = Arc::clone(&self.probe);
        let first = batch.first().and_then(|r| r.value["seq"].as_u64()).expect("a batch with a seq");
        let now = probe.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        probe.most_in_flight.fetch_max(now, Ordering::SeqCst);
        if self.failure.is_set() {
            probe.violation(format!("batch {first} started after the run failed"));
        }
        let keys: Vec<String> = batch.iter().filter_map(|r| r.key.as_deref().map(str::to_string)).collect();
        for key in &keys {
            if !probe.keys.lock().expect("keys").insert(key.clone()) {
                probe.violation(format!("key {key} in two writes (batch {first})"));
            }
        }
        probe.note(format!("start {first}"));
        let (complete, verdict) = oneshot::channel();
        self.started.send(Started { first, complete }).expect("the test listens");
        Box::pin(async move {
            let result =
                verdict.await.unwrap_or_else(|_| Err(SinkError { message: "dropped".into(), retryable: true }.into()));
            drop(batch);
            for key in &keys {
                probe.keys.lock().expect("keys").remove(key);
            }
            probe.in_flight.fetch_sub(1, Ordering::SeqCst);
            probe.note(format!("end {first}"));
            result
        })
    }
}

/// A running sink and what the test controls and observes of it.
struct Harness {
    tracker: Arc<AckTracker>,
    failure: Failure,
    stop: Arc<AtomicBool>,
    probe: Arc<Probe>,
    counters: Arc<NodeCounters>,
    started: mpsc::UnboundedReceiver<Started>,
    sink: tokio::task::JoinHandle<()>,
}

impl Harness {
    /// Runs a `Gated` sink keeping `max` writes in flight over one batch per entry of `batches`, each the
    /// keys of its records (`None`: no key); records are numbered in order from 0 (`seq`).
    fn start(max: usize, batches: &[&[Option<&str>]], dlq: DeadLetterSender) -> Self {
        let tracker = AckTracker::new();
        let (tx, rx) = batch_channel(batches.len());
        let mut seq = 0;
        for keys in batches {
            let batch = keys
                .iter()
                .map(|key| {
                    let mut record = Record::new(json!({ "seq": seq }));
                    record.key = key.map(Arc::from);
                    record.acks = Acks::One(tracker.track(InputPosition { stream: 0, seq }));
                    seq += 1;
                    record
                })
                .collect();
            tx.try_send(batch).expect("room for every batch");
        }
        drop(tx);
        let (failure, stop, probe) = (Failure::default(), Arc::new(AtomicBool::new(false)), Arc::new(Probe::default()));
        let counters = Arc::new(NodeCounters::default());
        let (started_tx, started) = mpsc::unbounded_channel();
        let sink = Gated { max, started: started_tx, probe: Arc::clone(&probe), failure: failure.clone() };
        let ctx = SinkContext { pipeline: "p".into(), sink: "out".into(), state: None, run_id: None, resumed: false };
        let (f, s, c) = (failure.clone(), Arc::clone(&stop), Arc::clone(&counters));
        let sink = tokio::task::spawn_blocking(move || run_sink(ctx, Box::new(sink), rx, dlq, &c, &f, &s, None));
        Self { tracker, failure, stop, probe, counters, started, sink }
    }

    /// The next write the sink starts.
    async fn next(&mut self) -> Started {
        self.started.recv().await.expect("another write starts")
    }

    /// The next `n` writes, in the order they started.
    async fn next_n(&mut self, n: usize) -> Vec<Started> {
        let mut writes = Vec::new();
        for _ in 0..n {
            writes.push(self.next().await);
        }
        writes
    }

    /// Completes every write still to start with success, until the sink has finished.
    async fn finish(mut self) -> Self {
        while let Some(write) = self.started.recv().await {
            write.complete.send(Ok(Vec::new())).expect("the write waits");
        }
        (&mut self.sink).await.expect("the sink's thread ends without panicking");
        self
    }

    fn violations(&self) -> Vec<String> {
        self.probe.violations.lock().expect("violations").clone()
    }
}

fn ok(write: Started) {
    write.complete.send(Ok(Vec::new())).expect("the write waits");
}

fn unkeyed(records: usize) -> Vec<Option<&'static str>> {
    vec![None; records]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_writes_in_flight_complete_in_reverse_and_the_prefix_waits_for_the_first() {
    let batch = unkeyed(2);
    let mut h = Harness::start(4, &[&batch[..]; 8], DeadLetterSender::printing("p"));
    let mut first = h.next_n(4).await;
    assert_eq!(first.iter().map(|w| w.first).collect::<Vec<_>>(), [0, 2, 4, 6]);
    assert_eq!(h.probe.most_in_flight.load(Ordering::SeqCst), 4, "the limit is reached");
    // Reverse order. A write starts only after the one that freed its slot was settled, so each start
    // below is the moment to look at the acknowledgements.
    let mut second = Vec::new();
    for expected in [8, 10, 12] {
        ok(first.pop().expect("a write in flight"));
        second.push(h.next().await);
        assert_eq!(second.last().map(|w| w.first), Some(expected));
        assert_eq!(h.tracker.acknowledged_prefix(0), 0, "the first write is still outstanding");
    }
    assert_eq!(h.tracker.summary().delivered, 6, "completions out of order are acknowledged as they come");
    ok(first.pop().expect("the first write"));
    second.push(h.next().await);
    assert_eq!(second.last().map(|w| w.first), Some(14));
    assert_eq!(h.tracker.acknowledged_prefix(0), 8, "the gap closed: the prefix covers the first four writes");
    while let Some(write) = second.pop() {
        ok(write);
    }
    let h = h.finish().await;
    assert_eq!(h.probe.most_in_flight.load(Ordering::SeqCst), 4, "never more than the limit");
    assert!(h.violations().is_empty(), "{:?}", h.violations());
    let summary = h.tracker.summary();
    assert_eq!((summary.delivered, summary.unacknowledged), (16, 0));
    assert_eq!(h.tracker.acknowledged_prefix(0), 16);
    assert!(!h.failure.is_set());
    assert_eq!(h.counters.delivered.load(Ordering::SeqCst), 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_never_in_two_writes_and_its_updates_land_in_order() {
    let (ab, c, a, d) = ([Some("a"), Some("b")], [Some("c")], [Some("a")], [Some("d"), None]);
    let mut h = Harness::start(4, &[&ab[..], &c, &a, &d], DeadLetterSender::printing("p"));
    let [first, second] = <[Started; 2]>::try_from(h.next_n(2).await).unwrap_or_else(|_| unreachable!());
    assert_eq!((first.first, second.first), (0, 2));
    // `a` is held by the first write: the third batch waits for it even though `c`'s write completes
    // and frees a slot, and the fourth (other keys) waits behind it rather than overtake.
    ok(second);
    ok(first);
    let third = h.next().await;
    assert_eq!(third.first, 3);
    ok(third);
    let h = h.finish().await;
    assert!(h.violations().is_empty(), "{:?}", h.violations());
    assert!(h.probe.position("end 0") < h.probe.position("start 3"), "the second update of `a` after the first");
    assert!(h.probe.position("start 3") < h.probe.position("start 4"), "batches start in input order");
    assert_eq!(h.tracker.summary().delivered, 6);
    assert_eq!(h.tracker.acknowledged_prefix(0), 6);
}

#[test]
fn the_key_gate_takes_each_key_once_and_lets_unkeyed_records_through() {
    let record = |key: Option<&str>| {
        let mut r = Record::new(json!({}));
        r.key = key.map(Arc::from);
        r
    };
    let mut gate = KeyGate::default();
    let held = gate.take(&[record(Some("a")), record(Some("a")), record(None), record(Some("b"))]).expect("free");
    assert_eq!(held.len(), 2, "a key twice in one batch is held once");
    assert!(gate.take(&[record(None), record(Some("b"))]).is_none(), "`b` is held");
    assert_eq!(gate.take(&[record(None), record(Some("c"))]).map(|k| k.len()), Some(1));
    gate.release(held);
    assert!(gate.take(&[record(Some("a")), record(Some("b"))]).is_some(), "released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_fails_the_run_drains_the_others_and_starts_no_more() {
    let batch = unkeyed(2);
    let mut h = Harness::start(4, &[&batch[..]; 6], DeadLetterSender::printing("p"));
    let mut writes = h.next_n(4).await.into_iter();
    let (w0, w1, w2, w3) = (writes.next(), writes.next(), writes.next(), writes.next());
    w0.into_iter().for_each(ok);
    // Its slot went to the fifth batch, which is how the test knows the first write was settled.
    let w4 = h.next().await;
    assert_eq!((w4.first, h.tracker.acknowledged_prefix(0)), (8, 2));
    // The second write fails after its first record was written: that one is settled, the other is not.
    let error = SinkError { message: "the target is down".into(), retryable: true };
    let failed = FailedWrite { error, settled: 1, rejected: Vec::new() };
    w1.expect("second").complete.send(Err(failed)).expect("the write waits");
    // The others were written: drained and settled.
    [w3, w2, Some(w4)].into_iter().flatten().for_each(ok);
    let h = h.finish().await;
    assert!(h.failure.take().is_some_and(|e| e.contains("sink `out`: the target is down")));
    assert!(h.violations().is_empty(), "{:?}", h.violations());
    // Whether the sixth batch started depends on whether a success was settled before the failure
    // (then it started before the run failed); nothing starts after it, and nothing is lost.
    let starts = h.probe.log.lock().expect("log").iter().filter(|l| l.starts_with("start")).count();
    assert!((5..=6).contains(&starts), "{starts} writes");
    let summary = h.tracker.summary();
    assert_eq!(summary.delivered, 1 + 2 * (starts as u64 - 1), "every write but the failed one, and its first record");
    assert_eq!(summary.delivered + summary.unacknowledged, 12, "{summary:?}");
    assert_eq!(h.tracker.acknowledged_prefix(0), 3, "up to the failed write's unsettled record, no further");
    assert_eq!(h.counters.received.load(Ordering::SeqCst), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_without_failure_writes_everything_that_arrives() {
    let batch = unkeyed(1);
    let mut h = Harness::start(2, &[&batch[..]; 3], DeadLetterSender::printing("p"));
    let writes = h.next_n(2).await;
    h.stop.store(true, Ordering::SeqCst);
    writes.into_iter().rev().for_each(ok);
    let h = h.finish().await;
    assert!(!h.failure.is_set());
    assert_eq!(h.tracker.summary().delivered, 3, "SIGINT drains: the queued batch is written too");
    assert_eq!(h.tracker.acknowledged_prefix(0), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_of_writes_in_flight_go_to_the_dead_letter_output_with_their_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("dead.ndjson");
    let (first, second) = ([Some("sku:1"), Some("sku:2")], [Some("sku:3"), Some("sku:4")]);
    let mut h = Harness::start(2, &[&first[..], &second], DeadLetterSender::to_file("p", &path));
    let mut writes = h.next_n(2).await.into_iter();
    let (w0, w1) = (writes.next().expect("first"), writes.next().expect("second"));
    w1.complete.send(Ok(vec![(1, "unknown sku".into())])).expect("the write waits");
    // A failed write's settled records are settled as listed, rejections included.
    let error = SinkError { message: "the target is down".into(), retryable: true };
    let failed = FailedWrite { error, settled: 1, rejected: vec![(0, "refused: price below cost".into())] };
    w0.complete.send(Err(failed)).expect("the write waits");
    let h = h.finish().await;
    let entries: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .expect("dead letters written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("an entry per line"))
        .collect();
    let mut found: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| (e["key"].as_str(), e["step"].as_str(), e["error"].as_str()))
        .map(|(k, s, e)| (k.unwrap_or_default().into(), s.unwrap_or_default().into(), e.unwrap_or_default().into()))
        .collect();
    found.sort();
    let expected = [("sku:1", "out", "refused: price below cost"), ("sku:4", "out", "unknown sku")];
    assert_eq!(found, expected.map(|(k, s, e)| (k.to_string(), s.to_string(), e.to_string())));
    let summary = h.tracker.summary();
    assert_eq!((summary.dead_lettered, summary.delivered, summary.unacknowledged), (2, 1, 1), "{summary:?}");
    assert_eq!(h.counters.dead_lettered.load(Ordering::SeqCst), 2);
}
