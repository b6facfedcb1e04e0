//! The canonical benchmark pipeline (`benches/pipelines/canonical.yaml`) produces exactly what the
//! peers produce: the workload's sample record and the rounding/first-match edge cases. It runs with the
//! source parsing only the fields it reads, so this also checks that projection changes nothing — and
//! that a record rejected while parsed in part is dead-lettered whole.

use std::path::Path;

use serde_json::Value;
use weir::api::{Execution, RunOptions, compile, load_paths};

use crate::support::repo;

fn run_canonical(input: &Path, output: &Path) -> weir::api::RunSummary {
    let dead_letter = output.with_extension("dead-letter.ndjson").display().to_string();
    let (input, output) = (input.display().to_string(), output.display().to_string());
    let env = move |name: &str| match name {
        "WEIR_BENCH_INPUT" => Some(input.clone()),
        "WEIR_BENCH_OUTPUT" => Some(output.clone()),
        "WEIR_BENCH_DEAD_LETTER" => Some(dead_letter.clone()),
        _ => None,
    };
    let pipelines =
        load_paths(&[repo().join("benches/pipelines/canonical.yaml")], &env).unwrap_or_else(|d| panic!("{d}"));
    let plan = compile(&pipelines[0]).unwrap_or_else(|d| panic!("{d}"));
    assert!(
        plan.sources[0].projection.is_some(),
        "the canonical mapping reads a few fields: the source must parse only those"
    );
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async { Execution::start(plan, RunOptions::default()).wait().await })
}

fn ndjson(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).expect("readable").lines().map(|l| serde_json::from_str(l).expect("JSON")).collect()
}

#[test]
fn canonical_mapping_matches_the_reference_outputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = repo().join("benches/fixtures");
    let sample = std::fs::read_to_string(fixtures.join("sample-product.json")).expect("sample");
    let mut input = String::new();
    input.push_str(sample.trim());
    input.push('\n');
    input.push_str(&std::fs::read_to_string(fixtures.join("edge-cases.ndjson")).expect("edge cases"));
    std::fs::write(dir.path().join("in.ndjson"), input).expect("write");
    let out = dir.path().join("out.ndjson");
    let summary = run_canonical(&dir.path().join("in.ndjson"), &out);
    assert!(summary.is_success() && summary.balances(), "{summary}");
    let mut expected = vec![
        serde_json::from_str::<Value>(
            std::fs::read_to_string(fixtures.join("sample-item.json")).expect("sample item").trim(),
        )
        .expect("JSON"),
    ];
    expected.extend(ndjson(&fixtures.join("edge-cases.expected.ndjson")));
    // JSON does not tell 185 from 185.0; compare numbers as numbers.
    assert_eq!(
        ndjson(&out).iter().map(numbers_as_f64).collect::<Vec<_>>(),
        expected.iter().map(numbers_as_f64).collect::<Vec<_>>()
    );
}

fn numbers_as_f64(v: &Value) -> Value {
    match v {
        Value::Number(n) => n.as_f64().map_or(Value::Null, |f| serde_json::json!(f)),
        Value::Array(a) => Value::Array(a.iter().map(numbers_as_f64).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), numbers_as_f64(v))).collect()),
        other => other.clone(),
    }
}

#[test]
fn a_record_parsed_in_part_is_dead_lettered_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = r#"{"sku":"X1","name":"No size","price":1.5,"media_gallery_entries":[{"file":"/x.jpg"}],"extension_attributes":{"stock_item":{"qty":1}},"custom_attributes":[{"attribute_code":"color","value":"red"}]}"#;
    std::fs::write(dir.path().join("in.ndjson"), format!("{record}\n")).expect("write");
    let summary = run_canonical(&dir.path().join("in.ndjson"), &dir.path().join("out.ndjson"));
    assert_eq!(summary.records.dead_lettered, 1, "{summary}");
    let entries = ndjson(&dir.path().join("out.dead-letter.ndjson"));
    let entry = entries.iter().find(|e| e["record"]["sku"] == "X1").expect("the entry");
    assert_eq!(
        entry["record"],
        serde_json::from_str::<Value>(record).expect("JSON"),
        "the whole input, not the parsed part"
    );
    assert_eq!(entry["step"], "attrs");
}
