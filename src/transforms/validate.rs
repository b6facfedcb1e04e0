//! `validate`: checks each record against a JSON Schema; records that fail go to the dead-letter output
//! with every violation listed.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{Output, Transform};
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::record::Record;

/// Validates records against a JSON Schema.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValidateConfig {
    /// The JSON Schema (draft 2020-12 unless `$schema` says otherwise), inline.
    #[serde(default)]
    pub(crate) schema: Option<Value>,
    /// A JSON or YAML file holding the schema, relative to the pipeline's folder (exactly one of
    /// `schema` and `schema_file`).
    #[serde(default)]
    pub(crate) schema_file: Option<String>,
}

/// Built `validate` step.
pub(crate) struct Validate {
    validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for Validate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Validate")
    }
}

/// At most this many violations are listed per record.
const MAX_REPORTED: usize = 10;

impl ValidateConfig {
    /// Loads and compiles the schema.
    pub(crate) fn build(&self, ctx: &BuildContext) -> Result<Validate, BuildErrors> {
        let mut errors = BuildErrors::default();
        let schema = match (&self.schema, &self.schema_file) {
            (Some(s), None) => Some(s.clone()),
            (None, Some(file)) => {
                let path = ctx.base_dir.join(file);
                match std::fs::read_to_string(&path) {
                    Ok(text) => match serde_yaml::from_str::<Value>(&text) {
                        Ok(v) => Some(v),
                        Err(e) => {
                            errors.push(
                                &["schema_file"],
                                "bad-schema",
                                format!("`{}` is not JSON or YAML: {e}", path.display()),
                                None,
                            );
                            None
                        }
                    },
                    Err(e) => {
                        errors.push(
                            &["schema_file"],
                            "io",
                            format!("cannot read {}: {e}", crate::config::paths::shown(&path)),
                            None,
                        );
                        None
                    }
                }
            }
            _ => {
                errors.push(&["schema"], "missing-field", "give exactly one of `schema` and `schema_file`", None);
                None
            }
        };
        let validator = schema.and_then(|s| match jsonschema::validator_for(&s) {
            Ok(v) => Some(v),
            Err(e) => {
                let field = if self.schema.is_some() { "schema" } else { "schema_file" };
                errors.push(&[field], "bad-schema", format!("invalid JSON Schema: {e}"), None);
                None
            }
        });
        errors.finish(|| Some(Validate { validator: Arc::new(validator?) }))
    }
}

impl Transform for Validate {
    fn process(&mut self, batch: Vec<Record>, out: &mut Output) {
        for record in batch {
            let problems: Vec<String> = self
                .validator
                .iter_errors(&record.value)
                .take(MAX_REPORTED)
                .map(|e| {
                    let at = e.instance_path.to_string();
                    format!("{}: {e}", if at.is_empty() { "/" } else { at.as_str() })
                })
                .collect();
            if problems.is_empty() {
                out.emit(record);
            } else {
                out.reject(record, format!("schema validation failed: {}", problems.join("; ")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::testing::{context, run};
    use serde_json::json;

    #[test]
    fn rejects_invalid_records_with_reasons() {
        let cfg = ValidateConfig {
            schema: Some(json!({"type": "object", "required": ["sku"], "properties": {"qty": {"type": "number"}}})),
            schema_file: None,
        };
        let mut s = cfg.build(&context()).expect("builds");
        let out = run(&mut s, vec![json!({"sku": "a", "qty": 1}), json!({"qty": "x"})]);
        assert_eq!(out.records.len(), 1);
        let err = &out.rejected[0].error;
        assert!(err.contains("\"sku\" is a required property"), "{err}");
        assert!(err.contains("/qty"), "{err}");
    }

    #[test]
    fn invalid_schema_is_a_build_error() {
        let cfg = ValidateConfig { schema: Some(json!({"type": 12})), schema_file: None };
        assert_eq!(cfg.build(&context()).expect_err("fails").0[0].code, "bad-schema");
    }
}
