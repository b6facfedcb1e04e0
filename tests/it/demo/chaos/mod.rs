//! A demo flow under chaos, end to end: both simulators answer 10% of requests 5xx, 5% 429
//! (`Retry-After: 1`) and lose 2% of answers (the work done, the answer held past the client's
//! timeout), and `weir run` is started again and again, as a schedule would, and SIGKILLed at seeded
//! moments. [`Storm`] runs and kills, and checks what every run must hold from the simulators' request
//! logs: every request answered 429 was retried no sooner than its `Retry-After`, and nothing else of
//! that process reached that system meanwhile (the connection's rate limit pauses everything); every
//! run that ended balanced its books. Each flow's test (`orders.rs`, `shipments.rs`) then checks the
//! simulators' state: exactly once.

mod orders;
mod shipments;

use std::collections::BTreeMap;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Demo;
use crate::support::cli::outcome;

pub(super) const SEED: u64 = 0x0c4a_0511;
/// The `Retry-After` of every injected 429, in seconds.
pub(super) const RETRY_AFTER_S: u64 = 1;
/// Runs that are killed (at least; a run that ends before its kill point is not counted).
pub(super) const KILLS: usize = 6;
/// A request that arrives this soon after a 429 was sent before the client heard it (in flight).
const IN_FLIGHT_MS: i64 = 50;
/// Starts of `weir run` after which a storm gives up.
const MOST_RUNS: usize = 80;

/// A whole number from the environment variable `name`, else `default`.
pub(super) fn size(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// A simulator's request log, followed: each call answers what arrived since the last one.
pub(super) struct Tail {
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

    pub(super) fn read(&mut self) -> Vec<Value> {
        let url = format!("{}?from={}", self.url, self.next);
        let text = self.client.get(url).send().and_then(|r| r.text()).expect("the request log");
        let log: Vec<Value> = serde_json::from_str(&text).expect("the request log is a JSON list");
        self.next += log.len();
        log
    }
}

/// Which simulator a kill point counts the requests of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum System {
    Erp,
    Shop,
}

/// When a run is killed: after the `count`-th request to `system` that `is` one of `what` and did
/// its work, counted in this run's requests.
#[derive(Clone, Copy)]
pub(super) struct KillAt {
    pub(super) system: System,
    pub(super) what: &'static str,
    pub(super) count: usize,
    pub(super) is: fn(&Value) -> bool,
}

impl std::fmt::Debug for KillAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "after {} {}", self.count, self.what)
    }
}

impl KillAt {
    fn reached(&self, erp: &[Value], shop: &[Value]) -> bool {
        let log = if self.system == System::Erp { erp } else { shop };
        log.iter().filter(|r| (self.is)(r) && did_work(r)).count() >= self.count
    }
}

/// Requests that did their work: answered normally, or answered too late for the client (`lost`).
pub(super) fn did_work(r: &Value) -> bool {
    r["fault"].is_null() || r["fault"] == "lost"
}

/// A request's JSON body.
pub(super) fn body(r: &Value) -> Option<Value> {
    serde_json::from_str(r["body"].as_str()?).ok()
}

/// One run: the requests each simulator received from it; its exit status and books if it ended
/// (a killed run prints none).
pub(super) struct Run {
    pub(super) erp: Vec<Value>,
    pub(super) shop: Vec<Value>,
    pub(super) ended: Option<(ExitStatus, Value)>,
}

/// Runs a pipeline of the demo under faults until the test says it is done, killing runs as asked,
/// and keeps the tallies every storm reports.
pub(super) struct Storm<'a> {
    demo: &'a Demo,
    pipeline: &'static str,
    tails: (Tail, Tail),
    rng: u64,
    runs: usize,
    pub(super) kills: Vec<KillAt>,
    /// Requests answered 429, and those of them retried.
    refused: usize,
    retried: usize,
    /// The books of every run that ended.
    summaries: Vec<Value>,
    faults_seen: BTreeMap<String, usize>,
}

impl<'a> Storm<'a> {
    /// Turns the faults on in both simulators and follows their request logs from here.
    pub(super) fn start(demo: &'a Demo, pipeline: &'static str) -> Storm<'a> {
        let faults = json!({"5xx": 0.10, "429": 0.05, "lost": 0.02, "seed": SEED,
                            "retry_after": RETRY_AFTER_S, "lost_ms": 2000});
        set_faults(demo, Some(faults));
        let tails = (Tail::new(&demo.erp.base), Tail::new(&demo.commerce.base));
        Storm {
            demo,
            pipeline,
            tails,
            rng: SEED,
            runs: 0,
            kills: Vec::new(),
            refused: 0,
            retried: 0,
            summaries: Vec::new(),
            faults_seen: BTreeMap::new(),
        }
    }

    /// A seeded number in `1..=most`.
    pub(super) fn pick(&mut self, most: usize) -> usize {
        1 + (xorshift(&mut self.rng) % most.max(1) as u64) as usize
    }

    /// A seeded coin.
    pub(super) fn heads(&mut self) -> bool {
        xorshift(&mut self.rng).is_multiple_of(2)
    }

    /// `weir run PIPELINE --json`, SIGKILLed when `kill` is reached; its requests checked for
    /// `Retry-After` and tallied, its books checked if it ended.
    pub(super) fn run(&mut self, kill: Option<KillAt>) -> Run {
        self.runs += 1;
        let number = self.runs;
        assert!(number <= MOST_RUNS, "no end after {MOST_RUNS} starts");
        let run = run_once(self.demo, self.pipeline, &mut self.tails, kill, number);
        let books = run.ended.as_ref().map(|(status, books)| (status.code(), books.clone()));
        eprintln!(
            "run {number} ({kill:?}): {} ERP and {} shop requests, ended {books:?}",
            run.erp.len(),
            run.shop.len()
        );
        for r in run.erp.iter().chain(&run.shop) {
            *self.faults_seen.entry(r["fault"].as_str().unwrap_or("none").to_string()).or_default() += 1;
        }
        for (system, log) in [("ERP", &run.erp), ("shop", &run.shop)] {
            let (refused, retried) = check_retry_after(system, log);
            self.refused += refused;
            self.retried += retried;
        }
        match &run.ended {
            None => self.kills.push(kill.expect("only planned kills")),
            Some((status, books)) => {
                let count = |f: &str| books[f].as_u64().expect("a count");
                assert_eq!(
                    count("received"),
                    count("delivered") + count("filtered") + count("dead_lettered") + count("unacknowledged"),
                    "run {number}: {books}"
                );
                if status.success() {
                    assert_eq!(count("unacknowledged"), 0, "run {number}: {books}");
                }
                self.summaries.push(books.clone());
            }
        }
        run
    }

    /// Ends the storm: every fault kind was served, some 429 was retried, at least 5 runs were killed.
    /// Then the faults are turned off and one more run must write nothing to either system (no POST
    /// other than a login, no PUT).
    pub(super) fn calm(mut self) -> Calm {
        assert!(self.kills.len() >= 5, "{:?}", self.kills);
        for fault in ["429", "lost", "500", "502", "503"] {
            assert!(
                self.faults_seen.get(fault).is_some_and(|c| *c > 0),
                "no {fault} was served: {:?}",
                self.faults_seen
            );
        }
        assert!(self.retried > 0, "no 429 was retried");
        set_faults(self.demo, None);
        self.demo.run(self.pipeline);
        let (erp_after, shop_after) = (self.tails.0.read(), self.tails.1.read());
        let writes = |log: &[Value]| -> Vec<String> {
            let login = |r: &Value| r["path"].as_str().is_some_and(|p| p.ends_with("/token"));
            log.iter()
                .filter(|r| {
                    ["POST", "PUT", "PATCH", "DELETE"].contains(&r["method"].as_str().unwrap_or("")) && !login(r)
                })
                .map(|r| format!("{} {}", r["method"], r["path"]))
                .collect()
        };
        assert_eq!(writes(&erp_after), Vec::<String>::new(), "a run after the storm wrote to the ERP");
        assert_eq!(writes(&shop_after), Vec::<String>::new(), "a run after the storm wrote to the shop");

        // The books of every run that ended (a killed run has none): received = delivered + filtered
        // + dead-lettered (+ unacknowledged, only in a run that failed).
        let total = |f: &str| self.summaries.iter().map(|b| b[f].as_u64().expect("a count")).sum::<u64>();
        assert_eq!(
            total("received"),
            total("delivered") + total("filtered") + total("dead_lettered") + total("unacknowledged")
        );
        let report = format!(
            "{} runs ended + {} killed ({:?}), faults {:?}, {} answered 429 ({} retried), books over the ended \
             runs: received {} = delivered {} + filtered {} + dead-lettered {} + unacknowledged {}",
            self.summaries.len(),
            self.kills.len(),
            self.kills,
            self.faults_seen,
            self.refused,
            self.retried,
            total("received"),
            total("delivered"),
            total("filtered"),
            total("dead_lettered"),
            total("unacknowledged")
        );
        Calm { report }
    }
}

/// What a storm that ended reports (its summary line).
pub(super) struct Calm {
    pub(super) report: String,
}

/// `weir run PIPELINE --json`, killed (SIGKILL) when `kill` is reached.
fn run_once(demo: &Demo, pipeline: &str, tails: &mut (Tail, Tail), kill: Option<KillAt>, number: usize) -> Run {
    let log = std::fs::File::create(demo.state.path().join(format!("run-{number}.log"))).expect("a log file");
    let path = format!("pipelines/demo/{pipeline}");
    let mut child: Child = demo
        .weir_command(&["run", &path, "--json"])
        .env("WEIR_LOG", "warn")
        .env("ERP_TIMEOUT", "1s")
        .env("COMMERCE_TIMEOUT", "1s")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("weir starts");
    let started = Instant::now();
    let (mut erp, mut shop) = (Vec::new(), Vec::new());
    loop {
        erp.extend(tails.0.read());
        shop.extend(tails.1.read());
        if kill.is_some_and(|k| k.reached(&erp, &shop)) {
            child.kill().expect("SIGKILL");
            child.wait().expect("the killed run is reaped");
            break;
        }
        if child.try_wait().expect("try_wait").is_some() {
            let out = child.wait_with_output().expect("its output");
            let status = out.status;
            let (_, stdout, _) = outcome(out);
            let summary: Option<Value> = stdout.lines().last().and_then(|l| serde_json::from_str(l).ok());
            let books =
                summary.unwrap_or_else(|| panic!("run {number} ({status}) printed no summary"))["records"].clone();
            erp.extend(tails.0.read());
            shop.extend(tails.1.read());
            return Run { erp, shop, ended: Some((status, books)) };
        }
        assert!(started.elapsed() < Duration::from_secs(600), "run {number} neither ended nor reached {kill:?}");
        // Following the logs: how often they are read, not a wait for something to happen.
        std::thread::sleep(Duration::from_millis(5));
    }
    // What the killed process had sent is in the logs now (it is reaped); read it all.
    erp.extend(tails.0.read());
    shop.extend(tails.1.read());
    Run { erp, shop, ended: None }
}

pub(super) fn millis(r: &Value) -> i64 {
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
pub(super) fn check_retry_after(system: &str, log: &[Value]) -> (usize, usize) {
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
