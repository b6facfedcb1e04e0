//! `dedupe`: drops records whose key was already seen (within a bounded memory of recent keys).

use std::collections::{HashSet, VecDeque};

use schemars::JsonSchema;
use serde::Deserialize;

use super::context::key_or_reject;
use super::{Output, Transform};
use crate::expr::template::StringTemplate;
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::record::Record;

fn default_capacity() -> usize {
    1_000_000
}

/// Drops repeated records.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DedupeConfig {
    /// Template producing the identity of a record, e.g. `{{ record.sku }}`.
    pub(crate) key: String,
    /// How many recent keys to remember (at least 1); the oldest are forgotten first (bounds memory).
    #[serde(default = "default_capacity")]
    pub(crate) capacity: usize,
}

/// Built `dedupe` step.
#[derive(Debug)]
pub(crate) struct Dedupe {
    key: StringTemplate,
    capacity: usize,
    seen: HashSet<String>,
    order: VecDeque<String>,
}

impl DedupeConfig {
    /// Compiles the key template.
    pub(crate) fn build(&self, ctx: &BuildContext) -> Result<Dedupe, BuildErrors> {
        let mut errors = BuildErrors::default();
        let key = errors.string_template(ctx, &["key"], &self.key);
        if self.capacity == 0 {
            errors.push(&["capacity"], "bad-value", "`capacity` must be at least 1", None);
        }
        errors.finish(|| {
            Some(Dedupe { key: key?, capacity: self.capacity, seen: HashSet::new(), order: VecDeque::new() })
        })
    }
}

impl Transform for Dedupe {
    fn reads(&self) -> crate::expr::reads::Reads {
        self.key.reads().clone()
    }

    fn process(&mut self, batch: Vec<Record>, out: &mut Output) {
        for record in batch {
            let Some((record, key)) = key_or_reject(record, &self.key, "dedupe key", out) else { continue };
            if self.seen.contains(&key) {
                out.filter(record);
                continue;
            }
            if self.order.len() >= self.capacity
                && let Some(old) = self.order.pop_front()
            {
                self.seen.remove(&old);
            }
            self.seen.insert(key.clone());
            self.order.push_back(key);
            out.emit(record);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::testing::{context, run, values};
    use serde_json::json;

    #[test]
    fn drops_repeats_and_forgets_beyond_capacity() {
        let cfg = DedupeConfig { key: "{{ record.k }}".into(), capacity: 2 };
        let mut s = cfg.build(&context()).expect("builds");
        let input = ["a", "b", "a", "c", "a"].iter().map(|k| json!({"k": k})).collect();
        let out = run(&mut s, input);
        // "a" is forgotten once "c" pushes it out of the 2-key memory.
        assert_eq!(values(&out), vec![json!({"k": "a"}), json!({"k": "b"}), json!({"k": "c"}), json!({"k": "a"})]);
        assert_eq!(out.filtered, 1);
    }
}
