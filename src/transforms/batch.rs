//! `batch`: gathers records into one record holding a list — by count, by time, or both — e.g. Adobe
//! Commerce MSI `{"sourceItems": [...]}` bodies of at most 20 items.

use std::time::Instant;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Output, Transform};
use crate::config::duration::Duration;
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::record::{Acks, Record};

/// Gathers records into lists.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchConfig {
    /// Emit a batch when it holds this many records (at least 1).
    #[serde(default)]
    pub(crate) size: Option<usize>,
    /// Emit a batch when its first record has waited this long (e.g. `5s`).
    #[serde(default)]
    pub(crate) timeout: Option<Duration>,
    /// Wrap the list in an object under this key (e.g. `sourceItems`); without it the record is the list.
    #[serde(default)]
    pub(crate) into: Option<String>,
}

/// Built `batch` step.
#[derive(Debug)]
pub(crate) struct Batch {
    size: usize,
    timeout: Option<std::time::Duration>,
    into: Option<String>,
    pending: Vec<Record>,
    started: Option<Instant>,
}

impl BatchConfig {
    /// Checks the limits.
    pub(crate) fn build(&self, _ctx: &BuildContext) -> Result<Batch, BuildErrors> {
        let mut errors = BuildErrors::default();
        if self.size.is_none() && self.timeout.is_none() {
            errors.push(&[], "missing-field", "give `size`, `timeout`, or both", Some("e.g. `size: 20`".into()));
        }
        if self.size == Some(0) {
            errors.push(&["size"], "bad-value", "`size` must be at least 1", None);
        }
        errors.finish(|| {
            Some(Batch {
                size: self.size.unwrap_or(usize::MAX),
                timeout: self.timeout.map(|d| d.0),
                into: self.into.clone(),
                pending: Vec::new(),
                started: None,
            })
        })
    }
}

impl Batch {
    fn emit(&mut self, out: &mut Output) {
        if self.pending.is_empty() {
            return;
        }
        self.started = None;
        let mut acks = Acks::None;
        let mut values = Vec::with_capacity(self.pending.len());
        for r in self.pending.drain(..) {
            acks.merge(r.acks);
            values.push(r.value);
        }
        let list = Value::Array(values);
        let value = match &self.into {
            Some(key) => Value::Object(Map::from_iter([(key.clone(), list)])),
            None => list,
        };
        out.emit(Record { value, key: None, parent: None, acks, original: None, encoded: None });
    }
}

impl Transform for Batch {
    fn process(&mut self, batch: Vec<Record>, out: &mut Output) {
        for record in batch {
            if self.pending.is_empty() {
                self.started = Some(Instant::now());
            }
            self.pending.push(record);
            if self.pending.len() >= self.size {
                self.emit(out);
            }
        }
    }

    fn flush(&mut self, out: &mut Output) {
        self.emit(out);
    }

    fn deadline(&self) -> Option<Instant> {
        Some(self.started? + self.timeout?)
    }

    fn on_deadline(&mut self, out: &mut Output) {
        self.emit(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::testing::{context, run, values};
    use serde_json::json;

    #[test]
    fn batches_by_size_and_flushes_the_rest() {
        let cfg = BatchConfig { size: Some(2), timeout: None, into: Some("items".into()) };
        let mut s = cfg.build(&context()).expect("builds");
        let out = run(&mut s, (1..=5).map(|i| json!(i)).collect());
        assert_eq!(values(&out), vec![json!({"items": [1, 2]}), json!({"items": [3, 4]}), json!({"items": [5]})]);
    }

    #[test]
    fn timeout_sets_a_deadline_and_emits_on_it() {
        let cfg = BatchConfig { size: None, timeout: Some(Duration(std::time::Duration::from_secs(60))), into: None };
        let mut s = cfg.build(&context()).expect("builds");
        assert!(s.deadline().is_none());
        let mut out = Output::default();
        s.process(vec![Record::new(json!(1))], &mut out);
        assert!(out.records.is_empty());
        assert!(s.deadline().is_some());
        s.on_deadline(&mut out);
        assert_eq!(values(&out), vec![json!([1])]);
    }
}
