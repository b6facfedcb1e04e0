//! Turning a source's inputs into records, for every source: each input gets its acknowledgement
//! handle (with where it ends in its stream, for checkpoints) and its key; records are gathered into
//! batches (by count and bytes), run through the steps the source runs itself (`kernel::fused`) and
//! sent on. Inputs that did not parse, or whose key cannot be rendered, go to the dead-letter queue.
//! A blocking source sends each batch as it fills; an async one collects them
//! ([`Emitter::collecting`]) and sends them with [`Emitter::send_finished`].

use std::sync::atomic::Ordering;

use bytes::Bytes;
use serde_json::Value;

use crate::kernel::ack::{InputEnd, InputPosition};
use crate::kernel::channel::Batch;
use crate::kernel::fused::Chain;
use crate::kernel::record::with_context;
use crate::kernel::record::{Acks, Record};
use crate::kernel::stats::NodeCounters;
use crate::sources::SourceContext;

/// One input a source read.
#[derive(Debug)]
pub struct Input {
    /// Which input stream (a file among those a pattern matches, say) and which record of it.
    pub position: InputPosition,
    /// The value, or why it did not parse and its raw text.
    pub parsed: Result<Value, (String, Value)>,
    /// The input's text, when only part of it was built (see `kernel::projection`).
    pub original: Option<Bytes>,
    /// Where the input ends in its stream (for files a byte offset, and the line ends before it), for
    /// checkpoints.
    pub end: InputEnd,
    /// How many bytes the input took: batches are bounded in bytes as well as records.
    pub size: usize,
    /// The record's key when the pipeline sets no `key` template (a webhook event's id): the source
    /// knows one. A `key` template, when written, wins.
    pub key: Option<std::sync::Arc<str>>,
}

/// Collects records into batches and sends them; stops early when asked or at the limit.
pub struct Emitter<'a> {
    pub(crate) ctx: &'a SourceContext,
    batch: Vec<Record>,
    /// Input bytes of the records in `batch`.
    batch_bytes: usize,
    /// Inputs taken so far.
    pub(crate) emitted: u64,
    /// Inputs after which to stop (`None` on parse threads: their reader stops at the limit).
    pub(crate) limit: Option<u64>,
    /// The steps the source runs itself on each batch before sending it.
    chain: Chain,
    /// On a parse thread, the finished batches, for the emitting thread to send in input order;
    /// otherwise `None` and batches are sent at once.
    finished: Option<Vec<Batch>>,
    /// Inputs received and records emitted not yet added to the node's counters: they are added per
    /// batch, because parse threads adding per record contend for the counters' cache line.
    uncounted: (usize, usize),
}

impl<'a> Emitter<'a> {
    pub(crate) fn new(ctx: &'a SourceContext, mut chain: Chain) -> Self {
        if ctx.encode_json {
            chain.emit_encoded_json();
        }
        Self {
            ctx,
            batch: Vec::with_capacity(ctx.batch_size),
            batch_bytes: 0,
            emitted: 0,
            limit: ctx.limit,
            chain,
            finished: None,
            uncounted: (0, 0),
        }
    }

    /// Adds the inputs and records counted since the last call to the node's counters.
    fn flush_counters(&mut self) {
        let (received, emitted) = std::mem::take(&mut self.uncounted);
        NodeCounters::add(&self.ctx.counters.received, received);
        NodeCounters::add(&self.ctx.counters.emitted, emitted);
    }

    /// An emitter that keeps the batches it finishes, for an async source to send with
    /// [`Emitter::send_finished`] (sending from `push` would block the task).
    pub fn collecting(ctx: &'a SourceContext, chain: Chain) -> Self {
        let mut emitter = Emitter::new(ctx, chain);
        emitter.finished = Some(Vec::new());
        emitter
    }

    /// Closes the batch being gathered and sends every finished batch, awaiting room downstream (a
    /// [`Emitter::collecting`] emitter); false when nothing downstream reads any more.
    pub async fn send_finished(&mut self) -> bool {
        self.send();
        for batch in self.take_finished() {
            if !self.ctx.output.send(batch).await {
                return false;
            }
        }
        true
    }

    /// An emitter for a parse thread, with its own instances of the steps.
    pub(crate) fn for_parse_thread(&self) -> Self {
        let mut worker = Emitter::new(self.ctx, self.chain.replicate());
        worker.limit = None;
        worker.finished = Some(Vec::new());
        worker
    }

    /// The batches a parse thread finished since the last call.
    pub(crate) fn take_finished(&mut self) -> Vec<Batch> {
        self.finished.replace(Vec::new()).unwrap_or_default()
    }

    pub(crate) fn should_stop(&self) -> bool {
        self.ctx.stop.load(Ordering::Relaxed) || self.limit.is_some_and(|l| self.emitted >= l)
    }

    /// Adds one input; false when reading should stop.
    pub fn push(&mut self, input: Input) -> bool {
        if self.should_stop() {
            return false;
        }
        self.emitted += 1;
        self.uncounted.0 += 1;
        let Input { position, parsed, original, end, size, key } = input;
        let acks = Acks::One(self.ctx.tracker.track_until(position, end));
        let mut record = Record { value: Value::Null, key, parent: None, acks, original: None, encoded: None };
        match parsed {
            Ok(value) => {
                record.value = value;
                record.original = original;
                if let Some(key) = &self.ctx.key {
                    match with_context(&mut record, |c| key.render(c)) {
                        Ok(k) => record.key = Some(k.into()),
                        Err(e) => {
                            self.flush_counters();
                            NodeCounters::add(&self.ctx.counters.dead_lettered, 1);
                            self.ctx.dead_letter.send(record, &self.ctx.id, format!("record key: {e}"));
                            return true;
                        }
                    }
                }
                self.uncounted.1 += 1;
                self.batch.push(record);
                self.batch_bytes += size;
                if self.batch.len() >= self.ctx.batch_size || self.batch_bytes >= self.ctx.batch_bytes {
                    return self.send();
                }
            }
            Err((error, raw)) => {
                record.value = raw;
                self.flush_counters();
                NodeCounters::add(&self.ctx.counters.dead_lettered, 1);
                self.ctx.dead_letter.send(record, &self.ctx.id, error);
            }
        }
        true
    }

    /// Runs the gathered batch through the fused steps and sends it (or keeps it, on a parse thread).
    pub(crate) fn send(&mut self) -> bool {
        self.flush_counters();
        if self.batch.is_empty() {
            return true;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(self.ctx.batch_size));
        self.batch_bytes = 0;
        let mut batch = self.chain.run(batch);
        if self.ctx.encode_json {
            batch.iter_mut().for_each(Record::encode_json);
        }
        match &mut self.finished {
            Some(finished) => {
                finished.push(batch);
                true
            }
            None => self.ctx.output.blocking_send(batch),
        }
    }
}

impl Drop for Emitter<'_> {
    fn drop(&mut self) {
        self.flush_counters();
    }
}
