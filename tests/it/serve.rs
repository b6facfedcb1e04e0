//! `weir serve`: pipelines run under their schedules in one process (never overlapping themselves, a
//! slow one not starving the others), runs missed while it was down made up by policy, a run on
//! request, health and readiness, the admin token, bad configuration refused, and SIGTERM draining
//! so that a restart sends nothing twice — nor a SIGKILL loses anything.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::receiver::{Config, Receiver};
use crate::support::served::{Served, ended, prices_folder, write};

#[test]
fn pipelines_run_under_their_schedules_or_on_request_with_health_and_readiness() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "in.ndjson", "{\"id\":1}\n{\"id\":2}\n");
    write(
        dir.path(),
        "tick.yaml",
        "name: tick\nschedule: { every: 300ms }\nsource: { id: in, type: file, path: in.ndjson }\nsinks: [{ id: out, type: file, path: tick.ndjson }]\n",
    );
    write(
        dir.path(),
        "manual.yaml",
        "name: manual\nsource: { id: in, type: file, path: in.ndjson }\nsinks: [{ id: out, type: file, path: manual.ndjson }]\n",
    );
    let served = Served::start(dir.path(), &[]);
    assert_eq!(served.request("GET", "/healthz"), (200, Value::String("ok\n".into())));
    assert_eq!(served.get("/readyz")["ready"], true);
    served.wait_for(Duration::from_secs(20), "three runs of `tick`", |s| {
        s.runs("tick").iter().filter(|r| ended(r)).count() >= 3
    });
    let pipelines = served.get("/api/pipelines");
    let triggers: Vec<(&str, &str)> = pipelines
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| (p["name"].as_str().expect("a text"), p["trigger"].as_str().expect("a text")))
        .collect();
    assert_eq!(triggers, [("manual", "manual"), ("tick", "every 300ms")]);
    assert!(served.runs("manual").is_empty(), "a pipeline without a schedule runs only when asked");

    let (status, body) = served.request("POST", "/api/pipelines/manual/run");
    assert_eq!(status, 202, "{body}");
    served.wait_for(Duration::from_secs(20), "the run asked for", |s| s.runs("manual").first().is_some_and(ended));
    let manual = served.runs("manual");
    assert_eq!(
        (manual.len(), &manual[0]["trigger"], &manual[0]["status"]),
        (1, &Value::from("api"), &Value::from("succeeded"))
    );
    assert_eq!(std::fs::read_to_string(dir.path().join("manual.ndjson")).expect("output").lines().count(), 2);
    // The file was read once: later scheduled runs deliver nothing new.
    assert_eq!(std::fs::read_to_string(dir.path().join("tick.ndjson")).expect("output").lines().count(), 2);
    let (status, body) = served.request("POST", "/api/pipelines/nothing/run");
    assert_eq!(status, 404, "{body}");
    assert_eq!(served.request("GET", "/api/runs?limit=many").0, 400);
    assert_eq!(served.signal("-TERM"), Some(0));
}

#[test]
fn a_slow_pipeline_never_overlaps_itself_nor_starves_the_others() {
    let receiver = Receiver::start(Config { slow: Duration::from_millis(400), ..Config::default() });
    let dir = tempfile::tempdir().expect("tempdir");
    let orders: String = (0..4).map(|i| format!("{{\"reference\":\"slow-{i}\"}}\n")).collect();
    write(dir.path(), "orders.ndjson", &orders);
    let base = receiver.base_url();
    write(
        dir.path(),
        "slow.yaml",
        &format!(
            "name: slow\nschedule: {{ every: 100ms }}\nsource: {{ id: in, type: file, path: orders.ndjson }}\n\
             sinks:\n  - {{ id: api, type: http, url: \"{base}/orders\", max_in_flight: 1, body: {{ reference: \"{{{{ record.reference }}}}\" }} }}\n"
        ),
    );
    write(dir.path(), "in.ndjson", "{\"id\":1}\n");
    write(
        dir.path(),
        "fast.yaml",
        "name: fast\nschedule: { every: 100ms }\nsource: { id: in, type: file, path: in.ndjson }\nsinks: [{ id: out, type: file, path: fast.ndjson }]\n",
    );
    let served = Served::start(dir.path(), &[]);
    served.wait_for(Duration::from_secs(30), "two ended runs of `slow`", |s| {
        s.runs("slow").iter().filter(|r| ended(r)).count() >= 2
    });
    let slow = served.runs("slow");
    let fast = served.runs("fast");
    // Never two runs of `slow` at once: each starts after the one before ended.
    for pair in slow.windows(2).filter(|p| ended(&p[0])) {
        assert!(pair[1]["started_at"].as_str() >= pair[0]["ended_at"].as_str(), "overlap: {pair:?}");
    }
    // The first run of `slow` took four creates of 400 ms each; `fast` went on meanwhile.
    let (from, to) = (slow[0]["started_at"].as_str().expect("a text"), slow[0]["ended_at"].as_str().expect("a text"));
    let during = fast.iter().filter(|r| r["started_at"].as_str().is_some_and(|t| t > from && t < to)).count();
    assert!(during >= 3, "`fast` ran {during} times during the 1.6 s run of `slow` ({from} – {to})");
    assert_eq!(receiver.stats().total_creates, 4, "each order sent once");
}

/// Moves the whole run history `minutes` into the past (as if the engine had been down that long).
fn age_history(state: &Path, minutes: i64) {
    let db = rusqlite::Connection::open(state).expect("the state file");
    let ago = format!("-{minutes} minutes");
    db.execute(
        "UPDATE runs SET started_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?1), \
         ended_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?1)",
        [ago],
    )
    .expect("the run history is aged");
}

#[test]
fn runs_missed_while_down_are_made_up_by_each_pipelines_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "in.ndjson", "{\"id\":1}\n");
    for (name, policy) in [("once", "once"), ("skip", "skip"), ("all", "catch_up")] {
        write(
            dir.path(),
            &format!("{name}.yaml"),
            &format!(
                "name: {name}\nschedule: {{ every: 1h, missed: {policy} }}\nsource: {{ id: in, type: file, path: in.ndjson }}\nsinks: [{{ id: out, type: file, path: {name}.ndjson }}]\n"
            ),
        );
    }
    // A first start runs each `every` pipeline at once; then the engine is down for 3 h 30 min.
    let served = Served::start(dir.path(), &[]);
    served.wait_for(Duration::from_secs(20), "a first run of each", |s| {
        ["once", "skip", "all"].iter().all(|p| s.runs(p).first().is_some_and(ended))
    });
    assert_eq!(served.signal("-TERM"), Some(0));
    age_history(&dir.path().join("state.db"), 210);

    let served = Served::start(dir.path(), &[]);
    served.wait_for(Duration::from_secs(20), "the missed runs", |s| {
        s.runs("once").iter().filter(|r| ended(r)).count() == 2
            && s.runs("all").iter().filter(|r| ended(r)).count() == 4
    });
    let triggers =
        |p: &str| served.runs(p).iter().map(|r| r["trigger"].as_str().expect("a text").to_string()).collect::<Vec<_>>();
    assert_eq!(triggers("once"), ["schedule", "missed"]);
    assert_eq!(triggers("all"), ["schedule", "missed", "missed", "missed"], "three hours missed");
    // `skip` waits for its next time, an hour from now; the others' next runs too.
    assert_eq!(triggers("skip"), ["schedule"]);
    let pipelines = served.get("/api/pipelines");
    for p in pipelines.as_array().expect("a list") {
        let next = p["status"]["next_run"].as_str().expect("a next run");
        let next = time::OffsetDateTime::parse(next, &time::format_description::well_known::Rfc3339).expect("RFC 3339");
        let ahead = next - time::OffsetDateTime::now_utc();
        assert!(
            ahead > time::Duration::minutes(50) && ahead <= time::Duration::hours(1),
            "{}: next run in {ahead}",
            p["name"]
        );
    }
}

#[test]
fn the_admin_api_needs_the_token_and_an_open_one_is_refused_off_loopback() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "in.ndjson", "{\"id\":1}\n");
    write(
        dir.path(),
        "p.yaml",
        "name: p\nsource: { id: in, type: file, path: in.ndjson }\nsinks: [{ id: out, type: stdout }]\n",
    );
    let secret = "s3cr3t-admin-token-value";
    let mut served = Served::start(dir.path(), &[("WEIR_ADMIN_TOKEN", secret)]);
    assert_eq!(served.get("/api/pipelines").as_array().map(Vec::len), Some(1));
    served.token = Some("wrong".into());
    assert_eq!(served.request("GET", "/api/pipelines").0, 401);
    assert_eq!(served.request("POST", "/api/pipelines/p/run").0, 401);
    served.token = None;
    assert_eq!(served.request("GET", "/api/runs").0, 401);
    assert_eq!(served.request("GET", "/readyz").0, 200, "health and readiness need no token");
    assert!(!served.log().contains(secret));
    assert_eq!(served.signal("-TERM"), Some(0));

    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .arg(dir.path())
        .env_remove("WEIR_ADMIN_TOKEN")
        .output()
        .expect("weir runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("needs an admin token: set WEIR_ADMIN_TOKEN"), "{stderr}");
    let help =
        Command::new(env!("CARGO_BIN_EXE_weir")).args(["serve", "--help"]).env("WEIR_ADMIN_TOKEN", secret).output();
    assert!(!String::from_utf8_lossy(&help.expect("help").stdout).contains(secret));
}

#[test]
fn a_bad_schedule_stops_the_start_with_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "p.yaml",
        "name: p\nschedule: { cron: \"0 25 * * *\", timezone: Europe/Berlin }\nsource: { id: in, type: file, path: in.ndjson }\nsinks: [{ id: out, type: stdout }]\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg(dir.path())
        .output()
        .expect("weir runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("invalid cron expression `0 25 * * *`"), "{stderr}");
    assert!(stderr.contains("p.yaml:2:19"), "{stderr}");
}

/// Orders in [`slow_orders`].
const ORDERS: usize = 40;

/// A folder whose one pipeline sends [`ORDERS`] orders, one at a time, each answered after 50 ms, to
/// `receiver` as idempotent creates, reading one record at a time (so that a stop leaves most unread).
fn slow_orders(dir: &Path, receiver: &Receiver) {
    let orders: String = (0..ORDERS).map(|i| format!("{{\"reference\":\"slow-{i}\"}}\n")).collect();
    write(dir, "orders.ndjson", &orders);
    let base = receiver.base_url();
    write(
        dir,
        "orders.yaml",
        &format!(
            r#"name: orders
schedule: {{ every: 1h }}
runtime: {{ batch_size: 1, channel_capacity: 1 }}
source: {{ id: in, type: file, path: orders.ndjson, key: "order:{{{{ record.reference }}}}" }}
sinks:
  - id: api
    type: http
    url: "{base}/orders"
    max_in_flight: 1
    body: {{ reference: "{{{{ record.reference }}}}" }}
    idempotency:
      lookup: {{ url: "{base}/orders?reference={{{{ record.reference | urlencode }}}}", found: "$[0]" }}
"#
        ),
    );
}

#[test]
fn sigterm_drains_and_a_restart_sends_nothing_twice() {
    let receiver = Receiver::start(Config { slow: Duration::from_millis(50), ..Config::default() });
    let dir = tempfile::tempdir().expect("tempdir");
    slow_orders(dir.path(), &receiver);
    let served = Served::start(dir.path(), &[]);
    assert!(receiver.wait_until(Duration::from_secs(20), |s| s.total_creates >= 3), "the run started");
    assert_eq!(served.signal("-TERM"), Some(0), "a drained stop");
    let sent = receiver.stats().total_creates;
    assert!(sent < ORDERS as u64 / 2, "the signal stopped the run early ({sent} sent)");

    let served = Served::start(dir.path(), &[]);
    let runs = served.runs("orders");
    assert_eq!(runs[0]["status"], "interrupted", "{runs:?}");
    assert_eq!(served.request("POST", "/api/pipelines/orders/run").0, 202);
    served.wait_for(Duration::from_secs(30), "the rest sent", |s| {
        s.runs("orders").len() == 2 && ended(&s.runs("orders")[1])
    });
    let stats = receiver.stats();
    assert_eq!(stats.creates.len(), ORDERS, "{:?}", stats.creates);
    assert!(stats.creates.values().all(|n| *n == 1), "an order sent twice: {:?}", stats.creates);
    assert_eq!(served.runs("orders")[1]["summary"]["records"]["delivered"].as_u64(), Some(ORDERS as u64 - sent));
}

#[test]
fn a_sigkill_mid_create_loses_nothing_and_duplicates_nothing() {
    let receiver = Receiver::start(Config { slow: Duration::from_millis(50), ..Config::default() });
    let dir = tempfile::tempdir().expect("tempdir");
    slow_orders(dir.path(), &receiver);
    // The fifth create is made but its answer held: the kill lands between the create and its outcome.
    receiver.pause_at(5);
    let served = Served::start(dir.path(), &[]);
    assert!(receiver.wait_until(Duration::from_secs(20), |s| s.paused.is_some()), "the fifth create is in flight");
    assert_eq!(served.signal("-KILL"), None);
    receiver.release();

    let served = Served::start(dir.path(), &[]);
    assert_eq!(served.request("POST", "/api/pipelines/orders/run").0, 202);
    served.wait_for(Duration::from_secs(30), "the rest sent", |s| {
        s.runs("orders").iter().filter(|r| ended(r) && r["trigger"] == "api").count() == 1
    });
    let stats = receiver.stats();
    assert_eq!(stats.creates.len(), ORDERS, "{:?}", stats.creates);
    assert!(stats.creates.values().all(|n| *n == 1), "an order sent twice: {:?}", stats.creates);
}

#[test]
fn an_edit_reloads_what_changed_and_a_bad_edit_keeps_the_last_good_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "in.ndjson", "{\"id\":1}\n");
    let pipeline = |name: &str, schedule: &str| {
        format!(
            "name: {name}\nschedule: {schedule}\nsource: {{ id: in, type: file, path: in.ndjson }}\nsinks: [{{ id: out, type: file, path: {name}.ndjson }}]\n"
        )
    };
    write(dir.path(), "a.yaml", &pipeline("a", "{ every: 200ms }"));
    let served = Served::start(dir.path(), &[("WEIR_RELOAD_EVERY", "100ms")]);
    let triggers = |s: &Served| -> Vec<(String, String)> {
        let list = s.get("/api/pipelines");
        let text = |p: &Value, f: &str| p[f].as_str().expect("a text").to_string();
        list.as_array().expect("a list").iter().map(|p| (text(p, "name"), text(p, "trigger"))).collect()
    };
    assert_eq!(triggers(&served), [("a".to_string(), "every 200ms".to_string())]);

    // A changed schedule and a new pipeline.
    write(dir.path(), "a.yaml", &pipeline("a", "{ cron: '0 3 * * *', timezone: Europe/Berlin }"));
    write(dir.path(), "b.yaml", &pipeline("b", "{ every: 100ms }"));
    let expected =
        [("a".to_string(), "cron 0 3 * * * (Europe/Berlin)".to_string()), ("b".to_string(), "every 100ms".to_string())];
    served.wait_for(Duration::from_secs(20), "the reload", |s| triggers(s) == expected);
    served.wait_for(Duration::from_secs(20), "runs of the new pipeline", |s| {
        s.runs("b").iter().filter(|r| ended(r)).count() >= 2
    });

    // A bad edit: reported, and `b` goes on as it was.
    write(dir.path(), "b.yaml", &pipeline("b", "{ every: 100ms, cron: '*/5 * * * *' }"));
    served.wait_for(Duration::from_secs(20), "the errors reported", |s| s.get("/readyz")["config_errors"].is_string());
    let ready = served.get("/readyz");
    let errors = ready["config_errors"].as_str().expect("the errors");
    assert!(errors.contains("b.yaml:2:27") && errors.contains("`every` or `cron`, not both"), "{errors}");
    assert_eq!(ready["ready"], true, "the last good version runs: {ready}");
    let before = served.runs("b").len();
    served.wait_for(Duration::from_secs(20), "`b` still running", |s| s.runs("b").len() >= before + 2);
    assert_eq!(triggers(&served), expected);

    // Fixed, then `a` removed.
    write(dir.path(), "b.yaml", &pipeline("b", "{ every: 1h }"));
    std::fs::remove_file(dir.path().join("a.yaml")).expect("remove a.yaml");
    served.wait_for(Duration::from_secs(20), "the fix", |s| triggers(s) == [("b".to_string(), "every 1h".to_string())]);
    assert!(served.get("/readyz").get("config_errors").is_none());
    assert!(served.log().contains("configuration reloaded"), "{}", served.log());
    assert_eq!(served.signal("-TERM"), Some(0));
}

#[test]
fn a_dead_letter_is_replayed_through_the_api_after_the_table_is_fixed() {
    let dir = tempfile::tempdir().expect("tempdir");
    prices_folder(dir.path(), &serde_json::json!({"sku": "B"}));
    let served = Served::start(dir.path(), &[("WEIR_RELOAD_EVERY", "100ms")]);
    assert_eq!(served.request("POST", "/api/pipelines/prices/run").0, 202);
    served.wait_for(Duration::from_secs(20), "the run", |s| s.runs("prices").first().is_some_and(ended));
    let entries = served.get("/api/dlq?pipeline=prices");
    let entries = entries.as_array().expect("a list");
    assert_eq!(entries.len(), 1, "{entries:?}");
    let id = entries[0]["id"].as_i64().expect("an id");
    assert_eq!(entries[0]["key"], "sku:B");
    assert!(
        entries[0]["error"].as_str().is_some_and(|e| e.contains("no price for B in tables/prices.csv")),
        "{entries:?}"
    );
    assert_eq!(served.get(&format!("/api/dlq/{id}"))["record"]["sku"], "B");

    // Replayed before the fix: dead-lettered again, one more attempt, still queued.
    assert_eq!(served.request("POST", &format!("/api/dlq/{id}/replay")).0, 202);
    served.wait_for(Duration::from_secs(20), "the first replay", |s| {
        s.get(&format!("/api/dlq/{id}"))["attempts"].as_u64() == Some(2)
    });

    write(dir.path(), "tables/prices.csv", "sku,price\nA,10\nB,12\n");
    served.wait_for(Duration::from_secs(20), "the reload", |s| s.log().matches("configuration reloaded").count() >= 1);
    let (status, body) = served.request("POST", "/api/pipelines/prices/replay");
    assert_eq!((status, &body["queued"]), (202, &serde_json::json!([id])), "{body}");
    served.wait_for(Duration::from_secs(20), "the replay", |s| s.get("/api/dlq").as_array().is_some_and(Vec::is_empty));
    let out = std::fs::read_to_string(dir.path().join("out.ndjson")).expect("output");
    let priced: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    let prices: Vec<(&str, &str)> =
        priced.iter().map(|r| (r["sku"].as_str().expect("sku"), r["price"].as_str().expect("price"))).collect();
    assert_eq!(prices, [("A", "10"), ("B", "12")]);
    let triggers: Vec<String> =
        served.runs("prices").iter().map(|r| r["trigger"].as_str().expect("a text").to_string()).collect();
    assert_eq!(triggers, ["api", "replay", "replay"]);
    let trace = served.get("/api/trace/sku:B");
    assert!(trace.as_array().is_some_and(|t| !t.is_empty()), "{trace}");
    assert_eq!(served.request("GET", &format!("/api/dlq/{id}")).0, 404);
    assert_eq!(served.request("DELETE", &format!("/api/dlq/{id}")).0, 404);
    assert_eq!(served.request("POST", "/api/dlq/99999/replay").0, 404);
}

const HOOK_SECRET: &str = "hook-secret-for-serve-tests";

/// `X-Signature: sha256=…` of `body` with [`HOOK_SECRET`].
fn hook_signature(body: &[u8]) -> String {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).expect("key");
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

impl Served {
    /// POSTs `body` to `/hooks/{pipeline}`, signed when `signature` is given: the status.
    fn hook(&self, pipeline: &str, body: &str, signature: Option<String>) -> u16 {
        let mut request = self.client.post(format!("{}/hooks/{pipeline}", self.base)).body(body.to_string());
        if let Some(signature) = signature {
            request = request.header("x-signature", signature);
        }
        request.send().expect("weir serve answers").status().as_u16()
    }
}

/// The lines of `out/events.ndjson`, as JSON.
fn events_out(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("out/events.ndjson")).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect()
}

#[test]
fn signed_webhooks_are_accepted_once_and_delivered_even_across_a_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "events.yaml",
        r#"name: events
source:
  id: hook
  type: webhook
  auth: { type: hmac, secret: "${secret:HOOK_SECRET}", prefix: "sha256=" }
  event_id: $.id
  max_body_bytes: 2048
sinks: [{ id: out, type: file, path: out/events.ndjson }]
"#,
    );
    let env = [("HOOK_SECRET", HOOK_SECRET)];
    let served = Served::start(dir.path(), &env);
    let triggers = served.get("/api/pipelines");
    assert_eq!(triggers[0]["trigger"], "events", "{triggers}");
    let event = |n: u32| format!("{{\"id\":\"e{n}\",\"qty\":{n}}}");
    for n in 1..=3 {
        let body = event(n);
        assert_eq!(served.hook("events", &body, Some(hook_signature(body.as_bytes()))), 200);
    }
    served.wait_for(Duration::from_secs(20), "three events delivered", |_| events_out(dir.path()).len() == 3);
    // A replayed event: accepted (200), not delivered again.
    let body = event(2);
    assert_eq!(served.hook("events", &body, Some(hook_signature(body.as_bytes()))), 200);
    // Bad input: a wrong signature, none, an oversized body, an unknown pipeline.
    assert_eq!(served.hook("events", &event(4), Some(hook_signature(b"something else"))), 401);
    assert_eq!(served.hook("events", &event(4), None), 401);
    let huge = format!("{{\"id\":\"big\",\"pad\":\"{}\"}}", "x".repeat(4096));
    assert_eq!(served.hook("events", &huge, Some(hook_signature(huge.as_bytes()))), 413);
    assert_eq!(served.hook("nothing", &event(5), None), 404);
    assert!(!served.log().contains(HOOK_SECRET), "the secret stays out of the log");

    // Accepted (2xx) right before a SIGKILL: the event is in the state store, delivered after a restart.
    let body = event(6);
    assert_eq!(served.hook("events", &body, Some(hook_signature(body.as_bytes()))), 200);
    assert_eq!(served.signal("-KILL"), None);
    let served = Served::start(dir.path(), &env);
    served.wait_for(Duration::from_secs(20), "the event accepted before the kill", |_| {
        events_out(dir.path()).iter().any(|e| e["id"] == "e6")
    });
    let ids: Vec<String> =
        events_out(dir.path()).iter().map(|e| e["id"].as_str().expect("an id").to_string()).collect();
    assert_eq!(ids, ["e1", "e2", "e3", "e6"], "each accepted event once, none of the refused");
    assert_eq!(served.signal("-TERM"), Some(0));
}

#[test]
fn metrics_are_served_for_prometheus_with_each_pipelines_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "in.ndjson", "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n");
    write(
        dir.path(),
        "counted.yaml",
        "name: counted\nsource: { id: in, type: file, path: in.ndjson }\nsteps: [{ id: odd, type: filter, when: \"record.id is odd\" }]\nsinks: [{ id: out, type: file, path: out.ndjson }]\n",
    );
    let served = Served::start(dir.path(), &[("WEIR_ADMIN_TOKEN", "metrics-test-token")]);
    assert_eq!(served.request("POST", "/api/pipelines/counted/run").0, 202);
    served.wait_for(Duration::from_secs(20), "the run", |s| s.runs("counted").first().is_some_and(ended));
    let response = reqwest::blocking::get(format!("{}/metrics", served.base)).expect("metrics answer");
    assert_eq!(response.status().as_u16(), 200, "no token needed to scrape");
    let content_type = response.headers()["content-type"].to_str().expect("a content type").to_string();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = response.text().expect("a body");
    let sample = |prefix: &str| -> Option<f64> {
        text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()?.parse().ok())
    };
    let runs = text.lines().filter(|l| l.starts_with("weir_runs_total{") && l.contains("pipeline=\"counted\"")).count();
    assert!(runs >= 1, "{text}");
    let filtered: Vec<f64> = text
        .lines()
        .filter(|l| {
            l.starts_with("weir_records_filtered_total{")
                && l.contains("pipeline=\"counted\"")
                && l.contains("node=\"odd\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    assert_eq!(filtered, [1.0], "id 2 filtered by `odd`: {text}");
    assert_eq!(sample("weir_state_store_up"), Some(1.0), "{text}");
    assert!(!text.contains("metrics-test-token"));
}
