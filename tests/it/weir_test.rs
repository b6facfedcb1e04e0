//! `weir test` from the command line, on a client folder made for each test: one line per test and a
//! summary, exit 1 with a record-level diff when a test fails, `--filter`, `--junit`, snapshots written
//! by `--update` in their stable form, bad test files reported like bad pipelines (exit 2), and no
//! state file left behind.

use std::path::Path;

use crate::support::cli::{outcome, weir};

/// A pipeline of prices (also `weir diff`'s tests' pipeline).
pub(crate) const PIPELINE: &str = r#"name: prices
source:
  id: erp
  type: file
  path: data/prices.ndjson
  format: ndjson
  key: "price:{{ record.item }}"
steps:
  - id: priced
    type: filter
    when: record.price is defined
  - id: base_price
    type: template
    value:
      sku: "{{ record.item | lookup('skus', column='sku') }}"
      price: "{{ record.price }}"
      store_id: 0
sinks:
  - id: commerce
    type: file
    path: out/base-prices.ndjson
"#;

/// A temporary folder holding `files` (path relative to it, text).
fn client_folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (rel, text) in files {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

/// A client folder with the pipeline, its table and data, and `tests/prices.yaml` holding `tests`.
fn folder(tests: &str) -> tempfile::TempDir {
    client_folder(&[
        ("prices.yaml", PIPELINE),
        ("tables/skus.csv", "item,sku\nI-1,MH01-XS-Black\nI-2,MH01-S-Black\n"),
        (
            "data/prices.ndjson",
            "{\"item\":\"I-1\",\"price\":52.00}\n{\"item\":\"I-2\",\"price\":48}\n{\"item\":\"I-3\"}\n",
        ),
        ("tests/prices.yaml", &format!("pipeline: ../prices.yaml\ntests:\n{tests}")),
    ])
}

fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["test"];
    all.extend_from_slice(args);
    let out = weir(&all, dir);
    outcome(out)
}

#[test]
fn passing_tests_print_one_line_each_and_a_summary_and_leave_no_state_behind() {
    let dir = folder(
        r#"  - name: prices go out with their commerce SKU
    expect:
      sinks:
        commerce:
          key: $.sku
          records:
            - { sku: MH01-XS-Black, price: 52.00, store_id: 0 }
            - { sku: MH01-S-Black, price: 48, store_id: 0 }
      counters: { received: 3, delivered: 2, filtered: 1 }
  - name: a record without price is filtered
    given:
      - rows: [{ item: I-9 }]
    expect:
      steps:
        priced: { count: 0 }
"#,
    );
    let (code, stdout, stderr) = run(dir.path(), &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("running 2 tests from 1 file\n"), "{stdout}");
    assert!(stdout.contains("test tests/prices.yaml :: prices go out with their commerce SKU ... ok ("), "{stdout}");
    assert!(stdout.contains("test result: ok. 2 passed; 0 failed; 0 filtered out;"), "{stdout}");
    assert!(!dir.path().join(".weir").exists(), "a test run must not create a state file");
    assert!(!dir.path().join("out").exists(), "a test run must not write the sink's file");
}

#[test]
fn a_failing_test_shows_the_record_and_field_and_exits_1_with_junit() {
    let dir = folder(
        r#"  - name: prices as the ERP expects them
    expect:
      sinks:
        commerce:
          key: $.sku
          records:
            - { sku: MH01-XS-Black, price: 52, store_id: 0 }
            - { sku: MH01-S-Black, price: 48, store_id: 0 }
  - name: passes
    expect:
      counters: { received: 3 }
"#,
    );
    let junit = dir.path().join("junit.xml");
    let (code, stdout, _) = run(dir.path(), &["--junit", junit.to_str().expect("utf-8")]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("prices as the ERP expects them ... FAILED"), "{stdout}");
    assert!(
        stdout.contains(r#"record "MH01-XS-Black": $.price: expected 52, got 52.00"#),
        "the diff names the record and the field, numbers as written:\n{stdout}"
    );
    assert!(stdout.contains("(tests/prices.yaml:3:11)"), "the failure points at the test:\n{stdout}");
    assert!(stdout.contains("test result: FAILED. 1 passed; 1 failed; 0 filtered out;"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(xml.contains(r#"<testsuite name="tests/prices.yaml" tests="2" failures="1""#), "{xml}");
    assert!(xml.contains("<failure message=\"sink `commerce` (records):\">"), "{xml}");
    let (code, stdout, _) = run(dir.path(), &["--filter", "passes"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("1 passed; 0 failed; 1 filtered out"), "{stdout}");
}

#[test]
fn update_writes_snapshots_sorted_by_key_and_a_change_then_shows_as_a_diff() {
    let dir = folder(
        r#"  - name: snapshot of what goes out
    expect:
      sinks:
        commerce: { snapshot: snapshots/base-prices.ndjson }
"#,
    );
    let (code, stdout, stderr) = run(dir.path(), &[]);
    assert_eq!(code, Some(2), "a missing snapshot is an error of the test file:\n{stdout}{stderr}");
    assert!(stderr.contains("tests/prices.yaml:6:31"), "{stderr}");
    assert!(stderr.contains("weir test --update"), "{stderr}");
    let (code, _, stderr) = run(dir.path(), &["--update"]);
    assert_eq!(code, Some(0), "{stderr}");
    let snapshot = std::fs::read_to_string(dir.path().join("tests/snapshots/base-prices.ndjson")).expect("written");
    assert_eq!(
        snapshot,
        "{\"key\":\"price:I-1\",\"record\":{\"sku\":\"MH01-XS-Black\",\"price\":52.00,\"store_id\":0}}\n\
         {\"key\":\"price:I-2\",\"record\":{\"sku\":\"MH01-S-Black\",\"price\":48,\"store_id\":0}}\n"
    );
    assert_eq!(run(dir.path(), &[]).0, Some(0), "the snapshot holds what comes out");
    std::fs::write(dir.path().join("tables/skus.csv"), "item,sku\nI-1,MH01-XS-Black\nI-2,MH01-S-Blue\n")
        .expect("table");
    let (code, stdout, _) = run(dir.path(), &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains(r#"record `price:I-2`: $.sku: expected "MH01-S-Black", got "MH01-S-Blue""#), "{stdout}");
    assert!(stdout.contains("weir test --update"), "{stdout}");
}

#[test]
fn bad_test_files_are_reported_at_their_place_with_a_hint_and_exit_2() {
    let dir = folder(
        r#"  - name: bad
    given:
      - to: base_prise
        rows: [{}]
      - fixture: data/broken.ndjson
    mocks:
      base_price: [{ then: { status: 200 } }]
    expect:
      sinks:
        comerce: { count: 1 }
"#,
    );
    std::fs::create_dir_all(dir.path().join("tests/data")).expect("mkdir");
    std::fs::write(dir.path().join("tests/data/broken.ndjson"), "{\"item\": \"I-1\"}\n{\"item\": I-2}\n")
        .expect("write");
    let (code, stdout, stderr) = run(dir.path(), &[]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(stdout.is_empty(), "nothing runs when a test file is invalid: {stdout}");
    for expected in [
        "the pipeline has no source or step `base_prise`",
        "tests/prices.yaml:5:13",
        "did you mean `base_price`?",
        "tests/data/broken.ndjson:2:10",
        "step `base_price` (type `template`) makes no HTTP request: it cannot be mocked",
        "the pipeline has no sink `comerce`",
        "did you mean `commerce`?",
        "4 errors found",
    ] {
        assert!(stderr.contains(expected), "missing `{expected}` in:\n{stderr}");
    }
    std::fs::write(dir.path().join("tests/prices.yaml"), "pipeline: nope\ntests: []\n").expect("write");
    let (code, _, stderr) = run(dir.path(), &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no pipeline named `nope` in `.`") && stderr.contains("pipelines: `prices`"), "{stderr}");
}

const ORDERS: &str = r#"name: orders
source:
  id: orders
  type: file
  path: data/orders.ndjson
  format: ndjson
  key: "order:{{ record.increment_id }}"
steps:
  - id: customer
    type: http
    connection: erp
    path: /customers
    query: { email: "{{ record.email }}" }
    select: $.value[0].number
    into: customer_no
  - id: sales_order
    type: template
    value:
      externalDocumentNumber: "{{ record.increment_id }}"
      customerNumber: "{{ record.customer_no }}"
sinks:
  - id: erp_orders
    type: http
    connection: erp
    path: /salesOrders
    retry: { max_attempts: 4, initial: 10s }
    idempotency:
      lookup:
        path: "/salesOrders?ref={{ record.externalDocumentNumber }}"
        found: $.value[0]
    capture: { erp_number: $.number }
"#;

/// A client folder with the orders pipeline (an `http` step and an idempotent `http` sink on a
/// connection whose host does not exist), and `tests/orders.yaml` holding `tests`.
fn orders_folder(tests: &str) -> tempfile::TempDir {
    client_folder(&[
        ("orders.yaml", ORDERS),
        (
            "connections.yaml",
            "connections:\n  erp:\n    type: http\n    base_url: https://erp.invalid/api\n    auth: { type: bearer, token: \"${secret:ERP_TOKEN}\" }\n",
        ),
        ("data/orders.ndjson", "{\"increment_id\":\"1\",\"email\":\"a@example.com\"}\n"),
        ("tests/orders.yaml", &format!("pipeline: orders\ntests:\n{tests}")),
    ])
}

fn run_orders(dir: &Path) -> (Option<i32>, String, String) {
    let out =
        crate::support::cli::command(&["test"], dir).env("ERP_TOKEN", "not-a-real-token-1234").output().expect("runs");
    outcome(out)
}

const CUSTOMER_FOUND: &str = r#"      customer:
        - when: { method: GET, path: /api/customers, query: { email: a@example.com } }
          then: { body: { value: [{ number: C-7 }] } }
"#;

#[test]
fn mocked_answers_drive_retries_lookups_and_captures_without_waiting_or_sending() {
    let dir = orders_folder(&format!(
        r#"  - name: a 503 and a lost answer, then the lookup finds the order
    mocks:
{CUSTOMER_FOUND}      erp_orders:
        - when: {{ method: GET, path: /api/salesOrders, query: {{ ref: "1" }} }}
          then: [{{ body: {{ value: [] }} }}, {{ body: {{ value: [{{ number: SO-9 }}] }} }}]
          times: 2
        - when: {{ method: POST, path: /api/salesOrders, body: {{ customerNumber: C-7 }} }}
          then: [{{ status: 503, headers: {{ Retry-After: "30" }} }}, {{ timeout: true }}]
          times: 2
    expect:
      sinks:
        erp_orders:
          records: [{{ externalDocumentNumber: "1", customerNumber: C-7 }}]
      counters: {{ delivered: 1, dead_lettered: 0 }}
      ids: {{ "order:1": {{ erp_number: SO-9 }} }}
  - name: a 422 dead-letters the order with the API's reason
    mocks:
{CUSTOMER_FOUND}      erp_orders:
        - when: {{ method: GET }}
          then: {{ body: {{ value: [] }} }}
        - when: {{ method: POST }}
          then: {{ status: 422, body: {{ error: customer blocked }} }}
    expect:
      dead_letters: [{{ step: erp_orders, key: "order:1", reason: "422.*customer blocked" }}]
  - name: a customer the ERP does not know is dead-lettered by the step
    mocks:
      customer: [{{ then: {{ body: {{ value: [] }} }} }}]
    expect:
      dead_letters: [{{ step: customer, reason: "not found" }}]
      sinks: {{ erp_orders: {{ count: 0 }} }}
  - name: without mocks the sink only records what it receives
    mocks:
{CUSTOMER_FOUND}    expect:
      sinks: {{ erp_orders: {{ count: 1 }} }}
"#
    ));
    let started = std::time::Instant::now();
    let (code, stdout, stderr) = run_orders(dir.path());
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("4 passed"), "{stdout}");
    // Retry-After: 30 and a 10 s backoff were waited virtually (a real wait would take 40 s or more);
    // this only guards that the waits were not real, it measures nothing.
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "waits must be virtual in a test");
    assert!(!stderr.contains("not-a-real-token"), "{stderr}");
}

#[test]
fn a_request_no_mock_answers_fails_the_test_and_an_unmocked_step_is_refused() {
    let dir = orders_folder(&format!(
        r#"  - name: the sink's lookup has no rule
    mocks:
{CUSTOMER_FOUND}      erp_orders:
        - when: {{ method: POST }}
          then: {{ status: 503 }}
          times: 3
"#
    ));
    let (code, stdout, _) = run_orders(dir.path());
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("mocks of `erp_orders`: no rule matches the request GET /api/salesOrders?ref=1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("mocks of `erp_orders`: rule `POST (any path)` answered 1 request, expected 3"),
        "{stdout}"
    );
    assert!(stdout.contains("the run failed: sink `erp_orders`: no mock answers GET /api/salesOrders"), "{stdout}");
    std::fs::write(dir.path().join("tests/orders.yaml"), "pipeline: orders\ntests:\n  - name: no mocks\n")
        .expect("write");
    let (code, stdout, stderr) = run_orders(dir.path());
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("step `customer` (type `http`) would send requests, and this test has no mock for it"),
        "{stderr}"
    );
    assert!(stderr.contains("tests/orders.yaml:3:11"), "{stderr}");
    let bad_rules = "pipeline: orders\ntests:\n  - name: bad rules\n    mocks:\n      customer:\n        - when: { path: \"re:(\" }\n          then: { status: 99 }\n        - then: []\n";
    std::fs::write(dir.path().join("tests/orders.yaml"), bad_rules).expect("write");
    let (code, _, stderr) = run_orders(dir.path());
    assert_eq!(code, Some(2), "{stderr}");
    for expected in [
        "bad path pattern",
        "tests/orders.yaml:6:25",
        "status 99 is not an HTTP status",
        "`then` is an empty list",
        "tests/orders.yaml:8:17",
    ] {
        assert!(stderr.contains(expected), "missing `{expected}` in:\n{stderr}");
    }
}

#[test]
fn coverage_lists_unreached_steps_one_way_filters_untaken_error_paths_and_unused_table_rows() {
    let dir = folder(
        r#"  - name: only the template, only one SKU
    given:
      - to: base_price
        rows: [{ item: I-1, price: 1 }]
    expect:
      sinks: { commerce: { count: 1 } }
"#,
    );
    let (code, stdout, _) = run(dir.path(), &["--coverage"]);
    assert_eq!(code, Some(0), "{stdout}");
    let report = stdout.split("coverage:\n").nth(1).expect("a coverage report");
    assert_eq!(
        report,
        "  prices.yaml\n    steps no test reached: priced\n    filters not seen both ways: none\n    \
         on_error never taken: priced, base_price\n    table rows never hit: skus: 1 of 2 — row 2 (I-2)\n"
    );
    std::fs::write(
        dir.path().join("tests/prices.yaml"),
        "pipeline: ../prices.yaml\ntests:\n  - name: all, a lookup that fails\n    given:\n      - rows: [{ item: I-1, price: 1 }, { item: I-2 }, { item: I-9, price: 2 }]\n",
    )
    .expect("write");
    let (code, stdout, _) = run(dir.path(), &["--coverage"]);
    assert_eq!(code, Some(0), "{stdout}");
    let report = stdout.split("coverage:\n").nth(1).expect("a coverage report");
    assert!(report.contains("steps no test reached: none"), "{report}");
    assert!(report.contains("filters not seen both ways: none"), "{report}");
    assert!(report.contains("on_error never taken: priced\n"), "base_price dead-lettered I-9: {report}");
    assert!(report.contains("table rows never hit: skus: 1 of 2 — row 2 (I-2)"), "I-2 has no price: {report}");
}
