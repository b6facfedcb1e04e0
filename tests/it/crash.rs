//! Crash safety of idempotent creates, end to end: `weir run` delivering keyed orders through the
//! idempotent `http` sink into the test receiver (which loses some responses after committing), killed
//! with SIGKILL at seeded random points and restarted until a run succeeds. At the end every order
//! exists exactly once at the receiver, and the test insists that replays (a lookup finding an order
//! whose create had no recorded outcome) really happened. Plus the two deterministic kill points of
//! `WEIR_FAULT`: between the intent row and the call, and between the call and its recorded outcome.
//!
//! No assertion depends on timing: kill points are chosen by progress (the receiver's create count), and
//! a restart waits until the receiver has finished every request of the killed process.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::receiver::{Config, Receiver, xorshift};
use weir::api::{SqliteStore, StateStore};

const SEED: u64 = 0x5eed_0003;

fn reference(i: usize) -> String {
    format!("R{i:05}")
}

/// Writes `n` orders and the pipeline delivering them into `receiver`.
fn setup(dir: &Path, n: usize, receiver: &Receiver) {
    let mut text = String::with_capacity(n * 40);
    for i in 1..=n {
        text.push_str(&format!("{{\"reference\":\"{}\",\"qty\":{}}}\n", reference(i), i % 17));
    }
    std::fs::write(dir.join("orders.ndjson"), text).expect("write orders");
    let base = receiver.base_url();
    std::fs::write(
        dir.join("p.yaml"),
        format!(
            r#"name: crash
source: {{ id: orders, type: file, path: orders.ndjson, key: "order:{{{{ record.reference }}}}" }}
sinks:
  - id: erp
    type: http
    url: "{base}/orders"
    body: {{ reference: "{{{{ record.reference }}}}", qty: "{{{{ record.qty }}}}" }}
    timeout: 10s
    retries: 3
    retry_backoff: 1ms
    idempotency:
      lookup: {{ url: "{base}/orders?reference={{{{ record.reference | urlencode }}}}", found: "$[0]" }}
    capture: {{ erp_order_id: "$.id" }}
"#
        ),
    )
    .expect("write pipeline");
}

/// Starts `weir run` (stderr into `run-N.log`), with `WEIR_FAULT` set to `fault` if given.
fn start(dir: &Path, run: usize, fault: Option<&str>) -> Child {
    let log = std::fs::File::create(dir.join(format!("run-{run}.log"))).expect("log file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
    command
        .args(["run", "p.yaml", "--state", "state.db", "--quiet"])
        .current_dir(dir)
        .env("WEIR_LOG", "warn")
        .env_remove("WEIR_FAULT")
        .env_remove("WEIR_STATE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    if let Some(f) = fault {
        command.env("WEIR_FAULT", f);
    }
    command.spawn().expect("weir starts")
}

fn log(dir: &Path, run: usize) -> String {
    std::fs::read_to_string(dir.join(format!("run-{run}.log"))).unwrap_or_default()
}

/// Waits until the receiver has finished every request of processes that are gone, so that no create of
/// a killed run can land after the next run's lookup.
fn settle(receiver: &Receiver) {
    assert!(
        receiver.wait_until(Duration::from_secs(60), |s| s.open_connections == 0),
        "the receiver still serves a dead process after 60s"
    );
}

/// Runs until exit and expects success.
fn run_to_end(dir: &Path, run: usize) {
    let status = start(dir, run, None).wait().expect("wait");
    assert!(status.success(), "run {run} failed ({status}):\n{}", log(dir, run));
}

fn assert_exactly_once(receiver: &Receiver, n: usize) {
    let stats = receiver.stats();
    let missing: Vec<String> = (1..=n).map(reference).filter(|r| !stats.creates.contains_key(r)).collect();
    let twice: Vec<(&String, &u32)> = stats.creates.iter().filter(|(_, c)| **c > 1).collect();
    assert!(missing.is_empty(), "{} orders missing, e.g. {:?}", missing.len(), missing.first());
    assert!(twice.is_empty(), "{} orders created more than once, e.g. {:?}", twice.len(), twice.first());
    assert_eq!(stats.creates.len(), n);
    assert_eq!(stats.total_creates, n as u64);
}

/// The actions audited for one order.
fn actions(dir: &Path, reference: &str) -> Vec<String> {
    let store = SqliteStore::open(&dir.join("state.db")).expect("open state");
    store.trace(&format!("order:{reference}")).expect("trace").into_iter().map(|e| e.action).collect()
}

/// 300 orders; the first run aborts at the fault point `fault`; returns once the receiver has finished
/// that run's requests.
fn crash_at(fault: &str) -> (tempfile::TempDir, Receiver, usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = Receiver::start(Config::default());
    let n = 300;
    setup(dir.path(), n, &receiver);
    let status = start(dir.path(), 1, Some(fault)).wait().expect("wait");
    assert_eq!(status.signal(), Some(6), "expected `{fault}` to abort the run ({status}):\n{}", log(dir.path(), 1));
    settle(&receiver);
    (dir, receiver, n)
}

#[test]
fn a_crash_between_the_intent_and_the_call_creates_the_order_once_after_a_lookup() {
    let (dir, receiver, n) = crash_at("after_intent:123");
    let stats = receiver.stats();
    assert_eq!(stats.total_creates, 122, "the 123rd order's intent was written, its create never sent");
    assert!(!stats.creates.contains_key(&reference(123)));

    run_to_end(dir.path(), 2);
    assert_exactly_once(&receiver, n);
    let stats = receiver.stats();
    assert_eq!((stats.lookups_missed, stats.lookups_found), (1, 0), "exactly the pending intent was looked up");
    assert_eq!(actions(dir.path(), &reference(123)), ["created"]);
    assert_eq!(actions(dir.path(), &reference(122)), ["created", "skipped"]);
}

#[test]
fn a_crash_between_the_call_and_its_outcome_is_resolved_by_the_lookup() {
    let (dir, receiver, n) = crash_at("after_call:77");
    assert_eq!(receiver.stats().total_creates, 77, "the 77th order was created, its outcome never recorded");

    run_to_end(dir.path(), 2);
    assert_exactly_once(&receiver, n);
    let stats = receiver.stats();
    assert_eq!((stats.lookups_found, stats.lookups_missed), (1, 0), "the pending intent was found by the lookup");
    assert_eq!(actions(dir.path(), &reference(77)), ["found"]);
}

/// How a run is stopped.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kill {
    /// While the receiver holds the answer to a create it committed: that order's intent is pending,
    /// so the next run must find it with the lookup (a replay).
    InTheCall,
    /// As soon as the test sees the receiver reach a create count, wherever the run is by then.
    Anywhere,
}

#[test]
fn killed_at_twenty_and_more_random_points_every_order_is_created_exactly_once() {
    let n = 10_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = Receiver::start(Config { seed: SEED, drop_fraction: 0.005, ..Config::default() });
    setup(dir.path(), n, &receiver);
    let started = Instant::now();
    let mut rng = SEED;
    let mut kills = Vec::new();
    let mut held = Vec::new();
    for run in 1.. {
        assert!(run <= 200, "no run succeeded after 200 starts");
        let done = receiver.stats().total_creates;
        let kill_at = done + 1 + xorshift(&mut rng) % 700;
        let how = if xorshift(&mut rng).is_multiple_of(2) { Kill::InTheCall } else { Kill::Anywhere };
        if how == Kill::InTheCall {
            receiver.pause_at(kill_at);
        }
        let mut child = start(dir.path(), run, None);
        let run_started = Instant::now();
        let exited = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break Some(status);
            }
            if run_started.elapsed() > Duration::from_secs(600) {
                let _ = child.kill();
                panic!("run {run} neither finished nor reached a kill point in 10 minutes:\n{}", log(dir.path(), run));
            }
            let reached = match how {
                Kill::InTheCall => receiver.wait_until(Duration::from_millis(100), |s| s.paused.is_some()),
                Kill::Anywhere => receiver.wait_until(Duration::from_millis(100), |s| s.total_creates >= kill_at),
            };
            if reached {
                break None;
            }
        };
        match exited {
            Some(status) => {
                receiver.release();
                assert!(status.success(), "run {run} failed ({status}):\n{}", log(dir.path(), run));
                break;
            }
            None => {
                child.kill().expect("SIGKILL");
                child.wait().expect("reap");
                if let Some(reference) = receiver.stats().paused {
                    held.push(reference);
                }
                receiver.release();
                settle(&receiver);
                kills.push((how, kill_at));
            }
        }
    }
    let elapsed = started.elapsed();
    assert_exactly_once(&receiver, n);
    let stats = receiver.stats();
    // Replays: orders whose create happened while their run died before learning it, found by the next
    // run's lookup instead of being created again.
    let replayed: Vec<&String> =
        held.iter().filter(|r| actions(dir.path(), r).first().map(String::as_str) == Some("found")).collect();
    eprintln!(
        "crash test: {} kills ({} in a held call), {} runs, {} responses dropped, {} lookups found an order, \
         {} found nothing, {} replays after a kill checked in the audit trail, {:.1}s",
        kills.len(),
        held.len(),
        kills.len() + 1,
        stats.dropped,
        stats.lookups_found,
        stats.lookups_missed,
        replayed.len(),
        elapsed.as_secs_f64()
    );
    assert!(kills.len() >= 20, "only {} kills: {kills:?}", kills.len());
    assert!(!held.is_empty() && replayed.len() == held.len(), "every held create is replayed: {held:?} {replayed:?}");
    assert!(stats.lookups_found >= held.len() as u64);
}
