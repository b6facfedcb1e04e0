//! Runs the RFC 9535 JSONPath Compliance Test Suite (tests/data/jsonpath-cts/cts.json) through
//! `weir::api::JsonPath` and fails if fewer cases pass than the recorded floor.

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde_json::Value;
use weir::api::JsonPath;

/// The number of CTS cases Weir passes; the test fails if the count drops below it.
const PASS_FLOOR: usize = 703;

const CTS: &str = include_str!("../data/jsonpath-cts/cts.json");

/// Runs one case; `Err` says why it failed.
fn run_case(case: &Value) -> Result<(), String> {
    let selector = case["selector"].as_str().ok_or("case has no selector")?;
    let invalid = case["invalid_selector"].as_bool().unwrap_or(false);
    let compiled = JsonPath::compile(selector);
    if invalid {
        return match compiled {
            Ok(_) => Err("accepted an invalid selector".to_string()),
            Err(_) => Ok(()),
        };
    }
    let path = compiled.map_err(|e| format!("rejected a valid selector: {e}"))?;
    let got: Vec<Value> = path.query(&case["document"]).into_iter().cloned().collect();
    let got = Value::Array(got);
    if let Some(expected) = case.get("result") {
        if &got == expected {
            return Ok(());
        }
        return Err(format!("expected {expected}, got {got}"));
    }
    if let Some(Value::Array(alternatives)) = case.get("results") {
        if alternatives.contains(&got) {
            return Ok(());
        }
        return Err(format!("expected one of {alternatives:?}, got {got}"));
    }
    Err("case has neither result nor results".to_string())
}

#[test]
fn jsonpath_compliance_test_suite() {
    let suite: Value = serde_json::from_str(CTS).expect("cts.json is valid JSON");
    let cases = suite["tests"].as_array().expect("cts.json has a tests array");

    // Keep panics from individual cases quiet; they are reported as failures below.
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));

    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap_or("<unnamed>").to_string();
        match catch_unwind(AssertUnwindSafe(|| run_case(case))) {
            Ok(Ok(())) => {}
            Ok(Err(why)) => failures.push(format!("{name}: {why}")),
            Err(_) => failures.push(format!("{name}: PANICKED")),
        }
    }
    std::panic::set_hook(previous_hook);

    let passed = cases.len() - failures.len();
    println!("JSONPath CTS: {passed}/{} passed", cases.len());
    for failure in &failures {
        println!("  FAILED {failure}");
    }
    assert!(passed >= PASS_FLOOR, "JSONPath CTS regressed: {passed}/{} passed, floor is {PASS_FLOOR}", cases.len());
}
