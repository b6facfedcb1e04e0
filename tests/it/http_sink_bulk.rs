//! The `http` sink's Adobe Commerce asynchronous bulk mode against a stub answering like Magento
//! (`POST /rest/async/bulk/V1/products` → `bulk_uuid` and `request_items`; `GET
//! /rest/V1/bulk/{uuid}/detailed-status` → `operations_list`, open at the first poll): each record is
//! settled by its operation's status, retriable failures go out again in a new bulk, and
//! `weir run --dry-run` shows the rendered request with no secret in it.

use std::sync::Arc;

use serde_json::{Value, json};
use weir::api::{SqliteStore, StateStore};

use crate::http_sink_flight::{dead_letters, run_with};
use crate::support::cli::command;
use crate::support::stub::{Requests, Seen, Stub};

/// Magento's answer to `seen`: bulks are numbered by the POSTs before them; a bulk's first status poll
/// finds every operation open (4).
fn magento(seen: &Seen, requests: &Requests) -> (u16, Value) {
    let before = &requests.all()[..seen.index];
    if seen.method == "POST" {
        let uuid = format!("bulk-{}", before.iter().filter(|s| s.method == "POST").count());
        let items: Vec<Value> = seen
            .body
            .as_array()
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .enumerate()
            .map(|(i, op)| {
                if op["product"]["sku"] == "REJ" {
                    json!({"id": i, "data_hash": "h", "status": "rejected", "error_message": "sku REJ is not allowed"})
                } else {
                    json!({"id": i, "data_hash": "h", "status": "accepted"})
                }
            })
            .collect();
        return (202, json!({"bulk_uuid": uuid, "request_items": items, "errors": false}));
    }
    let uuid = seen.target.trim_start_matches("/rest/V1/bulk/").trim_end_matches("/detailed-status").to_string();
    let bulk_index: usize = uuid.trim_start_matches("bulk-").parse().unwrap_or(usize::MAX);
    let Some(post) = before.iter().filter(|s| s.method == "POST").nth(bulk_index) else {
        return (404, json!({"message": "Bulk not found"}));
    };
    let first_poll = !before.iter().any(|s| s.target == seen.target);
    let operations: Vec<Value> = post.body.as_array().map_or(&[][..], Vec::as_slice).iter().enumerate().map(|(i, op)| {
        let sku = op["product"]["sku"].as_str().unwrap_or_default();
        let (status, message) = match sku {
            _ if first_poll => (4, ""),
            "FAIL" => (3, "The product was unable to be saved."),
            "BAD" => (5, "Invalid data"),
            "RETRY" if bulk_index == 0 => (2, "Deadlock found, try again"),
            "ALWAYS2" => (2, "Deadlock found, try again"),
            "REJ" => (4, ""),
            _ => (1, ""),
        };
        json!({"id": i, "bulk_uuid": uuid, "topic_name": "async.magento.catalog.api.productrepositoryinterface.save.post",
               "serialized_data": op.to_string(), "result_serialized_data": "", "status": status,
               "result_message": message, "error_code": 0})
    }).collect();
    (
        200,
        json!({"operations_list": operations, "bulk_id": uuid, "user_type": 2, "description": "", "start_time": "", "user_id": 1, "operation_count": operations.len()}),
    )
}

const SKUS: [&str; 7] = ["OK-1", "FAIL", "RETRY", "BAD", "ALWAYS2", "REJ", "OK-2"];

fn setup(stub: &Stub) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let connections = format!(
        "connections:\n  magento:\n    type: http\n    base_url: \"{}/rest\"\n    auth: {{ type: bearer, token: \"${{secret:BULK_TEST_TOKEN}}\" }}\n",
        stub.base_url()
    );
    std::fs::write(dir.path().join("connections.yaml"), connections).expect("write connections");
    let text: String = SKUS.iter().map(|s| format!("{}\n", json!({"sku": s, "qty": 3}))).collect();
    std::fs::write(dir.path().join("in.ndjson"), text).expect("write input");
    std::fs::write(
        dir.path().join("p.yaml"),
        r#"name: p
source: { id: in, type: file, path: in.ndjson, key: "sku:{{ record.sku }}" }
dead_letter: { path: dead.ndjson }
sinks:
  - id: products
    type: http
    connection: magento
    path: /async/bulk/V1/products
    headers: { X-Store: "${secret:BULK_TEST_STORE}" }
    batch_size: 20
    body: { product: { sku: "{{ record.sku }}", extension_attributes: { qty: "{{ record.qty }}" } } }
    bulk: { poll_interval: 10ms, resends: 1 }
"#,
    )
    .expect("write pipeline");
    dir
}

#[test]
fn each_record_is_settled_by_its_bulk_operation() {
    let stub = Stub::start(magento);
    let dir = setup(&stub);
    let state = Arc::new(SqliteStore::open(&dir.path().join("state.db")).expect("state"));
    let yaml = std::fs::read_to_string(dir.path().join("p.yaml")).expect("read");
    let vars = [("BULK_TEST_TOKEN", "tok-bulk-5ecret"), ("BULK_TEST_STORE", "default")];
    let summary = run_with(dir.path(), &yaml, Some(&state), true, &vars);
    assert!(summary.is_success(), "{summary}");
    assert_eq!((summary.records.delivered, summary.records.dead_lettered), (3, 4), "{summary}");

    let posts: Vec<Seen> = stub.requests().all().into_iter().filter(|s| s.method == "POST").collect();
    let skus = |s: &Seen| -> Vec<String> {
        s.body
            .as_array()
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(|op| op["product"]["sku"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(posts.len(), 2, "one bulk, then one with the retriable failures");
    assert_eq!(skus(&posts[0]), SKUS);
    assert_eq!(skus(&posts[1]), ["RETRY", "ALWAYS2"]);
    assert_eq!(posts[0].target, "/rest/async/bulk/V1/products");
    assert_eq!(posts[0].headers.get("authorization").map(String::as_str), Some("Bearer tok-bulk-5ecret"));
    let polls = stub.requests().all().iter().filter(|s| s.target == "/rest/V1/bulk/bulk-0/detailed-status").count();
    assert!(polls >= 2, "polled until no operation was open: {polls}");

    let dead = dead_letters(dir.path());
    let reason = |sku: &str| {
        dead.iter()
            .find(|d| d["record"]["sku"] == sku)
            .and_then(|d| d["error"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(reason("FAIL").contains("status 3") && reason("FAIL").contains("unable to be saved"), "{}", reason("FAIL"));
    assert!(reason("BAD").contains("status 5") && reason("BAD").contains("Invalid data"), "{}", reason("BAD"));
    assert!(
        reason("ALWAYS2").contains("failed 2 times") && reason("ALWAYS2").contains("Deadlock"),
        "{}",
        reason("ALWAYS2")
    );
    assert!(reason("REJ").contains("not allowed"), "{}", reason("REJ"));
    assert_eq!(dead.len(), 4);
    assert_eq!(state.trace("sku:RETRY").expect("trace")[0].action, "sent");
    assert_eq!(state.trace("sku:BAD").expect("trace")[0].action, "dead_lettered");
}

#[test]
fn a_dry_run_shows_the_rendered_request_with_secrets_masked() {
    let stub = Stub::start(magento);
    let dir = setup(&stub);
    let out = command(&["run", "p.yaml", "--dry-run"], dir.path())
        .env("BULK_TEST_TOKEN", "tok-dry-5ecret")
        .env("BULK_TEST_STORE", "store-5ecret")
        .output()
        .expect("weir runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stub.requests().all().is_empty(), "a dry run sends nothing");
    let line = stdout.lines().find(|l| l.starts_with("[products] ")).expect("a request line");
    let shown: Value = serde_json::from_str(line.trim_start_matches("[products] ")).expect("JSON");
    assert_eq!(shown["method"], "POST");
    assert_eq!(shown["url"], format!("{}/rest/async/bulk/V1/products", stub.base_url()));
    assert_eq!(shown["body"].as_array().map(Vec::len), Some(7), "{shown}");
    assert_eq!(shown["body"][0], json!({"product": {"sku": "OK-1", "extension_attributes": {"qty": 3}}}));
    assert!(shown["auth"].as_str().is_some_and(|a| a.starts_with("authorization: ***")), "{shown}");
    assert_eq!(shown["headers"]["x-store"], "***", "{shown}");
    assert!(!stdout.contains("5ecret"), "{stdout}");
}

#[test]
fn msi_source_items_through_the_commerce_simulators_async_bulk() {
    // The whole path against `weir sim commerce`: an admin token, one async bulk of five source items,
    // operations kept open for a poll; one fails retriably once (sent again, then saved), one fails
    // for good (3), one is rejected (5). The simulator's own state is checked afterwards.
    let sim = crate::support::commerce::Sim::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let connections = format!(
        "connections:\n  magento:\n    type: http\n    base_url: \"{}/rest/default\"\n    auth: {{ type: magento_admin, username: admin, password: admin123 }}\n",
        sim.base
    );
    std::fs::write(dir.path().join("connections.yaml"), connections).expect("connections");
    let skus = ["MH01-XS-Black", "MH01-S-Black", "MH01-M-Black", "MH01-L-Black", "MH01-XL-Black"];
    let text: String =
        skus.iter().enumerate().map(|(i, s)| format!("{}\n", json!({"sku": s, "qty": 10 + i}))).collect();
    std::fs::write(dir.path().join("stock.ndjson"), text).expect("input");
    std::fs::write(
        dir.path().join("stock.yaml"),
        r#"name: stock
source: { id: stock, type: file, path: stock.ndjson, key: "sku:{{ record.sku }}" }
dead_letter: { path: dead.ndjson }
sinks:
  - id: msi
    type: http
    connection: magento
    path: /async/bulk/V1/inventory/source-items
    batch_size: 100
    body: { sourceItems: [ { sku: "{{ record.sku }}", source_code: default, quantity: "{{ record.qty }}", status: 1 } ] }
    bulk: { poll_interval: 50ms, resends: 2 }
"#,
    )
    .expect("pipeline");
    let outcomes = json!({"open_polls": 1, "outcomes": [
        {"match": "MH01-S-Black", "status": 2, "message": "Deadlock found", "times": 1},
        {"match": "MH01-M-Black", "status": 3, "message": "The source item is not valid"},
        {"match": "MH01-L-Black", "status": 5, "message": "Rejected by validation"},
    ]});
    let (status, answer) = sim.send("POST", "/__sim/bulk", None, Some(outcomes));
    assert_eq!(status, 200, "{answer}");
    let output = crate::support::cli::weir(&["run", "stock.yaml"], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));

    let token = sim.token();
    let quantity = |sku: &str| {
        let found = sim.get(
            &format!(
                "/rest/V1/inventory/source-items?searchCriteria[filter_groups][0][filters][0][field]=sku&searchCriteria[filter_groups][0][filters][0][value]={sku}"
            ),
            &token,
        );
        found["items"][0]["quantity"].as_f64()
    };
    assert_eq!(quantity("MH01-XS-Black"), Some(10.0));
    assert_eq!(quantity("MH01-S-Black"), Some(11.0), "saved when sent again");
    assert_eq!(quantity("MH01-XL-Black"), Some(14.0));
    assert_ne!(quantity("MH01-M-Black"), Some(12.0), "status 3: not saved");
    let dead = dead_letters(dir.path());
    let reasons: Vec<String> = dead.iter().map(|d| d["error"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(dead.len(), 2, "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("The source item is not valid")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("Rejected by validation")), "{reasons:?}");
    let (_, log) = sim.send("GET", "/__sim/requests", None, None);
    let bulk_posts = log
        .as_array()
        .expect("the request log")
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"].as_str().is_some_and(|p| p.contains("/async/bulk/")))
        .count();
    assert_eq!(bulk_posts, 2, "the bulk, then the retriable operation alone");
}
