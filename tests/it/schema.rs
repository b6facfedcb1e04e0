//! The JSON Schema in `schema/` is generated from the config types: it must be current, describe every
//! property, accept every pipeline in `pipelines/` (checked by a third-party validator, the `jsonschema`
//! crate) and reject malformed ones.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::repo;

fn committed(name: &str) -> Value {
    let text = std::fs::read_to_string(repo().join("schema").join(name)).expect("schema file exists");
    serde_json::from_str(&text).expect("schema file is JSON")
}

#[test]
fn committed_schemas_match_the_code() {
    for (name, generated) in [
        ("pipeline.schema.json", weir::api::pipeline_schema()),
        ("connections.schema.json", weir::api::connections_schema()),
        ("shared.schema.json", weir::api::shared_schema()),
        ("test.schema.json", weir::api::test_schema()),
    ] {
        assert!(
            committed(name) == generated,
            "schema/{name} is stale: run `cargo run -- schema --kind {} -o schema/{name}`",
            name.split('.').next().unwrap_or_default()
        );
    }
}

fn undescribed(schema: &Value, path: &str, out: &mut Vec<String>) {
    match schema {
        Value::Object(obj) => {
            if let Some(Value::Object(props)) = obj.get("properties") {
                for (name, prop) in props {
                    if prop.get("description").and_then(Value::as_str).is_none_or(str::is_empty) {
                        out.push(format!("{path}/properties/{name}"));
                    }
                }
            }
            for (k, v) in obj {
                undescribed(v, &format!("{path}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                undescribed(v, &format!("{path}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_property_has_a_description() {
    for name in ["pipeline.schema.json", "connections.schema.json", "shared.schema.json", "test.schema.json"] {
        let mut missing = Vec::new();
        undescribed(&committed(name), "", &mut missing);
        assert!(missing.is_empty(), "{name}: properties without description: {missing:#?}");
    }
}

fn pipeline_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable").flatten() {
        let path = entry.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !["tables", "data", "expected", "out", ".weir", "tests"].contains(&name) {
                pipeline_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "yaml") && name != "connections.yaml" && name != "shared.yaml" {
            out.push(path);
        }
    }
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&committed("pipeline.schema.json")).expect("schema compiles")
}

#[test]
fn every_shipped_pipeline_declares_and_satisfies_the_schema() {
    let mut files = Vec::new();
    pipeline_files(&repo().join("pipelines"), &mut files);
    pipeline_files(&repo().join("benches/pipelines"), &mut files);
    pipeline_files(&repo().join("benches/webhooks/folder"), &mut files);
    assert!(files.len() >= 3, "expected the example pipelines, found {files:?}");
    let validator = validator();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("# yaml-language-server: $schema="),
            "{} must start with the schema modeline",
            file.display()
        );
        let schema_ref = first.trim_start_matches("# yaml-language-server: $schema=");
        let resolved = file.parent().expect("has folder").join(schema_ref);
        assert!(
            resolved.exists(),
            "{}: modeline points at {}, which does not exist",
            file.display(),
            resolved.display()
        );
        let doc: Value = serde_yaml::from_str(&text).expect("YAML");
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| format!("{}: {e}", e.instance_path)).collect();
        assert!(errors.is_empty(), "{} violates the schema: {errors:#?}", file.display());
    }
}

/// The test files (`tests/*.yaml`) under `dir`.
fn test_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            test_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml")
            && path.parent().and_then(|p| p.file_name()).is_some_and(|n| n == "tests")
        {
            out.push(path);
        }
    }
}

#[test]
fn every_shipped_test_file_declares_and_satisfies_the_test_schema() {
    let mut files = Vec::new();
    test_files(&repo().join("pipelines"), &mut files);
    assert!(!files.is_empty(), "expected the examples' test files");
    let validator = jsonschema::validator_for(&committed("test.schema.json")).expect("schema compiles");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        let first = text.lines().next().unwrap_or_default();
        let schema_ref = first.trim_start_matches("# yaml-language-server: $schema=");
        assert!(
            schema_ref.ends_with("test.schema.json"),
            "{} must start with the test schema's modeline",
            file.display()
        );
        assert!(
            file.parent().expect("has folder").join(schema_ref).exists(),
            "{}: modeline points nowhere",
            file.display()
        );
        let doc: Value = serde_yaml::from_str(&text).expect("YAML");
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| format!("{}: {e}", e.instance_path)).collect();
        assert!(errors.is_empty(), "{} violates the test schema: {errors:#?}", file.display());
    }
    let bad: Value = serde_json::json!({"pipeline": "x.yaml", "tests": [{"name": "t", "expect": {"sinkz": {}}}]});
    assert!(!validator.is_valid(&bad), "the test schema accepted an unknown key");
}

#[test]
fn malformed_pipelines_are_rejected_by_the_schema() {
    let validator = validator();
    let good = json!({
        "name": "p",
        "source": {"id": "in", "type": "file", "path": "x.ndjson"},
        "steps": [{"id": "f", "type": "filter", "when": "true"}],
        "sinks": [{"id": "out", "type": "stdout"}]
    });
    assert!(validator.is_valid(&good), "the baseline must be valid");
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("unknown top-level key", Box::new(|v| v["sinkz"] = json!([]))),
        ("missing name", Box::new(|v| drop(v.as_object_mut().map(|o| o.remove("name"))))),
        ("unknown step type", Box::new(|v| v["steps"][0]["type"] = json!("fitler"))),
        ("unknown field in a step", Box::new(|v| v["steps"][0]["whn"] = json!("x"))),
        ("step without id", Box::new(|v| drop(v["steps"][0].as_object_mut().map(|o| o.remove("id"))))),
        ("wrong type in a step", Box::new(|v| v["steps"][0]["when"] = json!(5))),
        ("missing required step field", Box::new(|v| drop(v["steps"][0].as_object_mut().map(|o| o.remove("when"))))),
        ("bad enum value", Box::new(|v| v["source"]["format"] = json!("xml"))),
        (
            "bad duration",
            Box::new(|v| v["steps"][0] = json!({"id": "b", "type": "batch", "timeout": "5 minutes please"})),
        ),
        ("unknown sink type", Box::new(|v| v["sinks"][0]["type"] = json!("kafka"))),
        ("inputs not a list", Box::new(|v| v["sinks"][0]["inputs"] = json!("f"))),
    ];
    for (what, mutate) in cases {
        let mut doc = good.clone();
        mutate(&mut doc);
        assert!(!validator.is_valid(&doc), "the schema accepted a pipeline with {what}: {doc}");
    }
}
