//! `weir test` with a cassette: `--record` against an API on 127.0.0.1 (an `http` step and an `http`
//! sink on a connection with a bearer token from `${secret:…}`) sends for real and writes the
//! exchanges with no secret and no host; later runs replay them with the server gone; a changed
//! request fails the test beside the recorded one; a missing or broken cassette is a test-file error.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::support::cli::command;
use crate::support::stub::Stub;

const TOKEN: &str = "tok-cass3tte-9f2e";

/// The pipeline: each order's customer looked up (`GET /customers?email=`), then the order created
/// (`POST /orders`) with `note`, and archived to a file.
fn pipeline(note: &str) -> String {
    format!(
        r#"name: orders
source: {{ id: shop, type: file, path: data/orders.ndjson, format: ndjson, key: "order:{{{{ record.reference }}}}" }}
steps:
  - id: customer
    type: http
    connection: erp
    path: /api/customers
    query: {{ email: "{{{{ record.email }}}}" }}
    select: "$.items[0]"
    into: customer
sinks:
  - id: erp_order
    type: http
    connection: erp
    path: /api/orders
    retry_backoff: 1ms
    body: {{ reference: "{{{{ record.reference }}}}", customer: "{{{{ record.customer.id }}}}", note: {note} }}
  - {{ id: archive, type: file, path: out/archive.ndjson }}
"#
    )
}

const TESTS: &str = r#"pipeline: ../orders.yaml
tests:
  - name: orders reach the ERP with their customer
    cassette: cassettes/orders.json
    expect:
      counters: { received: 2, delivered: 2 }
      steps:
        customer:
          count: 2
          each: ["@.customer.id == 7"]
"#;

/// A client folder whose connection `erp` points at `base`.
fn folder(base: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = [
        (
            "connections.yaml".to_string(),
            format!(
                "connections:\n  erp:\n    type: http\n    base_url: \"{base}\"\n    auth: {{ type: bearer, token: \"${{secret:ERP_TOKEN}}\" }}\n"
            ),
        ),
        ("orders.yaml".into(), pipeline("first")),
        (
            "data/orders.ndjson".into(),
            "{\"reference\": \"R-1\", \"email\": \"ann@example.com\"}\n{\"reference\": \"R-2\", \"email\": \"bob@example.com\"}\n"
                .into(),
        ),
        ("tests/orders.yaml".into(), TESTS.into()),
    ];
    for (rel, text) in files {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

/// `weir test ARGS` in `dir` with the token set: exit code, stdout, stderr.
fn weir_test(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["test"];
    all.extend_from_slice(args);
    let out = command(&all, dir).env("ERP_TOKEN", TOKEN).output().expect("weir runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An ERP on 127.0.0.1: customers found (the answer echoes the `Authorization` header it got, as some
/// APIs echo what they received); the first create answers `503`, the others `201`.
fn erp() -> Stub {
    let creates = AtomicUsize::new(0);
    Stub::start(move |seen, _| {
        let auth = seen.headers.get("authorization").cloned().unwrap_or_default();
        if seen.method == "GET" && seen.target.starts_with("/api/customers") {
            (200, json!({ "items": [ { "id": 7, "seen": auth } ] }))
        } else if seen.method == "POST" && seen.target == "/api/orders" {
            match creates.fetch_add(1, Ordering::SeqCst) {
                0 => (503, json!({ "message": "busy" })),
                n => (201, json!({ "id": 100 + n, "reference": seen.body["reference"] })),
            }
        } else {
            (404, json!({ "message": "no such route" }))
        }
    })
}

/// Records the folder's cassette against a fresh ERP; returns the cassette's text.
fn record(dir: &Path, stub: &Stub) -> String {
    let (code, stdout, stderr) = weir_test(dir, &["--record"]);
    assert_eq!(code, Some(0), "recording passes\n{stdout}\n{stderr}");
    assert!(stderr.contains("recorded") && stderr.contains("(5 exchanges)"), "{stderr}");
    let seen = stub.requests().all();
    let shown: Vec<String> = seen.iter().map(|s| format!("{} {}", s.method, s.target)).collect();
    assert_eq!(seen.len(), 5, "2 lookups, a refused create and 2 creates reached the server: {shown:?}");
    assert!(
        seen.iter().all(|s| s.headers.get("authorization") == Some(&format!("Bearer {TOKEN}"))),
        "recording sends the connection's credentials"
    );
    assert!(!dir.join("out").exists(), "a sink that makes no request stays a stand-in while recording");
    std::fs::read_to_string(dir.join("tests/cassettes/orders.json")).expect("the cassette is written")
}

#[test]
fn a_recorded_cassette_holds_no_secret_nor_host_and_replays_offline() {
    let stub = erp();
    let dir = folder(stub.base_url());
    let text = record(dir.path(), &stub);
    let cassette: Value = serde_json::from_str(&text).expect("the cassette is JSON");
    assert!(!text.contains(TOKEN), "no secret in the cassette:\n{text}");
    assert!(text.contains("Bearer ***"), "a secret echoed in an answer is masked:\n{text}");
    let port = stub.base_url().rsplit(':').next().expect("port");
    assert!(!text.contains("127.0.0.1") && !text.contains(port) && !text.contains("http:"), "no host:\n{text}");
    assert!(!text.to_ascii_lowercase().contains("authorization"), "no request header:\n{text}");
    let exchanges = cassette["exchanges"].as_array().expect("exchanges");
    let statuses: Vec<(&str, &str, u64)> = exchanges
        .iter()
        .map(|e| {
            let (c, m) = (e["component"].as_str().expect("component"), e["request"]["method"].as_str().expect("m"));
            (c, m, e["response"]["status"].as_u64().expect("status"))
        })
        .collect();
    assert_eq!(
        statuses.iter().filter(|(c, m, _)| *c == "erp_order" && *m == "POST").map(|(_, _, s)| *s).collect::<Vec<_>>(),
        [503, 201, 201],
        "the sink's exchanges in order: {statuses:?}"
    );
    assert_eq!(exchanges[0]["request"]["path"], json!("/api/customers"), "{text}");
    assert_eq!(exchanges[0]["request"]["query"], json!([["email", "ann@example.com"]]), "{text}");
    assert_eq!(exchanges[0]["response"]["headers"]["content-type"], json!("application/json"), "{text}");

    // The server is gone: the run is answered from the cassette alone, the 503 then the 201 in turn.
    drop(stub);
    let (code, stdout, stderr) = weir_test(dir.path(), &[]);
    assert_eq!(code, Some(0), "replay passes offline\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert_eq!(std::fs::read_to_string(dir.path().join("tests/cassettes/orders.json")).expect("kept"), text);
}

#[test]
fn a_changed_request_fails_beside_the_recorded_one() {
    let stub = erp();
    let dir = folder(stub.base_url());
    record(dir.path(), &stub);
    drop(stub);
    std::fs::write(dir.path().join("orders.yaml"), pipeline("second")).expect("change the body");
    let (code, stdout, stderr) = weir_test(dir.path(), &[]);
    assert_eq!(code, Some(1), "the test fails\n{stdout}\n{stderr}");
    assert!(stdout.contains("`erp_order` sent a request that no recorded exchange matches"), "{stdout}");
    assert!(
        stdout.contains(r#"recorded: POST /api/orders with body {"reference":"R-1","customer":7,"note":"first"}"#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"now:      POST /api/orders with body {"reference":"R-1","customer":7,"note":"second"}"#),
        "{stdout}"
    );
    assert!(stdout.contains("never requested (the flow changed)"), "unused exchanges are reported: {stdout}");
    assert!(stdout.contains("run `weir test --record` again if the change is intended"), "{stdout}");
}

#[test]
fn a_missing_or_broken_cassette_is_an_error_of_the_test_file() {
    let dir = folder("http://127.0.0.1:9");
    let (code, stdout, stderr) = weir_test(dir.path(), &[]);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("cassette `cassettes/orders.json` does not exist"), "{stderr}");
    assert!(stderr.contains("tests/orders.yaml:4:15"), "at the `cassette:` value: {stderr}");
    assert!(stderr.contains("weir test --record"), "{stderr}");

    let cassette = dir.path().join("tests/cassettes/orders.json");
    std::fs::create_dir_all(cassette.parent().expect("parent")).expect("mkdir");
    std::fs::write(&cassette, "{\n  \"weir_cassette\": 1,\n  \"exchanges\": [ oops ]\n}\n").expect("write");
    let (code, stdout, stderr) = weir_test(dir.path(), &[]);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("cassette `cassettes/orders.json` cannot be read"), "{stderr}");
    assert!(stderr.contains("orders.json:3:18"), "at the bad token: {stderr}");
}
