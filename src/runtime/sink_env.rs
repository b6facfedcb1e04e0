//! Settling what a sink wrote, for both sink loops (one write at a time in `tasks`, writes in flight in
//! `concurrent_sink`): the delivered records audited then acknowledged, the rejected ones
//! dead-lettered with the sink's reason, and after a failure what the sink settled before it.

use std::sync::atomic::AtomicBool;

use crate::kernel::channel::Batch;
use crate::kernel::dead_letter::DeadLetterSender;
use crate::kernel::fused::Failure;
use crate::kernel::record::Record;
use crate::kernel::stats::NodeCounters;
use crate::sinks::{Sink, SinkContext};
use crate::state::{AuditEntry, StateError};

/// Records `delivered` in the audit log for each keyed record, unless the sink audits itself.
fn audit_delivered(
    ctx: &SinkContext,
    sink: &dyn Sink,
    records: &[Record],
    stop: &AtomicBool,
) -> Result<(), StateError> {
    let Some(state) = &ctx.state else { return Ok(()) };
    if sink.audits_itself() {
        return Ok(());
    }
    let (time, target) = (crate::kernel::dead_letter::now_rfc3339(), sink.target());
    let entries: Vec<AuditEntry> = records
        .iter()
        .filter_map(|r| r.key.as_deref())
        .map(|key| AuditEntry {
            run_id: ctx.run_id,
            time: time.clone(),
            pipeline: ctx.pipeline.clone(),
            key: key.to_string(),
            component: ctx.sink.clone(),
            action: "delivered".into(),
            target: target.clone(),
            detail: None,
        })
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    crate::kernel::dead_letter::retry_while_full(stop, "audit entries", || state.audit(&entries))
}

/// What a sink's loop settles its writes with.
pub(super) struct SinkEnv<'a> {
    /// The sink's context (its id, the state store for the audit log).
    pub(super) ctx: &'a SinkContext,
    /// Where rejected records go.
    pub(super) dlq: &'a DeadLetterSender,
    /// The sink's counters.
    pub(super) counters: &'a NodeCounters,
    /// The run's failure.
    pub(super) failure: &'a Failure,
    /// The run's stop flag.
    pub(super) stop: &'a AtomicBool,
    /// Told what the sink receives (`weir test`); `None` in normal runs.
    pub(super) tap: Option<&'a dyn crate::kernel::tap::Tap>,
}

impl SinkEnv<'_> {
    /// Counts a batch arriving at the sink (and shows it to the tap).
    pub(super) fn received(&self, batch: &Batch) {
        NodeCounters::add(&self.counters.received, batch.len());
        if let Some(tap) = self.tap {
            tap.sink(&self.ctx.sink, batch);
        }
    }

    /// Records a failure of the sink: the run stops.
    pub(super) fn fail(&self, error: impl std::fmt::Display) {
        self.failure.set(format!("sink `{}`: {error}", self.ctx.sink), self.stop);
    }

    /// Acknowledges written records (after auditing them) and dead-letters the rejected ones.
    pub(super) fn settle(&self, sink: &dyn Sink, batch: Batch, mut rejected: Vec<crate::sinks::RecordRejection>) {
        let (ctx, counters) = (self.ctx, self.counters);
        let id = &ctx.sink;
        // Matched to the batch in one pass: in batch order, whatever order the sink listed them.
        rejected.sort_by_key(|(i, _)| *i);
        let mut rejected = rejected.into_iter().peekable();
        let mut delivered = Vec::with_capacity(batch.len());
        for (i, record) in batch.into_iter().enumerate() {
            if rejected.peek().is_some_and(|(r, _)| *r == i) {
                let (_, reason) = rejected.next().unwrap_or_default();
                NodeCounters::add(&counters.dead_lettered, 1);
                self.dlq.send(record, id, reason);
            } else {
                delivered.push(record);
            }
        }
        // Audited before acknowledged: a crash in between re-delivers (and re-audits), never leaves a
        // delivery unrecorded.
        if let Err(e) = audit_delivered(ctx, sink, &delivered, self.stop) {
            self.fail(format!("cannot write the audit log: {e}"));
            delivered.iter().for_each(Record::mark_unacknowledged);
            return;
        }
        NodeCounters::add(&counters.delivered, delivered.len());
        delivered.iter().for_each(Record::mark_delivered);
    }

    /// After a write failed: records the failure and acknowledges what the sink settled before it — the
    /// first `settled` records of the batch, `rejected` among them — so that the books of a failed run
    /// do not depend on the batch size; the rest stays unacknowledged.
    pub(super) fn settle_failed(
        &self,
        sink: &dyn Sink,
        error: impl std::fmt::Display,
        mut batch: Batch,
        settled: usize,
        rejected: Vec<crate::sinks::RecordRejection>,
    ) {
        self.fail(error);
        let rest = batch.split_off(settled.min(batch.len()));
        rest.iter().for_each(Record::mark_unacknowledged);
        self.settle(sink, batch, rejected);
    }
}
