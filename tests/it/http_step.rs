//! The `http` step against a JSON API on 127.0.0.1 (`support::api`) and the commerce simulator:
//! answers merged into the records, equal requests answered from the cache (counted at the server),
//! 404 and empty answers by `on_missing`, 5xx retried, a 429 waited out, non-JSON and refused answers
//! dead-lettered with their reason and no secret, a 401 stopping the run.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use weir::api::{Execution, RunOptions, RunSummary, compile, load_paths};

use crate::support::api::{Api, KNOWN_EMAIL};

pub(crate) const TOKEN: &str = "tok-5ecret-4a7b";

/// Runs `yaml` (written as `p.yaml` in `dir`); `${secret:API_TOKEN}` is [`TOKEN`].
pub(crate) fn run(dir: &Path, yaml: &str) -> RunSummary {
    let file = dir.join("p.yaml");
    std::fs::write(&file, yaml).expect("write pipeline");
    let _ = std::fs::remove_file(dir.join("out.ndjson"));
    let _ = std::fs::remove_file(dir.join("dead.ndjson"));
    let env = |n: &str| if n == "API_TOKEN" { Some(TOKEN.to_string()) } else { std::env::var(n).ok() };
    let pipelines = load_paths(&[file], &env).unwrap_or_else(|d| panic!("{d}"));
    let plan = compile(&pipelines[0]).unwrap_or_else(|d| panic!("{d}"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async { Execution::start(plan, RunOptions::default()).wait().await })
}

/// The lines of `name` in `dir` as JSON (none when it does not exist).
pub(crate) fn lines(dir: &Path, name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

/// A pipeline reading `in.ndjson` (written from `records`) through the step `step` (YAML lines,
/// indented 4) into `out.ndjson`, dead letters in `dead.ndjson`.
pub(crate) fn pipeline(dir: &Path, records: &[Value], step: &str) -> String {
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(dir.join("in.ndjson"), text).expect("write input");
    format!(
        "name: p\nsource: {{ id: in, type: file, path: in.ndjson }}\ndead_letter: {{ path: dead.ndjson }}\n\
         steps:\n  - id: call\n    type: http\n{step}\nsinks:\n  - {{ id: out, type: file, path: out.ndjson }}\n"
    )
}

#[test]
fn answers_are_merged_and_equal_requests_are_sent_once() {
    let api = Api::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let emails = [KNOWN_EMAIL, KNOWN_EMAIL, "bob@example.com", KNOWN_EMAIL, "bob@example.com"];
    let records: Vec<Value> = emails.iter().enumerate().map(|(i, e)| json!({"n": i, "email": e})).collect();
    let step = format!(
        "    url: \"{}/customers\"\n    query: {{ email: \"{{{{ record.email }}}}\" }}\n    select: \"$.items[0]\"\n    \
         into: erp.customer\n    on_missing: keep\n",
        api.base_url()
    );
    let summary = run(dir.path(), &pipeline(dir.path(), &records, &step));
    assert!(summary.is_success(), "{summary}");
    assert_eq!(summary.records.delivered, 5, "{summary}");
    let out = lines(dir.path(), "out.ndjson");
    let customers: Vec<Value> = out.iter().map(|r| r["erp"]["customer"]["id"].clone()).collect();
    assert_eq!(customers, [json!(7), json!(7), Value::Null, json!(7), Value::Null]);
    assert_eq!(out[2], json!({"n": 2, "email": "bob@example.com"}), "kept unchanged");
    // Five records, two distinct requests: the rest come from the cache.
    let sent: Vec<String> = api.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(sent, ["/customers?email=ann%40example.com", "/customers?email=bob%40example.com"]);
    let report = summary.components.iter().find(|c| c.id == "call").and_then(|c| c.report.clone());
    assert_eq!(report.map(|r| r.to_string()).as_deref(), Some("requests 2, cache_hits 3, missing 2"));

    // The cache is per run and can be turned off: every record asks again.
    let step = step + "    cache: { max_entries: 0 }\n";
    let summary = run(dir.path(), &pipeline(dir.path(), &records, &step));
    assert!(summary.is_success(), "{summary}");
    assert_eq!(api.count("/customers"), 2 + 5);
}

#[test]
fn a_value_template_sees_the_answer_and_not_found_follows_on_missing() {
    let api = Api::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let records = [json!({"sku": "MH02"}), json!({"sku": "NOPE"}), json!({"sku": "WT/09 Blue"})];
    let step = |on_missing: &str| {
        format!(
            "    url: \"{}/products/{{{{ record.sku | urlencode | replace('/', '%2F') }}}}\"\n    into: price\n    \
             value: \"{{{{ answer.price }}}}\"\n    on_missing: {on_missing}\n",
            api.base_url()
        )
    };
    let summary = run(dir.path(), &pipeline(dir.path(), &records, &step("dead_letter")));
    assert!(summary.is_success(), "{summary}");
    assert_eq!((summary.records.delivered, summary.records.dead_lettered), (2, 1), "{summary}");
    let out = lines(dir.path(), "out.ndjson");
    assert_eq!(out, [json!({"sku": "MH02", "price": 11}), json!({"sku": "WT/09 Blue", "price": 12})]);
    let dead = std::fs::read_to_string(dir.path().join("dead.ndjson")).expect("dead letters");
    assert!(dead.contains("not found") && dead.contains("/products/NOPE answered HTTP 404"), "{dead}");
    assert!(api.requests().iter().any(|r| r.target == "/products/WT%2F09%20Blue"), "{:?}", api.requests());

    let summary = run(dir.path(), &pipeline(dir.path(), &records, &step("drop")));
    assert_eq!((summary.records.delivered, summary.records.filtered), (2, 1), "{summary}");
    assert!(lines(dir.path(), "dead.ndjson").is_empty());
}

#[test]
fn server_errors_are_retried_and_a_429_is_waited_out() {
    let api = Api::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let records = [json!({"path": "flaky/a"}), json!({"path": "busy"})];
    let step = format!(
        "    url: \"{}/{{{{ record.path }}}}\"\n    into: answer\n    retry: {{ max_attempts: 4, initial: 1ms }}\n",
        api.base_url()
    );
    let summary = run(dir.path(), &pipeline(dir.path(), &records, &step));
    assert!(summary.is_success(), "{summary}");
    let out = lines(dir.path(), "out.ndjson");
    assert_eq!(out[0]["answer"], json!({"ok": "a"}));
    assert_eq!(out[1]["answer"], json!({"ok": true}));
    assert_eq!(api.count("/flaky/a"), 3, "two 503s, then the answer");
    let busy: Vec<_> = api.requests().into_iter().filter(|r| r.target == "/busy").collect();
    assert_eq!(busy.len(), 2);
    let waited = busy[1].at - busy[0].at;
    assert!(waited >= Duration::from_millis(950), "Retry-After: 1 was waited out: {waited:?}");

    // Tries spent: the run stops, the record stays unacknowledged (read again next run).
    let records = [json!({"path": "flaky/b"})];
    let step = format!(
        "    url: \"{}/{{{{ record.path }}}}\"\n    into: answer\n    retry: {{ max_attempts: 2, initial: 1ms }}\n",
        api.base_url()
    );
    let summary = run(dir.path(), &pipeline(dir.path(), &records, &step));
    assert!(!summary.is_success());
    assert_eq!(summary.records.unacknowledged, 1, "{summary}");
    let error = summary.error.clone().unwrap_or_default();
    assert!(error.contains("HTTP 503") && error.contains("after 2 attempts"), "{error}");
}

#[test]
fn bad_answers_are_dead_lettered_with_a_reason_and_no_secret() {
    let api = Api::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let records = [json!({"path": "html"}), json!({"path": "refuse"}), json!({"path": "products/MH01"})];
    let step = format!(
        "    url: \"{}/{{{{ record.path }}}}\"\n    headers: {{ Authorization: \"Bearer ${{secret:API_TOKEN}}\" }}\n    \
         into: answer\n",
        api.base_url()
    );
    let summary = run(dir.path(), &pipeline(dir.path(), &records, &step));
    assert!(summary.is_success(), "{summary}");
    assert_eq!((summary.records.delivered, summary.records.dead_lettered), (1, 2), "{summary}");
    let dead = std::fs::read_to_string(dir.path().join("dead.ndjson")).expect("dead letters");
    assert!(dead.contains("not JSON") && dead.contains("Please log in"), "{dead}");
    assert!(dead.contains("HTTP 422"), "{dead}");
    assert!(!dead.contains(TOKEN), "the token is masked: {dead}");
}

#[test]
fn refused_credentials_stop_the_run_without_a_retry_storm() {
    let api = Api::start();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("connections.yaml"),
        format!(
            "connections:\n  api:\n    type: http\n    base_url: \"{}\"\n    auth: {{ type: bearer, token: \"${{secret:API_TOKEN}}\" }}\n",
            api.base_url()
        ),
    )
    .expect("write connections");
    let records: Vec<Value> = (0..5).map(|i| json!({"n": i})).collect();
    let step = "    connection: api\n    path: /unauthorized\n    into: answer\n    cache: { max_entries: 0 }\n";
    let summary = run(dir.path(), &pipeline(dir.path(), &records, step));
    assert!(!summary.is_success(), "{summary}");
    let error = summary.error.clone().unwrap_or_default();
    assert!(error.contains("401") && !error.contains(TOKEN), "{error}");
    assert_eq!(api.count("/unauthorized"), 1, "one refusal stops the step");
    assert_eq!(summary.records.unacknowledged, 5, "{summary}");
}

#[test]
fn the_commerce_simulator_enriches_by_sku() {
    let mut sim = crate::support::cli::command(&["sim", "commerce", "--port", "0"], Path::new("."))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the simulator");
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(sim.stdout.take().expect("stdout")), &mut first)
        .expect("its address");
    let base = first.trim().to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("connections.yaml"),
        format!(
            "connections:\n  commerce:\n    type: http\n    base_url: \"{base}/rest\"\n    \
             auth: {{ type: magento_admin, username: admin, password: admin123 }}\n"
        ),
    )
    .expect("write connections");
    let records =
        [json!({"sku": "WT/09 Blue"}), json!({"sku": "MH01"}), json!({"sku": "NO SUCH"}), json!({"sku": "MH01"})];
    let step = "    connection: commerce\n    path: \"/V1/products/{{ record.sku | urlencode | replace('/', '%2F') }}\"\n    \
                select: \"$.extension_attributes.configurable_product_links\"\n    into: children\n    on_missing: keep\n";
    let summary = run(dir.path(), &pipeline(dir.path(), &records, step));
    let log: Value = sim_get(&format!("{base}/__sim/requests"));
    let _ = sim.kill();
    let _ = sim.wait();
    assert!(summary.is_success(), "{summary}");
    let out = lines(dir.path(), "out.ndjson");
    assert_eq!(out.len(), 4);
    assert!(out[0].get("children").is_none(), "a simple product has no children: {}", out[0]);
    assert_eq!(out[1]["children"].as_array().map(Vec::len), Some(15), "MH01's 15 children: {}", out[1]);
    assert!(out[2].get("children").is_none());
    let paths: Vec<&str> = log.as_array().expect("requests").iter().filter_map(|r| r["path"].as_str()).collect();
    let products: Vec<&&str> = paths.iter().filter(|p| p.contains("/products/")).collect();
    assert_eq!(products.len(), 3, "MH01 once (cached): {paths:?}");
    assert!(products.iter().any(|p| p.ends_with("/products/WT%2F09%20Blue")), "{paths:?}");
}

/// `GET url` as JSON.
fn sim_get(url: &str) -> Value {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let text = reqwest::blocking::get(url).and_then(|r| r.text()).expect("the simulator answers");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

#[test]
fn a_401_that_survives_a_token_renewal_stops_the_run() {
    use crate::support::receiver::{Config, PASSWORD, Receiver};
    // Every token the receiver issues is refused at once: one renewal, then the run stops.
    let receiver = Receiver::start(Config { require_token: true, token_uses: 0, ..Config::default() });
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("connections.yaml"),
        format!(
            "connections:\n  erp:\n    type: http\n    base_url: \"{}\"\n    \
             auth: {{ type: magento_admin, username: admin, password: \"{PASSWORD}\" }}\n",
            receiver.base_url()
        ),
    )
    .expect("write connections");
    let records: Vec<Value> = (0..4).map(|i| json!({"reference": format!("R{i}")})).collect();
    let step =
        "    connection: erp\n    path: \"/orders?reference={{ record.reference | urlencode }}\"\n    into: existing\n";
    let summary = run(dir.path(), &pipeline(dir.path(), &records, step));
    let error = summary.error.clone().unwrap_or_default();
    assert!(error.contains("HTTP 401 (after logging in again)"), "{error}");
    assert!(!error.contains(PASSWORD), "{error}");
    let stats = receiver.stats();
    assert_eq!(stats.logins.get("/V1/integration/admin/token"), Some(&2), "two logins, not one per record");
    assert_eq!(stats.unauthorized, 2);
    assert_eq!(summary.records.unacknowledged, 4, "{summary}");
}
