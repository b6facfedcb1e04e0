//! `group`: gathers records that share a key into one record (N → 1), e.g. order lines back into their
//! order after `explode`. Groups are emitted when the input ends, when the key changes (`adjacent`), on
//! a timeout, or early when the memory bound is reached.

use std::collections::HashMap;
use std::time::Instant;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::context::key_or_reject;
use super::{Output, Transform};
use crate::config::duration::Duration;
use crate::expr::template::StringTemplate;
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::record::{Acks, Record};

fn default_into() -> String {
    "records".into()
}

fn default_max_records() -> usize {
    100_000
}

/// Gathers records by key.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupConfig {
    /// Template producing the group key, e.g. `{{ parent.increment_id }}`.
    pub(crate) key: String,
    /// Name of the list field in the emitted record (`{"key": …, "<into>": [...]}`).
    #[serde(default = "default_into")]
    pub(crate) into: String,
    /// The input arrives ordered by key: emit a group as soon as the key changes (constant memory).
    #[serde(default)]
    pub(crate) adjacent: bool,
    /// Emit a group once its first record has waited this long.
    #[serde(default)]
    pub(crate) timeout: Option<Duration>,
    /// Upper bound on buffered records (at least 1); when reached, the oldest group is emitted early.
    #[serde(default = "default_max_records")]
    pub(crate) max_records: usize,
}

struct Pending {
    key: String,
    records: Vec<Record>,
    started: Instant,
}

/// Built `group` step.
pub(crate) struct Group {
    key: StringTemplate,
    into: String,
    adjacent: bool,
    timeout: Option<std::time::Duration>,
    max_records: usize,
    /// Groups in order of first appearance.
    groups: Vec<Pending>,
    index: HashMap<String, usize>,
    buffered: usize,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group").field("groups", &self.groups.len()).field("buffered", &self.buffered).finish()
    }
}

impl GroupConfig {
    /// Compiles the key template.
    pub(crate) fn build(&self, ctx: &BuildContext) -> Result<Group, BuildErrors> {
        let mut errors = BuildErrors::default();
        let key = errors.string_template(ctx, &["key"], &self.key);
        if self.max_records == 0 {
            errors.push(&["max_records"], "bad-value", "`max_records` must be at least 1", None);
        }
        errors.finish(|| {
            Some(Group {
                key: key?,
                into: self.into.clone(),
                adjacent: self.adjacent,
                timeout: self.timeout.map(|d| d.0),
                max_records: self.max_records,
                groups: Vec::new(),
                index: HashMap::new(),
                buffered: 0,
            })
        })
    }
}

impl Group {
    fn emit_group(&mut self, i: usize, out: &mut Output) {
        let g = self.groups.remove(i);
        self.index.clear();
        for (j, p) in self.groups.iter().enumerate() {
            self.index.insert(p.key.clone(), j);
        }
        self.buffered -= g.records.len();
        let parent = g.records.first().and_then(|r| r.parent.clone());
        let mut acks = Acks::None;
        let mut values = Vec::with_capacity(g.records.len());
        for r in g.records {
            acks.merge(r.acks);
            values.push(r.value);
        }
        let mut obj = Map::new();
        obj.insert("key".into(), Value::String(g.key.clone()));
        obj.insert(self.into.clone(), Value::Array(values));
        out.emit(Record {
            value: Value::Object(obj),
            key: Some(g.key.into()),
            parent,
            acks,
            original: None,
            encoded: None,
        });
    }
}

impl Transform for Group {
    fn process(&mut self, batch: Vec<Record>, out: &mut Output) {
        for record in batch {
            let Some((record, key)) = key_or_reject(record, &self.key, "group key", out) else { continue };
            if self.adjacent && self.groups.first().is_some_and(|g| g.key != key) {
                self.emit_group(0, out);
            }
            match self.index.get(&key) {
                Some(&i) => self.groups[i].records.push(record),
                None => {
                    self.index.insert(key.clone(), self.groups.len());
                    self.groups.push(Pending { key, records: vec![record], started: Instant::now() });
                }
            }
            self.buffered += 1;
            if self.buffered > self.max_records {
                self.emit_group(0, out);
            }
        }
    }

    fn flush(&mut self, out: &mut Output) {
        while !self.groups.is_empty() {
            self.emit_group(0, out);
        }
    }

    fn deadline(&self) -> Option<Instant> {
        Some(self.groups.first()?.started + self.timeout?)
    }

    fn on_deadline(&mut self, out: &mut Output) {
        let Some(timeout) = self.timeout else { return };
        while self.groups.first().is_some_and(|g| g.started.elapsed() >= timeout) {
            self.emit_group(0, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::testing::{context, run, values};
    use serde_json::json;

    fn cfg(adjacent: bool) -> GroupConfig {
        serde_json::from_value(json!({"key": "{{ record.o }}", "into": "lines", "adjacent": adjacent})).expect("valid")
    }

    #[test]
    fn groups_by_key_in_first_seen_order() {
        let mut s = cfg(false).build(&context()).expect("builds");
        let input = vec![json!({"o": "1", "n": 1}), json!({"o": "2", "n": 2}), json!({"o": "1", "n": 3})];
        let out = run(&mut s, input);
        assert_eq!(
            values(&out),
            vec![
                json!({"key": "1", "lines": [{"o": "1", "n": 1}, {"o": "1", "n": 3}]}),
                json!({"key": "2", "lines": [{"o": "2", "n": 2}]}),
            ]
        );
    }

    #[test]
    fn adjacent_emits_on_key_change() {
        let mut s = cfg(true).build(&context()).expect("builds");
        let mut out = Output::default();
        s.process(vec![Record::new(json!({"o": "1"})), Record::new(json!({"o": "2"}))], &mut out);
        assert_eq!(values(&out), vec![json!({"key": "1", "lines": [{"o": "1"}]})]);
    }
}
