//! Runs a [`Plan`]: the source on a blocking thread (file reading and parsing block) together with the
//! stateless steps right after it (`runtime::fused`), one tokio task per other step, each sink on a
//! blocking thread, joined by bounded channels of batches. Tracks acknowledgements,
//! counts per component, routes rejected records by each step's `on_error`, and stops cleanly — the
//! source stops reading, everything in flight drains — when asked or when a component fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use petgraph::graph::NodeIndex;
use tokio::sync::mpsc::Receiver;
use tokio::task::JoinHandle;

use super::ack::{AckSummary, AckTracker};
use super::channel::{Batch, Outputs, batch_channel};
use super::dead_letter::DeadLetterSender;
use super::fused::{Chain, Failure, StepEnv};
use super::stats::{NodeCounters, RunSummary};
use crate::graph::plan::{BuiltSink, BuiltStep, Plan};
use crate::sinks::Sink;
use crate::sinks::dry_run::DryRunSink;
use crate::sources::{Source, SourceContext};
use crate::transforms::Output;

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Replace every sink with one that prints what it would receive; write nothing.
    pub dry_run: bool,
    /// Stop reading after this many records.
    pub limit: Option<u64>,
    /// Set to stop reading (SIGINT/SIGTERM); in-flight records drain.
    pub stop: Arc<AtomicBool>,
}

/// A running pipeline.
pub struct Execution {
    tracker: Arc<AckTracker>,
    handles: Vec<JoinHandle<()>>,
    counters: Vec<(String, &'static str, &'static str, Arc<NodeCounters>)>,
    failure: Failure,
    stop: Arc<AtomicBool>,
    dead_letter: DeadLetterSender,
    started: Instant,
    name: String,
    dry_run: bool,
}

impl Execution {
    /// Starts every component of `plan`. Must be called within a tokio runtime.
    pub fn start(plan: Plan, options: RunOptions) -> Self {
        let Plan { name, graph, source, steps, sinks, dead_letter_path, settings, projection } = plan;
        let stop = Arc::clone(&options.stop);
        let failure = Failure::default();
        let tracker = AckTracker::new();
        let dead_letter = if options.dry_run {
            DeadLetterSender::printing(&name)
        } else {
            DeadLetterSender::to_file(&name, &dead_letter_path)
        };
        // One input channel per non-source node; senders are handed to the nodes upstream of it.
        let mut senders = std::collections::HashMap::new();
        let mut receivers = std::collections::HashMap::new();
        for n in graph.steps.iter().chain(graph.sinks.iter()) {
            let (tx, rx) = batch_channel(settings.channel_capacity);
            senders.insert(*n, tx);
            receivers.insert(*n, rx);
        }
        let outputs_of =
            |n: NodeIndex| Outputs::new(graph.downstream(n).iter().filter_map(|d| senders.get(d).cloned()).collect());
        let mut counters = Vec::new();
        let mut handles = Vec::new();
        let step_counters: Vec<Arc<NodeCounters>> = steps.iter().map(|_| Arc::default()).collect();
        let env_of = |i: usize, step: &BuiltStep| StepEnv {
            id: step.id.clone(),
            on_error: step.on_error,
            counters: Arc::clone(&step_counters[i]),
            dlq: dead_letter.clone(),
            failure: failure.clone(),
            stop: Arc::clone(&stop),
        };
        // The stateless steps right after the source run inside it (`runtime::fused`).
        let fused = fusable_chain(&graph, &steps);
        let ids: Vec<String> = steps.iter().map(|s| s.id.clone()).collect();
        let type_names: Vec<&'static str> = steps.iter().map(|s| s.type_name).collect();
        let mut steps: Vec<Option<BuiltStep>> = steps.into_iter().map(Some).collect();
        let chain = Chain::new(
            fused.iter().filter_map(|&i| steps[i].take().map(|step| (env_of(i, &step), step.transform))).collect(),
        );
        let source_out = fused.last().map_or(graph.source, |&i| graph.steps[i]);

        let source_counters = Arc::new(NodeCounters::default());
        counters.push((source.id.clone(), "source", type_of_source(&source.source), Arc::clone(&source_counters)));
        let ctx = SourceContext {
            output: outputs_of(source_out),
            tracker: Arc::clone(&tracker),
            dead_letter: dead_letter.clone(),
            batch_size: settings.batch_size,
            limit: options.limit,
            stop: Arc::clone(&stop),
            key: source.key,
            id: source.id.clone(),
            counters: Arc::clone(&source_counters),
            projection,
        };
        {
            let failure = failure.clone();
            let stop = Arc::clone(&stop);
            let source_id = source.id.clone();
            let src = source.source;
            handles.push(tokio::task::spawn_blocking(move || {
                let result = match &src {
                    Source::File(f) => f.run_blocking(&ctx, chain),
                };
                if let Err(e) = result {
                    failure.set(format!("source `{source_id}`: {e}"), &stop);
                }
            }));
        }

        for (i, type_name) in type_names.into_iter().enumerate() {
            counters.push((ids[i].clone(), "step", type_name, Arc::clone(&step_counters[i])));
            let Some(step) = steps[i].take() else { continue };
            let n = graph.steps[i];
            let rx = receivers.remove(&n).expect("every step has an input channel");
            let outputs = outputs_of(n);
            let env = env_of(i, &step);
            handles.push(tokio::spawn(run_step(step.transform, env, rx, outputs)));
        }

        for (i, built) in sinks.into_iter().enumerate() {
            let n = graph.sinks[i];
            let node_counters = Arc::new(NodeCounters::default());
            counters.push((built.id.clone(), "sink", built.type_name, Arc::clone(&node_counters)));
            let rx = receivers.remove(&n).expect("every sink has an input channel");
            let BuiltSink { id, sink, .. } = built;
            let sink: Box<dyn Sink> = if options.dry_run { Box::new(DryRunSink::new(&id)) } else { sink };
            let dlq = dead_letter.clone();
            let failure = failure.clone();
            let stop = Arc::clone(&stop);
            handles.push(tokio::task::spawn_blocking(move || {
                run_sink(id, sink, rx, dlq, &node_counters, &failure, &stop)
            }));
        }
        drop(senders);
        Self {
            tracker,
            handles,
            counters,
            failure,
            stop,
            dead_letter,
            started: Instant::now(),
            name,
            dry_run: options.dry_run,
        }
    }

    /// Outcomes so far.
    pub fn progress(&self) -> AckSummary {
        self.tracker.summary()
    }

    /// A handle for watching progress from another task.
    pub fn progress_handle(&self) -> Arc<AckTracker> {
        Arc::clone(&self.tracker)
    }

    /// Waits for every component to finish and summarizes the run.
    pub async fn wait(self) -> RunSummary {
        for h in self.handles {
            if let Err(e) = h.await {
                self.failure.set(format!("a component stopped unexpectedly: {e}"), &self.stop);
            }
        }
        let error = self.failure.take();
        let interrupted = error.is_none() && self.stop.load(Ordering::SeqCst);
        RunSummary {
            pipeline: self.name,
            duration: self.started.elapsed(),
            records: self.tracker.summary(),
            components: self.counters.iter().map(|(id, kind, ty, c)| c.snapshot(id, kind, ty)).collect(),
            dead_letter_path: (self.dead_letter.written() > 0)
                .then(|| self.dead_letter.path().map(|p| p.display().to_string()))
                .flatten(),
            interrupted,
            error,
            dry_run: self.dry_run,
        }
    }
}

fn type_of_source(s: &Source) -> &'static str {
    match s {
        Source::File(_) => "file",
    }
}

/// The steps after the source that it can run itself: while the next node is the only reader of the
/// current one, reads only from it, and is a step without state or timer, by step index.
fn fusable_chain(graph: &crate::graph::PipelineGraph, steps: &[BuiltStep]) -> Vec<usize> {
    let mut chain = Vec::new();
    let mut at = graph.source;
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

async fn run_step(
    mut transform: Box<dyn crate::transforms::Transform>,
    env: StepEnv,
    mut rx: Receiver<Batch>,
    outputs: Outputs,
) {
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
                    continue;
                }
                NodeCounters::add(&env.counters.received, batch.len());
                transform.process(batch, &mut out);
                false
            }
            Some(None) => {
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
}

fn run_sink(
    id: String,
    mut sink: Box<dyn Sink>,
    mut rx: Receiver<Batch>,
    dlq: DeadLetterSender,
    counters: &NodeCounters,
    failure: &Failure,
    stop: &AtomicBool,
) {
    while let Some(batch) = rx.blocking_recv() {
        NodeCounters::add(&counters.received, batch.len());
        if failure.is_set() {
            continue;
        }
        match sink.write(&batch) {
            Ok(rejected) => {
                let mut rejected = rejected.into_iter().peekable();
                for (i, record) in batch.into_iter().enumerate() {
                    if rejected.peek().is_some_and(|(r, _)| *r == i) {
                        let (_, reason) = rejected.next().unwrap_or_default();
                        NodeCounters::add(&counters.dead_lettered, 1);
                        dlq.send(record, &id, reason);
                    } else {
                        NodeCounters::add(&counters.delivered, 1);
                        record.mark_delivered();
                    }
                }
            }
            Err(e) => failure.set(format!("sink `{id}`: {e}"), stop),
        }
    }
    if !failure.is_set()
        && let Err(e) = sink.finish()
    {
        failure.set(format!("sink `{id}`: {e}"), stop);
    }
}
