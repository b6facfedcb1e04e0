//! Runs a [`Plan`]: the source on a blocking thread (file reading and parsing block), one tokio task per
//! step, each sink on a blocking thread, joined by bounded channels of batches. Tracks acknowledgements,
//! counts per component, routes rejected records by each step's `on_error`, and stops cleanly — the
//! source stops reading, everything in flight drains — when asked or when a component fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use petgraph::graph::NodeIndex;
use tokio::task::JoinHandle;

use super::replay::{self, Replay};
use super::tasks::{SourceEnd, fusable_chain, run_sink, run_step};
use crate::graph::plan::{BuiltSink, BuiltSource, BuiltStep, DeadLetterTarget, Plan};
use crate::kernel::ack::{AckSummary, AckTracker};
use crate::kernel::channel::{Outputs, batch_channel};
use crate::kernel::checkpoint::Checkpoints;
use crate::kernel::dead_letter::DeadLetterSender;
use crate::kernel::fused::{Chain, Failure, StepEnv};
use crate::kernel::stats::{NodeCounters, RunSummary};
use crate::sinks::dry_run::DryRunSink;
use crate::sinks::{Sink, SinkContext};
use crate::sources::{SourceContext, SourceError, SourceRun};
use crate::state::StateStore;

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
}

/// A running pipeline.
pub struct Execution {
    tracker: Arc<AckTracker>,
    handles: Vec<JoinHandle<()>>,
    counters: Vec<(String, &'static str, &'static str, Arc<NodeCounters>)>,
    failure: Failure,
    stop: Arc<AtomicBool>,
    dead_letter: DeadLetterSender,
    checkpoints: Option<Arc<Checkpoints>>,
    saver: Option<JoinHandle<()>>,
    started: Instant,
    name: String,
    dry_run: bool,
}

impl Execution {
    /// Starts every component of `plan`. Must be called within a tokio runtime.
    pub fn start(plan: Plan, options: RunOptions) -> Self {
        let Plan {
            name,
            graph,
            source,
            steps,
            mut sinks,
            dead_letter,
            dead_letter_max_record,
            settings,
            projection,
            ids,
        } = plan;
        if let Some(state) = &options.state {
            ids.fill(Arc::new(Arc::clone(state)));
        }
        let stop = Arc::clone(&options.stop);
        let failure = Failure::default();
        // A replay reports per entry; a source that settles its inputs one by one hears of each.
        let tracker = match (&options.replay, source.source.acknowledgements()) {
            (Some(_), _) => AckTracker::recording(),
            (None, Some(listener)) => AckTracker::notifying(listener),
            (None, None) => AckTracker::new(),
        };
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

        // A replay reads no input, but its file outputs commit what they write with the checkpoint.
        let BuiltSource { id: source_id, type_name: source_type, source: mut src, key: source_key } = source;
        let checkpoints = match (&options.state, options.dry_run || !src.checkpointed()) {
            (Some(state), false) => {
                let loaded =
                    Checkpoints::load(Arc::clone(state), &name, &source_id, Arc::clone(&tracker), options.from_start);
                match loaded {
                    Ok(c) if options.replay.is_some() => Some(Arc::new(c.for_replay())),
                    Ok(c) => Some(Arc::new(c)),
                    Err(e) => {
                        failure.set(format!("source `{source_id}`: cannot read its checkpoint: {e}"), &stop);
                        None
                    }
                }
            }
            _ => None,
        };
        // The source takes back its saved position (not in a replay, which reads no input: the saved
        // position stays as it is).
        let mut position = None;
        if let Some(c) = checkpoints.as_ref().filter(|_| options.replay.is_none()) {
            match src.restore(c.saved_position()) {
                Ok(Some(p)) => {
                    c.keep(Arc::clone(&p));
                    position = Some(p);
                }
                Ok(None) => {}
                Err(why) => {
                    let e = crate::kernel::checkpoint::unreadable(&name, &source_id, &why);
                    failure.set(format!("source `{source_id}`: cannot read its checkpoint: {e}"), &stop);
                }
            }
        }
        // Replays add to what earlier runs wrote, like a resumed source; a source whose inputs were all
        // replaced reads them whole again, and a truncating sink rewrites its output.
        let resumed = options.replay.is_some() || position.as_ref().is_some_and(|p| p.resumes());
        // Every output committed with the checkpoint is announced before anything can save one: a save
        // must not pass over an output whose sink has not opened yet.
        if let Some(c) = checkpoints.as_ref().filter(|_| !options.dry_run) {
            for built in &mut sinks {
                if built.sink.commit_with(c) {
                    c.expect_output(&built.id);
                }
            }
        }
        let saver = checkpoints
            .clone()
            .filter(|_| options.replay.is_none())
            .map(|c| tokio::spawn(save_checkpoints_periodically(c)));
        let step_counters: Vec<Arc<NodeCounters>> = steps.iter().map(|_| Arc::default()).collect();
        let env_of = |i: usize, step: &BuiltStep| StepEnv {
            id: step.id.clone(),
            on_error: step.on_error,
            counters: Arc::clone(&step_counters[i]),
            dlq: dead_letter.clone(),
            failure: failure.clone(),
            stop: Arc::clone(&stop),
        };
        // The stateless steps right after the source run inside it (`kernel::fused`) — except in a
        // replay, which injects records at a step's own input.
        let fused = if options.replay.is_some() { Vec::new() } else { fusable_chain(&graph, &steps) };
        let ids: Vec<String> = steps.iter().map(|s| s.id.clone()).collect();
        let type_names: Vec<&'static str> = steps.iter().map(|s| s.type_name).collect();
        let mut steps: Vec<Option<BuiltStep>> = steps.into_iter().map(Some).collect();
        let chain = Chain::new(
            fused.iter().filter_map(|&i| steps[i].take().map(|step| (env_of(i, &step), step.transform))).collect(),
        );
        let source_out = fused.last().map_or(graph.source, |&i| graph.steps[i]);
        let source_counters = Arc::new(NodeCounters::default());
        counters.push((source_id.clone(), "source", source_type, Arc::clone(&source_counters)));
        // Records whose only destination is a sink writing their JSON text are encoded on the source's
        // threads (not in a dry run, whose sinks print them, nor in a replay).
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
            tracker: Arc::clone(&tracker),
            dead_letter: dead_letter.clone(),
            batch_size: settings.batch_size,
            batch_bytes: settings.batch_bytes,
            limit: options.limit,
            stop: Arc::clone(&stop),
            key: source_key,
            id: source_id.clone(),
            counters: Arc::clone(&source_counters),
            projection,
        };
        if let Some(replay) = options.replay.clone() {
            let inputs: std::collections::HashMap<NodeIndex, Outputs> =
                senders.iter().map(|(n, tx)| (*n, Outputs::new(vec![tx.clone()]))).collect();
            let graph = graph.clone();
            handles.push(tokio::task::spawn_blocking(move || {
                replay::inject(&replay, &graph, &ctx, |n| inputs.get(&n).cloned().unwrap_or_default());
            }));
        } else {
            let failure = failure.clone();
            let stop = Arc::clone(&stop);
            let source_id = source_id.clone();
            let report = move |result: Result<(), SourceError>| {
                if let Err(e) = result {
                    failure.set(format!("source `{source_id}`: {e}"), &stop);
                }
            };
            handles.push(match src.run(ctx, chain) {
                SourceRun::Blocking(read) => tokio::task::spawn_blocking(move || report(read())),
                SourceRun::Async(read) => tokio::spawn(async move { report(read.await) }),
            });
        }
        for (i, type_name) in type_names.into_iter().enumerate() {
            counters.push((ids[i].clone(), "step", type_name, Arc::clone(&step_counters[i])));
            let Some(step) = steps[i].take() else { continue };
            let n = graph.steps[i];
            let rx = receivers.remove(&n).expect("every step has an input channel");
            let outputs = outputs_of(n);
            let env = env_of(i, &step);
            let end = SourceEnd {
                stop: Arc::clone(&stop),
                limit: options.limit,
                source: Arc::clone(&source_counters),
                partial: resumed,
            };
            handles.push(tokio::spawn(run_step(step.transform, env, rx, outputs, end)));
        }

        for (i, built) in sinks.into_iter().enumerate() {
            let n = graph.sinks[i];
            let node_counters = Arc::new(NodeCounters::default());
            counters.push((built.id.clone(), "sink", built.type_name, Arc::clone(&node_counters)));
            let rx = receivers.remove(&n).expect("every sink has an input channel");
            let BuiltSink { id, sink, .. } = built;
            let sink: Box<dyn Sink> = if options.dry_run { Box::new(DryRunSink::new(&id)) } else { sink };
            let sink_ctx = SinkContext {
                pipeline: name.clone(),
                sink: id.clone(),
                state: if options.dry_run { None } else { options.state.clone() },
                run_id: options.run_id,
                resumed,
            };
            let dlq = dead_letter.clone();
            let failure = failure.clone();
            let stop = Arc::clone(&stop);
            handles.push(tokio::task::spawn_blocking(move || {
                run_sink(sink_ctx, sink, rx, dlq, &node_counters, &failure, &stop)
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
            checkpoints,
            saver,
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
        if let Some(saver) = self.saver {
            saver.abort();
        }
        if let Some(checkpoints) = self.checkpoints {
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
        RunSummary {
            pipeline: self.name,
            duration: self.started.elapsed(),
            records: self.tracker.summary(),
            components: self.counters.iter().map(|(id, kind, ty, c)| c.snapshot(id, kind, ty)).collect(),
            dead_letter_path: (self.dead_letter.written() > 0).then(|| self.dead_letter.describe()).flatten(),
            interrupted,
            error,
            dry_run: self.dry_run,
        }
    }
}

/// Saves the source's acknowledged position every second while the run lasts; a failed save (a full
/// disk) is logged and tried again at the next tick — the position simply does not advance meanwhile.
async fn save_checkpoints_periodically(checkpoints: Arc<Checkpoints>) {
    let mut tick = tokio::time::interval(crate::fault::checkpoint_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let c = Arc::clone(&checkpoints);
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || c.save()).await {
            tracing::warn!(error = %e, "cannot save the checkpoint; will try again");
        }
    }
}
