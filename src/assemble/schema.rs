//! The JSON Schema of pipeline files, generated from the config types (schemars). `schema/` holds the
//! generated file that editors use; a test fails when it is stale. Every schema passes through
//! `schema_editor::for_editors` on its way out.

use schemars::generate::SchemaSettings;
use serde_json::Value;

use super::folder::{ConnectionsFile, SharedFile};
use super::pipeline::PipelineConfig;
use super::schema_editor::for_editors;

/// The schema of a pipeline file.
pub fn pipeline_schema() -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.into_root_schema_for::<PipelineConfig>().to_value();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("$id".into(), Value::String("https://weir.dev/schema/pipeline.schema.json".into()));
    }
    for_editors(&mut schema);
    schema
}

/// The schema of `connections.yaml`.
pub fn connections_schema() -> Value {
    let mut schema =
        SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<ConnectionsFile>().to_value();
    for_editors(&mut schema);
    schema
}

/// The schema of `shared.yaml`.
pub fn shared_schema() -> Value {
    let mut schema = SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<SharedFile>().to_value();
    for_editors(&mut schema);
    schema
}

/// Pretty JSON text with a trailing newline, as written to `schema/`: keys in alphabetical order at
/// every level (objects otherwise keep the order they were built in, which for a schema is an
/// implementation detail of the generator).
pub(crate) fn to_text(schema: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), sorted(v))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let mut text = serde_json::to_string_pretty(&sorted(schema)).unwrap_or_default();
    text.push('\n');
    text
}
