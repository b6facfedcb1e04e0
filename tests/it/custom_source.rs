//! The `Source` trait from outside the crate: a long-lived async source (shaped like a queue
//! consumer) runs under the runtime, hears each input's outcome through its `AckListener`, keeps an
//! opaque position in the checkpoint, and resumes from it — the runtime knows no source type.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use tokio::sync::Notify;
use weir::api::{
    AckListener, Acknowledged, Chain, Emitter, Execution, Input, InputEnd, InputPosition, Outcome, Resumable,
    RunOptions, Source, SourceContext, SourceError, SourceRun, SqliteStore, StateStore, compile, load_paths,
};

/// Outcomes heard, by message number; wakes the test when `expected` have come in.
#[derive(Default)]
struct Heard {
    outcomes: Mutex<BTreeMap<u64, Outcome>>,
    expected: Mutex<usize>,
    all_in: Notify,
}

impl AckListener for Heard {
    fn completed(&self, position: InputPosition, outcome: Outcome, _reason: Option<&str>) {
        let mut outcomes = self.outcomes.lock().expect("lock");
        outcomes.insert(position.seq, outcome);
        if outcomes.len() >= *self.expected.lock().expect("lock") {
            self.all_in.notify_one();
        }
    }
}

/// The position: the first message not yet acknowledged (messages before it were all settled).
#[derive(Debug)]
struct NextMessage(u64);

impl Resumable for NextMessage {
    fn resumes(&self) -> bool {
        self.0 > 0
    }

    fn position(&self, acknowledged: &Acknowledged) -> Map<String, Value> {
        Map::from_iter([("next".to_string(), json!(self.0 + acknowledged.stream(0).0))])
    }
}

/// A queue of messages (text, as a broker would hand them out); reads from the saved position on,
/// then waits to be stopped like a consumer waiting for more.
#[derive(Debug)]
struct Queue {
    messages: Vec<String>,
    start: u64,
    heard: Arc<HeardHandle>,
}

#[derive(Default)]
struct HeardHandle(Arc<Heard>);

impl std::fmt::Debug for HeardHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Heard")
    }
}

impl Source for Queue {
    fn checkpointed(&self) -> bool {
        true
    }

    fn restore(&mut self, saved: &Map<String, Value>) -> Result<Option<Arc<dyn Resumable>>, String> {
        self.start = match saved.get("next") {
            None => 0,
            Some(v) => v.as_u64().ok_or_else(|| format!("`next` is not a count: {v}"))?,
        };
        Ok(Some(Arc::new(NextMessage(self.start))))
    }

    fn acknowledgements(&self) -> Option<Arc<dyn AckListener>> {
        Some(Arc::clone(&self.heard.0) as Arc<dyn AckListener>)
    }

    fn run(self: Box<Self>, ctx: SourceContext, chain: Chain) -> SourceRun {
        SourceRun::Async(Box::pin(async move {
            let mut emitter = Emitter::collecting(&ctx, chain);
            for (seq, text) in self.messages.iter().enumerate().skip(self.start as usize) {
                // Sequence numbers count from the resume point: the checkpoint adds the acknowledged
                // prefix to it.
                let seq = seq as u64 - self.start;
                let parsed = serde_json::from_str(text).map_err(|e| (format!("message {seq}: {e}"), json!(text)));
                let input = Input {
                    position: InputPosition { stream: 0, seq },
                    parsed,
                    original: None,
                    end: InputEnd::default(),
                    size: text.len(),
                    key: None,
                };
                if !emitter.push(input) || !emitter.send_finished().await {
                    break;
                }
            }
            if !emitter.send_finished().await {
                return Err(SourceError::Read { message: "nothing reads the queue any more".into(), retryable: true });
            }
            drop(emitter);
            ctx.stopped().await;
            Ok(())
        }))
    }
}

const PIPELINE: &str = r#"
name: queue
source: { id: orders, type: file, path: unused.ndjson }
steps:
  - { id: not_two, type: filter, when: "record.n != 2" }
sinks:
  - { id: out, type: file, path: out.ndjson }
"#;

/// Runs the pipeline with `queue` as its source until every message from the saved position on has
/// an outcome, then stops it as SIGTERM would.
fn run(dir: &std::path::Path, store: &Arc<dyn StateStore>, messages: &[String]) -> BTreeMap<u64, Outcome> {
    let file = dir.join("p.yaml");
    std::fs::write(&file, PIPELINE).expect("write pipeline");
    let pipelines = load_paths(&[file], &|n| std::env::var(n).ok()).unwrap_or_else(|d| panic!("{d}"));
    let mut plan = compile(&pipelines[0]).unwrap_or_else(|d| panic!("{d}"));
    let heard = Arc::new(HeardHandle::default());
    let saved_next = store.checkpoint("queue", "orders").expect("read").map_or(0, |c| c["next"].as_u64().unwrap_or(0));
    *heard.0.expected.lock().expect("lock") = messages.len() - saved_next as usize;
    plan.sources[0].source = Box::new(Queue { messages: messages.to_vec(), start: 0, heard: Arc::clone(&heard) });
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let options = RunOptions { state: Some(Arc::clone(store)), ..RunOptions::default() };
    let stop = Arc::clone(&options.stop);
    let summary = rt.block_on(async {
        let execution = Execution::start(plan, options);
        heard.0.all_in.notified().await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        execution.wait().await
    });
    assert!(summary.error.is_none(), "{summary}");
    assert!(summary.balances(), "{summary}");
    heard.0.outcomes.lock().expect("lock").clone()
}

#[test]
fn a_long_lived_source_hears_every_outcome_and_resumes_from_its_own_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn StateStore> = Arc::new(SqliteStore::open(&dir.path().join("state.db")).expect("open"));
    let mut messages: Vec<String> = (0..6).map(|n| json!({ "n": n }).to_string()).collect();
    messages[4] = "{\"n\": 4, oops".into();

    let first = run(dir.path(), &store, &messages);
    let expected = BTreeMap::from([
        (0, Outcome::Delivered),
        (1, Outcome::Delivered),
        (2, Outcome::Filtered),
        (3, Outcome::Delivered),
        (4, Outcome::DeadLettered),
        (5, Outcome::Delivered),
    ]);
    assert_eq!(first, expected, "each message's fate reached the source");
    assert_eq!(
        store.checkpoint("queue", "orders").expect("read").map(|c| c["next"].clone()),
        Some(json!(6)),
        "its own position"
    );
    assert_eq!(store.dead_letters(Some("queue")).expect("read").len(), 1);

    // More messages arrive; the next run reads only those, and the file sink appends.
    messages.extend((6..9).map(|n| json!({ "n": n }).to_string()));
    let second = run(dir.path(), &store, &messages);
    assert_eq!(second.len(), 3, "only the new messages: {second:?}");
    assert!(second.values().all(|o| *o == Outcome::Delivered), "{second:?}");
    assert_eq!(store.checkpoint("queue", "orders").expect("read").map(|c| c["next"].clone()), Some(json!(9)));
    let out = std::fs::read_to_string(dir.path().join("out.ndjson")).expect("read output");
    let written: Vec<i64> =
        out.lines().map(|l| serde_json::from_str::<Value>(l).expect("json")["n"].as_i64().unwrap_or(-1)).collect();
    assert_eq!(written, vec![0, 1, 3, 5, 6, 7, 8], "every message once, in order, none twice");
}

#[test]
fn an_unreadable_position_stops_the_run_before_anything_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn StateStore> = Arc::new(SqliteStore::open(&dir.path().join("state.db")).expect("open"));
    store.save_checkpoint("queue", "orders", &json!({"next": "soon"})).expect("save");
    std::fs::write(dir.path().join("p.yaml"), PIPELINE).expect("write pipeline");
    let pipelines =
        load_paths(&[dir.path().join("p.yaml")], &|n| std::env::var(n).ok()).unwrap_or_else(|d| panic!("{d}"));
    let mut plan = compile(&pipelines[0]).unwrap_or_else(|d| panic!("{d}"));
    let messages = vec![json!({"n": 1}).to_string()];
    plan.sources[0].source = Box::new(Queue { messages, start: 0, heard: Arc::default() });
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let options = RunOptions { state: Some(Arc::clone(&store)), ..RunOptions::default() };
    let summary = rt.block_on(async { Execution::start(plan, options).wait().await });
    let error = summary.error.clone().expect("the run fails");
    assert!(error.contains("`next` is not a count") && error.contains("--from-start"), "{error}");
    assert_eq!(summary.records.received, 0, "nothing read: {summary}");
}
