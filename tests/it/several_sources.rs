//! Several sources in one pipeline: each named, read by the steps that name it in `inputs`, each
//! with its own checkpoint; `reconcile` reading its right-hand side from a second source in the graph
//! (whole on every run); and the config errors around them.

use std::path::Path;

use crate::support::cli::weir;
use serde_json::{Value, json};

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn run_json(dir: &Path) -> Value {
    let out = weir(&["run", "--json", "p.yaml"], dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("a JSON summary")
}

#[test]
fn two_sources_merge_into_one_sink_and_each_resumes_on_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("shop_a.ndjson"), "{\"n\":1}\n{\"n\":2}\n").expect("write");
    std::fs::write(dir.path().join("shop_b.ndjson"), "{\"n\":10}\n").expect("write");
    std::fs::write(
        dir.path().join("p.yaml"),
        r#"
name: merge
sources:
  - { id: a, type: file, path: shop_a.ndjson }
  - { id: b, type: file, path: shop_b.ndjson }
steps:
  - { id: tag, type: set, inputs: [a, b], fields: { seen: true } }
sinks:
  - { id: out, type: file, path: out.ndjson }
"#,
    )
    .expect("write pipeline");
    let first = run_json(dir.path());
    assert_eq!(first["records"]["received"], json!(3), "{first}");
    assert_eq!(first["records"]["delivered"], json!(3), "{first}");
    let mut ns: Vec<i64> = lines(&dir.path().join("out.ndjson")).iter().filter_map(|v| v["n"].as_i64()).collect();
    ns.sort_unstable();
    assert_eq!(ns, vec![1, 2, 10]);

    // Only b grows: the next run reads its new line and nothing of a.
    std::fs::write(dir.path().join("shop_b.ndjson"), "{\"n\":10}\n{\"n\":11}\n").expect("append");
    let second = run_json(dir.path());
    assert_eq!(second["records"]["received"], json!(1), "{second}");
    let mut ns: Vec<i64> = lines(&dir.path().join("out.ndjson")).iter().filter_map(|v| v["n"].as_i64()).collect();
    ns.sort_unstable();
    assert_eq!(ns, vec![1, 2, 10, 11], "appended, nothing twice");
}

const DRIFT: &str = r#"
name: drift
sources:
  - { id: erp, type: file, path: erp.ndjson }
  - { id: shop, type: file, path: shop.ndjson }
steps:
  - id: drift
    type: reconcile
    inputs: [erp, shop]
    right: shop
    left_key: "{{ record.sku }}"
    right_key: "{{ record.sku }}"
    compare: [{ left: qty, right: quantity }]
    tolerance: 0
sinks:
  - { id: findings, type: file, path: findings.ndjson }
"#;

#[test]
fn reconcile_reads_its_right_side_from_a_second_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("erp.ndjson"),
        "{\"sku\":\"A\",\"qty\":1}\n{\"sku\":\"B\",\"qty\":2}\n{\"sku\":\"C\",\"qty\":3}\n",
    )
    .expect("write");
    // The shop lacks C, has D besides, and differs on B.
    let shop =
        [json!({"sku": "A", "quantity": 1}), json!({"sku": "B", "quantity": 5}), json!({"sku": "D", "quantity": 4})];
    std::fs::write(dir.path().join("shop.ndjson"), shop.map(|v| format!("{v}\n")).concat()).expect("write");
    std::fs::write(dir.path().join("p.yaml"), DRIFT).expect("write pipeline");
    let summary = run_json(dir.path());
    // 3 left + 3 right inputs: A matched (both filtered), B different (left delivered, right
    // filtered), C missing_right (delivered), D missing_left (the right record delivered).
    assert_eq!(summary["records"]["received"], json!(6), "{summary}");
    assert_eq!(summary["records"]["delivered"], json!(3), "{summary}");
    assert_eq!(summary["records"]["filtered"], json!(3), "{summary}");
    let findings = lines(&dir.path().join("findings.ndjson"));
    let mut kinds: Vec<(String, String)> = findings
        .iter()
        .map(|f| (f["key"].as_str().unwrap_or("").to_string(), f["kind"].as_str().unwrap_or("").to_string()))
        .collect();
    kinds.sort();
    let expected = [("B", "different"), ("C", "missing_right"), ("D", "missing_left")];
    assert_eq!(kinds, expected.map(|(k, v)| (k.to_string(), v.to_string())).to_vec(), "{findings:?}");

    // The right-hand source keeps no checkpoint: it is read whole again; the left resumed and read
    // nothing new, so nothing is reported missing on the left.
    let again = run_json(dir.path());
    assert_eq!(again["records"]["received"], json!(3), "the three shop rows again: {again}");
    assert_eq!(lines(&dir.path().join("findings.ndjson")).len(), 3, "no new findings");
}

#[test]
fn a_right_side_with_a_key_twice_stops_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("erp.ndjson"), "{\"sku\":\"A\",\"qty\":1}\n").expect("write");
    std::fs::write(dir.path().join("shop.ndjson"), "{\"sku\":\"A\"}\n{\"sku\":\"A\"}\n").expect("write");
    std::fs::write(dir.path().join("p.yaml"), DRIFT).expect("write pipeline");
    let out = weir(&["run", "p.yaml"], dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("key `A` appears twice in the right-hand input"), "{stderr}");
    assert!(lines(&dir.path().join("findings.ndjson")).is_empty(), "no findings from a set not known exactly");
}

/// `weir validate` of `yaml`: its exit code and what it printed.
fn validate(yaml: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("p.yaml"), yaml).expect("write pipeline");
    let out = weir(&["validate", "p.yaml"], dir.path());
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout))
}

#[test]
fn config_errors_around_several_sources_point_at_their_line() {
    let both = "name: x\nsource: { id: a, type: file, path: a.ndjson }\nsources:\n  - { id: b, type: file, path: b.ndjson }\nsinks: [{ id: o, type: stdout }]\n";
    let (code, text) = validate(both);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("write `source` (one) or `sources` (a list), not both") && text.contains("p.yaml:3:1"),
        "{text}"
    );

    let empty = "name: x\nsources: []\nsinks: [{ id: o, type: stdout }]\n";
    let (code, text) = validate(empty);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("`sources` must be a non-empty list") && text.contains("p.yaml:2:"), "{text}");

    let unread = "name: x\nsources:\n  - { id: a, type: file, path: a.ndjson }\n  - { id: b, type: file, path: b.ndjson }\nsinks: [{ id: o, type: stdout }]\n";
    let (code, text) = validate(unread);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("nothing reads source `b`") && text.contains("p.yaml:4:"), "{text}");

    let not_an_input = DRIFT
        .replace("inputs: [erp, shop]", "inputs: [erp]")
        .replace("path: findings.ndjson }", "path: findings.ndjson, inputs: [drift, shop] }");
    let (code, text) = validate(&not_an_input);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("`right` names `shop`, which is not one of the step's inputs") && text.contains("p.yaml:10:"),
        "{text}"
    );

    let feeds_left = DRIFT
        .replace("inputs: [erp, shop]", "inputs: [erp, shop, copy]")
        .replace("steps:\n", "steps:\n  - { id: copy, type: set, inputs: [shop], fields: { copied: true } }\n");
    let (code, text) = validate(&feeds_left);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("`shop` also feeds the step's other inputs"), "{text}");
}
