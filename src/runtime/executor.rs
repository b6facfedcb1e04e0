//! Runs a [`Plan`]: the source on a blocking thread (file reading and parsing block), one tokio task per
//! step, each sink on a blocking thread, joined by bounded channels of batches. Tracks acknowledgements,
//! counts per component, routes rejected records by each step's `on_error`, and stops cleanly — the
//! source stops reading, everything in flight drains — when asked or when a component fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use petgraph::algo::has_path_connecting;
use petgraph::graph::NodeIndex;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::replay::{self, Replay};
use super::sources::{Progress, SourceOptions, prepare_sources, side_inputs};
use super::tasks::{SourceEnd, fusable_chain, run_sink, run_step};
use crate::graph::plan::{BuiltSink, BuiltStep, DeadLetterTarget, Plan};
use crate::kernel::channel::{Outputs, batch_channel};
use crate::kernel::checkpoint::Checkpoints;
use crate::kernel::dead_letter::DeadLetterSender;
use crate::kernel::fused::{Chain, Failure, StepEnv};
use crate::kernel::stats::{NodeCounters, RunSummary};
use crate::kernel::step::StepContext;
use crate::sinks::dry_run::DryRunSink;
use crate::sinks::{Sink, SinkContext};
use crate::sources::{SourceContext, SourceError, SourceRun};
use crate::state::StateStore;
use crate::telemetry::logs::{node_span, run_span};
use crate::telemetry::nodes::{LiveRecords, WatchedRun};

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Replace every sink with one that prints what it would receive; write nothing.
    pub dry_run: bool,
    /// Stop reading after this many records.
    pub limit: Option<u64>,
    /// Set to stop reading (SIGINT/SIGTERM); in-flight records drain.
    pub stop: Arc<AtomicBool>,
    /// The state store (checkpoints, id map, intents, dead letters, audit); `None` runs without memory
    /// (dry runs, tests).
    pub state: Option<Arc<dyn StateStore>>,
    /// This run's id in the state store's run history.
    pub run_id: Option<i64>,
    /// Read sources from the beginning, ignoring saved checkpoints.
    pub from_start: bool,
    /// Re-inject these dead letters instead of reading the source.
    pub replay: Option<Arc<Replay>>,
    /// Told what passes through each step and sink (`weir test`).
    pub tap: Option<Arc<dyn crate::kernel::tap::Tap>>,
    /// Sources fed continuously (a webhook) keep reading new input until `stop` is set, instead of
    /// ending once what there is to read is read (see `SourceContext::follow`).
    pub follow: bool,
}

/// A running pipeline.
pub struct Execution {
    progress: Progress,
    handles: Vec<JoinHandle<()>>,
    counters: Vec<(String, &'static str, &'static str, Arc<NodeCounters>)>,
    failure: Failure,
    stop: Arc<AtomicBool>,
    dead_letter: DeadLetterSender,
    checkpoints: Vec<Arc<Checkpoints>>,
    saver: Option<JoinHandle<()>>,
    started: Instant,
    name: String,
    dry_run: bool,
    /// The run as the metrics count it.
    watched: WatchedRun,
    /// The run's log span.
    span: tracing::Span,
}

impl Execution {
    /// Starts every component of `plan`. Must be called within a tokio runtime.
    pub fn start(plan: Plan, options: RunOptions) -> Self {
        let Plan { name, graph, sources, steps, mut sinks, dead_letter, dead_letter_max_record, settings, ids } = plan;
        if let Some(state) = &options.state {
            ids.fill(Arc::new(Arc::clone(state)));
        }
        let stop = Arc::clone(&options.stop);
        let failure = Failure::default();
        let run_id = options.run_id;
        let span = run_span(&name, run_id);
        let span_of = |node: &str, kind: &'static str| node_span(&name, run_id, node, kind);
        let dead_letter = match (&dead_letter, &options.state) {
            _ if options.dry_run => DeadLetterSender::printing(&name),
            (DeadLetterTarget::File(path), _) => DeadLetterSender::to_file(&name, path),
            (DeadLetterTarget::Store { .. }, Some(state)) => {
                DeadLetterSender::to_store(&name, Arc::clone(state), options.run_id, Arc::clone(&stop))
            }
            (DeadLetterTarget::Store { fallback }, None) => DeadLetterSender::to_file(&name, fallback),
        };
        let dead_letter = match &options.replay {
            Some(replay) => dead_letter.with_previous_attempts(replay.previous_attempts()),
            None => dead_letter,
        }
        .with_max_record(dead_letter_max_record);
        let side_inputs = side_inputs(&graph, &steps);
        let source_options = SourceOptions {
            state: options.state.as_ref(),
            dry_run: options.dry_run,
            from_start: options.from_start,
            replay: options.replay.is_some(),
        };
        let sources = prepare_sources(&name, &graph, sources, &side_inputs, &source_options, &failure, &stop);
        let progress = Progress::new(sources.iter().map(|s| Arc::clone(&s.tracker)).collect());
        let resumed_sources: Vec<bool> = sources.iter().map(|s| s.resumed).collect();
        // One input channel per non-source node, plus one per side input; senders are handed to the
        // nodes upstream of it.
        let mut senders = std::collections::HashMap::new();
        let mut receivers = std::collections::HashMap::new();
        for n in graph.steps.iter().chain(graph.sinks.iter()) {
            let (tx, rx) = batch_channel(settings.channel_capacity);
            senders.insert(*n, tx);
            receivers.insert(*n, rx);
        }
        let mut side_senders = std::collections::HashMap::new();
        let mut side_receivers: std::collections::HashMap<NodeIndex, Vec<_>> = std::collections::HashMap::new();
        for &(from, to) in &side_inputs {
            let (tx, rx) = batch_channel(settings.channel_capacity);
            side_senders.insert((from, to), tx);
            side_receivers.entry(to).or_default().push(rx);
        }
        let outputs_of = |n: NodeIndex| {
            let downstream = graph.downstream(n);
            Outputs::new(
                downstream
                    .iter()
                    .filter_map(|d| side_senders.get(&(n, *d)).or_else(|| senders.get(d)).cloned())
                    .collect(),
            )
        };
        let mut counters = Vec::new();
        let mut handles = Vec::new();
        let checkpoints: Vec<Arc<Checkpoints>> = sources.iter().filter_map(|s| s.checkpoints.clone()).collect();
        // Every output committed with a checkpoint is announced before anything can save one: a save
        // must not pass over an output whose sink has not opened yet. An output fed by several sources
        // cannot be cut back to one source's position: it is committed with none (at least once).
        let upstream_sources = |n: NodeIndex| -> Vec<usize> {
            (0..graph.sources.len()).filter(|&i| has_path_connecting(&graph.graph, graph.sources[i], n, None)).collect()
        };
        if !options.dry_run {
            for (i, built) in sinks.iter_mut().enumerate() {
                if let [only] = upstream_sources(graph.sinks[i])[..]
                    && let Some(c) = &sources[only].checkpoints
                    && built.sink.commit_with(c)
                {
                    c.expect_output(&built.id);
                }
            }
        }
        let saver = (!checkpoints.is_empty() && options.replay.is_none())
            .then(|| tokio::spawn(save_checkpoints_periodically(checkpoints.clone())));
        let step_counters: Vec<Arc<NodeCounters>> = steps.iter().map(|_| Arc::default()).collect();
        let mut steps = steps;
        for step in &mut steps {
            let ctx = StepContext {
                pipeline: name.clone(),
                step: step.id.clone(),
                state: if options.dry_run { None } else { options.state.clone() },
                run_id: options.run_id,
                dry_run: options.dry_run,
            };
            if let Err(e) = step.transform.open(&ctx) {
                // Before any source reads: the run stops with nothing read.
                failure.set(format!("step `{}`: {e}", step.id), &stop);
            }
        }
        let env_of = |i: usize, step: &BuiltStep| StepEnv {
            id: step.id.clone(),
            on_error: step.on_error,
            counters: Arc::clone(&step_counters[i]),
            dlq: dead_letter.clone(),
            failure: failure.clone(),
            stop: Arc::clone(&stop),
            tap: options.tap.clone(),
            span: span_of(&step.id, "step"),
        };
        // The stateless steps right after each source run inside it (`kernel::fused`) — except in a
        // replay, which injects records at a step's own input.
        let fused: Vec<Vec<usize>> = graph
            .sources
            .iter()
            .map(|&n| if options.replay.is_some() { Vec::new() } else { fusable_chain(&graph, &steps, n) })
            .collect();
        let ids: Vec<String> = steps.iter().map(|s| s.id.clone()).collect();
        let type_names: Vec<&'static str> = steps.iter().map(|s| s.type_name).collect();
        let mut steps: Vec<Option<BuiltStep>> = steps.into_iter().map(Some).collect();
        let mut contexts = Vec::new();
        let mut readers = Vec::new();
        for (i, source) in sources.into_iter().enumerate() {
            let chain = Chain::new(
                fused[i]
                    .iter()
                    .filter_map(|&s| steps[s].take().map(|step| (env_of(s, &step), step.transform)))
                    .collect(),
            );
            let source_out = fused[i].last().map_or(graph.sources[i], |&s| graph.steps[s]);
            counters.push((source.id.clone(), "source", source.type_name, Arc::clone(&source.counters)));
            // Records whose only destination is a sink writing their JSON text are encoded on the
            // source's threads (not in a dry run, whose sinks print them, nor in a replay).
            let only_destination = match graph.downstream(source_out).as_slice() {
                [n] => graph.sinks.iter().position(|s| s == n),
                _ => None,
            };
            let encode_json = !options.dry_run
                && options.replay.is_none()
                && only_destination.and_then(|i| sinks.get(i)).is_some_and(|b| b.sink.takes_encoded_json());
            let ctx = SourceContext {
                encode_json,
                output: outputs_of(source_out),
                tracker: Arc::clone(&source.tracker),
                dead_letter: dead_letter.clone(),
                batch_size: settings.batch_size,
                batch_bytes: settings.batch_bytes,
                limit: options.limit,
                stop: Arc::clone(&stop),
                key: source.key,
                id: source.id.clone(),
                counters: Arc::clone(&source.counters),
                projection: source.projection,
                pipeline: name.clone(),
                state: options.state.clone(),
                dry_run: options.dry_run,
                follow: options.follow,
            };
            contexts.push(ctx);
            readers.push((source.id, source.source, chain));
        }
        let source_counters: Vec<Arc<NodeCounters>> = contexts.iter().map(|c| Arc::clone(&c.counters)).collect();
        if let Some(replay) = options.replay.clone() {
            let inputs: std::collections::HashMap<NodeIndex, Outputs> =
                senders.iter().map(|(n, tx)| (*n, Outputs::new(vec![tx.clone()]))).collect();
            let graph = graph.clone();
            handles.push(tokio::task::spawn_blocking(move || {
                replay::inject(&replay, &graph, &contexts, |n| inputs.get(&n).cloned().unwrap_or_default());
            }));
        } else {
            for (ctx, (source_id, src, chain)) in contexts.into_iter().zip(readers) {
                let failure = failure.clone();
                let stop = Arc::clone(&stop);
                let span = span_of(&source_id, "source");
                let report = move |result: Result<(), SourceError>| {
                    if let Err(e) = result {
                        failure.set(format!("source `{source_id}`: {e}"), &stop);
                    }
                };
                handles.push(match src.run(ctx, chain) {
                    SourceRun::Blocking(read) => tokio::task::spawn_blocking(move || span.in_scope(|| report(read()))),
                    SourceRun::Async(read) => tokio::spawn(async move { report(read.await) }.instrument(span)),
                });
            }
        }
        let partial_replay = options.replay.as_ref().is_some_and(|r| !r.whole_input);
        let partial_upstream = |n: NodeIndex| partial_replay || upstream_sources(n).iter().any(|&i| resumed_sources[i]);
        for (i, type_name) in type_names.into_iter().enumerate() {
            counters.push((ids[i].clone(), "step", type_name, Arc::clone(&step_counters[i])));
            let Some(step) = steps[i].take() else { continue };
            let n = graph.steps[i];
            // Made above for every step and sink; a node without one is skipped, its inputs (if any
            // reach it) stay unacknowledged.
            let Some(rx) = receivers.remove(&n) else { continue };
            let sides = side_receivers.remove(&n).unwrap_or_default();
            let outputs = outputs_of(n);
            let env = env_of(i, &step);
            let end = SourceEnd {
                stop: Arc::clone(&stop),
                limit: options.limit,
                sources: upstream_sources(n).into_iter().map(|s| Arc::clone(&source_counters[s])).collect(),
                partial: partial_upstream(n),
            };
            let span = env.span.clone();
            handles.push(tokio::spawn(run_step(step.transform, env, (sides, rx), outputs, end).instrument(span)));
        }

        for (i, built) in sinks.into_iter().enumerate() {
            let n = graph.sinks[i];
            let node_counters = Arc::new(NodeCounters::default());
            counters.push((built.id.clone(), "sink", built.type_name, Arc::clone(&node_counters)));
            let Some(rx) = receivers.remove(&n) else { continue };
            let BuiltSink { id, sink, .. } = built;
            let sink: Box<dyn Sink> = if options.dry_run { Box::new(DryRunSink::new(&id, sink)) } else { sink };
            let sink_ctx = SinkContext {
                pipeline: name.clone(),
                sink: id.clone(),
                state: if options.dry_run { None } else { options.state.clone() },
                run_id: options.run_id,
                resumed: partial_upstream(n),
            };
            let dlq = dead_letter.clone();
            let failure = failure.clone();
            let stop = Arc::clone(&stop);
            let tap = options.tap.clone();
            let span = span_of(&id, "sink");
            handles.push(tokio::task::spawn_blocking(move || {
                let _in_sink = span.enter();
                run_sink(sink_ctx, sink, rx, dlq, &node_counters, &failure, &stop, tap.as_deref())
            }));
        }
        drop(senders);
        drop(side_senders);
        let live = counters.iter().map(|(id, kind, _, c)| (id.clone(), *kind, Arc::clone(c) as Arc<dyn LiveRecords>));
        let watched = crate::telemetry::nodes::run_started(&name, live);
        span.in_scope(|| tracing::info!(dry_run = options.dry_run, "run started"));
        Self {
            progress,
            handles,
            counters,
            failure,
            stop,
            dead_letter,
            checkpoints,
            saver,
            started: Instant::now(),
            name,
            dry_run: options.dry_run,
            watched,
            span,
        }
    }

    /// A handle for watching progress from another task.
    pub fn progress_handle(&self) -> Progress {
        self.progress.clone()
    }

    /// Waits for every component to finish and summarizes the run.
    pub async fn wait(self) -> RunSummary {
        for h in self.handles {
            if let Err(e) = h.await {
                self.failure.set(format!("a component stopped unexpectedly: {e}"), &self.stop);
            }
        }
        if let Some(saver) = self.saver {
            saver.abort();
        }
        for checkpoints in self.checkpoints {
            // Everything has finished: the last position is final. A full store is retried unless
            // the run is being stopped; the next run then re-reads from the last saved position.
            let stop = Arc::clone(&self.stop);
            let saved = tokio::task::spawn_blocking(move || {
                crate::kernel::dead_letter::retry_while_full(&stop, "checkpoint", || checkpoints.save().map(drop))
            })
            .await;
            match saved {
                Ok(Ok(())) => {}
                Ok(Err(e)) => self.failure.set(format!("cannot save the checkpoint: {e}"), &self.stop),
                Err(e) => self.failure.set(format!("cannot save the checkpoint: {e}"), &self.stop),
            }
        }
        let error = self.failure.take();
        let interrupted = error.is_none() && self.stop.load(Ordering::SeqCst);
        let summary = RunSummary {
            pipeline: self.name,
            duration: self.started.elapsed(),
            records: self.progress.summary(),
            components: self.counters.iter().map(|(id, kind, ty, c)| c.snapshot(id, kind, ty)).collect(),
            dead_letter_path: (self.dead_letter.written() > 0).then(|| self.dead_letter.describe()).flatten(),
            interrupted,
            error,
            dry_run: self.dry_run,
        };
        let status = summary.run_status().as_str();
        let r = &summary.records;
        self.span.in_scope(|| {
            tracing::info!(
                status,
                seconds = summary.duration.as_secs_f64(),
                received = r.received,
                delivered = r.delivered,
                filtered = r.filtered,
                dead_lettered = r.dead_lettered,
                "run finished"
            );
        });
        self.watched.ended(status, summary.duration);
        summary
    }
}

/// Saves each source's acknowledged position every second while the run lasts; a failed save (a full
/// disk) is logged and tried again at the next tick — the position simply does not advance meanwhile.
async fn save_checkpoints_periodically(checkpoints: Vec<Arc<Checkpoints>>) {
    let mut tick = tokio::time::interval(crate::fault::checkpoint_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let all = checkpoints.clone();
        let saved = tokio::task::spawn_blocking(move || all.iter().map(|c| c.save()).collect::<Vec<_>>()).await;
        for e in saved.into_iter().flatten().filter_map(Result::err) {
            tracing::warn!(error = %e, "cannot save the checkpoint; will try again");
        }
    }
}
