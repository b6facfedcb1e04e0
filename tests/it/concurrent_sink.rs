//! A sink with writes in flight, run by the executor with a state store: writes complete out of order
//! and one fails, yet the saved checkpoint covers only the contiguous prefix of acknowledged inputs, so
//! the next run reads again from the first input the failed write held — not from after the last write
//! that succeeded.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use weir::api::{
    Batch, ConcurrentWrites, Execution, Plan, Record, RecordRejection, RunOptions, Sink, SinkError, SqliteStore,
    StateStore, WriteFuture, WriteOutcome, compile, load_paths,
};

/// A started write: the `n` of its records, and how to complete it.
struct Started {
    records: Vec<u64>,
    complete: oneshot::Sender<WriteOutcome>,
}

/// A sink keeping `max` writes in flight, each completed by the test.
struct Gated {
    max: NonZeroUsize,
    started: mpsc::UnboundedSender<Started>,
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
        self.max
    }

    fn start_write(&mut self, batch: Arc<Batch>) -> WriteFuture {
        let records = batch.iter().filter_map(|r| r.value["n"].as_u64()).collect();
        let (complete, verdict) = oneshot::channel();
        self.started.send(Started { records, complete }).expect("the test listens");
        Box::pin(async move {
            let down = || SinkError { message: "the test went away".into(), retryable: true };
            verdict.await.unwrap_or_else(|_| Err(down().into()))
        })
    }
}

fn load_plan(dir: &Path) -> Plan {
    let file = dir.join("p.yaml");
    let yaml = r#"
name: p
runtime: { batch_size: 2 }
source: { id: in, type: file, path: in.ndjson, key: "n:{{ record.n }}" }
sinks:
  - { id: out, type: file, path: out.ndjson }
"#;
    std::fs::write(&file, yaml).expect("write pipeline");
    let pipelines = load_paths(&[file], &|n| std::env::var(n).ok()).unwrap_or_else(|d| panic!("{d}"));
    compile(&pipelines[0]).unwrap_or_else(|d| panic!("{d}"))
}

#[test]
fn the_checkpoint_stops_before_a_failed_write_whatever_completed_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines: String = (0..10).map(|n| format!("{{\"n\":{n}}}\n")).collect();
    std::fs::write(dir.path().join("in.ndjson"), lines).expect("write input");
    let store: Arc<dyn StateStore> = Arc::new(SqliteStore::open(&dir.path().join("state.db")).expect("open state"));
    let options = || RunOptions { state: Some(Arc::clone(&store)), ..RunOptions::default() };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");

    let mut plan = load_plan(dir.path());
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let max = NonZeroUsize::new(4).expect("4");
    plan.sinks[0].sink = Box::new(Gated { max, started: started_tx });
    let first = rt.block_on(async {
        let run = tokio::spawn(Execution::start(plan, options()).wait());
        let mut writes = Vec::new();
        for _ in 0..4 {
            writes.push(started.recv().await.expect("four writes start"));
        }
        writes.sort_by_key(|w| w.records.first().copied());
        let mut writes = writes.into_iter();
        let (opening, failing) = (writes.next().expect("first"), writes.next().expect("second"));
        assert_eq!(opening.records, [0, 1], "{:?}", opening.records);
        opening.complete.send(Ok(Vec::new())).expect("the write waits");
        // The first write's slot goes to the fifth batch once the first is settled.
        let fifth = started.recv().await.expect("the fifth write starts");
        assert_eq!(fifth.records, [8, 9]);
        let error = SinkError { message: "the target is down".into(), retryable: true };
        failing.complete.send(Err(error.into())).expect("the write waits");
        // The writes after the failed one succeed, in reverse order, after the failure: delivered, but
        // beyond the gap the failed write left.
        for write in [fifth].into_iter().chain(writes.rev()) {
            write.complete.send(Ok(Vec::new())).expect("the write waits");
        }
        assert!(started.recv().await.is_none(), "no batch is left to start");
        run.await.expect("the run ends")
    });
    assert!(first.error.as_deref().is_some_and(|e| e.contains("the target is down")), "{first}");
    let books = (first.records.delivered, first.records.unacknowledged);
    assert_eq!(books, (8, 2), "every write but the failed one was delivered: {first}");

    // The next run resumes from the saved checkpoint: right after the first write, the only contiguous
    // prefix of acknowledged inputs, although inputs after the failed write were delivered.
    let second = rt.block_on(async { Execution::start(load_plan(dir.path()), options()).wait().await });
    assert!(second.is_success(), "{second}");
    assert_eq!(second.records.received, 8, "{second}");
    let out = std::fs::read_to_string(dir.path().join("out.ndjson")).expect("output");
    let read: Vec<u64> = out.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()?["n"].as_u64()).collect();
    assert_eq!(read, (2..10).collect::<Vec<_>>());
}
