//! `explode`: turns one record into one record per element a JSONPath query selects (e.g. an order into
//! its lines, a configurable product into its variants); each child can read the original as `parent`,
//! and gets its own key from `key:` (else it shares the original's).

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::context::key_or_reject;
use super::{Output, Transform};
use crate::expr::jsonpath::JsonPath;
use crate::expr::template::StringTemplate;
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::record::Record;

/// Splits a record into one record per selected element.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExplodeConfig {
    /// JSONPath selecting the elements, e.g. `$.items[*]`. Each match becomes a record; the record it
    /// came from is available to later templates as `parent`.
    pub(crate) path: String,
    /// Key of each child, e.g. `variant:{{ record.sku }}` (the child is `record`, the original `parent`,
    /// its key `key`). Gives each child its own line in dead letters, `weir trace` and the id map;
    /// a child whose key fails is rejected (default: the original's key, shared by every child).
    #[serde(default)]
    pub(crate) key: Option<String>,
    /// When nothing is selected: `filter` (default) or `dead_letter`.
    #[serde(default)]
    pub(crate) on_empty: OnEmpty,
}

/// Policy for records whose query selects nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OnEmpty {
    /// Drop the record (counted as filtered).
    #[default]
    Filter,
    /// Send it to the dead-letter output.
    DeadLetter,
}

/// Built `explode` step.
#[derive(Debug)]
pub(crate) struct Explode {
    path: JsonPath,
    key: Option<StringTemplate>,
    on_empty: OnEmpty,
}

impl ExplodeConfig {
    /// Compiles the query.
    pub(crate) fn build(&self, ctx: &BuildContext) -> Result<Explode, BuildErrors> {
        let mut errors = BuildErrors::default();
        let path = errors.jsonpath(&["path"], &self.path);
        let key = self.key.as_ref().map(|k| errors.string_template(ctx, &["key"], k));
        errors.finish(|| {
            Some(Explode {
                path: path?,
                key: match key {
                    Some(k) => Some(k?),
                    None => None,
                },
                on_empty: self.on_empty,
            })
        })
    }
}

impl Transform for Explode {
    fn process(&mut self, batch: Vec<Record>, out: &mut Output) {
        for record in batch {
            let children: Vec<_> = self.path.query(&record.value).into_iter().cloned().collect();
            if children.is_empty() {
                match self.on_empty {
                    OnEmpty::Filter => out.filter(record),
                    OnEmpty::DeadLetter => {
                        let msg = format!("`{}` selected nothing", self.path.as_str());
                        out.reject(record, msg);
                    }
                }
                continue;
            }
            let Record { value, key, acks, .. } = record;
            let parent = Arc::new(value);
            for child in children {
                let child = Record {
                    value: child,
                    key: key.clone(),
                    parent: Some(Arc::clone(&parent)),
                    acks: acks.clone(),
                    original: None,
                    encoded: None,
                };
                match &self.key {
                    Some(template) => {
                        if let Some((mut child, k)) = key_or_reject(child, template, "child key", out) {
                            child.key = Some(k.into());
                            out.emit(child);
                        }
                    }
                    None => out.emit(child),
                }
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
    fn one_record_per_match_with_parent() {
        let cfg = ExplodeConfig { path: "$.items[*]".into(), key: None, on_empty: OnEmpty::Filter };
        let mut s = cfg.build(&context()).expect("builds");
        let out =
            run(&mut s, vec![json!({"id": 7, "items": [{"sku": "a"}, {"sku": "b"}]}), json!({"id": 8, "items": []})]);
        assert_eq!(values(&out), vec![json!({"sku": "a"}), json!({"sku": "b"})]);
        assert_eq!(out.records[1].parent.as_deref(), Some(&json!({"id": 7, "items": [{"sku": "a"}, {"sku": "b"}]})));
        assert_eq!(out.filtered, 1);
    }

    #[test]
    fn each_child_gets_its_own_key() {
        let cfg = ExplodeConfig {
            path: "$.items[*]".into(),
            key: Some("line:{{ parent.id }}/{{ record.sku }}".into()),
            on_empty: OnEmpty::Filter,
        };
        let mut s = cfg.build(&context()).expect("builds");
        let out = run(&mut s, vec![json!({"id": 7, "items": [{"sku": "a"}, {"sku": "b"}, {"n": 1}]})]);
        let keys: Vec<_> = out.records.iter().map(|r| r.key.as_deref().unwrap_or("-").to_string()).collect();
        assert_eq!(keys, vec!["line:7/a", "line:7/b"]);
        assert_eq!(out.rejected.len(), 1, "a child whose key fails is dead-lettered");
    }
}
