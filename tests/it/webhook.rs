//! The webhook source end to end: events accepted through a pipeline's ingress into a real state file,
//! then delivered by `weir run` (a separate process) exactly once — duplicates, a "crash" between
//! accepting and running, and malformed events included; and a following run (as `weir serve` may keep
//! one) that delivers events as they arrive and answers `reply: sync` with each event's outcome.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{Value, json};
use weir::api::{
    AnswerKind, EventInbox, EventOutcome, EventStatus, Execution, IngressAnswer, OutcomeKind, RunOptions, RunSummary,
    SqliteStore, StateStore, WebhookIngress, WebhookRequest, compile, load_paths, webhook_ingress,
};

use crate::support::cli::outcome;

const SECRET: &str = "webhook-secret-for-tests";

const ORDERS: &str = r#"
name: orders
source:
  id: hook
  type: webhook
  auth: { type: hmac, secret: "${secret:HOOK_SECRET}", prefix: "sha256=" }
  event_id: $.id
  on_malformed: dead_letter
steps:
  - { id: real, type: filter, when: "record.kind != 'test'" }
sinks:
  - { id: out, type: file, path: out/orders.ndjson }
"#;

fn env(name: &str) -> Option<String> {
    (name == "HOOK_SECRET").then(|| SECRET.to_string()).or_else(|| std::env::var(name).ok())
}

/// The pipeline's ingress over the folder's state file (where `weir run` keeps its state).
fn ingress(dir: &Path, file: &str) -> (Arc<SqliteStore>, WebhookIngress) {
    let pipelines = load_paths(&[dir.join(file)], &env).unwrap_or_else(|d| panic!("{d}"));
    let store = Arc::new(SqliteStore::open(&dir.join(".weir/state.db")).expect("open the state file"));
    let hook = webhook_ingress(&pipelines[0], Arc::clone(&store) as Arc<dyn StateStore>)
        .expect("a webhook source")
        .expect("it builds");
    (store, hook)
}

fn signed(body: &[u8]) -> HeaderMap {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let mut headers = HeaderMap::new();
    headers.insert("x-signature", HeaderValue::from_str(&format!("sha256={hex}")).expect("header"));
    headers
}

async fn post(hook: &WebhookIngress, headers: &HeaderMap, body: &[u8]) -> IngressAnswer {
    let request = WebhookRequest { method: &Method::POST, query: None, headers, body, received_at: SystemTime::now() };
    hook.accept(request).await
}

fn delivered(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("out/orders.ndjson")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json")["id"].as_str().unwrap_or("?").to_string())
        .collect()
}

fn run(dir: &Path) {
    let mut command = crate::support::cli::command(&["run", "orders.yaml"], dir);
    let out = command.env("HOOK_SECRET", SECRET).output().expect("the weir binary runs");
    let (code, stdout, stderr) = outcome(out);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET), "the secret is never shown");
}

#[test]
fn events_accepted_before_a_crash_are_delivered_once_by_weir_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("orders.yaml"), ORDERS).expect("write pipeline");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (store, hook) = ingress(dir.path(), "orders.yaml");
    rt.block_on(async {
        for body in
            [&br#"{"id":"o-1","kind":"sale"}"#[..], br#"{"id":"o-2","kind":"sale"}"#, br#"{"id":"o-3","kind":"test"}"#]
        {
            assert_eq!(post(&hook, &signed(body), body).await.kind, AnswerKind::Accepted);
        }
        let again = post(&hook, &signed(br#"{"id":"o-2","kind":"sale"}"#), br#"{"id":"o-2","kind":"sale"}"#).await;
        assert_eq!((again.status, again.kind), (StatusCode::OK, AnswerKind::Duplicate));
        let forged = post(&hook, &signed(b"{}"), br#"{"id":"o-9"}"#).await;
        assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
        let broken = b"{\"id\": \"o-4\", oops";
        assert_eq!(post(&hook, &signed(broken), broken).await.kind, AnswerKind::AcceptedMalformed);
    });
    // The "crash": the process holding the ingress goes away without closing anything.
    std::mem::forget(hook);
    std::mem::forget(store);

    run(dir.path());
    assert_eq!(delivered(dir.path()), ["o-1", "o-2"], "each event once; the test one filtered");
    let (store, hook) = ingress(dir.path(), "orders.yaml");
    let status = |id: &str| store.inbox_status("orders", id).expect("status");
    let settled = |kind| EventStatus::Settled(EventOutcome { kind, reason: None });
    assert_eq!(status("o-1"), settled(OutcomeKind::Delivered));
    assert_eq!(status("o-3"), settled(OutcomeKind::Filtered));
    let malformed = store.dead_letters(Some("orders")).expect("dead letters");
    assert_eq!(malformed.len(), 1, "{malformed:?}");
    let Some(EventStatus::Settled(EventOutcome { kind: OutcomeKind::DeadLettered, reason: Some(reason) })) = store
        .inbox_events("orders", 0, None, 10)
        .expect("events")
        .iter()
        .find(|e| e.malformed.is_some())
        .map(|e| status(&e.event_id))
    else {
        panic!("the malformed event is dead-lettered")
    };
    assert!(reason.starts_with("the body is not JSON"), "{reason}");

    // Later: a new event, and a sender retrying one already delivered.
    rt.block_on(async {
        let new = br#"{"id":"o-5","kind":"sale"}"#;
        assert_eq!(post(&hook, &signed(new), new).await.kind, AnswerKind::Accepted);
        let old = br#"{"id":"o-1","kind":"sale"}"#;
        assert_eq!(post(&hook, &signed(old), old).await.kind, AnswerKind::Duplicate);
    });
    run(dir.path());
    assert_eq!(delivered(dir.path()), ["o-1", "o-2", "o-5"]);
    run(dir.path());
    assert_eq!(delivered(dir.path()), ["o-1", "o-2", "o-5"], "nothing new, nothing again");
    let checkpoint = store.checkpoint("orders", "hook").expect("checkpoint").expect("saved");
    assert_eq!(checkpoint["seq"], json!(store.inbox_last_seq("orders").expect("last")));
}

const CHECKOUT: &str = r#"
name: checkout
source:
  id: hook
  type: webhook
  auth: { type: none }
  event_id: $.id
  reply: sync
  sync_timeout: 30s
steps:
  - id: check
    type: template
    value:
      id: "{{ record.id }}"
      postcode: "{{ record.postcode if record.postcode | int < 50000 else fail('postcode ' ~ record.postcode ~ ' is not served') }}"
  - { id: real, type: filter, when: "record.id != 'ping'" }
sinks:
  - { id: out, type: file, path: out.ndjson }
"#;

/// Runs the pipeline of `file` as `weir serve` keeps a following run, posts `bodies` one after the
/// other (each answered once its outcome is known, with `reply: sync`), then stops the run.
fn answers_of_a_following_run(dir: &Path, file: &str, bodies: &[&str]) -> (Arc<SqliteStore>, Vec<Value>, RunSummary) {
    let (store, hook) = ingress(dir, file);
    let pipelines = load_paths(&[dir.join(file)], &env).unwrap_or_else(|d| panic!("{d}"));
    let plan = compile(&pipelines[0]).unwrap_or_else(|d| panic!("{d}"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let state: Arc<dyn StateStore> = store.clone();
    let options = RunOptions { state: Some(state), follow: true, ..RunOptions::default() };
    let stop = Arc::clone(&options.stop);
    let (answers, summary) = rt.block_on(async {
        let execution = Execution::start(plan, options);
        let mut answers = Vec::new();
        for body in bodies {
            let answer = post(&hook, &HeaderMap::new(), body.as_bytes()).await;
            answers.push(serde_json::from_slice::<Value>(&answer.body).expect("json"));
        }
        // The run goes on waiting for events until it is stopped.
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        (answers, execution.wait().await)
    });
    (store, answers, summary)
}

#[test]
fn a_following_run_delivers_events_as_they_arrive_and_answers_with_their_outcome() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("checkout.yaml"), CHECKOUT).expect("write pipeline");
    let bodies =
        [r#"{"id":"c-1","postcode":"10115"}"#, r#"{"id":"c-2","postcode":"60000"}"#, r#"{"id":"ping","postcode":"1"}"#];
    let (store, answers, summary) = answers_of_a_following_run(dir.path(), "checkout.yaml", &bodies);
    assert!(summary.error.is_none() && summary.balances(), "{summary}");
    assert_eq!(answers[0], json!({ "op": "success" }));
    assert_eq!(answers[1]["op"], "exception");
    assert!(answers[1]["message"].as_str().unwrap_or_default().contains("postcode 60000 is not served"), "{answers:?}");
    assert_eq!(answers[2], json!({ "op": "success" }), "filtered is a success");
    let out = std::fs::read_to_string(dir.path().join("out.ndjson")).expect("output");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("c-1"));
    let checkpoint = store.checkpoint("checkout", "hook").expect("checkpoint").expect("saved");
    assert_eq!(checkpoint["seq"], json!(3));
}

/// Adobe Commerce's order hook, each record keyed by its order: the key the dead-letter entries carry is
/// the pipeline's, not the event's id.
const KEYED_CHECKOUT: &str = r#"
name: keyed-checkout
source:
  id: hook
  type: webhook
  auth: { type: none }
  event_id: $.id
  reply: sync
  sync_timeout: 30s
  key: "order:{{ record.data.order.increment_id }}"
steps:
  - id: check
    type: template
    value:
      order: "{{ record.data.order.increment_id }}"
      postcode: "{{ record.data.order.postcode if record.data.order.postcode | int < 50000 else fail('postcode ' ~ record.data.order.postcode ~ ' is not served') }}"
sinks:
  - { id: out, type: file, path: out.ndjson }
"#;

#[test]
fn a_sync_answer_gives_the_dead_letter_reason_whatever_key_the_pipeline_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("checkout.yaml"), KEYED_CHECKOUT).expect("write pipeline");
    let not_served = r#"{"id":"k-2","data":{"order":{"increment_id":"100000002","postcode":"60000"}}}"#;
    let bodies = [
        r#"{"id":"k-1","data":{"order":{"increment_id":"100000001","postcode":"10115"}}}"#,
        not_served,
        // Commerce retrying the same event: answered its recorded outcome.
        not_served,
        // No order number: the record's key cannot be written.
        r#"{"id":"k-3","data":{"order":{"postcode":"10115"}}}"#,
    ];
    let (store, answers, summary) = answers_of_a_following_run(dir.path(), "checkout.yaml", &bodies);
    assert!(summary.error.is_none() && summary.balances(), "{summary}");
    let dead_letters = serde_json::to_value(store.dead_letters(Some("keyed-checkout")).expect("dead letters"))
        .expect("entries as JSON");
    let field = |name: &str| -> Vec<String> {
        dead_letters.as_array().expect("a list").iter().map(|d| d[name].as_str().unwrap_or("-").to_string()).collect()
    };
    let (keys, errors) = (field("key"), field("error"));
    assert_eq!(keys, ["order:100000002", "event:k-3"], "keyed by the pipeline's key when it could be written");
    let exception = |reason: &str| json!({ "op": "exception", "message": reason });
    assert_eq!(answers[0], json!({ "op": "success" }));
    assert_eq!(answers[1], exception(&errors[0]), "{answers:?}");
    assert!(errors[0].contains("postcode 60000 is not served"), "{errors:?}");
    assert_eq!(answers[2], answers[1], "the duplicate is answered the same reason");
    assert_eq!(answers[3], exception(&errors[1]), "{answers:?}");
    assert!(errors[1].starts_with("record key: "), "{errors:?}");
}
