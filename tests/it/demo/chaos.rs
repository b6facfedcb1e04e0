//! `orders.yaml` under chaos, end to end: shop orders go to the ERP while both simulators answer 10%
//! of requests 5xx, 5% 429 (`Retry-After: 1`) and lose 2% of answers (the work done, the answer held
//! past the client's timeout), and `weir run` is started again and again, as a schedule would, and
//! SIGKILLed at least 5 times at seeded moments: after the k-th order created in the ERP (so that
//! orders are created but not yet written back) or after the k-th `ext_order_id` written back (one
//! write-back done, the comment not). Afterwards, from the simulators' state: every order is in the
//! ERP exactly once, its number written back exactly once (the attribute and one comment); from their
//! request logs: every request the ERP or the shop answered 429 was retried no sooner than its
//! `Retry-After`, and nothing else of that process reached that system meanwhile (the connection's
//! rate limit pauses everything); and every run's books balance.
//!
//! `WEIR_CHAOS_ORDERS` sets how many orders are created (default 40, about a minute here: each 429
//! pauses a system for a second, so 2,000 orders take ten minutes; `benches/chaos/run.sh` runs them).

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Demo;
use crate::support::cli::outcome;

const SEED: u64 = 0x0c4a_0511;
/// The `Retry-After` of every injected 429, in seconds.
const RETRY_AFTER_S: u64 = 1;
/// Runs that are killed (at least; a run that ends before its kill point is not counted).
const KILLS: usize = 6;
/// A request that arrives this soon after a 429 was sent before the client heard it (in flight).
const IN_FLIGHT_MS: i64 = 50;

fn order_count() -> usize {
    std::env::var("WEIR_CHAOS_ORDERS").ok().and_then(|v| v.parse().ok()).unwrap_or(40)
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// A simulator's request log, followed: each call answers what arrived since the last one.
struct Tail {
    url: String,
    next: usize,
    client: reqwest::blocking::Client,
}

impl Tail {
    fn new(base: &str) -> Tail {
        let client = reqwest::blocking::Client::new();
        let mut tail = Tail { url: format!("{base}/__sim/requests"), next: 0, client };
        tail.next = tail.read().len();
        tail
    }

    fn read(&mut self) -> Vec<Value> {
        let url = format!("{}?from={}", self.url, self.next);
        let text = self.client.get(url).send().and_then(|r| r.text()).expect("the request log");
        let log: Vec<Value> = serde_json::from_str(&text).expect("the request log is a JSON list");
        self.next += log.len();
        log
    }
}

/// When a run is killed: after the k-th order created in the ERP, or after the k-th `ext_order_id`
/// written to the shop, counted in this run's requests.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    ErpCreates(usize),
    AttributeWrites(usize),
}

/// Requests that did their work: answered normally, or answered too late for the client (`lost`).
fn did_work(r: &Value) -> bool {
    r["fault"].is_null() || r["fault"] == "lost"
}

fn is_erp_create(r: &Value) -> bool {
    r["method"] == "POST" && r["path"].as_str().is_some_and(|p| p.ends_with("/salesOrders"))
}

fn is_attribute_write(r: &Value) -> bool {
    r["method"] == "POST" && r["path"] == "/rest/V1/orders"
}

impl KillAt {
    fn reached(self, erp: &[Value], commerce: &[Value]) -> bool {
        match self {
            KillAt::ErpCreates(k) => erp.iter().filter(|r| is_erp_create(r) && did_work(r)).count() >= k,
            KillAt::AttributeWrites(k) => commerce.iter().filter(|r| is_attribute_write(r) && did_work(r)).count() >= k,
        }
    }
}

/// One run: the requests each simulator received from it, its summary if it ended (not killed).
struct Run {
    erp: Vec<Value>,
    commerce: Vec<Value>,
    ended: Option<(ExitStatus, Option<Value>)>,
}

/// `weir run orders.yaml --json`, killed (SIGKILL) when `kill` is reached.
fn run_once(demo: &Demo, tails: &mut (Tail, Tail), kill: Option<KillAt>, number: usize) -> Run {
    let log = std::fs::File::create(demo.state.path().join(format!("run-{number}.log"))).expect("a log file");
    let mut child: Child = demo
        .weir_command(&["run", "pipelines/demo/orders.yaml", "--json"])
        .env("WEIR_LOG", "warn")
        .env("ERP_TIMEOUT", "1s")
        .env("COMMERCE_TIMEOUT", "1s")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("weir starts");
    let started = Instant::now();
    let (mut erp, mut commerce) = (Vec::new(), Vec::new());
    loop {
        erp.extend(tails.0.read());
        commerce.extend(tails.1.read());
        if kill.is_some_and(|k| k.reached(&erp, &commerce)) {
            child.kill().expect("SIGKILL");
            child.wait().expect("the killed run is reaped");
            break;
        }
        if child.try_wait().expect("try_wait").is_some() {
            let out = child.wait_with_output().expect("its output");
            let status = out.status;
            let (_, stdout, _) = outcome(out);
            let summary = stdout.lines().last().and_then(|l| serde_json::from_str(l).ok());
            erp.extend(tails.0.read());
            commerce.extend(tails.1.read());
            return Run { erp, commerce, ended: Some((status, summary)) };
        }
        assert!(started.elapsed() < Duration::from_secs(600), "run {number} neither ended nor reached {kill:?}");
        // Following the logs: how often they are read, not a wait for something to happen.
        std::thread::sleep(Duration::from_millis(5));
    }
    // What the killed process had sent is in the logs now (it is reaped); read it all.
    erp.extend(tails.0.read());
    commerce.extend(tails.1.read());
    Run { erp, commerce, ended: None }
}

fn millis(r: &Value) -> i64 {
    let at = r["at"].as_str().expect("an arrival time");
    let at = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).expect("RFC 3339");
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The same request again: method, path, query and body.
fn same(a: &Value, b: &Value) -> bool {
    ["method", "path", "query", "body"].iter().all(|f| a[f] == b[f])
}

/// Checks one run's requests to one system after each 429: the same request came again no sooner
/// than `Retry-After`, and no other request arrived meanwhile except those already in flight.
/// Answers (429s, retries checked).
fn check_retry_after(system: &str, log: &[Value]) -> (usize, usize) {
    let wait = (RETRY_AFTER_S * 1000) as i64;
    let (mut refused, mut retried) = (0, 0);
    for (i, r) in log.iter().enumerate().filter(|(_, r)| r["fault"] == "429") {
        refused += 1;
        let at = millis(r);
        if let Some(again) = log[i + 1..].iter().find(|later| same(r, later)) {
            retried += 1;
            let waited = millis(again) - at;
            assert!(waited >= wait, "{system}: {} {} retried {waited} ms after its 429", r["method"], r["path"]);
        }
        for later in &log[i + 1..] {
            let after = millis(later) - at;
            assert!(
                after < IN_FLIGHT_MS || after >= wait,
                "{system}: {} {} arrived {after} ms after a 429 to {} {} (Retry-After {RETRY_AFTER_S}s)",
                later["method"],
                later["path"],
                r["method"],
                r["path"]
            );
        }
    }
    (refused, retried)
}

/// Every shop order, read through the API (the faults are off by then).
fn shop_orders(demo: &Demo) -> Vec<Value> {
    let token = demo.commerce.token();
    let mut all = Vec::new();
    for page in 1.. {
        let path = format!("/rest/V1/orders?searchCriteria[pageSize]=300&searchCriteria[currentPage]={page}");
        let found = demo.commerce.get(&path, &token);
        let items = found["items"].as_array().expect("orders").clone();
        all.extend(items);
        if all.len() as u64 >= found["total_count"].as_u64().expect("a count") {
            return all;
        }
    }
    unreachable!()
}

fn set_faults(demo: &Demo, rates: Option<Value>) {
    for base in [&demo.commerce.base, &demo.erp.base] {
        let client = reqwest::blocking::Client::new();
        let url = format!("{base}/__sim/faults/rates");
        let answer = match &rates {
            Some(rates) => client.post(url).body(rates.to_string()).send(),
            None => client.delete(url).send(),
        };
        assert!(answer.expect("the simulator answers").status().is_success());
    }
}

#[test]
fn orders_reach_the_erp_exactly_once_through_faults_and_kills() {
    let n = order_count();
    let demo = Demo::start();
    let (status, created) = demo.commerce.send("POST", "/__sim/orders", None, Some(json!({"count": n})));
    assert_eq!((status, created["created"].as_array().map(Vec::len)), (200, Some(n)));
    demo.run("erp-variants.yaml");

    let faults = json!({"5xx": 0.10, "429": 0.05, "lost": 0.02, "seed": SEED,
                        "retry_after": RETRY_AFTER_S, "lost_ms": 2000});
    set_faults(&demo, Some(faults));
    let mut tails = (Tail::new(&demo.erp.base), Tail::new(&demo.commerce.base));
    let mut rng = SEED;
    let (mut kills, mut created_not_written_at_a_kill) = (Vec::new(), 0);
    let (mut refused, mut retried, mut summaries) = (0, 0, Vec::new());
    let mut faults_seen: BTreeMap<String, usize> = BTreeMap::new();
    let most = (n / (3 * KILLS)).max(2) as u64;
    let mut arrived = n;
    for number in 1.. {
        assert!(number <= 60, "no run succeeded after 60 starts");
        let kill = (kills.len() < KILLS).then(|| {
            let k = 1 + (xorshift(&mut rng) % most) as usize;
            if xorshift(&mut rng).is_multiple_of(2) { KillAt::ErpCreates(k) } else { KillAt::AttributeWrites(k) }
        });
        let run = run_once(&demo, &mut tails, kill, number);
        let ended =
            run.ended.as_ref().map(|(status, summary)| (status.code(), summary.as_ref().map(|s| s["records"].clone())));
        eprintln!(
            "run {number} ({kill:?}): {} ERP and {} shop requests, ended {ended:?}",
            run.erp.len(),
            run.commerce.len()
        );
        for r in run.erp.iter().chain(&run.commerce) {
            *faults_seen.entry(r["fault"].as_str().unwrap_or("none").to_string()).or_default() += 1;
        }
        for (system, log) in [("ERP", &run.erp), ("shop", &run.commerce)] {
            let (r, t) = check_retry_after(system, log);
            (refused, retried) = (refused + r, retried + t);
        }
        match run.ended {
            None => {
                // Orders the ERP created in this run whose number never reached the shop in it.
                let created: BTreeSet<String> = run
                    .erp
                    .iter()
                    .filter(|r| is_erp_create(r) && did_work(r))
                    .filter_map(|r| serde_json::from_str::<Value>(r["body"].as_str()?).ok())
                    .filter_map(|b| b["externalDocumentNumber"].as_str().map(str::to_string))
                    .collect();
                let written: BTreeSet<String> = run
                    .commerce
                    .iter()
                    .filter(|r| is_attribute_write(r) && did_work(r))
                    .filter_map(|r| serde_json::from_str::<Value>(r["body"].as_str()?).ok())
                    .filter_map(|b| b["entity"]["increment_id"].as_str().map(str::to_string))
                    .collect();
                created_not_written_at_a_kill += created.difference(&written).count();
                kills.push(kill.expect("only planned kills"));
            }
            Some((status, summary)) => {
                let summary = summary.unwrap_or_else(|| panic!("run {number} ({status}) printed no summary"));
                let books = &summary["records"];
                let count = |f: &str| books[f].as_u64().expect("a count");
                assert_eq!(
                    count("received"),
                    count("delivered") + count("filtered") + count("dead_lettered") + count("unacknowledged"),
                    "run {number}: {books}"
                );
                summaries.push(books.clone());
                if status.success() {
                    assert_eq!(count("unacknowledged"), 0, "run {number}: {books}");
                    if kills.len() >= KILLS {
                        break;
                    }
                    // Every order is through and kills are still to come: new orders arrive, as in a shop.
                    let more = (n / KILLS).max(10);
                    let (status, _) = demo.commerce.send("POST", "/__sim/orders", None, Some(json!({"count": more})));
                    assert_eq!(status, 200);
                    arrived += more;
                }
            }
        }
    }
    assert!(kills.len() >= 5, "{kills:?}");
    assert!(created_not_written_at_a_kill > 0, "no kill fell between a create and its write-back: {kills:?}");
    for fault in ["429", "lost", "500", "502", "503"] {
        assert!(faults_seen.get(fault).is_some_and(|c| *c > 0), "no {fault} was served: {faults_seen:?}");
    }
    assert!(retried > 0, "no 429 was retried");

    // The storm is over: one more run creates nothing and writes nothing back.
    set_faults(&demo, None);
    demo.run("orders.yaml");
    let (erp_after, shop_after) = (tails.0.read(), tails.1.read());
    let writes = |log: &[Value]| -> Vec<String> {
        let token = |r: &Value| r["path"].as_str().is_some_and(|p| p.ends_with("/token"));
        log.iter().filter(|r| r["method"] == "POST" && !token(r)).map(|r| r["path"].to_string()).collect()
    };
    assert_eq!(writes(&erp_after), Vec::<String>::new(), "a run after the storm created in the ERP");
    assert_eq!(writes(&shop_after), Vec::<String>::new(), "a run after the storm wrote to the shop");

    // The orders the flow takes: pending or processing (the seeded ones in other states are left alone).
    let eligible: BTreeSet<String> = shop_orders(&demo)
        .iter()
        .filter(|o| o["status"] == "pending" || o["status"] == "processing")
        .map(|o| o["increment_id"].as_str().expect("an increment id").to_string())
        .collect();
    assert!(eligible.len() >= arrived, "{} eligible of {arrived} created", eligible.len());

    // Every eligible order once in the ERP (by externalDocumentNumber), and nothing else.
    let erp = demo.erp_state();
    let mut in_erp: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for order in erp["salesOrders"].as_array().expect("sales orders") {
        let reference = order["externalDocumentNumber"].as_str().unwrap_or_default().to_string();
        in_erp.entry(reference).or_default().push(order.clone());
    }
    let twice: Vec<(&String, usize)> = in_erp.iter().map(|(k, v)| (k, v.len())).filter(|(_, c)| *c > 1).collect();
    assert!(twice.is_empty(), "orders created more than once in the ERP: {twice:?}");
    let dead: Value =
        serde_json::from_slice(&demo.weir_command(&["dlq", "list", "--json"]).output().expect("dlq").stdout)
            .expect("the dead letters as JSON");
    let dead_keys: BTreeSet<String> = dead
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|e| e["key"].as_str()?.strip_prefix("order:").map(str::to_string))
        .collect();
    assert_eq!(dead_keys, BTreeSet::new(), "dead letters under faults alone: {dead}");
    let missing: Vec<&String> = eligible.iter().filter(|k| !in_erp.contains_key(*k)).collect();
    assert!(missing.is_empty(), "{} orders never reached the ERP: {missing:?}", missing.len());
    assert_eq!(in_erp.keys().cloned().collect::<BTreeSet<_>>(), eligible, "the ERP holds exactly the eligible orders");

    // Every ERP number written back once: the attribute, and exactly one "ERP order …" comment.
    for order in shop_orders(&demo).iter().filter(|o| eligible.contains(o["increment_id"].as_str().unwrap_or(""))) {
        let reference = order["increment_id"].as_str().expect("an increment id");
        let number = in_erp[reference][0]["number"].as_str().expect("an ERP number");
        assert_eq!(order["ext_order_id"], number, "order {reference}");
        let comments: Vec<&Value> = order["status_histories"]
            .as_array()
            .expect("histories")
            .iter()
            .filter(|h| h["comment"].as_str().is_some_and(|c| c.starts_with("ERP order ")))
            .collect();
        assert_eq!(comments.len(), 1, "order {reference}: {comments:?}");
        assert_eq!(comments[0]["comment"], format!("ERP order {number}"), "order {reference}");
    }

    // The books of every run that ended (a killed run has none): received = delivered + filtered +
    // dead-lettered (+ unacknowledged, only in a run that failed).
    let total = |f: &str| summaries.iter().map(|b| b[f].as_u64().expect("a count")).sum::<u64>();
    assert_eq!(
        total("received"),
        total("delivered") + total("filtered") + total("dead_lettered") + total("unacknowledged")
    );
    eprintln!(
        "chaos: {arrived} orders created ({} eligible), {} runs ended + {} killed ({kills:?}), {created_not_written_at_a_kill} \
         created but not written back at a kill, faults {faults_seen:?}, {refused} answered 429 ({retried} \
         retried), books over the ended runs: received {} = delivered {} + filtered {} + dead-lettered {} + \
         unacknowledged {}",
        eligible.len(),
        summaries.len(),
        kills.len(),
        total("received"),
        total("delivered"),
        total("filtered"),
        total("dead_lettered"),
        total("unacknowledged")
    );
}

/// A login that fails in passing (5xx, 429) is tried again within the connection's retry bounds, as
/// any request is (it used to fail the run): the 429's `Retry-After` is honoured.
#[test]
fn a_login_answered_503_then_429_is_tried_again_after_its_retry_after() {
    let demo = Demo::start();
    demo.erp.control("DELETE", "requests", None);
    demo.erp.control("POST", "faults", Some(json!([{"status": 503}, {"status": 429, "retry_after": RETRY_AFTER_S}])));
    demo.run("erp-variants.yaml");
    let log = demo.erp.requests();
    let logins: Vec<&Value> =
        log.iter().filter(|r| r["path"].as_str().is_some_and(|p| p.ends_with("/token"))).collect();
    let faults: Vec<&Value> = logins.iter().map(|r| &r["fault"]).collect();
    assert_eq!(faults, [&json!("503"), &json!("429"), &Value::Null], "{log:?}");
    assert!(millis(logins[2]) - millis(logins[1]) >= (RETRY_AFTER_S * 1000) as i64, "{logins:?}");
    assert_eq!(check_retry_after("ERP", &log), (1, 1));
}
