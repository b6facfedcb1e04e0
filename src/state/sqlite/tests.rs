use std::time::Duration;

use serde_json::json;

use super::*;
use crate::state::DeadLetterEntry;
use crate::state::{AuditEntry, IntentId, LeaseHolder, PriorIntent, RunStatus, StateError, StateStore};

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join(".weir/state.db")).expect("open");
    (dir, store)
}

fn entry(pipeline: &str, record: serde_json::Value) -> DeadLetterEntry {
    DeadLetterEntry {
        time: "2026-11-28T00:00:00Z".into(),
        pipeline: pipeline.into(),
        step: "map".into(),
        key: Some("order:1".into()),
        error: "boom".into(),
        attempts: 1,
        record,
        parent: None,
    }
}

fn unusable_message(result: StateResult<SqliteStore>) -> String {
    match result {
        Err(StateError::Unusable { message, .. }) => message,
        other => panic!("expected Unusable, got {other:?}"),
    }
}

#[test]
fn checkpoints_and_ids_survive_reopening() {
    let (dir, store) = store();
    assert_eq!(store.checkpoint("p", "src").expect("read"), None);
    store.save_checkpoint("p", "src", &json!({"file": "a", "offset": 10})).expect("save");
    store.save_checkpoint("p", "src", &json!({"file": "a", "offset": 20})).expect("save");
    store.put_id("order:1", "erp_order_id", &json!("SO1")).expect("put");
    drop(store);
    let store = SqliteStore::open(&dir.path().join(".weir/state.db")).expect("reopen");
    assert_eq!(store.checkpoint("p", "src").expect("read"), Some(json!({"file": "a", "offset": 20})));
    assert_eq!(
        store.ids("order:1").expect("ids"),
        json!({"erp_order_id": "SO1"}).as_object().cloned().unwrap_or_default()
    );
    store.clear_checkpoint("p", "src").expect("clear");
    assert_eq!(store.checkpoint("p", "src").expect("read"), None);
}

#[test]
fn intents_go_from_none_to_pending_to_done() {
    let (_dir, store) = store();
    let id = IntentId { pipeline: "p".into(), sink: "erp".into(), key: "order:1".into() };
    assert_eq!(store.begin_intent(&id, "h1").expect("begin"), PriorIntent::None);
    assert_eq!(store.begin_intent(&id, "h1").expect("begin"), PriorIntent::Pending { payload_hash: "h1".into() });
    store.complete_intent(&id, "h1", Some(&json!({"id": 7}))).expect("complete");
    assert_eq!(
        store.begin_intent(&id, "h2").expect("begin"),
        PriorIntent::Done { payload_hash: "h1".into(), response: Some(json!({"id": 7})) }
    );
    // A pending intent whose write was rejected for good is forgotten; a done one is kept.
    let other = IntentId { key: "order:2".into(), ..id.clone() };
    store.begin_intent(&other, "h").expect("begin");
    store.abandon_intent(&other).expect("abandon");
    store.abandon_intent(&id).expect("abandon");
    assert_eq!(store.begin_intent(&other, "h").expect("begin"), PriorIntent::None);
    assert!(matches!(store.begin_intent(&id, "h1").expect("begin"), PriorIntent::Done { .. }));
}

#[test]
fn dead_letters_are_listed_shown_and_dropped() {
    let (_dir, store) = store();
    let a = store.push_dead_letter(&entry("p", json!({"n": 1})), Some(3)).expect("push");
    let b = store.push_dead_letter(&entry("q", json!({"n": 2})), None).expect("push");
    assert!(b > a);
    let all = store.dead_letters(None).expect("list");
    assert_eq!(all.iter().map(|d| d.id).collect::<Vec<_>>(), vec![a, b]);
    assert_eq!(store.dead_letters(Some("q")).expect("list").len(), 1);
    let shown = store.dead_letter(a).expect("show").expect("exists");
    assert_eq!(shown.run_id, Some(3));
    assert_eq!(shown.entry, entry("p", json!({"n": 1})));
    assert!(store.drop_dead_letter(a).expect("drop"));
    assert!(!store.drop_dead_letter(a).expect("drop again"));
    assert_eq!(store.dead_letter(a).expect("show"), None);
}

#[test]
fn runs_are_recorded_and_stale_ones_marked_interrupted() {
    let (_dir, store) = store();
    let first = store.start_run("p", "cli").expect("start");
    // The first run's process "died": the next start marks it interrupted.
    let second = store.start_run("p", "replay").expect("start");
    store.finish_run(second, RunStatus::Succeeded, &json!({"received": 3}), None).expect("finish");
    let runs = store.runs(Some("p"), 10).expect("runs");
    assert_eq!(
        runs.iter().map(|r| (r.id, r.status)).collect::<Vec<_>>(),
        vec![(second, RunStatus::Succeeded), (first, RunStatus::Interrupted)]
    );
    assert_eq!(runs[0].summary, Some(json!({"received": 3})));
    assert_eq!(runs[0].trigger, "replay");
    assert!(store.runs(Some("other"), 10).expect("runs").is_empty());
}

#[test]
fn audit_is_queryable_by_key() {
    let (_dir, store) = store();
    let audit = |key: &str, action: &str| AuditEntry {
        run_id: Some(1),
        time: "t".into(),
        pipeline: "p".into(),
        key: key.into(),
        component: "erp".into(),
        action: action.into(),
        target: "http://erp/orders".into(),
        detail: Some(json!({"status": 201})),
    };
    store.audit(&[audit("order:1", "created"), audit("order:2", "created"), audit("order:1", "found")]).expect("audit");
    let trace = store.trace("order:1").expect("trace");
    assert_eq!(trace.iter().map(|a| a.action.as_str()).collect::<Vec<_>>(), vec!["created", "found"]);
}

#[test]
fn refuses_a_state_file_from_a_newer_schema() {
    let (dir, store) = store();
    store.lock().pragma_update(None, "user_version", SCHEMA_VERSION + 1).expect("bump");
    drop(store);
    let message = unusable_message(SqliteStore::open(&dir.path().join(".weir/state.db")));
    assert!(message.contains("newer Weir"), "{message}");
}

#[test]
fn refuses_a_foreign_sqlite_file_and_a_corrupt_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let foreign = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&foreign).expect("open");
    conn.execute_batch("CREATE TABLE customers (id INTEGER)").expect("create");
    drop(conn);
    let message = unusable_message(SqliteStore::open(&foreign));
    assert!(message.contains("not a Weir state file"), "{message}");

    let corrupt = dir.path().join("corrupt.db");
    std::fs::write(&corrupt, vec![0x5a; 8192]).expect("write");
    let message = unusable_message(SqliteStore::open(&corrupt));
    assert!(message.contains("corrupt"), "{message}");
    // Nothing was written over it.
    assert_eq!(std::fs::read(&corrupt).expect("read"), vec![0x5a; 8192]);
}

#[test]
fn refuses_a_location_it_cannot_write() {
    let message = unusable_message(SqliteStore::open(std::path::Path::new("/proc/weir-test/state.db")));
    assert!(message.contains("--state"), "{message}");
}

#[test]
fn a_full_store_refuses_writes_keeps_what_it_had_and_recovers() {
    let (_dir, store) = store();
    let big = json!({"blob": "x".repeat(3000)});
    store.save_checkpoint("p", "src", &json!({"offset": 1})).expect("save");
    let pages: i64 = store.lock().query_row("PRAGMA page_count", [], |r| r.get(0)).expect("pages");
    // A size limit a few pages above the current size stands in for a full disk.
    store.lock().query_row(&format!("PRAGMA max_page_count = {}", pages + 4), [], |_| Ok(())).expect("limit");
    let mut written = 0;
    let error = loop {
        match store.push_dead_letter(&DeadLetterEntry { key: None, ..entry("p", big.clone()) }, None) {
            Ok(_) => written += 1,
            Err(e) => break e,
        }
        assert!(written < 100, "the size limit never took effect");
    };
    assert!(matches!(error, StateError::Full(_)), "{error:?}");
    assert!(error.is_retryable());
    let bigger = json!({"blob": "y".repeat(40_000)});
    assert!(matches!(store.save_checkpoint("p", "src", &bigger), Err(StateError::Full(_))));
    let ok: String = store.lock().query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
    assert_eq!(ok, "ok");
    assert_eq!(store.checkpoint("p", "src").expect("read"), Some(json!({"offset": 1})));
    assert_eq!(store.dead_letters(None).expect("list").len(), written);
    // Space returns: writes succeed again.
    store.lock().query_row("PRAGMA max_page_count = 1000000", [], |_| Ok(())).expect("unlimit");
    store.push_dead_letter(&entry("p", big.clone()), None).expect("push after space returned");
    store.save_checkpoint("p", "src", &json!({"offset": 2})).expect("save after space returned");
}

#[test]
fn one_holder_at_a_time_per_pipeline() {
    let (dir, first) = store();
    // A second process is a second connection to the same file.
    let second = SqliteStore::open(&dir.path().join(".weir/state.db")).expect("open again");
    let a = LeaseHolder::this_process();
    let mut b = LeaseHolder::this_process();
    b.host = "another-host".into();
    let ttl = Duration::from_secs(60);
    first.acquire_lease("orders", &a, ttl).expect("a takes it");
    first.acquire_lease("orders", &a, ttl).expect("a renews it");
    match second.acquire_lease("orders", &b, ttl) {
        Err(StateError::LeaseHeld(info)) => {
            assert_eq!(info.pid, a.pid);
            assert!(info.to_string().contains("another Weir process"), "{info}");
        }
        other => panic!("expected LeaseHeld, got {other:?}"),
    }
    second.acquire_lease("stock", &b, ttl).expect("other pipelines are free");
    first.release_lease("orders", &b).expect("not b's to release");
    assert!(second.acquire_lease("orders", &b, ttl).is_err());
    first.release_lease("orders", &a).expect("release");
    second.acquire_lease("orders", &b, ttl).expect("b takes it after release");
}

#[test]
fn expired_leases_and_dead_local_holders_are_taken_over() {
    let (_dir, store) = store();
    let mut remote = LeaseHolder::this_process();
    remote.host = "another-host".into();
    store.acquire_lease("p", &remote, Duration::from_millis(0)).expect("take");
    store.acquire_lease("p", &LeaseHolder::this_process(), Duration::from_secs(60)).expect("expired: taken over");

    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let dead = LeaseHolder { id: "dead".into(), host: crate::state::lease::host_name(), pid: child.id() };
    child.wait().expect("wait");
    store.acquire_lease("q", &dead, Duration::from_secs(600)).expect("take");
    store.acquire_lease("q", &LeaseHolder::this_process(), Duration::from_secs(60)).expect("dead holder: taken over");
}

#[test]
fn processes_opening_a_new_file_at_once_all_succeed() {
    for round in 0..5 {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(format!("state-{round}.db"));
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        let openers: Vec<_> = (0..4)
            .map(|_| {
                let (path, barrier) = (path.clone(), std::sync::Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    SqliteStore::open(&path).map(drop)
                })
            })
            .collect();
        for opener in openers {
            opener.join().expect("thread").expect("every opener gets a migrated store");
        }
    }
}

#[test]
fn refuses_an_empty_state_file_it_did_not_create() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.db");
    std::fs::write(&path, b"").expect("write");
    let message = unusable_message(SqliteStore::open(&path));
    assert!(message.contains("empty (0 bytes)") && message.contains("backup"), "{message}");
    assert_eq!(std::fs::metadata(&path).expect("meta").len(), 0, "nothing was written into it");
}

#[test]
fn a_new_state_file_is_built_aside_and_never_left_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.db");
    let store = SqliteStore::open(&path).expect("open");
    drop(store);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into())
        .collect();
    assert_eq!(names, vec!["state.db".to_string()], "no file left aside");
    assert!(std::fs::metadata(&path).expect("meta").len() > 0);
    SqliteStore::open(&path).expect("reopen");
}

#[test]
fn refuses_a_state_file_damaged_in_a_later_page() {
    let (dir, store) = store();
    let entries: Vec<AuditEntry> = (0..5000)
        .map(|i| AuditEntry {
            run_id: None,
            time: "2026-11-28T00:00:00Z".into(),
            pipeline: "p".into(),
            key: format!("order:{i:09}"),
            component: "out".into(),
            action: "delivered".into(),
            target: "out.ndjson".into(),
            detail: None,
        })
        .collect();
    store.audit(&entries).expect("audit");
    store.save_checkpoint("p", "src", &json!({"offset": 1})).expect("save");
    drop(store);
    let path = dir.path().join(".weir/state.db");
    let mut bytes = std::fs::read(&path).expect("read");
    let page = 4096;
    let pages = bytes.len() / page;
    assert!(pages > 40, "the file has {pages} pages");
    // A page in the middle of the audit table, not one that opening the file reads.
    let at = pages / 2 * page;
    bytes[at..at + page].fill(0x5a);
    std::fs::write(&path, &bytes).expect("write");
    let message = unusable_message(SqliteStore::open(&path));
    assert!(message.contains("damaged") || message.contains("corrupt"), "{message}");
}

fn audit_entry(pipeline: &str, key: &str, time: &str) -> AuditEntry {
    AuditEntry {
        run_id: None,
        time: time.into(),
        pipeline: pipeline.into(),
        key: key.into(),
        component: "out".into(),
        action: "delivered".into(),
        target: "out.ndjson".into(),
        detail: None,
    }
}

#[test]
fn retention_prunes_the_audit_log_and_runs_by_age_and_count_per_pipeline() {
    use crate::config::duration::Duration as Age;
    use crate::state::HistoryKind;
    use crate::state::RetentionRule;
    let (_dir, store) = store();
    let old = "2020-01-01T00:00:00Z";
    let now = crate::clock::now_rfc3339();
    let mut entries: Vec<AuditEntry> = (0..3).map(|i| audit_entry("p", &format!("k{i}"), old)).collect();
    entries.extend((3..8).map(|i| audit_entry("p", &format!("k{i}"), &now)));
    entries.extend((0..4).map(|i| audit_entry("q", &format!("q{i}"), old)));
    store.audit(&entries).expect("audit");
    let by_age = RetentionRule { max_age: Some(Age(Duration::from_secs(30 * 86_400))), max_entries: None };
    assert_eq!(store.prune("p", HistoryKind::Audit, &by_age).expect("prune"), 3);
    assert!(store.trace("k2").expect("trace").is_empty());
    assert_eq!(store.trace("k3").expect("trace").len(), 1);
    assert_eq!(store.trace("q0").expect("trace").len(), 1, "another pipeline's log is its own");
    let by_count = RetentionRule { max_age: None, max_entries: Some(2) };
    assert_eq!(store.prune("p", HistoryKind::Audit, &by_count).expect("prune"), 3);
    assert!(store.trace("k5").expect("trace").is_empty());
    assert_eq!(store.trace("k6").expect("trace").len() + store.trace("k7").expect("trace").len(), 2);

    for _ in 0..3 {
        let id = store.start_run("p", "cli").expect("start");
        store.finish_run(id, RunStatus::Succeeded, &json!({}), None).expect("finish");
    }
    let running = store.start_run("p", "cli").expect("start");
    let keep_one = RetentionRule { max_age: None, max_entries: Some(1) };
    assert_eq!(store.prune("p", HistoryKind::Runs, &keep_one).expect("prune"), 3);
    assert_eq!(store.runs(Some("p"), 10).expect("runs").iter().map(|r| r.id).collect::<Vec<_>>(), vec![running]);
    let keep_none = RetentionRule { max_age: None, max_entries: Some(0) };
    store.prune("p", HistoryKind::Runs, &keep_none).expect("prune");
    assert_eq!(store.runs(Some("p"), 10).expect("runs").len(), 1, "a running run is never pruned");
}

#[test]
fn compact_gives_pruned_space_back() {
    let (_dir, store) = store();
    let entries: Vec<AuditEntry> =
        (0..20_000).map(|i| audit_entry("p", &format!("order:{i:09}"), "2020-01-01T00:00:00Z")).collect();
    store.audit(&entries).expect("audit");
    let all = crate::state::RetentionRule { max_age: None, max_entries: Some(0) };
    assert_eq!(store.prune("p", crate::state::HistoryKind::Audit, &all).expect("prune"), 20_000);
    let (before, after) = store.compact().expect("compact");
    assert!(after * 4 < before, "{before} → {after}");
    assert!(store.integrity_check().expect("check").is_empty());
}

#[test]
fn a_record_failing_again_is_one_entry_and_a_later_delivery_resolves_it() {
    let (_dir, store) = store();
    let mut first = entry("p", json!({"n": 1}));
    first.parent = Some(json!({"sku": "P1", "variants": [{"n": 1}]}));
    let id = store.push_dead_letter(&first, Some(1)).expect("push");
    // Run 2 (`--from-start`, still broken): the same key at the same step.
    let again = DeadLetterEntry { error: "still broken".into(), ..first.clone() };
    assert_eq!(store.push_dead_letter(&again, Some(2)).expect("push"), id);
    let other_step = DeadLetterEntry { step: "other".into(), ..first.clone() };
    let other = store.push_dead_letter(&other_step, Some(2)).expect("push");
    assert_ne!(other, id, "another component: its own entry");
    let stored = store.dead_letter(id).expect("show").expect("exists");
    assert_eq!((stored.entry.attempts, stored.run_id, stored.entry.error.as_str()), (2, Some(2), "still broken"));
    assert_eq!(stored.entry.parent, first.parent, "the parent is kept for replays");
    // A delivery in the same run (a sibling, another sink) resolves nothing; one in a later run does.
    let delivered = |run| AuditEntry { run_id: Some(run), ..audit_entry("p", "order:1", "2026-11-28T00:00:00Z") };
    store.audit(&[delivered(2)]).expect("audit");
    assert_eq!(store.dead_letters(Some("p")).expect("list").len(), 2);
    let dead = AuditEntry { action: "dead_lettered".into(), ..delivered(3) };
    store.audit(&[dead]).expect("audit");
    assert_eq!(store.dead_letters(Some("p")).expect("list").len(), 2, "a failure resolves nothing");
    store.audit(&[delivered(3)]).expect("audit");
    assert!(store.dead_letters(Some("p")).expect("list").is_empty());
    // Records without a key are recognised by their content: the same line failing in a later run is
    // one entry; two such lines in one run are two entries, and stay two.
    let keyless = DeadLetterEntry { key: None, parent: None, step: "in".into(), ..first.clone() };
    let a = store.push_dead_letter(&keyless, Some(4)).expect("push");
    let b = store.push_dead_letter(&keyless, Some(4)).expect("push");
    assert_ne!(a, b);
    assert_eq!(store.push_dead_letter(&keyless, Some(5)).expect("push"), a);
    assert_eq!(store.push_dead_letter(&keyless, Some(5)).expect("push"), b);
    let other = DeadLetterEntry { record: json!("another line"), ..keyless.clone() };
    assert!(![a, b].contains(&store.push_dead_letter(&other, Some(5)).expect("push")));
    assert_eq!(store.dead_letter(a).expect("show").expect("kept").entry.attempts, 2);
}
