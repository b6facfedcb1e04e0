//! The tasks that run steps and sinks: a step's loop over its input (and its deadline), routing what
//! it rejects by `on_error`; a sink's loop that writes, audits and acknowledges (a sink with writes in
//! flight is driven by `concurrent_sink`); and which steps the source can run itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc::Receiver;

use super::sink_env::SinkEnv;
use crate::graph::plan::BuiltStep;
use crate::kernel::channel::{Batch, Outputs};
use crate::kernel::dead_letter::DeadLetterSender;
use crate::kernel::fused::{Failure, StepEnv};
use crate::kernel::record::Record;
use crate::kernel::stats::NodeCounters;
use crate::sinks::{Sink, SinkContext};
use crate::transforms::Output;

/// Tells a step, once its input has ended, whether the sources upstream of it read everything.
pub(super) struct SourceEnd {
    /// Set when the run was interrupted or failed.
    pub(super) stop: Arc<AtomicBool>,
    /// `--limit` (per source).
    pub(super) limit: Option<u64>,
    /// The counters of the sources upstream of the step.
    pub(super) sources: Vec<Arc<NodeCounters>>,
    /// A source upstream reads only part of its input on purpose: it resumed from a checkpoint
    /// (earlier runs read the rest), or this is a replay of dead letters.
    pub(super) partial: bool,
}

impl SourceEnd {
    /// True when the step did not see the whole input: a source stopped before its end (a limit that
    /// was reached counts), or read only part of it on purpose.
    fn early(&self) -> bool {
        self.partial
            || self.stop.load(Ordering::SeqCst)
            || self.limit.is_some_and(|l| self.sources.iter().any(|s| s.received.load(Ordering::Acquire) >= l))
    }
}

/// The steps after `source` that it can run itself: while the next node is the only reader of the
/// current one, reads only from it, and is a step without state or timer, by step index.
pub(super) fn fusable_chain(
    graph: &crate::graph::PipelineGraph,
    steps: &[BuiltStep],
    source: petgraph::graph::NodeIndex,
) -> Vec<usize> {
    let mut chain = Vec::new();
    let mut at = source;
    while let [next] = graph.downstream(at)[..] {
        let Some(i) = graph.steps.iter().position(|&n| n == next) else { break };
        let readers_of_next = graph.graph.neighbors_directed(next, petgraph::Direction::Incoming).count();
        let t = &steps[i].transform;
        if readers_of_next != 1 || t.deadline().is_some() || t.replicate().is_none() {
            break;
        }
        chain.push(i);
        at = next;
    }
    chain
}

pub(super) async fn run_step(
    mut transform: Box<dyn crate::transforms::Transform>,
    env: StepEnv,
    (sides, mut rx): (Vec<Receiver<Batch>>, Receiver<Batch>),
    outputs: Outputs,
    end: SourceEnd,
) {
    // Side inputs first, each to its end; the other inputs wait (their channels fill and hold their
    // sources back).
    for (i, mut side) in sides.into_iter().enumerate() {
        while let Some(batch) = side.recv().await {
            if env.failure.is_set() {
                batch.iter().for_each(Record::mark_unacknowledged);
                continue;
            }
            NodeCounters::add(&env.counters.received, batch.len());
            let mut out = Output::default();
            transform.take_side(i, batch, &mut out);
            let records = env.route(out);
            if !records.is_empty() {
                outputs.send(records).await;
            }
        }
    }
    loop {
        let mut out = Output::default();
        let next = match transform.deadline() {
            Some(deadline) => tokio::select! {
                batch = rx.recv() => Some(batch),
                () = tokio::time::sleep_until(deadline.into()) => None,
            },
            None => Some(rx.recv().await),
        };
        let finished = match next {
            None => {
                transform.on_deadline(&mut out);
                false
            }
            Some(Some(batch)) => {
                if env.failure.is_set() {
                    // After a fatal error nothing more is delivered; these inputs stay unacknowledged.
                    batch.iter().for_each(Record::mark_unacknowledged);
                    continue;
                }
                NodeCounters::add(&env.counters.received, batch.len());
                transform.process(batch, &mut out);
                false
            }
            Some(None) => {
                if end.early() {
                    transform.input_incomplete();
                }
                transform.flush(&mut out);
                true
            }
        };
        let records = env.route(out);
        if !records.is_empty() {
            outputs.send(records).await;
        }
        if finished {
            break;
        }
    }
    if let Some(report) = transform.report() {
        env.counters.set_report(report);
    }
}

#[expect(clippy::too_many_arguments, reason = "the sink's input and the run's shared parts, each distinct")]
pub(super) fn run_sink(
    ctx: SinkContext,
    mut sink: Box<dyn Sink>,
    mut rx: Receiver<Batch>,
    dlq: DeadLetterSender,
    counters: &NodeCounters,
    failure: &Failure,
    stop: &AtomicBool,
    tap: Option<&dyn crate::kernel::tap::Tap>,
) {
    let env = SinkEnv { ctx: &ctx, dlq: &dlq, counters, failure, stop, tap };
    if let Err(e) = sink.open(&ctx) {
        env.fail(e);
    }
    if let Some(max) = sink.concurrent().map(|w| w.max_in_flight()) {
        super::concurrent_sink::run(&mut *sink, max, &mut rx, &env);
    } else {
        while let Some(batch) = rx.blocking_recv() {
            env.received(&batch);
            if failure.is_set() {
                // Not written: the inputs stay unacknowledged, whatever other sinks did with their copies.
                batch.iter().for_each(Record::mark_unacknowledged);
                continue;
            }
            match sink.write(&batch) {
                Ok(rejected) => env.settle(&*sink, batch, rejected),
                Err(e) => {
                    let (settled, rejected) = sink.settled_before_failure().unwrap_or_default();
                    env.settle_failed(&*sink, e, batch, settled, rejected);
                }
            }
        }
    }
    if !failure.is_set()
        && let Err(e) = sink.finish()
    {
        env.fail(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::ack::{AckTracker, InputPosition};
    use crate::kernel::record::Acks;
    use crate::sinks::{RecordRejection, SinkError};

    struct Failing;

    impl Sink for Failing {
        fn write(&mut self, _batch: &[Record]) -> Result<Vec<RecordRejection>, SinkError> {
            Err(SinkError { message: "the target is down".into(), retryable: true })
        }
    }

    #[test]
    fn a_copy_the_failing_sink_did_not_write_keeps_its_input_unacknowledged() {
        // Fan-out: another sink delivered its copy of the input; this sink failed to write its own. The
        // input must be read again (it never reached this sink), not counted as delivered.
        let tracker = AckTracker::new();
        let mut record = Record::new(serde_json::json!({"n": 1}));
        record.acks = Acks::One(tracker.track(InputPosition { stream: 0, seq: 0 }));
        let other_sinks_copy = record.clone();
        other_sinks_copy.mark_delivered();
        drop(other_sinks_copy);
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tx.try_send(vec![record]).expect("room in the channel");
        drop(tx);
        let ctx = SinkContext { pipeline: "p".into(), sink: "s".into(), state: None, run_id: None, resumed: false };
        let (failure, stop) = (Failure::default(), AtomicBool::new(false));
        let dlq = DeadLetterSender::printing("p");
        run_sink(ctx, Box::new(Failing), rx, dlq, &NodeCounters::default(), &failure, &stop, None);
        assert!(failure.is_set());
        let summary = tracker.summary();
        assert_eq!((summary.delivered, summary.unacknowledged), (0, 1));
        assert_eq!(tracker.acknowledged_prefix(0), 0, "the checkpoint must not pass it");
    }
}
