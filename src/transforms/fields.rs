//! Field edits: `set` (values or templates), `rename`, and `remove`.

use indexmap::IndexMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::context::{field_to_jsonpath, with_context};
use super::{Output, Transform};
use crate::expr::jsonpath::JsonPath;
use crate::expr::template::ValueTemplate;
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::record::Record;

/// Sets fields to literal values or templates.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetConfig {
    /// [Field reference](configuration.md#jsonpath) (name, dotted name or JSONPath) → a literal or a
    /// [structured template](configuration.md#typed-values) (strings may be templates such as
    /// `{{ record.x }}`), rendered against the record as it entered the step.
    pub(crate) fields: IndexMap<String, Value>,
}

/// Renames fields.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenameConfig {
    /// Old field → new field (names, dotted names or JSONPath); a dotted new name creates the objects
    /// on its path.
    pub(crate) fields: IndexMap<String, String>,
    /// Dead-letter records that lack a field to rename (default: leave them as they are).
    #[serde(default)]
    pub(crate) require: bool,
}

/// Removes fields.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemoveConfig {
    /// Fields to remove (names, dotted names or JSONPath); absent fields are ignored.
    pub(crate) fields: Vec<String>,
}

/// Built field edit.
#[derive(Debug)]
pub(crate) enum FieldEdit {
    /// `set`
    Set(Vec<(JsonPath, ValueTemplate)>),
    /// `rename`
    Rename(Vec<(JsonPath, JsonPath)>, bool),
    /// `remove`
    Remove(Vec<JsonPath>),
}

fn singular(errors: &mut BuildErrors, field: &[&str], name: &str) -> Option<JsonPath> {
    let path = errors.jsonpath(field, &field_to_jsonpath(name))?;
    if !path.is_singular() {
        errors.push(
            field,
            "bad-field",
            format!("`{name}` does not name a single field"),
            Some("use a name, a dotted name, or a JSONPath with only names and indexes".into()),
        );
        return None;
    }
    Some(path)
}

impl SetConfig {
    /// Compiles targets and templates.
    pub(crate) fn build(&self, ctx: &BuildContext) -> Result<FieldEdit, BuildErrors> {
        let mut errors = BuildErrors::default();
        let mut edits = Vec::new();
        for (name, value) in &self.fields {
            let path = singular(&mut errors, &["fields", name], name);
            let template = errors.value_template(ctx, &["fields", name], value);
            if let (Some(p), Some(t)) = (path, template) {
                edits.push((p, t));
            }
        }
        errors.finish(|| Some(FieldEdit::Set(edits)))
    }
}

impl RenameConfig {
    /// Compiles both sides of every rename.
    pub(crate) fn build(&self, _ctx: &BuildContext) -> Result<FieldEdit, BuildErrors> {
        let mut errors = BuildErrors::default();
        let mut edits = Vec::new();
        for (from, to) in &self.fields {
            let a = singular(&mut errors, &["fields", from], from);
            let b = singular(&mut errors, &["fields", from], to);
            if let (Some(a), Some(b)) = (a, b) {
                edits.push((a, b));
            }
        }
        errors.finish(|| Some(FieldEdit::Rename(edits, self.require)))
    }
}

impl RemoveConfig {
    /// Compiles every path.
    pub(crate) fn build(&self, _ctx: &BuildContext) -> Result<FieldEdit, BuildErrors> {
        let mut errors = BuildErrors::default();
        let mut paths = Vec::new();
        for (i, name) in self.fields.iter().enumerate() {
            if let Some(p) = singular(&mut errors, &["fields", &i.to_string()], name) {
                paths.push(p);
            }
        }
        errors.finish(|| Some(FieldEdit::Remove(paths)))
    }
}

impl FieldEdit {
    fn apply(&self, record: &mut Record) -> Result<(), String> {
        match self {
            FieldEdit::Set(edits) => {
                let values: Vec<Value> =
                    with_context(record, |ctx| edits.iter().map(|(_, t)| t.render(ctx)).collect::<Result<_, _>>())
                        .map_err(|e| e.to_string())?;
                for ((path, _), v) in edits.iter().zip(values) {
                    path.set(&mut record.value, v).map_err(|e| e.reason)?;
                }
            }
            FieldEdit::Rename(edits, require) => {
                for (from, to) in edits {
                    if from.rename_in_place(to, &mut record.value) {
                        continue;
                    }
                    match from.remove(&mut record.value) {
                        Some(v) => to.set(&mut record.value, v).map_err(|e| e.reason)?,
                        None if *require => return Err(format!("field `{}` is missing", from.as_str())),
                        None => {}
                    }
                }
            }
            FieldEdit::Remove(paths) => {
                for p in paths {
                    p.remove(&mut record.value);
                }
            }
        }
        Ok(())
    }
}

impl Transform for FieldEdit {
    fn reads(&self) -> crate::expr::reads::Reads {
        match self {
            FieldEdit::Set(fields) => {
                let mut reads = crate::expr::reads::Reads::none();
                fields.iter().for_each(|(_, t)| reads.merge(t.reads().clone()));
                reads
            }
            // What is renamed or removed is passed on with everything else.
            FieldEdit::Rename(..) | FieldEdit::Remove(_) => crate::expr::reads::Reads::All,
        }
    }

    fn process(&mut self, batch: Vec<Record>, out: &mut Output) {
        for mut record in batch {
            match self.apply(&mut record) {
                Ok(()) => out.emit(record),
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
    fn set_rename_remove() {
        let ctx = context();
        let mut set = SetConfig {
            fields: IndexMap::from([("a.b".into(), json!("{{ record.x + 1 }}")), ("c".into(), json!(true))]),
        }
        .build(&ctx)
        .expect("builds");
        let out = run(&mut set, vec![json!({"x": 1})]);
        assert_eq!(values(&out), vec![json!({"x": 1, "a": {"b": 2}, "c": true})]);

        let mut rename = RenameConfig { fields: IndexMap::from([("x".into(), "y.z".into())]), require: true }
            .build(&ctx)
            .expect("builds");
        let out = run(&mut rename, vec![json!({"x": 1}), json!({"q": 1})]);
        assert_eq!(values(&out), vec![json!({"y": {"z": 1}})]);
        assert_eq!(out.rejected.len(), 1);
        // A member renamed within its object keeps its place.
        let mut rename = RenameConfig { fields: IndexMap::from([("b".into(), "c".into())]), require: false }
            .build(&ctx)
            .expect("builds");
        let out = run(&mut rename, vec![json!({"a": 1, "b": 2, "d": 3}), json!({"b": 2, "c": 0})]);
        let texts: Vec<String> = values(&out).iter().map(|v| v.to_string()).collect();
        assert_eq!(texts, vec![r#"{"a":1,"c":2,"d":3}"#, r#"{"c":2}"#]);

        let mut remove = RemoveConfig { fields: vec!["x".into(), "nope.deeper".into()] }.build(&ctx).expect("builds");
        let out = run(&mut remove, vec![json!({"x": 1, "k": 2})]);
        assert_eq!(values(&out), vec![json!({"k": 2})]);
    }
}
