//! `lookup`: maps a value through a table (CSV file or inline rows) — e.g. a commerce size label to an
//! ERP size code — with an explicit policy for keys the table does not have.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

use super::context::{field_to_jsonpath, key_or_reject};
use super::{Output, Transform};
use crate::expr::jsonpath::JsonPath;
use crate::expr::template::StringTemplate;
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::record::Record;
use crate::tables::Table;

/// What to do when the key is not in the table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OnMiss {
    /// Stop the pipeline: the table is incomplete and nothing more should be sent.
    Error,
    /// Send the record to the dead-letter output.
    #[default]
    DeadLetter,
    /// Write `default`.
    Default,
    /// Leave the record unchanged.
    Keep,
}

/// Looks a key up in a table.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LookupConfig {
    /// Name of a table: `tables/NAME.csv` in the pipeline folder, a table of `shared.yaml`, or one
    /// defined under the pipeline's `tables:`.
    #[serde(default)]
    pub(crate) table: Option<String>,
    /// Inline rows, instead of `table` (exactly one of the two).
    #[serde(default)]
    pub(crate) rows: Option<Vec<Map<String, Value>>>,
    /// Template producing the key to look up, e.g. `{{ record.size }}`.
    pub(crate) key: String,
    /// Column the key is matched against (default: the table's first column).
    #[serde(default)]
    pub(crate) key_column: Option<String>,
    /// Column whose value is written (default: the whole row as an object).
    #[serde(default)]
    pub(crate) column: Option<String>,
    /// Field (name, dotted name or JSONPath) the result is written to.
    pub(crate) target: String,
    /// Policy for keys not in the table: `error`, `dead_letter` (default), `default`, or `keep`.
    #[serde(default)]
    pub(crate) on_miss: OnMiss,
    /// The value written on a miss when `on_miss: default` (required then; `default: null` writes
    /// `null`).
    #[serde(default, deserialize_with = "crate::config::present::present")]
    pub(crate) default: Option<Value>,
}

/// Built `lookup` step.
#[derive(Debug)]
pub(crate) struct Lookup {
    table: Arc<Table>,
    key: StringTemplate,
    key_column: String,
    column: Option<String>,
    target: JsonPath,
    on_miss: OnMiss,
    default: Value,
}

impl LookupConfig {
    /// Resolves the table and compiles the key template and target.
    pub(crate) fn build(&self, ctx: &BuildContext) -> Result<Lookup, BuildErrors> {
        let mut errors = BuildErrors::default();
        let table = match (&self.table, &self.rows) {
            (Some(name), None) => match ctx.tables.get(name) {
                Some(t) => Some(Arc::clone(t)),
                None => {
                    let names = ctx.tables.names();
                    let known: Vec<&str> = names.iter().map(String::as_str).collect();
                    let hint = if known.is_empty() {
                        "no tables are defined: add one under `tables:` or as tables/NAME.csv".into()
                    } else {
                        crate::config::diagnostic::suggestion(name, &known, "known tables")
                    };
                    errors.push(&["table"], "unknown-table", format!("unknown table `{name}`"), Some(hint));
                    None
                }
            },
            (None, Some(rows)) => match Table::from_rows("inline", rows.clone()) {
                Ok(t) => Some(Arc::new(t)),
                Err(e) => {
                    errors.push(&["rows"], "bad-table", e.to_string(), None);
                    None
                }
            },
            _ => {
                errors.push(&["table"], "missing-field", "give exactly one of `table` and `rows`", None);
                None
            }
        };
        let key = errors.string_template(ctx, &["key"], &self.key);
        let target = errors.jsonpath(&["target"], &field_to_jsonpath(&self.target));
        if self.on_miss == OnMiss::Default && self.default.is_none() {
            errors.push(&["default"], "missing-field", "`on_miss: default` needs a `default` value", None);
        }
        let mut key_column = String::new();
        if let Some(t) = &table {
            key_column = self.key_column.clone().unwrap_or_else(|| t.key_column().to_string());
            for (field, col) in [("key_column", Some(&key_column)), ("column", self.column.as_ref())] {
                if let Some(col) = col
                    && !t.has_column(col)
                {
                    let cols: Vec<&str> = t.columns().iter().map(String::as_str).collect();
                    errors.push(
                        &[field],
                        "unknown-column",
                        format!("table `{}` has no column `{col}`", t.name()),
                        Some(crate::config::diagnostic::suggestion(col, &cols, "its columns")),
                    );
                }
            }
        }
        errors.finish(|| {
            Some(Lookup {
                table: table?,
                key: key?,
                key_column,
                column: self.column.clone(),
                target: target?,
                on_miss: self.on_miss,
                default: self.default.clone().unwrap_or(Value::Null),
            })
        })
    }
}

impl Transform for Lookup {
    fn reads(&self) -> crate::expr::reads::Reads {
        self.key.reads().clone()
    }

    fn process(&mut self, batch: Vec<Record>, out: &mut Output) {
        for record in batch {
            let Some((mut record, key)) = key_or_reject(record, &self.key, "lookup key", out) else { continue };
            let found = self.table.lookup(&self.key_column, &key).map(|row| match &self.column {
                Some(c) => row.get(c).cloned().unwrap_or(Value::Null),
                None => Value::Object(row.to_map()),
            });
            let value = match (found, self.on_miss) {
                (Some(v), _) => v,
                (None, OnMiss::Default) => self.default.clone(),
                (None, OnMiss::Keep) => {
                    out.emit(record);
                    continue;
                }
                (None, policy) => {
                    let msg = format!(
                        "key `{key}` not found in table `{}` (column `{}`)",
                        self.table.name(),
                        self.key_column
                    );
                    if policy == OnMiss::Error {
                        out.fail(record, msg)
                    } else {
                        out.reject(record, msg)
                    }
                    continue;
                }
            };
            match self.target.set(&mut record.value, value) {
                Ok(()) => out.emit(record),
                Err(e) => out.reject(record, e.reason),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::testing::{context, run, values};
    use serde_json::json;

    fn step(cfg: Value) -> Lookup {
        serde_json::from_value::<LookupConfig>(cfg).expect("valid config").build(&context()).expect("builds")
    }

    #[test]
    fn maps_through_table_with_each_miss_policy() {
        let base = json!({"table": "sizes", "key": "{{ record.size }}", "key_column": "magento", "column": "erp", "target": "erp_size"});
        let mut s = step(base.clone());
        let out = run(&mut s, vec![json!({"size": "M"}), json!({"size": "XXL"})]);
        assert_eq!(values(&out), vec![json!({"size": "M", "erp_size": "MD"})], "{:?}", out.rejected);
        assert_eq!(out.rejected.len(), 1);
        assert!(out.rejected[0].error.contains("`XXL` not found"));

        let mut cfg = base.clone();
        cfg["on_miss"] = json!("default");
        cfg["default"] = json!("??");
        let out = run(&mut step(cfg), vec![json!({"size": "XXL"})]);
        assert_eq!(values(&out)[0]["erp_size"], json!("??"));

        let mut cfg = base.clone();
        cfg["on_miss"] = json!("default");
        cfg["default"] = Value::Null;
        let out = run(&mut step(cfg), vec![json!({"size": "XXL"})]);
        assert_eq!(values(&out), vec![json!({"size": "XXL", "erp_size": null})], "{:?}", out.rejected);

        let mut cfg = base.clone();
        cfg["on_miss"] = json!("keep");
        let out = run(&mut step(cfg), vec![json!({"size": "XXL"})]);
        assert_eq!(values(&out), vec![json!({"size": "XXL"})]);

        let mut cfg = base;
        cfg["on_miss"] = json!("error");
        let out = run(&mut step(cfg), vec![json!({"size": "XXL"})]);
        assert!(out.fatal.is_some());
        assert!(out.records.is_empty() && out.rejected.is_empty());
    }

    #[test]
    fn unknown_table_and_column_are_build_errors() {
        let cfg: LookupConfig =
            serde_json::from_value(json!({"table": "size", "key": "x", "target": "t"})).expect("valid");
        let e = cfg.build(&context()).expect_err("fails");
        assert_eq!(e.0[0].code, "unknown-table");
        assert_eq!(e.0[0].hint.as_deref(), Some("did you mean `sizes`?"));
        let cfg: LookupConfig =
            serde_json::from_value(json!({"table": "sizes", "key": "x", "column": "erpp", "target": "t"}))
                .expect("valid");
        assert_eq!(cfg.build(&context()).expect_err("fails").0[0].code, "unknown-column");
    }
}
