//! The loop of a sink with writes in flight ([`ConcurrentWrites`]): up to `max_in_flight` writes run
//! as tokio tasks while the sink's thread takes the next batch, and each write is settled (audit, dead
//! letters, acknowledgements) as it completes, in whatever order. Acknowledging out of order is safe
//! because the source's checkpoint only advances over a contiguous prefix of acknowledged inputs. Two
//! writes in flight never hold records of the same key: a batch that touches a key an unfinished write
//! holds waits for it, and the batches behind it wait too, so that updates of one key land in order.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::mpsc::Receiver;
use tokio::task::{Id, JoinError, JoinSet};

use super::sink_env::SinkEnv;
use crate::kernel::channel::Batch;
use crate::kernel::record::Record;
use crate::kernel::stats::NodeCounters;
use crate::sinks::Sink;
use crate::sinks::concurrent::WriteOutcome;

#[cfg(test)]
mod tests;

/// Runs on the sink's blocking thread until its input has ended and every write has been settled. After
/// a failure (this sink's or the run's) no write starts: what arrives stays unacknowledged, and the
/// writes in flight are awaited and settled, since what they wrote was written. A stop without failure
/// (SIGINT) changes nothing here: the source stops, and whatever reaches the sink is written as usual.
pub(super) fn run(sink: &mut dyn Sink, max: NonZeroUsize, rx: &mut Receiver<Batch>, env: &SinkEnv<'_>) {
    let Ok(runtime) = Handle::try_current() else {
        // Only a caller outside the executor gets here; nothing is written, so nothing is acknowledged.
        env.fail("writes in flight need the tokio runtime");
        while let Some(batch) = rx.blocking_recv() {
            NodeCounters::add(&env.counters.received, batch.len());
            batch.iter().for_each(Record::mark_unacknowledged);
        }
        return;
    };
    let mut flight = InFlight::new(max);
    // The next batch, taken from the input but not yet started: waiting for a free slot or a key.
    // Nothing more is read meanwhile, so the input's order is kept and a slow sink still holds the
    // source back.
    let mut waiting: Option<Batch> = None;
    let mut input_open = true;
    loop {
        if let Some(batch) = waiting.take() {
            if env.failure.is_set() {
                batch.iter().for_each(Record::mark_unacknowledged);
            } else {
                waiting = flight.try_start(sink, batch, &runtime, env).err();
            }
        }
        if waiting.is_none() && !input_open && flight.is_empty() {
            return;
        }
        let event = runtime.block_on(async {
            tokio::select! {
                // Completions first: they free slots and keys, and their records are acknowledged sooner.
                biased;
                Some(done) = flight.writes.join_next_with_id() => Event::Done(done),
                batch = rx.recv(), if waiting.is_none() && input_open => Event::Input(batch),
                // Nothing in flight and no input to wait for: the loop above ends or starts a write.
                else => Event::Idle,
            }
        });
        match event {
            Event::Input(Some(batch)) => {
                env.received(&batch);
                waiting = Some(batch);
            }
            Event::Input(None) => input_open = false,
            Event::Done(done) => flight.settle(sink, done, env),
            Event::Idle => {}
        }
    }
}

/// What the sink's thread woke up for.
enum Event {
    /// A write completed (or its task ended abnormally).
    Done(Result<(Id, WriteOutcome), JoinError>),
    /// The next batch, or `None` once the input has ended.
    Input(Option<Batch>),
    /// Nothing to wait for.
    Idle,
}

/// The writes in flight, with the batch and the keys each holds.
struct InFlight {
    max: usize,
    writes: JoinSet<WriteOutcome>,
    batches: HashMap<Id, (Arc<Batch>, Vec<Arc<str>>)>,
    keys: KeyGate,
}

impl InFlight {
    fn new(max: NonZeroUsize) -> Self {
        Self { max: max.get(), writes: JoinSet::new(), batches: HashMap::new(), keys: KeyGate::default() }
    }

    fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Starts writing `batch`, or hands it back when every slot is taken or one of its keys is held.
    fn try_start(
        &mut self,
        sink: &mut dyn Sink,
        batch: Batch,
        runtime: &Handle,
        env: &SinkEnv<'_>,
    ) -> Result<(), Batch> {
        if self.writes.len() >= self.max {
            return Err(batch);
        }
        let Some(keys) = self.keys.take(&batch) else { return Err(batch) };
        let Some(writes) = sink.concurrent() else {
            // It offered writes in flight when the run started; one that takes it back is a broken sink.
            self.keys.release(keys);
            env.fail("the sink stopped offering writes in flight");
            batch.iter().for_each(Record::mark_unacknowledged);
            return Ok(());
        };
        let batch = Arc::new(batch);
        // The write borrows nothing: the sink is free for the next one while it runs.
        let write = writes.start_write(Arc::clone(&batch));
        let task = self.writes.spawn_on(write, runtime);
        self.batches.insert(task.id(), (batch, keys));
        Ok(())
    }

    /// Settles a completed write: its records are audited, dead-lettered and acknowledged as the sink
    /// reported; a failed write fails the run, and what it did not settle stays unacknowledged.
    fn settle(&mut self, sink: &dyn Sink, done: Result<(Id, WriteOutcome), JoinError>, env: &SinkEnv<'_>) {
        let id = match &done {
            Ok((id, _)) => *id,
            Err(e) => e.id(),
        };
        let Some((batch, keys)) = self.batches.remove(&id) else { return };
        self.keys.release(keys);
        // The write has let go of the batch (it must not keep it); if it kept it anyway, its records
        // are copied — their acknowledgement handles are shared, so the outcome is the same.
        let batch = Arc::try_unwrap(batch).unwrap_or_else(|kept| kept.as_ref().clone());
        match done {
            Ok((_, Ok(rejected))) => env.settle(sink, batch, rejected),
            Ok((_, Err(failed))) => env.settle_failed(sink, failed.error, batch, failed.settled, failed.rejected),
            Err(e) => env.settle_failed(sink, format!("a write stopped unexpectedly: {e}"), batch, 0, Vec::new()),
        }
    }
}

/// The record keys held by writes in flight.
#[derive(Debug, Default)]
struct KeyGate {
    held: HashSet<Arc<str>>,
}

impl KeyGate {
    /// Takes the keys of `batch` (each once) for a write, or `None` when a write in flight holds one of
    /// them. Records without a key are unordered and take nothing.
    fn take(&mut self, batch: &[Record]) -> Option<Vec<Arc<str>>> {
        let keyed = || batch.iter().filter_map(|r| r.key.as_ref());
        if keyed().any(|key| self.held.contains(key)) {
            return None;
        }
        Some(keyed().filter(|key| self.held.insert(Arc::clone(key))).cloned().collect())
    }

    /// Lets go of the keys a write held.
    fn release(&mut self, keys: Vec<Arc<str>>) {
        for key in keys {
            self.held.remove(&key);
        }
    }
}
