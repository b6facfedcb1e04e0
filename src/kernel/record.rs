//! The unit of data that flows through a pipeline: a JSON value plus the metadata the runtime needs —
//! its key, the parent it was exploded from, and the acknowledgement handles that tell its source when
//! it is done — and how a record is lent to a template without copying it (`with_context`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::expr::template::RenderContext;
use crate::kernel::ack::AckRef;

/// The inputs a record stands for: one for most records, several after `group` or `batch`.
#[derive(Debug, Clone, Default)]
pub(crate) enum Acks {
    /// Not tracked (tests, replays without a source).
    #[default]
    None,
    /// Derived from one input.
    One(AckRef),
    /// Derived from several inputs.
    Many(Vec<AckRef>),
}

impl Acks {
    /// Calls `f` on each input handle.
    pub(crate) fn each(&self, mut f: impl FnMut(&AckRef)) {
        match self {
            Acks::None => {}
            Acks::One(a) => f(a),
            Acks::Many(v) => v.iter().for_each(&mut f),
        }
    }

    /// Adds the inputs of `other` to these (for N → 1 steps).
    pub(crate) fn merge(&mut self, other: Acks) {
        let mut all = match std::mem::take(self) {
            Acks::None => Vec::new(),
            Acks::One(a) => vec![a],
            Acks::Many(v) => v,
        };
        match other {
            Acks::None => {}
            Acks::One(a) => all.push(a),
            Acks::Many(v) => all.extend(v),
        }
        *self = match all.len() {
            0 => Acks::None,
            1 => all.pop().map_or(Acks::None, Acks::One),
            _ => Acks::Many(all),
        };
    }
}

/// One record in flight.
#[derive(Debug, Clone)]
pub struct Record {
    /// The record's data.
    pub value: Value,
    /// Stable identity (e.g. `order:000000042`), from the source's `key` template.
    pub(crate) key: Option<Arc<str>>,
    /// The record this one was exploded from, visible to templates as `parent`.
    pub(crate) parent: Option<Arc<Value>>,
    /// The inputs this record was derived from.
    pub(crate) acks: Acks,
    /// The input's text, kept when the source parsed only the fields the pipeline reads
    /// (see `kernel::projection`), so that a dead-letter entry can still show the whole input.
    pub(crate) original: Option<bytes::Bytes>,
    /// The value as compact JSON text, made on the thread that built the record when its only
    /// destination is a sink that writes exactly that (see [`Record::encode_json`]); `value` is then
    /// `null`. Writing and freeing a record's text on the sink's thread costs less than serialising and
    /// freeing the many allocations of its value there.
    pub(crate) encoded: Option<bytes::Bytes>,
}

impl Record {
    /// A record not tied to any source input.
    pub(crate) fn new(value: Value) -> Self {
        Self { value, key: None, parent: None, acks: Acks::None, original: None, encoded: None }
    }

    /// Replaces the value by its compact JSON text ([`Record::encoded`]). The input's text is let go
    /// too: it only serves dead-letter entries, and a sink writing JSON text rejects no record.
    pub(crate) fn encode_json(&mut self) {
        if self.encoded.is_some() {
            return;
        }
        let mut text = Vec::with_capacity(256);
        if serde_json::to_writer(&mut text, &self.value).is_ok() {
            self.encoded = Some(text.into());
            self.value = Value::Null;
            self.original = None;
        }
    }

    /// Marks every input of this record as having reached a sink.
    pub(crate) fn mark_delivered(&self) {
        self.acks.each(AckRef::delivered);
    }

    /// Marks every input as dropped on purpose.
    pub(crate) fn mark_filtered(&self) {
        self.acks.each(AckRef::filtered);
    }

    /// Marks every input as dead-lettered, with the error its dead-letter entry was written with.
    pub(crate) fn mark_dead_lettered(&self, reason: &str) {
        self.acks.each(|a| a.dead_lettered(reason));
    }

    /// Marks every input as unacknowledged: this record was dropped without an outcome, so its inputs
    /// must be read again whatever became of the other records derived from them.
    pub(crate) fn mark_unacknowledged(&self) {
        self.acks.each(AckRef::unacknowledged);
    }
}

/// What a step does with a record it cannot process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OnError {
    /// Write it to the dead-letter output and go on.
    #[default]
    DeadLetter,
    /// Drop it (counted as filtered) and go on.
    Drop,
    /// Stop the pipeline.
    Fail,
}

/// Runs `f` with a template context whose `record` is this record's value, lent (not copied) through
/// an `Arc` and taken back afterwards.
pub(crate) fn with_context<T>(record: &mut Record, f: impl FnOnce(&RenderContext) -> T) -> T {
    let value = std::mem::take(&mut record.value);
    let ctx = RenderContext {
        record: Arc::new(value),
        parent: record.parent.clone(),
        vars: BTreeMap::new(),
        key: record.key.clone(),
    };
    let out = f(&ctx);
    let RenderContext { record: shared, .. } = ctx;
    record.value = Arc::try_unwrap(shared).unwrap_or_else(|still_shared| (*still_shared).clone());
    out
}
