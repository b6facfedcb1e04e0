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
use crate::sinks::concurrent::{ConcurrentWrites, WriteFuture};
use crate::sinks::{SinkContext, SinkError};

/// A write the sink started, as the test sees it.
struct Started {
    /// The seq of the batch's first record: which batch this is.
    first: u64,
    /// Completes the write with this result.
    complete: oneshot::Sender<WriteResult>,
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
            let result = verdict.await.unwrap_or_else(|_| Err(SinkError { message: "dropped".into(), retryable: true }.into()));
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
        let sink = tokio::task::spawn_blocking(move || run_sink(ctx, Box::new(sink), rx, dlq, &c, &f, &s));
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
