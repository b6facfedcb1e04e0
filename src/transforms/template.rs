//! `template`: builds a new record from a structured minijinja template (`value:`), or sets fields of
//! the current record from templates (`set:`).

use indexmap::IndexMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::context::{field_to_jsonpath, with_context};
use super::{Output, Transform};
use crate::expr::jsonpath::JsonPath;
use crate::expr::reads::Reads;
use crate::expr::template::ValueTemplate;
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::record::Record;

/// Renders templates into the record.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplateConfig {
    /// The new record, as a structure whose strings may be templates. A string that is exactly one
    /// `{{ expression }}` keeps the expression's type (number, list, object); other template strings
    /// render to strings. `{"$each": expr, "$as": name, "$where": expr, "$value": template}` renders a
    /// list. Exactly one of `value` and `set` is required.
    #[serde(default)]
    pub(crate) value: Option<Value>,
    /// Fields to set on the current record: field name (or JSONPath) → template, rendered against
    /// the record as it was before this step.
    #[serde(default)]
    pub(crate) set: Option<IndexMap<String, Value>>,
}

/// Built `template` step.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    mode: Mode,
    /// Emit records as JSON text where the template's shortcut can write it (see
    /// [`Transform::emit_encoded_json`]).
    encode: bool,
}

#[derive(Debug, Clone)]
enum Mode {
    Replace(ValueTemplate),
    Set(Vec<(String, JsonPath, ValueTemplate)>),
}

impl TemplateConfig {
    /// Compiles every template.
    pub(crate) fn build(&self, ctx: &BuildContext) -> Result<Template, BuildErrors> {
        let mut errors = BuildErrors::default();
        let mode = match (&self.value, &self.set) {
            (Some(value), None) => errors.value_template(ctx, &["value"], value).map(Mode::Replace),
            (None, Some(set)) => {
                let mut fields = Vec::new();
                for (name, template) in set {
                    let path = errors.jsonpath(&["set", name], &field_to_jsonpath(name));
                    let template = errors.value_template(ctx, &["set", name], template);
                    if let (Some(path), Some(template)) = (path, template) {
                        if !path.is_singular() {
                            errors.push(
                                &["set", name],
                                "bad-field",
                                format!("`{name}` does not name a single field"),
                                None,
                            );
                        }
                        fields.push((name.clone(), path, template));
                    }
                }
                Some(Mode::Set(fields))
            }
            (Some(_), Some(_)) => {
                errors.push(
                    &["set"],
                    "conflict",
                    "`value` and `set` cannot be used together",
                    Some("use `value` to build a new record, or `set` to change fields of the current one".into()),
                );
                None
            }
            (None, None) => {
                errors.push(
                    &[],
                    "missing-field",
                    "missing field `value` (or `set`)",
                    Some("add `value:` with the new record's structure".into()),
                );
                None
            }
        };
        errors.finish(|| Some(Template { mode: mode?, encode: false }))
    }
}

impl Transform for Template {
    fn replicate(&self) -> Option<Box<dyn Transform>> {
        Some(Box::new(self.clone()))
    }

    fn emit_encoded_json(&mut self) {
        self.encode = true;
    }

    fn reads(&self) -> Reads {
        match &self.mode {
            Mode::Replace(t) => t.reads().clone(),
            Mode::Set(fields) => {
                let mut reads = Reads::none();
                fields.iter().for_each(|(_, _, t)| reads.merge(t.reads().clone()));
                reads
            }
        }
    }

    fn replaces_record(&self) -> bool {
        matches!(self.mode, Mode::Replace(_))
    }

    fn process(&mut self, batch: Vec<Record>, out: &mut Output) {
        for mut record in batch {
            if self.encode
                && let Mode::Replace(t) = &self.mode
            {
                let mut text = Vec::with_capacity(256);
                if t.write_json(&record.value, &mut text) {
                    record.encoded = Some(text.into());
                    record.value = Value::Null;
                    record.original = None;
                    out.emit(record);
                    continue;
                }
            }
            let result = match &self.mode {
                Mode::Replace(t) => with_context(&mut record, |ctx| t.render(ctx)).map(Some),
                Mode::Set(fields) => with_context(&mut record, |ctx| {
                    fields
                        .iter()
                        .map(|(name, path, t)| t.render(ctx).map(|v| (name, path, v)))
                        .collect::<Result<Vec<_>, _>>()
                })
                .and_then(|values| {
                    for (_, path, v) in values {
                        if let Err(e) = path.set(&mut record.value, v) {
                            return Err(crate::expr::template::TemplateError::Render { reason: e.reason });
                        }
                    }
                    Ok(None)
                }),
            };
            match result {
                Ok(Some(v)) => {
                    record.value = v;
                    // A new record: the input's text no longer describes it.
                    record.original = None;
                    out.emit(record);
                }
                Ok(None) => out.emit(record),
                Err(e) => out.reject(record, e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::testing::{context, run, values};
    use serde_json::json;

    #[test]
    fn value_replaces_record_with_typed_fields() {
        let cfg: TemplateConfig = serde_json::from_value(json!({
            "value": {"no": "{{ record.sku }}-x", "qty": "{{ record.qty }}", "fixed": 3}
        }))
        .expect("valid config");
        let mut step = cfg.build(&context()).expect("builds");
        let out = run(&mut step, vec![json!({"sku": "A", "qty": 5})]);
        assert_eq!(values(&out), vec![json!({"no": "A-x", "qty": 5, "fixed": 3})]);
    }

    #[test]
    fn set_merges_fields_and_missing_value_is_rejected() {
        let cfg: TemplateConfig =
            serde_json::from_value(json!({"set": {"a.b": "{{ record.x * 2 }}"}})).expect("valid config");
        let mut step = cfg.build(&context()).expect("builds");
        let out = run(&mut step, vec![json!({"x": 2}), json!({"y": 1})]);
        assert_eq!(values(&out), vec![json!({"x": 2, "a": {"b": 4}})]);
        assert_eq!(out.rejected.len(), 1);
    }

    #[test]
    fn needs_exactly_one_mode() {
        let cfg: TemplateConfig = serde_json::from_value(json!({})).expect("valid config");
        assert_eq!(cfg.build(&context()).expect_err("fails").0[0].code, "missing-field");
    }
}
