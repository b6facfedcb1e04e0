//! `jsonpath`: extracts values with JSONPath queries into fields of the record, or replaces the record
//! with what a query selects.

use indexmap::IndexMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::context::field_to_jsonpath;
use super::{Output, Transform};
use crate::expr::jsonpath::ElementFilter;
use crate::expr::jsonpath::JsonPath;
use crate::expr::reads::Reads;
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::record::Record;

/// What to do when a query selects nothing.
///
/// A bare YAML `null` (`missing: null`, unquoted) means `null`, as it reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(transform = allow_bare_null)]
pub(crate) enum Missing {
    /// Send the record to the dead-letter output.
    #[default]
    Error,
    /// Write `null`.
    Null,
    /// Leave the target field untouched.
    Skip,
}

/// The names of [`Missing`], deserialized as strings (errors list them for the did-you-mean).
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum MissingName {
    Error,
    Null,
    Skip,
}

impl<'de> Deserialize<'de> for Missing {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<MissingName>::deserialize(deserializer)? {
            None | Some(MissingName::Null) => Missing::Null,
            Some(MissingName::Error) => Missing::Error,
            Some(MissingName::Skip) => Missing::Skip,
        })
    }
}

/// Adds `null` (a bare YAML `null`, the same as `"null"`) to the schema of [`Missing`].
fn allow_bare_null(schema: &mut schemars::Schema) {
    if let Some(one_of) = schema.get_mut("oneOf").and_then(serde_json::Value::as_array_mut) {
        one_of.push(serde_json::json!({
            "type": "null",
            "description": "A bare YAML `null`: the same as `\"null\"`."
        }));
    }
}

/// One extraction: a query, or a query with options.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum Extract {
    /// A JSONPath query; its first match is written.
    Query(String),
    /// A query with options.
    Options(ExtractOptions),
}

impl Extract {}

/// An extraction with options.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExtractOptions {
    /// The JSONPath query (RFC 9535), e.g. `$.custom_attributes[?@.attribute_code == 'size'].value`.
    pub(crate) path: String,
    /// Write every match as a list instead of the first match.
    #[serde(default)]
    pub(crate) all: bool,
    /// Written when the query selects nothing (overrides `missing`); `default: null` writes `null`.
    #[serde(default, deserialize_with = "crate::config::present::present")]
    pub(crate) default: Option<Value>,
    /// What to do when the query selects nothing and no default is given (default: the step's
    /// `missing`); a bare `null` means `null`.
    #[serde(default, deserialize_with = "crate::config::present::present")]
    pub(crate) missing: Option<Missing>,
}

/// Extracts values with JSONPath.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonpathConfig {
    /// Target [field reference](configuration.md#jsonpath) (name, dotted name, or JSONPath) → a JSONPath
    /// query, or the query with options; the first match is written (default: `{}`).
    #[serde(default)]
    pub(crate) set: IndexMap<String, Extract>,
    /// Replace the whole record with the first match of this query (applied after `set`), e.g. `$.data`.
    #[serde(default)]
    pub(crate) root: Option<String>,
    /// What to do when a query selects nothing: `error` (default) dead-letters the record, `null`
    /// (quoted or not) writes `null`, `skip` leaves the field untouched.
    #[serde(default)]
    pub(crate) missing: Missing,
}

#[derive(Debug, Clone)]
struct Field {
    name: String,
    target: JsonPath,
    query: JsonPath,
    all: bool,
    default: Option<Value>,
    missing: Missing,
}

/// Built `jsonpath` step.
#[derive(Debug, Clone)]
pub(crate) struct JsonpathStep {
    fields: Vec<Field>,
    root: Option<JsonPath>,
}

impl JsonpathConfig {
    /// Compiles every query.
    pub(crate) fn build(&self, _ctx: &BuildContext) -> Result<JsonpathStep, BuildErrors> {
        let mut errors = BuildErrors::default();
        let mut fields = Vec::new();
        for (name, extract) in &self.set {
            let (path, all, default, missing, field) = match extract {
                Extract::Query(q) => (q, false, None, self.missing, vec!["set", name.as_str()]),
                Extract::Options(o) => (
                    &o.path,
                    o.all,
                    o.default.clone(),
                    o.missing.unwrap_or(self.missing),
                    vec!["set", name.as_str(), "path"],
                ),
            };
            let query = errors.jsonpath(&field, path);
            let target = errors.jsonpath(&["set", name], &field_to_jsonpath(name));
            if let (Some(query), Some(target)) = (query, target) {
                if !target.is_singular() {
                    errors.push(
                        &["set", name],
                        "bad-field",
                        format!("target `{name}` does not name a single field"),
                        None,
                    );
                }
                fields.push(Field { name: name.clone(), target, query, all, default, missing });
            }
        }
        let root = self.root.as_deref().and_then(|r| errors.jsonpath(&["root"], r));
        if self.set.is_empty() && self.root.is_none() {
            errors.push(
                &[],
                "missing-field",
                "missing field `set` (or `root`)",
                Some("add `set: { field: \"$.path\" }`".into()),
            );
        }
        errors.finish(|| Some(JsonpathStep { fields, root }))
    }
}

impl JsonpathStep {
    fn apply(&self, value: &mut Value) -> Result<(), String> {
        let mut found = Vec::with_capacity(self.fields.len());
        for f in &self.fields {
            let v = if f.all {
                let all = f.query.query(value);
                if all.is_empty() { None } else { Some(Value::Array(all.into_iter().cloned().collect())) }
            } else {
                f.query.first(value).cloned()
            };
            let v = match (v, &f.default, f.missing) {
                (Some(v), _, _) => Some(v),
                (None, Some(d), _) => Some(d.clone()),
                (None, None, Missing::Null) => Some(Value::Null),
                (None, None, Missing::Skip) => None,
                (None, None, Missing::Error) => {
                    return Err(format!("`{}` selected nothing for field `{}`", f.query.as_str(), f.name));
                }
            };
            found.push(v);
        }
        for (f, v) in self.fields.iter().zip(found) {
            if let Some(v) = v {
                f.target.set(value, v).map_err(|e| e.reason)?;
            }
        }
        if let Some(root) = &self.root {
            let new = root.first(value).cloned().ok_or_else(|| format!("`{}` selected nothing", root.as_str()))?;
            *value = new;
        }
        Ok(())
    }
}

impl Transform for JsonpathStep {
    fn replicate(&self) -> Option<Box<dyn Transform>> {
        Some(Box::new(self.clone()))
    }

    fn reads(&self) -> Reads {
        let mut reads = Reads::none();
        // A query that only selects elements by `[?@.key == literal]` is an element filter instead.
        for field in self.fields.iter().filter(|f| f.query.element_filter().is_none()) {
            reads.merge(field.query.reads());
        }
        if let Some(root) = &self.root {
            reads.merge(root.reads());
        }
        reads
    }

    fn element_filters(&self) -> Vec<ElementFilter> {
        self.fields.iter().filter_map(|f| f.query.element_filter()).collect()
    }

    fn replaces_record(&self) -> bool {
        self.root.is_some()
    }

    fn process(&mut self, batch: Vec<Record>, out: &mut Output) {
        for mut record in batch {
            match self.apply(&mut record.value) {
                Ok(()) => {
                    if self.root.is_some() {
                        // A new record: the input's text no longer describes it.
                        record.original = None;
                    }
                    out.emit(record);
                }
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

    fn step(cfg: Value) -> JsonpathStep {
        serde_json::from_value::<JsonpathConfig>(cfg).expect("valid config").build(&context()).expect("builds")
    }

    #[test]
    fn extracts_first_all_and_defaults() {
        let mut s = step(json!({"set": {
            "size": "$.attrs[?@.code == 'size'].value",
            "codes": {"path": "$.attrs[*].code", "all": true},
            "qty": {"path": "$.qty", "default": 0}
        }}));
        let out =
            run(&mut s, vec![json!({"attrs": [{"code": "color", "value": "red"}, {"code": "size", "value": "M"}]})]);
        let v = &values(&out)[0];
        assert_eq!(v["size"], json!("M"));
        assert_eq!(v["codes"], json!(["color", "size"]));
        assert_eq!(v["qty"], json!(0));
    }

    #[test]
    fn missing_is_rejected_by_default_and_root_replaces() {
        let mut s = step(json!({"set": {"x": "$.nope"}}));
        let out = run(&mut s, vec![json!({"a": 1})]);
        assert_eq!(out.rejected.len(), 1);
        let mut s = step(json!({"root": "$.data"}));
        let out = run(&mut s, vec![json!({"data": {"k": 1}})]);
        assert_eq!(values(&out), vec![json!({"k": 1})]);
    }

    #[test]
    fn an_explicit_null_default_and_a_bare_null_missing_write_null() {
        let mut s = step(json!({"set": {"x": {"path": "$.nope", "default": null}}}));
        let out = run(&mut s, vec![json!({"a": 1})]);
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        assert_eq!(values(&out), vec![json!({"a": 1, "x": null})]);

        let mut s = step(json!({"set": {"x": "$.nope"}, "missing": null}));
        let out = run(&mut s, vec![json!({"a": 1})]);
        assert_eq!(values(&out), vec![json!({"a": 1, "x": null})], "{:?}", out.rejected);

        let mut s = step(json!({"set": {"x": {"path": "$.nope", "missing": null}}, "missing": "skip"}));
        let out = run(&mut s, vec![json!({"a": 1})]);
        assert_eq!(values(&out), vec![json!({"a": 1, "x": null})], "{:?}", out.rejected);

        let e = serde_json::from_value::<JsonpathConfig>(json!({"set": {}, "missing": "nul"})).expect_err("bad value");
        assert!(e.to_string().contains("unknown variant `nul`"), "{e}");
    }

    #[test]
    fn bad_query_is_a_build_error_at_its_field() {
        let cfg: JsonpathConfig = serde_json::from_value(json!({"set": {"x": "$.a[?"}})).expect("valid config");
        let e = cfg.build(&context()).expect_err("fails");
        assert_eq!(e.0[0].field, vec!["set", "x"]);
        assert_eq!(e.0[0].code, "bad-jsonpath");
    }
}
