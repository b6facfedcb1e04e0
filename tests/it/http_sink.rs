//! The `http` sink against a real HTTP receiver on 127.0.0.1: idempotent creates, captured ids read by a
//! later pipeline's template, changed payloads reported, rejections dead-lettered with their status,
//! 409 taken as "already there", lost responses and timeouts resolved by the lookup, secrets masked.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::support::receiver::{Config, Receiver};
use serde_json::{Value, json};
use weir::api::{
    AuditEntry, Execution, IntentId, PriorIntent, RunOptions, RunSummary, SqliteStore, StateStore, compile, load_paths,
};

const TOKEN: &str = "tok-5ecret-9f8e7d";

/// Runs `yaml` (written as `name.yaml` in `dir`) to the end with `state`; `${secret:ERP_TOKEN}` is
/// [`TOKEN`]. Every run reads its whole input (`from_start`), as after a lost checkpoint: what these
/// tests check is that the sink itself never creates a key twice.
fn run(dir: &Path, name: &str, yaml: &str, state: Option<&Arc<SqliteStore>>) -> RunSummary {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).expect("write pipeline");
    let env = |n: &str| if n == "ERP_TOKEN" { Some(TOKEN.to_string()) } else { std::env::var(n).ok() };
    let pipelines = load_paths(&[file], &env).unwrap_or_else(|d| panic!("{d}"));
    let plan = compile(&pipelines[0]).unwrap_or_else(|d| panic!("{d}"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let state = state.map(|s| Arc::clone(s) as Arc<dyn StateStore>);
    rt.block_on(async {
        Execution::start(plan, RunOptions { state, from_start: true, ..RunOptions::default() }).wait().await
    })
}

fn write_orders(dir: &Path, orders: &[(&str, u32)]) {
    let text: String =
        orders.iter().map(|(r, qty)| format!("{}\n", json!({"reference": r, "qty": qty, "note": "x"}))).collect();
    std::fs::write(dir.join("orders.ndjson"), text).expect("write input");
}

fn store(dir: &Path) -> Arc<SqliteStore> {
    Arc::new(SqliteStore::open(&dir.join("state.db")).expect("open state"))
}

/// The start of a pipeline reading `orders.ndjson`, keyed `order:REFERENCE`, dead letters in `dead.ndjson`.
fn header(name: &str) -> String {
    format!(
        "name: {name}\nsource: {{ id: in, type: file, path: orders.ndjson, key: \"order:{{{{ record.reference }}}}\" }}\n\
         dead_letter: {{ path: dead.ndjson }}\n"
    )
}

/// An idempotent order sink into `receiver`; `extra` is appended to the sink (indented 4).
fn order_pipeline(name: &str, sink_id: &str, receiver: &Receiver, extra: &str) -> String {
    let base = receiver.base_url();
    format!(
        r#"{header}
sinks:
  - id: {sink_id}
    type: http
    url: "{base}/orders"
    body: {{ reference: "{{{{ record.reference }}}}", qty: "{{{{ record.qty }}}}" }}
    timeout: 2s
    retry_backoff: 1ms
    idempotency:
      lookup:
        url: "{base}/orders?reference={{{{ record.reference | urlencode }}}}"
        found: "$[0]"
    capture: {{ erp_order_id: "$.id" }}
{extra}"#,
        header = header(name)
    )
}

/// A temporary folder, a receiver configured by `config`, and a state store in the folder.
fn fixture(config: Config) -> (tempfile::TempDir, Receiver, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = store(dir.path());
    (dir, Receiver::start(config), state)
}

/// The reason of a `dead_lettered` audit entry.
fn reason(entry: &AuditEntry) -> String {
    entry.detail.as_ref().and_then(|d| d["reason"].as_str()).expect("a reason").to_string()
}

fn actions(trail: &[AuditEntry]) -> Vec<&str> {
    trail.iter().map(|e| e.action.as_str()).collect()
}

#[test]
fn creates_once_captures_ids_and_a_later_template_reads_them() {
    let (dir, receiver, state) = fixture(Config::default());
    write_orders(dir.path(), &[("R1", 1), ("R2", 2), ("R3", 3)]);
    let yaml = order_pipeline("push", "erp_order", &receiver, "");
    let summary = run(dir.path(), "push", &yaml, Some(&state));
    assert!(summary.is_success(), "{summary}");
    assert_eq!(summary.records.delivered, 3);
    let stats = receiver.stats();
    assert_eq!(stats.total_creates, 3);
    let ids = state.ids("order:R2").expect("ids");
    let order_id = ids.get("erp_order_id").cloned().expect("erp_order_id captured");
    assert_eq!(stats.orders[&order_id.as_u64().expect("numeric id")]["reference"], json!("R2"));

    // Again: nothing is sent, every record is skipped.
    let summary = run(dir.path(), "push", &yaml, Some(&state));
    assert!(summary.is_success(), "{summary}");
    assert_eq!(summary.records.delivered, 3);
    assert_eq!(receiver.stats().total_creates, 3, "a second run creates nothing");
    let trail = state.trace("order:R2").expect("trace");
    assert_eq!(actions(&trail), ["created", "skipped"]);
    assert_eq!(trail[0].target, format!("POST {}/orders", receiver.base_url()));
    assert_eq!(trail[0].detail.as_ref().expect("detail")["status"], json!(201));

    // A later pipeline reads the captured id for its record's key, and by any key.
    let summary = run(
        dir.path(),
        "confirm",
        r#"
name: confirm
source: { id: in, type: file, path: orders.ndjson, key: "order:{{ record.reference }}" }
steps:
  - id: shape
    type: template
    value:
      reference: "{{ record.reference }}"
      erp_id: "{{ ids.erp_order_id }}"
      first_erp_id: "{{ ids_for('order:R1').erp_order_id }}"
      unknown: "{{ ids.nope is defined }}"
sinks:
  - { id: out, type: file, path: confirmed.ndjson }
"#,
        Some(&state),
    );
    assert!(summary.is_success(), "{summary}");
    let lines: Vec<Value> = std::fs::read_to_string(dir.path().join("confirmed.ndjson"))
        .expect("output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let r1 = state.ids("order:R1").expect("ids")["erp_order_id"].clone();
    assert_eq!(lines[1], json!({"reference": "R2", "erp_id": order_id, "first_erp_id": r1, "unknown": false}));
}

#[test]
fn a_template_reading_ids_without_a_state_store_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_orders(dir.path(), &[("R1", 1)]);
    let yaml = header("ids")
        + r#"
steps:
  - { id: shape, type: template, value: { erp_id: "{{ ids.erp_order_id }}" } }
sinks:
  - { id: out, type: file, path: out.ndjson }
"#;
    let summary = run(dir.path(), "ids", &yaml, None);
    assert_eq!(summary.records.dead_lettered, 1, "{summary}");
    let dead = std::fs::read_to_string(dir.path().join("dead.ndjson")).expect("dead letters");
    assert!(dead.contains("needs the state store"), "{dead}");
}

#[test]
fn a_changed_payload_is_reported_and_not_sent_again() {
    let (dir, receiver, state) = fixture(Config::default());
    let yaml = order_pipeline("push", "erp_order", &receiver, "");
    write_orders(dir.path(), &[("R1", 1), ("R2", 2)]);
    assert!(run(dir.path(), "push", &yaml, Some(&state)).is_success());
    write_orders(dir.path(), &[("R1", 1), ("R2", 5)]);
    let summary = run(dir.path(), "push", &yaml, Some(&state));
    assert!(summary.is_success(), "{summary}");
    assert_eq!((summary.records.delivered, summary.records.dead_lettered), (1, 1), "{summary}");
    assert_eq!(receiver.stats().total_creates, 2, "the changed order is not sent again");
    let trail = state.trace("order:R2").expect("trace");
    assert_eq!(actions(&trail), ["created", "dead_lettered"]);
    let reason = reason(&trail[1]);
    let id = state.ids("order:R2").expect("ids")["erp_order_id"].clone();
    assert!(reason.starts_with(&format!("payload changed since it was created as erp_order_id={id}")), "{reason}");
}

#[test]
fn rejections_are_dead_lettered_with_their_status_and_secrets_stay_masked() {
    let (dir, receiver, state) = fixture(Config::default());
    std::fs::write(
        dir.path().join("connections.yaml"),
        format!(
            "connections:\n  erp:\n    type: http\n    base_url: \"{}\"\n    headers: {{ Authorization: \"Bearer ${{secret:ERP_TOKEN}}\" }}\n",
            receiver.base_url()
        ),
    )
    .expect("write connections");
    write_orders(dir.path(), &[("R1", 1), ("reject-2", 2)]);
    let yaml = header("push")
        + r#"
sinks:
  - id: erp_order
    type: http
    connection: erp
    path: /orders
    idempotency:
      lookup: { path: "/orders?reference={{ record.reference | urlencode }}", found: "$[0]" }
"#;
    let summary = run(dir.path(), "push", &yaml, Some(&state));
    assert!(summary.is_success(), "{summary}");
    assert_eq!((summary.records.delivered, summary.records.dead_lettered), (1, 1), "{summary}");
    let stats = receiver.stats();
    assert!(stats.authorizations.iter().all(|a| a == &format!("Bearer {TOKEN}")), "the token is sent");
    let trail = state.trace("order:reject-2").expect("trace");
    assert_eq!(actions(&trail), ["dead_lettered"]);
    let detail = trail[0].detail.clone().expect("detail");
    assert_eq!(detail["status"], json!(422));
    let dead = std::fs::read_to_string(dir.path().join("dead.ndjson")).expect("dead letters");
    for text in [dead.as_str(), &detail.to_string()] {
        assert!(text.contains("HTTP 422") && text.contains("customer unknown"), "{text}");
        assert!(text.contains("Bearer ***") && !text.contains(TOKEN), "the token is masked: {text}");
    }
    // A definite rejection forgets the intent: once fixed, the record is created.
    let again = run(dir.path(), "push", &yaml, Some(&state));
    assert_eq!(again.records.dead_lettered, 1, "still rejected, and tried again: {again}");
    assert_eq!(actions(&state.trace("order:reject-2").expect("trace")), ["dead_lettered", "dead_lettered"]);
}

#[test]
fn a_conflict_means_the_target_has_it_and_the_lookup_supplies_the_ids() {
    let (dir, receiver, state) = fixture(Config { conflict_on_duplicate: true, ..Config::default() });
    write_orders(dir.path(), &[("R1", 1)]);
    // Another system (here: another sink id, with its own intents) created R1 first.
    assert!(run(dir.path(), "other", &order_pipeline("other", "first", &receiver, ""), Some(&state)).is_success());
    let first_id = state.ids("order:R1").expect("ids")["erp_order_id"].clone();
    let other = tempfile::tempdir().expect("tempdir");
    write_orders(other.path(), &[("R1", 1)]);
    let fresh = store(other.path());
    let summary = run(other.path(), "push", &order_pipeline("push", "erp_order", &receiver, ""), Some(&fresh));
    assert!(summary.is_success(), "{summary}");
    assert_eq!(summary.records.delivered, 1);
    assert_eq!(receiver.stats().creates["R1"], 1);
    let trail = fresh.trace("order:R1").expect("trace");
    assert_eq!(actions(&trail), ["found"]);
    let detail = trail[0].detail.clone().expect("detail");
    assert_eq!((detail["via"].clone(), detail["status"].clone()), (json!("conflict"), json!(409)));
    assert_eq!(fresh.ids("order:R1").expect("ids")["erp_order_id"], first_id, "ids from the lookup");
}

#[test]
fn lost_responses_are_resolved_by_the_lookup_without_creating_twice() {
    let (dir, receiver, state) = fixture(Config { drop_fraction: 1.0, ..Config::default() });
    write_orders(dir.path(), &[("R1", 1), ("R2", 2), ("R3", 3)]);
    let summary = run(dir.path(), "push", &order_pipeline("push", "erp_order", &receiver, ""), Some(&state));
    assert!(summary.is_success(), "{summary}");
    let stats = receiver.stats();
    assert_eq!((stats.total_creates, stats.dropped, stats.lookups_found), (3, 3, 3));
    let trail = state.trace("order:R3").expect("trace");
    assert_eq!(actions(&trail), ["found"]);
    assert_eq!(trail[0].detail.as_ref().expect("detail")["via"], json!("lookup"));
    assert!(state.ids("order:R3").expect("ids").contains_key("erp_order_id"));
}

#[test]
fn a_timeout_fails_the_run_retryably_and_the_next_run_finds_what_was_created() {
    let (dir, receiver, state) = fixture(Config { slow: Duration::from_millis(1500), ..Config::default() });
    write_orders(dir.path(), &[("R1", 1), ("slow-2", 2), ("R3", 3)]);
    let yaml =
        order_pipeline("push", "erp_order", &receiver, "    retries: 0\n").replace("timeout: 2s", "timeout: 300ms");
    let summary = run(dir.path(), "push", &yaml, Some(&state));
    let error = summary.error.clone().expect("the run fails");
    assert!(error.contains("timed out") && error.contains("stays unacknowledged"), "{error}");
    assert_eq!(summary.records.delivered, 1, "R1, created before the timeout, is acknowledged: {summary}");
    assert!(receiver.wait_until(Duration::from_secs(10), |s| s.open_connections == 0 && s.total_creates == 2));

    let summary = run(dir.path(), "push", &yaml, Some(&state));
    assert!(summary.is_success(), "{summary}");
    let stats = receiver.stats();
    assert_eq!(stats.creates.values().copied().collect::<Vec<_>>(), [1, 1, 1], "{:?}", stats.creates);
    assert_eq!(actions(&state.trace("order:slow-2").expect("trace")), ["found"]);
    assert_eq!(actions(&state.trace("order:R1").expect("trace")), ["created", "skipped"]);
}

#[test]
fn an_idempotent_sink_refuses_to_start_without_a_state_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = Receiver::start(Config::default());
    write_orders(dir.path(), &[("R1", 1)]);
    let summary = run(dir.path(), "push", &order_pipeline("push", "erp_order", &receiver, ""), None);
    let error = summary.error.clone().expect("the run fails");
    assert!(error.contains("`idempotency` needs the state store") && error.contains("--state"), "{error}");
    assert_eq!(receiver.stats().total_creates, 0);
}

#[test]
fn a_pending_intent_for_an_earlier_payload_is_looked_up_before_anything_is_sent() {
    let (dir, receiver, state) = fixture(Config::default());
    // R2 exists at the target already (created by another sink, with its own intents).
    write_orders(dir.path(), &[("R2", 2)]);
    assert!(run(dir.path(), "seed", &order_pipeline("seed", "first", &receiver, ""), Some(&state)).is_success());
    // Earlier attempts with another payload left both intents pending.
    for key in ["order:R1", "order:R2"] {
        let id = IntentId { pipeline: "push".into(), sink: "erp_order".into(), key: key.into() };
        assert_eq!(state.begin_intent(&id, "sha256:earlier").expect("begin"), PriorIntent::None);
    }
    write_orders(dir.path(), &[("R1", 1), ("R2", 2)]);
    let yaml = order_pipeline("push", "erp_order", &receiver, "");
    let summary = run(dir.path(), "push", &yaml, Some(&state));
    assert!(summary.is_success(), "{summary}");
    assert_eq!((summary.records.delivered, summary.records.dead_lettered), (1, 1), "{summary}");
    let stats = receiver.stats();
    assert_eq!((stats.creates["R1"], stats.creates["R2"]), (1, 1));
    assert_eq!((stats.lookups_missed, stats.lookups_found), (1, 1));
    // R1 was not at the target: created with the current payload, which its intent now stands for.
    assert_eq!(actions(&state.trace("order:R1").expect("trace")), ["created"]);
    // R2 was: the target keeps what the earlier attempt sent, and the new payload is reported.
    let trail = state.trace("order:R2").expect("trace");
    assert_eq!(actions(&trail), ["created", "found", "dead_lettered"]);
    let reason = reason(&trail[2]);
    assert!(reason.starts_with("payload changed since it was created as erp_order_id="), "{reason}");

    let again = run(dir.path(), "push", &yaml, Some(&state));
    assert_eq!((again.records.delivered, again.records.dead_lettered), (1, 1), "{again}");
    assert_eq!(actions(&state.trace("order:R1").expect("trace")), ["created", "skipped"]);
    assert_eq!(receiver.stats().total_creates, 2);
}

#[test]
fn without_idempotency_every_run_sends_again() {
    let (dir, receiver, state) = fixture(Config::default());
    write_orders(dir.path(), &[("R1", 1)]);
    let yaml = header("plain")
        + &format!(
            "sinks:\n  - {{ id: erp, type: http, url: \"{}/orders\", capture: {{ erp_order_id: \"$.id\" }} }}\n",
            receiver.base_url()
        );
    for _ in 0..2 {
        let summary = run(dir.path(), "plain", &yaml, Some(&state));
        assert!(summary.is_success(), "{summary}");
    }
    assert_eq!(receiver.stats().creates["R1"], 2, "at least once: sent by each run");
    assert_eq!(actions(&state.trace("order:R1").expect("trace")), ["sent", "sent"]);
    assert_eq!(state.ids("order:R1").expect("ids")["erp_order_id"], json!(2), "the latest id");
    let body = &receiver.stats().orders[&1];
    assert_eq!(body, &json!({"reference": "R1", "qty": 1, "note": "x"}), "the record is the default body");
}

#[test]
fn a_redirected_create_keeps_its_intent_and_is_looked_up_before_it_is_sent_again() {
    // Post/redirect/get: the target created the order and answered 303. Redirects are not followed, so
    // the record is dead-lettered — but the order exists, and sending the record again must find it.
    let (dir, receiver, state) = fixture(Config::default());
    write_orders(dir.path(), &[("redirect-1", 1)]);
    let yaml = order_pipeline("push", "erp_order", &receiver, "");
    let summary = run(dir.path(), "push", &yaml, Some(&state));
    assert_eq!(summary.records.dead_lettered, 1, "{summary}");
    let trail = state.trace("order:redirect-1").expect("trace");
    assert!(reason(&trail[0]).contains("HTTP 303"), "{trail:?}");

    let again = run(dir.path(), "push", &yaml, Some(&state));
    assert!(again.is_success(), "{again}");
    assert_eq!(receiver.stats().creates["redirect-1"], 1, "created once");
    assert_eq!(actions(&state.trace("order:redirect-1").expect("trace")), ["dead_lettered", "found"]);
}

#[test]
fn a_lookup_answering_a_page_that_is_not_json_does_not_count_as_not_found() {
    let (dir, receiver, state) = fixture(Config::default());
    // html-1 exists at the target (created by another sink), and an earlier attempt of this sink left
    // its intent pending; the lookup answers 200 with an HTML page, which says nothing about the order.
    write_orders(dir.path(), &[("html-1", 1)]);
    assert!(run(dir.path(), "seed", &order_pipeline("seed", "first", &receiver, ""), Some(&state)).is_success());
    let id = IntentId { pipeline: "push".into(), sink: "erp_order".into(), key: "order:html-1".into() };
    assert_eq!(state.begin_intent(&id, "sha256:earlier").expect("begin"), PriorIntent::None);

    let summary = run(dir.path(), "push", &order_pipeline("push", "erp_order", &receiver, ""), Some(&state));
    assert_eq!(receiver.stats().creates["html-1"], 1, "not created again: {summary}");
    assert_eq!(summary.records.dead_lettered, 1, "{summary}");
    let trail = state.trace("order:html-1").expect("trace");
    let reason = reason(trail.last().expect("an entry"));
    assert!(reason.contains("not JSON") && reason.contains("Please sign in"), "{reason}");
    assert!(
        matches!(state.begin_intent(&id, "sha256:earlier").expect("begin"), PriorIntent::Pending { .. }),
        "still pending"
    );
}

#[test]
fn a_failed_run_acknowledges_what_it_created_whatever_the_batch_size() {
    for batch_size in [256, 7, 1] {
        let (dir, receiver, state) = fixture(Config::default());
        let refs: Vec<String> = (1..=50).map(|i| if i == 30 { "down-30".into() } else { format!("R{i}") }).collect();
        write_orders(dir.path(), &refs.iter().map(|r| (r.as_str(), 1)).collect::<Vec<_>>());
        let yaml = format!(
            "{}runtime: {{ batch_size: {batch_size} }}\n",
            order_pipeline("push", "erp_order", &receiver, "    retries: 0\n")
        );
        let summary = run(dir.path(), "push", &yaml, Some(&state));
        assert!(summary.error.is_some(), "{summary}");
        assert_eq!(receiver.stats().total_creates, 29, "batch {batch_size}");
        assert_eq!(summary.records.delivered, 29, "batch {batch_size}: the 29 created are delivered: {summary}");
        assert_eq!(actions(&state.trace("order:R29").expect("trace")), ["created"]);
    }
}

#[test]
fn a_connections_auth_goes_with_every_request_and_its_secret_stays_masked() {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("weir:{TOKEN}"));
    for (auth, sent) in [
        ("{ type: bearer, token: \"${secret:ERP_TOKEN}\" }", format!("Bearer {TOKEN}")),
        ("{ type: basic, username: weir, password: \"${secret:ERP_TOKEN}\" }", format!("Basic {basic}")),
        ("{ type: header, name: Authorization, value: \"Token ${secret:ERP_TOKEN}\" }", format!("Token {TOKEN}")),
        (
            "{ type: oauth1, consumer_key: ck, consumer_secret: \"${secret:ERP_TOKEN}\", token: t, token_secret: ts }",
            "OAuth ".to_string(),
        ),
    ] {
        let (dir, receiver, state) = fixture(Config::default());
        std::fs::write(
            dir.path().join("connections.yaml"),
            format!(
                "connections:\n  erp:\n    type: http\n    base_url: \"{}\"\n    auth: {auth}\n",
                receiver.base_url()
            ),
        )
        .expect("write connections");
        write_orders(dir.path(), &[("R1", 1), ("reject-2", 2)]);
        let yaml = header("push") + "sinks:\n  - { id: erp_order, type: http, connection: erp, path: /orders }\n";
        let summary = run(dir.path(), "push", &yaml, Some(&state));
        assert_eq!((summary.records.delivered, summary.records.dead_lettered), (1, 1), "{auth}: {summary}");
        let stats = receiver.stats();
        assert_eq!(stats.authorizations.len(), 2, "{auth}");
        assert!(stats.authorizations.iter().all(|a| a.starts_with(&sent)), "{auth}: {:?}", stats.authorizations);
        // The receiver echoes the header in its 422: the dead letter must not hold the secret.
        let dead = std::fs::read_to_string(dir.path().join("dead.ndjson")).expect("dead letters");
        assert!(dead.contains("HTTP 422") && !dead.contains(TOKEN), "{auth}: {dead}");
        if auth.contains("basic") {
            assert!(!dead.contains(&basic), "the encoded password is masked too: {dead}");
        }
    }
}

/// Writes `connections.yaml` with an `erp` connection into `receiver` that names the rate limit
/// `api: LIMIT`.
fn limited_connection(dir: &Path, receiver: &Receiver, limit: &str) {
    let text = format!(
        "connections:\n  erp:\n    type: http\n    base_url: \"{}\"\n    rate_limit: api\nrate_limits:\n  api: {limit}\n",
        receiver.base_url()
    );
    std::fs::write(dir.join("connections.yaml"), text).expect("write connections");
}

#[test]
fn a_429_with_retry_after_pauses_the_whole_rate_limit() {
    let (dir, receiver, state) = fixture(Config::default());
    limited_connection(dir.path(), &receiver, "{ per_second: 1000, burst: 10 }");
    write_orders(dir.path(), &[("busy-1", 1), ("R2", 2), ("R3", 3)]);
    let yaml = header("push")
        + "sinks:\n  - { id: erp_order, type: http, connection: erp, path: /orders, retry_backoff: 10ms }\n";
    let summary = run(dir.path(), "push", &yaml, Some(&state));
    assert!(summary.is_success(), "{summary}");
    assert_eq!(summary.records.delivered, 3, "{summary}");
    let times = receiver.stats().create_times;
    assert_eq!(times.len(), 4, "the 429, then busy-1, R2 and R3");
    // The retry waited for the server's second, not for the sink's 10 ms backoff; so did the next record.
    assert!(times[1] - times[0] >= Duration::from_secs(1), "{:?}", times[1] - times[0]);
    assert!(times[2] >= times[1] && times[3] >= times[2]);
}

#[test]
fn requests_in_flight_wait_out_a_429() {
    let (dir, receiver, state) = fixture(Config::default());
    limited_connection(dir.path(), &receiver, "{ per_second: 1000, burst: 10 }");
    // `busy-1` is answered 429 with `Retry-After: 1` once.
    write_orders(dir.path(), &[("busy-1", 1), ("R2", 2), ("R3", 3), ("R4", 4)]);
    let yaml = header("push")
        + "sinks:\n  - { id: erp_order, type: http, connection: erp, path: /orders, retry_backoff: 10ms, max_in_flight: 4 }\n";
    let summary = run(dir.path(), "push", &yaml, Some(&state));
    assert!(summary.is_success(), "{summary}");
    assert_eq!(summary.records.delivered, 4, "{summary}");
    let stats = receiver.stats();
    let mut times = stats.create_times.clone();
    times.sort();
    let span = times[times.len() - 1] - times[0];
    assert!(span >= Duration::from_secs(1), "the 429's retry waited for the server's second: {span:?}");
    assert_eq!(actions(&state.trace("order:busy-1").expect("trace")), ["sent"]);
    assert_eq!(stats.total_creates, 4, "every order once");
}

#[test]
fn over_30_seconds_the_rate_stays_within_5_percent_of_the_limit_and_never_above_limit_plus_burst() {
    let (dir, receiver, state) = fixture(Config::default());
    let (per_second, burst) = (20u32, 5u32);
    limited_connection(dir.path(), &receiver, &format!("{{ per_second: {per_second}, burst: {burst} }}"));
    // The burst, then 30 seconds at the rate.
    let n = (burst + per_second * 30) as usize;
    let names: Vec<String> = (0..n).map(|i| format!("R{i}")).collect();
    let orders: Vec<(&str, u32)> = names.iter().map(|r| (r.as_str(), 1)).collect();
    write_orders(dir.path(), &orders);
    // Four requests in flight: the limit, not one request's round trip on a busy machine, sets the pace.
    let yaml = header("push")
        + "sinks:\n  - { id: erp_order, type: http, connection: erp, path: /orders, max_in_flight: 4 }\n";
    let summary = run(dir.path(), "push", &yaml, Some(&state));
    assert!(summary.is_success(), "{summary}");
    let mut times = receiver.stats().create_times;
    times.sort();
    assert_eq!(times.len(), n);
    // After the burst, the steady rate: within 5% of the limit.
    let steady = &times[burst as usize..];
    let span = (steady[steady.len() - 1] - steady[0]).as_secs_f64();
    let rate = (steady.len() - 1) as f64 / span;
    assert!(
        (rate - f64::from(per_second)).abs() <= 0.05 * f64::from(per_second),
        "{rate:.2} requests/s over {span:.1} s"
    );
    // No window of one second ever holds more than limit + burst — as released by the limiter. The
    // receiver sees arrivals: a request released just before a window but delayed on its way (a busy
    // machine) lands inside it, and at most the requests in flight (4) can be on their way at once,
    // so at the receiver the bound is limit + burst + 3.
    let most = times
        .iter()
        .enumerate()
        .map(|(i, t)| times[i..].iter().take_while(|u| **u - *t < Duration::from_secs(1)).count())
        .max()
        .unwrap_or(0);
    assert!(most <= (per_second + burst + 3) as usize, "{most} requests within one second");
}

/// The `auth` of each token kind against `receiver`, with `password` as the secret.
fn token_auths(receiver: &Receiver, password: &str) -> Vec<(String, &'static str)> {
    vec![
        (
            format!("{{ type: magento_admin, username: admin, password: \"{password}\" }}"),
            "/V1/integration/admin/token",
        ),
        (
            format!(
                "{{ type: oauth2_client_credentials, token_url: \"{}/oauth2/token\", client_id: weir, client_secret: \"{password}\", scope: api }}",
                receiver.base_url()
            ),
            "/oauth2/token",
        ),
        (
            format!(
                "{{ type: session, path: /Login, body: {{ UserName: weir, Password: \"{password}\" }}, cookie: B1SESSION }}"
            ),
            "/Login",
        ),
    ]
}

fn token_fixture(token_uses: u64) -> (tempfile::TempDir, Receiver, Arc<SqliteStore>) {
    fixture(Config { require_token: true, token_uses, ..Config::default() })
}

/// Runs `orders` orders through a sink with `auth`, `in_flight` requests at once (1: the blocking
/// client on the sink's thread; more: the async client's futures).
fn run_with_auth(
    dir: &Path,
    receiver: &Receiver,
    state: &Arc<SqliteStore>,
    auth: &str,
    orders: usize,
    in_flight: usize,
) -> RunSummary {
    std::fs::write(
        dir.join("connections.yaml"),
        format!("connections:\n  erp:\n    type: http\n    base_url: \"{}\"\n    auth: {auth}\n", receiver.base_url()),
    )
    .expect("write connections");
    let names: Vec<String> = (0..orders).map(|i| format!("R{i}")).collect();
    write_orders(dir, &names.iter().map(|r| (r.as_str(), 1)).collect::<Vec<_>>());
    let yaml = header("push")
        + &format!(
            "sinks:\n  - {{ id: erp_order, type: http, connection: erp, path: /orders, max_in_flight: {in_flight} }}\n"
        );
    run(dir, "push", &yaml, Some(state))
}

#[test]
fn tokens_are_obtained_once_kept_and_renewed_when_the_api_answers_401() {
    for (i, in_flight) in (0..3).flat_map(|i| [(i, 1), (i, 4)]) {
        // Each token serves 3 requests, then the API refuses it, as after its expiry.
        let (dir, receiver, state) = token_fixture(3);
        let (auth, login) = &token_auths(&receiver, crate::support::receiver::PASSWORD)[i];
        let summary = run_with_auth(dir.path(), &receiver, &state, auth, 7, in_flight);
        let case = format!("{auth}, {in_flight} in flight");
        assert!(summary.is_success(), "{case}: {summary}");
        assert_eq!(summary.records.delivered, 7, "{case}: {summary}");
        let stats = receiver.stats();
        // In flight, several requests meet the same refusal; the first renews the token, the others
        // send again with the new one: still one login per refusal.
        assert_eq!(stats.logins.get(*login), Some(&3), "{case}: a login, then one per refusal");
        if in_flight == 1 {
            assert_eq!(stats.unauthorized, 2, "{case}");
        } else {
            assert!((2..=8).contains(&stats.unauthorized), "{case}: {}", stats.unauthorized);
        }
        assert_eq!(stats.total_creates, 7, "{case}: every record once");
    }
}

#[test]
fn refused_credentials_fail_the_run_once_instead_of_a_retry_storm() {
    for (i, in_flight) in (0..3).flat_map(|i| [(i, 1), (i, 4)]) {
        // A wrong password: the login itself is refused.
        let (dir, receiver, state) = token_fixture(u64::MAX);
        let (auth, login) = &token_auths(&receiver, "wrong-passw0rd")[i];
        let summary = run_with_auth(dir.path(), &receiver, &state, auth, 5, in_flight);
        let error = summary.error.clone().unwrap_or_default();
        assert!(error.contains("logging in at") && error.contains("HTTP 401"), "{auth}: {error}");
        assert!(!error.contains("wrong-passw0rd"), "{auth}: the password is masked: {error}");
        assert_eq!((summary.records.delivered, receiver.stats().logins.get(*login)), (0, None), "{auth}: {summary}");
        // Tokens the API refuses at once: one renewal, then the run stops — two logins, not five.
        let (dir, receiver, state) = token_fixture(0);
        let (auth, login) = &token_auths(&receiver, crate::support::receiver::PASSWORD)[i];
        let summary = run_with_auth(dir.path(), &receiver, &state, auth, 5, in_flight);
        let error = summary.error.clone().unwrap_or_default();
        assert!(error.contains("HTTP 401 (after logging in again)"), "{auth}: {error}");
        // Two logins, not five, whatever the requests in flight: the token of the login after a
        // refusal is refused too, so the credentials are refused for every request.
        let logins = receiver.stats().logins.get(*login).copied().unwrap_or(0);
        assert_eq!(logins, 2, "{auth}, {in_flight} in flight");
        assert_eq!(summary.records.delivered, 0, "{auth}: {summary}");
    }
    // A static token the API refuses stops the run at the first request.
    let (dir, receiver, state) = token_fixture(u64::MAX);
    let summary = run_with_auth(dir.path(), &receiver, &state, "{ type: bearer, token: not-issued-1234 }", 5, 1);
    assert!(summary.error.unwrap_or_default().contains("refuses the connection's credentials"));
    assert_eq!(receiver.stats().unauthorized, 1);
    // In flight: each request in flight meets the refusal once, none is retried.
    let (dir, receiver, state) = token_fixture(u64::MAX);
    let summary = run_with_auth(dir.path(), &receiver, &state, "{ type: bearer, token: not-issued-1234 }", 9, 4);
    assert!(summary.error.unwrap_or_default().contains("refuses the connection's credentials"));
    assert!((1..=4).contains(&receiver.stats().unauthorized), "{}", receiver.stats().unauthorized);
    assert_eq!(summary.records.delivered, 0);
}

/// The `push` pipeline with one plain sink into `receiver`; `extra` is added to the sink's mapping.
fn plain_sink(receiver: &Receiver, extra: &str) -> String {
    header("push")
        + &format!("sinks:\n  - {{ id: erp_order, type: http, url: \"{}/orders\"{extra} }}\n", receiver.base_url())
}

#[test]
fn on_status_decides_what_an_answer_means() {
    // 422 ignored: counted as delivered, nothing dead-lettered.
    let (dir, receiver, state) = fixture(Config::default());
    write_orders(dir.path(), &[("R1", 1), ("reject-2", 2)]);
    let summary = run(dir.path(), "push", &plain_sink(&receiver, ", on_status: { \"422\": ignore }"), Some(&state));
    assert!(summary.is_success(), "{summary}");
    assert_eq!((summary.records.delivered, summary.records.dead_lettered), (2, 0), "{summary}");
    assert_eq!(actions(&state.trace("order:reject-2").expect("trace")), ["ignored"]);
    // 4xx made fatal: the run stops at the first, which stays unacknowledged.
    let (dir, receiver, state) = fixture(Config::default());
    write_orders(dir.path(), &[("reject-1", 1), ("R2", 2)]);
    let summary = run(dir.path(), "push", &plain_sink(&receiver, ", on_status: { \"4xx\": fail }"), Some(&state));
    let error = summary.error.clone().unwrap_or_default();
    assert!(error.contains("HTTP 422") && error.contains("`on_status` makes fatal"), "{error}");
    assert_eq!(summary.records.delivered, 0, "{summary}");
}

#[test]
fn retry_bounds_the_tries_of_an_unknown_outcome() {
    for in_flight in [1, 4] {
        let (dir, receiver, state) = fixture(Config::default());
        write_orders(dir.path(), &[("down-1", 1)]);
        let sink =
            plain_sink(&receiver, &format!(", retry: {{ max_attempts: 3, initial: 1ms }}, max_in_flight: {in_flight}"));
        let summary = run(dir.path(), "push", &sink, Some(&state));
        let error = summary.error.clone().unwrap_or_default();
        assert!(error.contains("HTTP 503") && error.contains("after 3 attempts"), "{in_flight} in flight: {error}");
        assert_eq!(summary.records.unacknowledged, 1, "{summary}");
    }
    // 503 made a dead letter instead: one try, dead-lettered, the run goes on.
    let (dir, receiver, state) = fixture(Config::default());
    write_orders(dir.path(), &[("down-1", 1), ("R2", 2)]);
    let summary =
        run(dir.path(), "push", &plain_sink(&receiver, ", on_status: { \"503\": dead_letter }"), Some(&state));
    assert!(summary.is_success(), "{summary}");
    assert_eq!((summary.records.delivered, summary.records.dead_lettered), (1, 1), "{summary}");
}

/// A target whose commit (2.5 s) outlasts the client's timeout (2 s): the first try times out, the
/// order is committed just after.
fn late_commit_fixture() -> (tempfile::TempDir, Receiver, Arc<SqliteStore>) {
    let (dir, receiver, state) = fixture(Config { slow: Duration::from_millis(2500), ..Config::default() });
    write_orders(dir.path(), &[("late-1", 1)]);
    (dir, receiver, state)
}

#[test]
fn a_create_committed_after_the_timeout_is_found_after_the_settle_time_not_created_again() {
    // Without a settle time the trap is real: the lookup runs before the commit, finds nothing, and
    // the order is created a second time — in a run that succeeds.
    let (dir, receiver, state) = late_commit_fixture();
    let retries = "    retries: 4\n";
    let summary = run(dir.path(), "push", &order_pipeline("push", "erp_order", &receiver, retries), Some(&state));
    assert!(summary.is_success(), "{summary}");
    assert!(receiver.wait_until(Duration::from_secs(10), |s| s.open_connections == 0));
    assert_eq!(receiver.stats().creates.get("late-1"), Some(&2), "the trap this test guards against");

    // With `settle: 1s` the lookup comes after the commit and finds the order.
    let (dir, receiver, state) = late_commit_fixture();
    let yaml = order_pipeline("push", "erp_order", &receiver, "")
        .replace("        found: \"$[0]\"\n", "        found: \"$[0]\"\n      settle: 1s\n");
    assert!(yaml.contains("settle: 1s"), "{yaml}");
    let summary = run(dir.path(), "push", &yaml, Some(&state));
    assert!(summary.is_success(), "{summary}");
    assert!(receiver.wait_until(Duration::from_secs(10), |s| s.open_connections == 0));
    let stats = receiver.stats();
    assert_eq!(stats.creates.get("late-1"), Some(&1), "{:?}", stats.creates);
    assert_eq!(actions(&state.trace("order:late-1").expect("trace")), ["found"]);
    assert!(state.ids("order:late-1").expect("ids").contains_key("erp_order_id"));
}

#[test]
fn an_idempotency_header_carries_the_same_key_on_every_try() {
    // No settle time: the retry reaches the target while the first create is still in progress, and
    // the target recognises it by its key (409), so nothing is created twice.
    let (dir, receiver, state) = late_commit_fixture();
    let yaml = order_pipeline("push", "erp_order", &receiver, "")
        .replace("        found: \"$[0]\"\n", "        found: \"$[0]\"\n      header: Idempotency-Key\n");
    let summary = run(dir.path(), "push", &yaml, Some(&state));
    assert!(summary.is_success(), "{summary}");
    assert!(receiver.wait_until(Duration::from_secs(10), |s| s.open_connections == 0));
    let stats = receiver.stats();
    assert_eq!(stats.creates.get("late-1"), Some(&1), "{:?}", stats.creates);
    let keys = &stats.idempotency_keys;
    assert!(keys.len() >= 2 && keys.iter().all(|k| k == &keys[0]), "one key for every try: {keys:?}");
    assert_eq!(keys[0].len(), 36, "a UUID: {}", keys[0]);
}
