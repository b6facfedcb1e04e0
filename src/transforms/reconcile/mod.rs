//! `reconcile`: compares two keyed sets — the records flowing into the step (the **left** set, e.g.
//! ERP stock) and a set the step reads itself (the **right** set, e.g. a commerce stock export) — and
//! emits one finding per key that is not the same on both sides: `missing_right` (only on the left),
//! `missing_left` (only on the right) and `different` (with the fields that differ). Later steps turn
//! findings into repairs. Counts of each kind go to the run summary.

mod compare;
mod right;

use std::collections::HashSet;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

pub(crate) use self::compare::CompareField;
use self::compare::Comparison;
pub(crate) use self::right::RightConfig;
use self::right::{RightSet, RightSource};
use super::context::key_or_reject;
use super::{Output, Transform};
use crate::expr::template::StringTemplate;
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::record::Record;
use crate::kernel::stats::StepReport;
use crate::kernel::step::SideInput;

/// Compares the records flowing in (left) with a keyed set (right): a second input, or files.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReconcileConfig {
    /// The right-hand set: the id of one of the step's `inputs` — usually a second source of the
    /// pipeline (under `sources`, any type, e.g. an API), read to its end before the first left record
    /// is compared, and read whole on every run — or files the step reads itself when the first record
    /// arrives: `{ path, format, delimiter }` as for the [`file` source](connectors.md#file-source)
    /// (`ndjson`, `json` array or `csv`; a glob reads several files), relative to the pipeline's folder.
    pub(crate) right: RightConfig,
    /// Template producing the key of a left record (the records flowing in), e.g. `{{ record.sku }}`.
    pub(crate) left_key: String,
    /// Template producing the key of a right record (`record` is the right record), e.g.
    /// `{{ record.sku }}@{{ record.source_code }}`.
    pub(crate) right_key: String,
    /// Fields to compare: [field references](configuration.md#jsonpath) (`quantity`, `stock.qty`), or
    /// `{ left: qty, right: quantity }` where the sides name a field differently (`right` defaults to
    /// `left`), optionally with its own `tolerance` (default: every top-level field present on either
    /// side).
    #[serde(default)]
    pub(crate) compare: Option<Vec<CompareField>>,
    /// Numbers whose difference is at most this (at least 0) are equal (default `0`: equal by value,
    /// `1` == `1.0`).
    #[serde(default)]
    pub(crate) tolerance: f64,
    /// Also emit a `matching` finding for every key that is the same on both sides (default: those
    /// left records are filtered).
    #[serde(default)]
    pub(crate) emit_matching: bool,
}

/// The kinds of findings, as written in their `kind` field.
const MATCHING: &str = "matching";
const DIFFERENT: &str = "different";
const MISSING_LEFT: &str = "missing_left";
const MISSING_RIGHT: &str = "missing_right";

/// The right-hand set's state: read on first use, at run time.
#[derive(Debug)]
enum Right {
    NotLoaded(RightSource),
    /// Records of the right-hand input are coming in.
    Receiving(RightSet),
    Loaded(RightSet),
    Failed,
    /// Flushed: every finding is out.
    Done,
}

/// Findings so far, by kind.
#[derive(Debug, Default)]
struct Counts {
    matching: u64,
    different: u64,
    missing_left: u64,
    missing_right: u64,
    /// Right keys never seen on the left and not reported because the input was incomplete.
    not_checked: Option<u64>,
}

/// Built `reconcile` step.
#[derive(Debug)]
pub(crate) struct Reconcile {
    right: Right,
    right_key: StringTemplate,
    left_key: StringTemplate,
    comparison: Comparison,
    emit_matching: bool,
    /// Left keys seen so far (duplicates are rejected; right keys not among them are `missing_left`).
    seen: HashSet<String>,
    input_complete: bool,
    /// The right-hand set comes from one of the step's inputs (not from files it reads itself).
    right_from_input: bool,
    counts: Counts,
}

impl ReconcileConfig {
    /// Compiles the key templates and the comparison and checks the right-hand source; reads nothing.
    pub(crate) fn build(&self, ctx: &BuildContext) -> Result<Reconcile, BuildErrors> {
        let mut errors = BuildErrors::default();
        let right = self.right.build(ctx, &mut errors);
        let left_key = errors.string_template(ctx, &["left_key"], &self.left_key);
        let right_key = errors.string_template(ctx, &["right_key"], &self.right_key);
        let comparison = Comparison::build(&mut errors, self.compare.as_deref(), self.tolerance);
        let right_from_input = matches!(self.right, RightConfig::Input(_));
        errors.finish(|| {
            Some(Reconcile {
                right_from_input,
                right: Right::NotLoaded(right?),
                right_key: right_key?,
                left_key: left_key?,
                comparison: comparison?,
                emit_matching: self.emit_matching,
                seen: HashSet::new(),
                input_complete: true,
                counts: Counts::default(),
            })
        })
    }
}

/// A finding: `{"kind", "key", "left", "right", "differences"}`.
fn finding(kind: &str, key: &str, left: Value, right: Value, differences: Vec<Value>) -> Value {
    let mut obj = Map::new();
    obj.insert("kind".into(), Value::String(kind.into()));
    obj.insert("key".into(), Value::String(key.into()));
    obj.insert("left".into(), left);
    obj.insert("right".into(), right);
    obj.insert("differences".into(), Value::Array(differences));
    Value::Object(obj)
}

impl Reconcile {
    /// Reads the right-hand set if it is not read yet; false (and `out.fatal` set) when it cannot be.
    fn load(&mut self, out: &mut Output) -> bool {
        // The runtime hands over the whole right-hand input before the first left record.
        if let Right::Receiving(_) = &self.right
            && let Right::Receiving(set) = std::mem::replace(&mut self.right, Right::Failed)
        {
            self.right = Right::Loaded(set);
        }
        if let Right::NotLoaded(source) = &self.right {
            self.right = match source.load(&self.right_key) {
                Ok(set) => Right::Loaded(set),
                Err(e) => {
                    out.fatal.get_or_insert(format!("reading the right-hand set: {e}"));
                    Right::Failed
                }
            };
        }
        matches!(self.right, Right::Loaded(_))
    }
}

impl Transform for Reconcile {
    fn side_inputs(&self) -> Vec<SideInput> {
        match &self.right {
            Right::NotLoaded(RightSource::Input(id)) => vec![SideInput { id: id.clone(), key: "right" }],
            _ => Vec::new(),
        }
    }

    fn take_side(&mut self, _input: usize, batch: Vec<Record>, out: &mut Output) {
        if let Right::NotLoaded(RightSource::Input(_)) = &self.right {
            self.right = Right::Receiving(RightSet::default());
        }
        let Right::Receiving(set) = &mut self.right else {
            // Failed already: these records stay unacknowledged with the run.
            return;
        };
        for record in batch {
            if let Err(e) = set.insert(&self.right_key, record) {
                // A set that is not known exactly would give wrong findings.
                out.fatal.get_or_insert(format!("reading the right-hand set: {e}"));
                self.right = Right::Failed;
                return;
            }
        }
    }

    fn process(&mut self, batch: Vec<Record>, out: &mut Output) {
        // Without the right-hand set nothing can be compared: the batch stays unacknowledged.
        if !self.load(out) {
            return;
        }
        let Right::Loaded(right) = &self.right else { return };
        for record in batch {
            let Some((mut record, key)) = key_or_reject(record, &self.left_key, "left_key", out) else { continue };
            if self.seen.contains(&key) {
                out.reject(record, format!("duplicate left key `{key}`: an earlier record has the same key"));
                continue;
            }
            let Some(right_value) = right.get(&key) else {
                self.counts.missing_right += 1;
                record.value = finding(MISSING_RIGHT, &key, std::mem::take(&mut record.value), Value::Null, Vec::new());
                self.seen.insert(key);
                out.emit(record);
                continue;
            };
            let differences = self.comparison.differences(&record.value, right_value);
            let kind = if differences.is_empty() {
                self.counts.matching += 1;
                MATCHING
            } else {
                self.counts.different += 1;
                DIFFERENT
            };
            if kind == MATCHING && !self.emit_matching {
                out.filter(record);
            } else {
                let left = std::mem::take(&mut record.value);
                record.value = finding(kind, &key, left, right_value.clone(), differences);
                out.emit(record);
            }
            self.seen.insert(key);
        }
    }

    fn input_incomplete(&mut self) {
        self.input_complete = false;
    }

    fn flush(&mut self, out: &mut Output) {
        if !self.load(out) {
            return;
        }
        let Right::Loaded(right) = std::mem::replace(&mut self.right, Right::Done) else { return };
        let (seen, unseen): (Vec<_>, Vec<_>) = right.records.into_iter().partition(|(k, _)| self.seen.contains(k));
        // Right records compared with a left one are done with (their findings went out with the
        // left's); those from an input are counted as filtered, those the step read itself were never
        // the step's input.
        let from_input = self.right_from_input;
        let done = |record: Record, out: &mut Output| {
            if from_input {
                out.filter(record);
            }
        };
        seen.into_iter().for_each(|(_, record)| done(record, out));
        if !self.input_complete {
            // Keys not seen may be in the part of the input that was not read.
            let n = unseen.len() as u64;
            tracing::warn!(not_checked = n, "reconcile: the input was not read to its end; no `missing_left` findings");
            self.counts.not_checked = Some(n);
            unseen.into_iter().for_each(|(_, record)| done(record, out));
            return;
        }
        for (key, mut record) in unseen {
            self.counts.missing_left += 1;
            record.value = finding(MISSING_LEFT, &key, Value::Null, std::mem::take(&mut record.value), Vec::new());
            record.key = Some(key.into());
            out.emit(record);
        }
    }

    fn report(&self) -> Option<StepReport> {
        let c = &self.counts;
        let mut counts = vec![
            (MATCHING, c.matching),
            (DIFFERENT, c.different),
            (MISSING_LEFT, c.missing_left),
            (MISSING_RIGHT, c.missing_right),
        ];
        if let Some(n) = c.not_checked {
            counts.push(("right_not_checked", n));
        }
        Some(StepReport(counts))
    }
}

#[cfg(test)]
mod tests;
