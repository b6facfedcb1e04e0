//! Why a value has none of the shapes an untagged enum of a config struct accepts: serde only says
//! "data did not match any variant"; the component's JSON Schema says which keys or values the
//! variant of the value's JSON type rejects, each reported at its own position.

use serde_json::Value;

use super::parse::{Parser, escape};
use crate::config::diagnostic::suggestion;
use crate::config::file::Anchor;
use crate::config::schema_walk::{resolve, sub_schema, type_matches};

impl Parser<'_> {
    /// Explains why the value at `at` (inside `own`, the component's type-specific keys at `base`)
    /// has none of the shapes of an untagged enum: picks the variant whose JSON type matches the value
    /// (a mapping for an options struct) and reports what that variant rejects, each at its own key or
    /// value. False when nothing could be said (the caller then reports the generic error).
    pub(super) fn explain_shape(
        &mut self,
        root: &Value,
        own: &Value,
        at: &str,
        component: Option<&str>,
        base: &str,
    ) -> bool {
        let rel = at.strip_prefix(base).unwrap_or(at);
        let Some(value) = own.pointer(rel) else {
            return false;
        };
        let Some(schema) = sub_schema(root, root, own, rel) else {
            return false;
        };
        let Some(branch) = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Value::as_array)
            .and_then(|branches| branches.iter().filter_map(|b| resolve(root, b)).find(|b| type_matches(b, value)))
        else {
            return false;
        };
        let mut full = branch.clone();
        if let (Some(obj), Some(defs)) = (full.as_object_mut(), root.get("$defs")) {
            obj.insert("$defs".into(), defs.clone());
        }
        let Ok(validator) = jsonschema::validator_for(&full) else {
            return false;
        };
        let mut any = false;
        for error in validator.iter_errors(value) {
            any = true;
            let inner = error.instance_path.as_str();
            let here = format!("{at}{inner}");
            match &error.kind {
                jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                    let allowed: Vec<String> = sub_schema(root, &full, value, inner)
                        .and_then(|s| s.get("properties"))
                        .and_then(Value::as_object)
                        .map(|p| p.keys().cloned().collect())
                        .unwrap_or_default();
                    let refs: Vec<&str> = allowed.iter().map(String::as_str).collect();
                    for name in unexpected {
                        let hint = Some(suggestion(name, &refs, "allowed keys"));
                        let key_at = format!("{here}/{}", escape(name));
                        self.error(
                            "unknown-field",
                            format!("unknown field `{name}`"),
                            &key_at,
                            Anchor::Key,
                            component,
                            base,
                            hint,
                        );
                    }
                }
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    let name = property.as_str().unwrap_or_default();
                    let hint = Some(format!("add `{name}: …` here"));
                    self.error(
                        "missing-field",
                        format!("missing field `{name}`"),
                        &here,
                        Anchor::Key,
                        component,
                        base,
                        hint,
                    );
                }
                _ => self.error("wrong-type", error.to_string(), &here, Anchor::Value, component, base, None),
            }
        }
        any
    }
}
