//! Incremental sync of the `http` source against an order search whose data changes between runs and
//! during one (`support::changes`): every version of every order is delivered exactly once — none
//! lost when an order read on an early page is updated before the next (Magento's numbered pages
//! shift), or when orders share a timestamp across a page boundary or with the watermark, or commit
//! late inside the look-back window; none sent twice.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::support::changes::{Changes, Order, magento_time};
use crate::support::cli::{command, weir};

fn pipeline(base: &str) -> String {
    format!(
        r#"name: orders
source:
  id: magento
  type: http
  url: "{base}/orders"
  records: "$.items[*]"
  paginate: {{ type: magento, page_size: 10 }}
  query:
    "searchCriteria[filter_groups][0][filters][0][field]": updated_at
    "searchCriteria[filter_groups][0][filters][0][value]": "{{{{ watermark }}}}"
    "searchCriteria[filter_groups][0][filters][0][condition_type]": gteq
    "searchCriteria[sortOrders][0][field]": updated_at
    "searchCriteria[sortOrders][0][direction]": ASC
  incremental: {{ field: "$.updated_at", key: "$.entity_id", start: "2026-03-01 00:00:00", look_back: 60s }}
runtime: {{ batch_size: 3 }}
sinks:
  - {{ id: out, type: file, path: out.ndjson }}
"#
    )
}

/// Runs the pipeline and returns the versions `(entity_id, updated_at)` delivered by this run.
fn run(dir: &Path, seen_lines: &mut usize) -> Vec<(u64, String)> {
    let output = weir(&["run", "orders.yaml"], dir);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let text = std::fs::read_to_string(dir.join("out.ndjson")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let new = lines[*seen_lines..]
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            (v["entity_id"].as_u64().expect("an id"), v["updated_at"].as_str().expect("a time").to_string())
        })
        .collect();
    *seen_lines = lines.len();
    new
}

fn version(id: u64, updated: u64) -> (u64, String) {
    (id, magento_time(updated))
}

#[test]
fn every_version_is_delivered_once_though_the_data_changes_during_and_between_runs() {
    // Orders 1–35 changed 10 s apart, except 9–12, which share a time across the first page boundary.
    let orders = (1..=35).map(|id| Order { id, updated: if (9..=12).contains(&id) { 100 } else { id * 10 } });
    let api = Changes::start(orders.collect());
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("orders.yaml"), pipeline(api.base_url())).expect("write pipeline");

    // During the first run, once page 1 is read: order 3 (on page 1) is updated, which shifts every
    // later order one place up the numbered pages; order 36 is created with the time of 9–12.
    api.after_request(
        1,
        Box::new(|orders: &mut Vec<Order>| {
            orders.iter_mut().filter(|o| o.id == 3).for_each(|o| o.updated = 1000);
            orders.push(Order { id: 36, updated: 100 });
        }),
    );
    let mut lines = 0;
    let first = run(dir.path(), &mut lines);
    let mut expected: Vec<(u64, String)> =
        (1..=35).map(|id| version(id, if (9..=12).contains(&id) { 100 } else { id * 10 })).collect();
    expected.extend([version(3, 1000), version(36, 100)]);
    assert_eq!(first.iter().collect::<HashSet<_>>(), expected.iter().collect::<HashSet<_>>(), "{first:?}");
    assert_eq!(first.len(), expected.len(), "each version once: {first:?}");
    assert_eq!(first.last(), Some(&version(3, 1000)), "in change order");

    // Between runs: an update after the watermark (1000), an order at the watermark's very time, and
    // one committed late with a time inside the look-back window (60 s).
    api.change(|orders| {
        orders.iter_mut().filter(|o| o.id == 20).for_each(|o| o.updated = 2000);
        orders.push(Order { id: 37, updated: 1000 });
        orders.push(Order { id: 38, updated: 970 });
    });
    let second = run(dir.path(), &mut lines);
    assert_eq!(second, [version(38, 970), version(37, 1000), version(20, 2000)]);

    // Nothing changed: nothing is sent, and the API is asked from the watermark minus the window.
    let before = api.requests();
    assert_eq!(run(dir.path(), &mut lines), []);
    assert_eq!(api.requests(), before + 1, "one page");
}

#[test]
fn a_crashed_run_resumes_from_the_acknowledged_watermark() {
    // Killed (abort, no cleanup) right after a batch reached the file and before a checkpoint knew
    // it, or right after a checkpoint: the watermark saved is never past what the output holds, and
    // the restart sends each version once — the updates made between the crashes included.
    let api = Changes::start((1..=40).map(|id| Order { id, updated: id * 10 / 3 }).collect());
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("orders.yaml"), pipeline(api.base_url())).expect("write pipeline");
    // Every version that ever existed, and the current ones.
    let mut existed: HashSet<(u64, String)> = (1..=40).map(|id| version(id, id * 10 / 3)).collect();
    let mut current: HashMap<u64, (u64, String)> = (1..=40).map(|id| (id, version(id, id * 10 / 3))).collect();
    for (crash, fault) in
        ["file_batch_written:3", "checkpoint_saved:2", "file_batch_written:4", "checkpoint_saved:3"].iter().enumerate()
    {
        let status = command(&["run", "orders.yaml"], dir.path())
            .env("WEIR_FAULT", fault)
            .env("WEIR_CHECKPOINT_INTERVAL_MS", "1")
            .output()
            .expect("weir runs")
            .status;
        assert_ne!(status.code(), Some(0), "{fault}: the run was meant to crash");
        let id = 2 + crash as u64 * 9;
        api.change(|orders| orders.iter_mut().filter(|o| o.id == id).for_each(|o| o.updated = 500 + id));
        existed.insert(version(id, 500 + id));
        current.insert(id, version(id, 500 + id));
    }
    let mut lines = 0;
    let delivered = run(dir.path(), &mut lines);
    let unique: HashSet<(u64, String)> = delivered.iter().cloned().collect();
    assert_eq!(unique.len(), delivered.len(), "no version twice: {delivered:?}");
    assert!(unique.is_subset(&existed), "only versions that existed: {delivered:?}");
    // A version replaced before its batch was committed may be missing: its successor is not.
    for now in current.values() {
        assert!(unique.contains(now), "the current version {now:?} is delivered: {delivered:?}");
    }
}
