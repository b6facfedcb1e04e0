//! The `http` source against a paged API on 127.0.0.1 (`support::pages`): every paging strategy reads
//! each of the 95 records exactly once, in order, through `weir run` into a file sink; the traps
//! (Magento's repeated last page, a looping cursor or link) and bad pages fail clearly, naming the URL.

use std::path::Path;

use serde_json::Value;

use crate::support::cli::weir;
use crate::support::pages::{API_KEY, Pages, RECORDS};

/// Writes a pipeline reading `source` (YAML flow mapping keys, after `type: http`) into
/// `out.ndjson`, runs it, and returns the exit code, the records written and stderr.
fn run(dir: &Path, source: &str) -> (Option<i32>, Vec<Value>, String) {
    let yaml = format!(
        "name: poll\nsource: {{ id: api, type: http, {source} }}\nsinks:\n  - {{ id: out, type: file, path: out.ndjson }}\n"
    );
    std::fs::write(dir.join("poll.yaml"), yaml).expect("write pipeline");
    let _ = std::fs::remove_file(dir.join("out.ndjson"));
    let output = weir(&["run", "poll.yaml"], dir);
    let text = std::fs::read_to_string(dir.join("out.ndjson")).unwrap_or_default();
    let records = text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    (output.status.code(), records, String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Asserts that `records` are the dataset, each once, in order.
fn every_record_once_in_order(records: &[Value], name: &str) {
    let ids: Vec<u64> = records.iter().map(|r| r["id"].as_u64().expect("an id")).collect();
    assert_eq!(ids, (0..RECORDS as u64).collect::<Vec<_>>(), "{name}");
}

#[test]
fn every_strategy_reads_every_record_once_in_order() {
    let pages = Pages::start();
    let base = pages.base_url();
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            "magento",
            format!("url: \"{base}/magento\", records: \"$.items[*]\", paginate: {{ type: magento, page_size: 20 }}"),
        ),
        ("page", format!("url: \"{base}/page\", records: \"$.items[*]\", paginate: {{ type: page, page_size: 20 }}")),
        ("offset", format!("url: \"{base}/offset\", records: \"$.data[*]\", paginate: {{ type: offset, limit: 20 }}")),
        (
            "cursor",
            format!(
                "url: \"{base}/cursor\", records: \"$.items[*]\", paginate: {{ type: cursor, cursor: \"$.meta.next\", param: cursor }}"
            ),
        ),
        ("odata", format!("url: \"{base}/odata\", records: \"$.value[*]\", paginate: {{ type: next_link }}")),
        ("link", format!("url: \"{base}/link\", records: \"$[*]\", paginate: {{ type: link_header }}")),
        ("range", format!("url: \"{base}/range\", records: \"$[*]\", paginate: {{ type: range, size: 20 }}")),
    ];
    for (name, source) in cases {
        let before = pages.requests().len();
        let (code, records, stderr) = run(dir.path(), &source);
        assert_eq!(code, Some(0), "{name}: {stderr}");
        every_record_once_in_order(&records, &format!("{name}: {:?}", pages.requests()));
        let requests = &pages.requests()[before..];
        // 95 records at 20 a page: 5 pages. Page and offset paging learn of the end from a short page.
        assert_eq!(requests.len(), 5, "{name}: {requests:?}");
    }
    // Without a total (`items 0-19/*`), the range after a full last page answers 416: the end.
    let (code, records, stderr) = run(
        dir.path(),
        &format!("url: \"{base}/range-star\", records: \"$[*]\", paginate: {{ type: range, size: 19 }}"),
    );
    assert_eq!(code, Some(0), "{stderr}");
    every_record_once_in_order(&records, "range with `*` totals");
    let magento = pages.requests();
    assert!(
        magento[..5].iter().all(|r| r.contains("searchCriteria%5BpageSize%5D=20")),
        "Magento's bracketed keys: {magento:?}"
    );
}

#[test]
fn magentos_repeated_last_page_is_never_read_again() {
    // 95 records at 19 a page: the last page is full, and Magento would answer it again for page 6.
    let pages = Pages::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let source = format!(
        "url: \"{}/magento\", records: \"$.items[*]\", paginate: {{ type: magento, page_size: 19 }}",
        pages.base_url()
    );
    let (code, records, stderr) = run(dir.path(), &source);
    assert_eq!(code, Some(0), "{stderr}");
    every_record_once_in_order(&records, "magento 19");
    assert_eq!(pages.requests().len(), 5, "{:?}", pages.requests());
}

#[test]
fn a_single_request_and_an_empty_page() {
    let pages = Pages::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, records, stderr) =
        run(dir.path(), &format!("url: \"{}/page\", records: \"$.items[*]\"", pages.base_url()));
    assert_eq!((code, records.len()), (Some(0), 20), "{stderr}");
    let (code, records, stderr) =
        run(dir.path(), &format!("url: \"{}/empty\", records: \"$.items[*]\"", pages.base_url()));
    assert_eq!((code, records.len()), (Some(0), 0), "an empty page is no error: {stderr}");
}

#[test]
fn loops_and_bad_pages_fail_the_source_naming_the_url() {
    let pages = Pages::start();
    let base = pages.base_url();
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            format!(
                "url: \"{base}/cursor-loop\", records: \"$.items[*]\", paginate: {{ type: cursor, cursor: \"$.meta.next\", param: c }}"
            ),
            "the cursor `same` came back a second time",
        ),
        (
            format!("url: \"{base}/link-loop\", records: \"$[*]\", paginate: {{ type: link_header }}"),
            "came back a second time",
        ),
        (format!("url: \"{base}/not-json\", records: \"$.items[*]\""), "/not-json: the page is not JSON: <html>"),
        (
            format!("url: \"{base}/no-records\", records: \"$.items[*]\""),
            "/no-records: `records` ($.items[*]) selects nothing",
        ),
        (format!("url: \"{base}/huge\", records: \"$.items[*]\""), "/huge: the body is larger than 16 MiB"),
        (format!("url: \"{base}/missing\", records: \"$.items[*]\""), "/missing answered HTTP 404"),
        (
            format!(
                "url: \"{base}/page\", records: \"$.items[*]\", paginate: {{ type: page, page_size: 20 }}, max_pages: 2"
            ),
            "`max_pages` (2) pages were read",
        ),
    ];
    for (source, expected) in cases {
        let (code, _, stderr) = run(dir.path(), &source);
        assert_eq!(code, Some(1), "{source}: {stderr}");
        assert!(stderr.contains(expected), "{source}: expected `{expected}` in {stderr}");
        assert!(stderr.contains(base), "the error names the page's URL: {stderr}");
    }
}

#[test]
fn config_errors_are_reported_at_their_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("url: \"https://a.example/x\", records: \"$.items[*]\", paginate: { type: pages }", "did you mean `page`?"),
        ("url: \"https://a.example/x\", records: \"$.items[\"", "bad-jsonpath"),
        ("url: \"https://a.example/x\"", "missing field `records`"),
        (
            "url: \"https://a.example/x\", connection: erp, path: /x, records: \"$\"",
            "`url`, or `connection` and `path`, not both",
        ),
    ];
    for (source, expected) in cases {
        let yaml = format!(
            "name: poll\nsource: {{ id: api, type: http, {source} }}\nsinks:\n  - {{ id: out, type: stdout }}\n"
        );
        std::fs::write(dir.path().join("poll.yaml"), yaml).expect("write pipeline");
        let output = weir(&["validate", "poll.yaml"], dir.path());
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert_eq!(output.status.code(), Some(2), "{source}: {text}");
        assert!(text.contains(expected), "{source}: expected `{expected}` in {text}");
        assert!(text.contains("poll.yaml:2:"), "with the line: {text}");
    }
}

#[test]
fn a_connection_keys_and_a_step_apply_to_the_records_read() {
    let pages = Pages::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let connections = format!(
        "connections:\n  api: {{ type: http, base_url: \"{}\", headers: {{ X-Api-Key: \"{API_KEY}\" }} }}\n",
        pages.base_url()
    );
    std::fs::write(dir.path().join("connections.yaml"), connections).expect("write connections");
    let yaml = "name: poll\nsource:\n  id: api\n  type: http\n  connection: api\n  path: secure\n  records: \"$.items[*]\"\n  \
                paginate: { type: page, page_size: 20 }\n  key: \"sku:{{ record.sku }}\"\nsteps:\n  \
                - { id: first_half, type: filter, when: record.id < 50 }\nsinks:\n  - { id: out, type: file, path: out.ndjson }\n";
    std::fs::write(dir.path().join("poll.yaml"), yaml).expect("write pipeline");
    let output = weir(&["run", "poll.yaml"], dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let text = std::fs::read_to_string(dir.path().join("out.ndjson")).expect("output");
    let ids: Vec<u64> =
        text.lines().map(|l| serde_json::from_str::<Value>(l).expect("JSON")["id"].as_u64().expect("id")).collect();
    assert_eq!(ids, (0..50).collect::<Vec<_>>());
    assert!(stderr.contains("received 95 = delivered 50 + filtered 45"), "{stderr}");
    assert!(pages.requests().iter().all(|r| r.starts_with("/secure?page=")), "{:?}", pages.requests());

    // Without the connection's header the API refuses: the source fails with the status and the URL.
    let (code, _, stderr) = run(dir.path(), &format!("url: \"{}/secure\", records: \"$.items[*]\"", pages.base_url()));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("/secure answered HTTP 401"), "{stderr}");
}
