//! The status page of `weir serve` in a real headless browser: the admin token asked for and kept,
//! a dead-lettered record shown as text (its `<script>` never runs), the graph drawn, the table fixed
//! on disk, the Replay button pressed and the record delivered, and the record's trace found by key.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::browser::Browser;
use crate::support::served::{Served, ended, prices_folder, write};

const TOKEN: &str = "page-test-token";
/// A hostile record value: markup that would run if the page parsed it as HTML.
const HOSTILE: &str = "<script>window.pwned = 1</script><img src=x onerror=\"window.pwned = 2\">";
const WAIT: Duration = Duration::from_secs(30);

#[test]
fn a_dead_letter_is_seen_and_replayed_from_the_status_page_after_the_table_is_fixed() {
    let browser = match Browser::start() {
        Ok(browser) => browser,
        Err(skip) => {
            eprintln!("SKIPPED: no headless browser: {}", skip.0);
            return;
        }
    };
    let dir = tempfile::tempdir().expect("tempdir");
    prices_folder(dir.path(), &json!({"sku": "B", "note": HOSTILE}));
    let mut served = Served::start(dir.path(), &[("WEIR_RELOAD_EVERY", "100ms"), ("WEIR_ADMIN_TOKEN", TOKEN)]);
    assert_eq!(served.request("POST", "/api/pipelines/prices/run").0, 202);
    served.wait_for(WAIT, "the run", |s| s.runs("prices").first().is_some_and(ended));
    let entries = served.get("/api/dlq?pipeline=prices");
    let id = entries[0]["id"].as_i64().expect("one dead-letter entry");

    // The page loads without the token, asks for it, says when it is wrong, and keeps the right one.
    browser.goto(&format!("{}/", served.base));
    browser.wait_until(WAIT, "the token form", "!document.getElementById('login').hidden");
    browser.type_into("#token", "wrong");
    browser.click("#login button[type=submit]");
    browser.wait_until(
        WAIT,
        "the refusal",
        "document.getElementById('login-error').textContent.includes('not accepted')",
    );
    browser.type_into("#token", TOKEN);
    browser.click("#login button[type=submit]");
    let row = format!("#dlq tr[data-id='{id}']");
    browser.wait_until(WAIT, "the dead-letter entry", &format!("document.querySelector(\"{row}\")"));
    assert_eq!(browser.eval("return sessionStorage.getItem('weir-admin-token');", vec![]), json!(TOKEN));
    let url = browser.eval("return location.href;", vec![]);
    assert!(!url.as_str().unwrap_or_default().contains(TOKEN), "the token is never in a URL: {url}");

    // The failed record: its reason, its key, and the record as text — the markup shown, not run.
    assert!(browser.text(&format!("{row} .reason")).contains("no price for B in tables/prices.csv"));
    let record: Value = serde_json::from_str(&browser.text(&format!("{row} pre.record"))).expect("pretty JSON");
    assert_eq!(record, json!({"sku": "B", "note": HOSTILE}));
    let harmless = "window.pwned === undefined && document.querySelectorAll('#dlq script, #dlq img').length === 0";
    assert_eq!(browser.eval(&format!("return {harmless};"), vec![]), json!(true));

    // The pipeline with its trigger and the health of its last run; its graph drawn.
    let pipeline = browser.text("#pipelines tr[data-name='prices']");
    assert!(pipeline.contains("manual") && pipeline.contains("1 dead-lettered"), "{pipeline}");
    browser.click("#pipelines tr[data-name='prices'] button.graph");
    browser.wait_until(WAIT, "the graph", "document.querySelector('#graph img')?.naturalWidth > 0");
    let (status, svg) = served.request("GET", "/api/pipelines/prices/graph");
    let svg = svg.as_str().unwrap_or_default().to_string();
    assert_eq!(status, 200);
    for label in ["in (file)", "price (template)", "out (file)"] {
        assert!(svg.contains(label), "{label} in {svg}");
    }
    let token = served.token.take();
    assert_eq!(served.request("GET", "/api/pipelines/prices/graph").0, 401, "the graph is behind the token");
    served.token = token;

    // Fixed on disk, reloaded, replayed with the button: the entry goes and the record is delivered.
    write(dir.path(), "tables/prices.csv", "sku,price\nA,10\nB,12\n");
    served.wait_for(WAIT, "the reload", |s| s.log().contains("configuration reloaded"));
    browser.click(&format!("{row} button.replay"));
    browser.wait_until(
        WAIT,
        "the replayed entry gone from the page",
        &format!("!document.querySelector(\"{row}\") && !document.getElementById('dlq-empty').hidden"),
    );
    assert!(browser.text("#message").contains(&format!("Entry {id} replayed: delivered")));
    let out = std::fs::read_to_string(dir.path().join("out.ndjson")).expect("the output");
    let delivered: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    assert_eq!(delivered.last(), Some(&json!({"sku": "B", "note": HOSTILE, "price": "12"})), "{out}");
    browser.wait_until(
        WAIT,
        "the replay in the runs",
        "document.querySelector('#runs tbody').innerText.includes('replay')",
    );

    // The record's trace by key.
    browser.type_into("#trace-key", "sku:B");
    browser.click("#trace-form button[type=submit]");
    browser.wait_until(WAIT, "the trace", "document.querySelector('#trace tbody').children.length > 0");
    let trace = browser.text("#trace tbody");
    assert!(trace.contains("dead_lettered") && trace.contains("out"), "{trace}");
}
