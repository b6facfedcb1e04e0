//! End-to-end acknowledgements. Every record read from a source carries an [`AckRef`]; copies made by
//! fan-out and records derived by explode/group share or merge it. When the last holder lets go, the
//! source's [`AckTracker`] learns the input's fate — delivered, filtered, dead-lettered, or
//! unacknowledged (dropped without an outcome, e.g. a sink failed) — and advances its progress
//! watermark only over inputs that were fully acknowledged. A source that listens to each outcome
//! ([`AckListener`]) also hears why a dead-lettered input was: its dead-letter entry's error.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const DELIVERED: u8 = 1;
const FILTERED: u8 = 2;
const DEAD_LETTERED: u8 = 4;
/// A derived record was dropped without an outcome (a sink failed, the run stopped on an error, its
/// dead-letter entry could not be written): whatever became of the other records derived from the
/// input, it must be read again.
const UNACKNOWLEDGED: u8 = 8;

/// What finally happened to one input record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// At least one derived record reached a sink and none was dead-lettered.
    Delivered,
    /// Every derived record was dropped on purpose (filter, dedupe, empty explode).
    Filtered,
    /// At least one derived record went to the dead-letter output.
    DeadLettered,
    /// Dropped without any outcome: the input must be read again.
    Unacknowledged,
}

/// Position of an input within its source, used for progress/checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InputPosition {
    /// Which input of the source (e.g. the index of a file matched by a glob).
    pub stream: u32,
    /// Sequence number within that stream (e.g. the line or record index), from 0.
    pub seq: u64,
}

/// Where an input ends within its stream: for files, the byte offset just after it and how many line
/// ends come before that offset (so that line numbers stay right when reading resumes there).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputEnd {
    /// Byte offset just after the input.
    pub(crate) offset: u64,
    /// Line ends before `offset`.
    pub(crate) lines: u64,
}

/// Counts of final outcomes, per source.
#[derive(Debug, Default)]
pub(crate) struct AckCounters {
    /// Inputs handed out.
    pub(crate) received: AtomicU64,
    /// Inputs whose outcome was `Delivered`.
    pub(crate) delivered: AtomicU64,
    /// Inputs whose outcome was `Filtered`.
    pub(crate) filtered: AtomicU64,
    /// Inputs whose outcome was `DeadLettered`.
    pub(crate) dead_lettered: AtomicU64,
    /// Inputs dropped without outcome.
    pub(crate) unacknowledged: AtomicU64,
}

/// A snapshot of [`AckCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct AckSummary {
    /// Inputs handed out.
    pub received: u64,
    /// Delivered inputs.
    pub delivered: u64,
    /// Filtered inputs.
    pub filtered: u64,
    /// Dead-lettered inputs.
    pub dead_lettered: u64,
    /// Inputs that never got an outcome.
    pub unacknowledged: u64,
}

impl AckSummary {
    /// Inputs still in flight (handed out, no outcome yet).
    pub(crate) fn in_flight(&self) -> u64 {
        self.received - self.delivered - self.filtered - self.dead_lettered - self.unacknowledged
    }
}

#[derive(Debug, Default)]
struct StreamProgress {
    /// Every seq below this is acknowledged.
    watermark: u64,
    /// Where the input just below the watermark ends in its stream (a byte offset for files, and the
    /// line ends before it): where reading resumes.
    resume_at: InputEnd,
    /// Acknowledged seqs at or above the watermark (out-of-order completions), with where each ends.
    ahead: BTreeMap<u64, InputEnd>,
    /// The first input of this stream that was unacknowledged: the watermark stops there for good.
    blocked_at: Option<u64>,
}

/// Told each input's final outcome, as it is decided: how acknowledgements flow back to a source that
/// settles inputs upstream one by one (a queue consumer acks or rejects the broker's message).
pub trait AckListener: Send + Sync {
    /// `position`'s outcome is `outcome`; called on the thread that let go of its last record. For
    /// `DeadLettered`, `reason` is the error of the input's first dead-letter entry, as written (secrets
    /// masked); otherwise `None`.
    fn completed(&self, position: InputPosition, outcome: Outcome, reason: Option<&str>);
}

/// Collects acknowledgements for one source.
#[derive(Default)]
pub(crate) struct AckTracker {
    counters: AckCounters,
    progress: Mutex<Vec<StreamProgress>>,
    /// Every input's outcome, kept only when asked for (replays report per entry).
    outcomes: Option<Mutex<Vec<(InputPosition, Outcome)>>>,
    /// The source's listener, when it wants each outcome.
    listener: Option<Arc<dyn AckListener>>,
    /// For the listener: why each dead-lettered input still in flight was (its first entry's error).
    /// Kept here rather than in each handle, as dead letters are rare and most sources have no listener.
    reasons: Mutex<HashMap<InputPosition, String>>,
}

impl std::fmt::Debug for AckTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckTracker")
            .field("counters", &self.counters)
            .field("listener", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}

impl AckTracker {
    /// A tracker shared by a source and every record it produces.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A tracker that tells `listener` every input's outcome.
    pub(crate) fn notifying(listener: Arc<dyn AckListener>) -> Arc<Self> {
        Arc::new(Self { listener: Some(listener), ..Self::default() })
    }

    /// A tracker that also remembers every input's outcome (see [`AckTracker::outcomes`]).
    pub(crate) fn recording() -> Arc<Self> {
        Arc::new(Self { outcomes: Some(Mutex::new(Vec::new())), ..Self::default() })
    }

    /// Hands out the acknowledgement handle for a new input.
    pub(crate) fn track(self: &Arc<Self>, position: InputPosition) -> AckRef {
        self.track_until(position, InputEnd::default())
    }

    /// [`AckTracker::track`] for an input that ends at `end` within its stream (the byte offset after
    /// a line, say), so that [`AckTracker::resume_point`] can say where to resume.
    pub(crate) fn track_until(self: &Arc<Self>, position: InputPosition, end: InputEnd) -> AckRef {
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        AckRef(Arc::new(AckInner { position, end, state: AtomicU8::new(0), tracker: Arc::clone(self) }))
    }

    /// Every input's outcome so far, in completion order (only for [`AckTracker::recording`] trackers).
    pub(crate) fn outcomes(&self) -> Vec<(InputPosition, Outcome)> {
        self.outcomes.as_ref().map(|o| o.lock().unwrap_or_else(|e| e.into_inner()).clone()).unwrap_or_default()
    }

    /// How many leading inputs of `stream` are fully acknowledged, and where the last of them ends:
    /// the position a checkpoint may record.
    #[cfg(test)]
    pub(crate) fn resume_point(&self, stream: u32) -> (u64, InputEnd) {
        let progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        progress.get(stream as usize).map_or((0, InputEnd::default()), |p| (p.watermark, p.resume_at))
    }

    /// [`AckTracker::resume_point`] of every stream that has inputs, by stream index.
    pub(crate) fn resume_points(&self) -> Vec<(u64, InputEnd)> {
        let progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        progress.iter().map(|p| (p.watermark, p.resume_at)).collect()
    }

    /// Current counts.
    pub(crate) fn summary(&self) -> AckSummary {
        let c = &self.counters;
        AckSummary {
            received: c.received.load(Ordering::Acquire),
            delivered: c.delivered.load(Ordering::Acquire),
            filtered: c.filtered.load(Ordering::Acquire),
            dead_lettered: c.dead_lettered.load(Ordering::Acquire),
            unacknowledged: c.unacknowledged.load(Ordering::Acquire),
        }
    }

    /// How many leading inputs of `stream` are fully acknowledged (the resumable position).
    #[cfg(test)]
    pub(crate) fn acknowledged_prefix(&self, stream: u32) -> u64 {
        let progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        progress.get(stream as usize).map_or(0, |p| p.watermark)
    }

    /// Keeps why `position` was dead-lettered, for the listener; the first reason stays.
    fn dead_lettered(&self, position: InputPosition, reason: &str) {
        if self.listener.is_some() {
            let mut reasons = self.reasons.lock().unwrap_or_else(|e| e.into_inner());
            reasons.entry(position).or_insert_with(|| reason.to_string());
        }
    }

    fn complete(&self, position: InputPosition, end: InputEnd, state: u8) {
        let outcome = outcome_of(state);
        if let Some(outcomes) = &self.outcomes {
            outcomes.lock().unwrap_or_else(|e| e.into_inner()).push((position, outcome));
        }
        let counter = match outcome {
            Outcome::Delivered => &self.counters.delivered,
            Outcome::Filtered => &self.counters.filtered,
            Outcome::DeadLettered => &self.counters.dead_lettered,
            Outcome::Unacknowledged => &self.counters.unacknowledged,
        };
        let mut progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        let idx = position.stream as usize;
        if progress.len() <= idx {
            progress.resize_with(idx + 1, StreamProgress::default);
        }
        let p = &mut progress[idx];
        if outcome == Outcome::Unacknowledged {
            // The watermark may still move up to it (inputs before it completed later, out of order)
            // but never past it.
            p.blocked_at = Some(p.blocked_at.map_or(position.seq, |b| b.min(position.seq)));
        } else if position.seq == p.watermark && p.blocked_at != Some(position.seq) {
            // In order, the usual case: no map.
            p.watermark += 1;
            p.resume_at = end;
        } else if p.blocked_at.is_none_or(|b| position.seq < b) {
            // Inputs past the first unacknowledged one can never count: not kept.
            p.ahead.insert(position.seq, end);
        }
        while p.blocked_at != Some(p.watermark)
            && let Some(next_end) = p.ahead.remove(&p.watermark)
        {
            p.watermark += 1;
            p.resume_at = next_end;
        }
        drop(progress);
        // Counted after the watermark moved, so a reader that sees all inputs complete also sees the
        // final watermark.
        counter.fetch_add(1, Ordering::AcqRel);
        if let Some(listener) = &self.listener {
            // Taken whatever the outcome (an unacknowledged one wins over a dead letter): none is left behind.
            let reason = (state & DEAD_LETTERED != 0)
                .then(|| self.reasons.lock().unwrap_or_else(|e| e.into_inner()).remove(&position))
                .flatten()
                .filter(|_| outcome == Outcome::DeadLettered);
            listener.completed(position, outcome, reason.as_deref());
        }
    }
}

fn outcome_of(state: u8) -> Outcome {
    if state & UNACKNOWLEDGED != 0 {
        Outcome::Unacknowledged
    } else if state & DEAD_LETTERED != 0 {
        Outcome::DeadLettered
    } else if state & DELIVERED != 0 {
        Outcome::Delivered
    } else if state & FILTERED != 0 {
        Outcome::Filtered
    } else {
        Outcome::Unacknowledged
    }
}

#[derive(Debug)]
struct AckInner {
    position: InputPosition,
    end: InputEnd,
    state: AtomicU8,
    tracker: Arc<AckTracker>,
}

impl Drop for AckInner {
    fn drop(&mut self) {
        self.tracker.complete(self.position, self.end, *self.state.get_mut());
    }
}

/// A shared handle on one input's acknowledgement. Cloned with the record; the input is complete when
/// the last clone is dropped.
#[derive(Debug, Clone)]
pub(crate) struct AckRef(Arc<AckInner>);

impl AckRef {
    /// Records that a record derived from this input reached a sink.
    pub(crate) fn delivered(&self) {
        self.0.state.fetch_or(DELIVERED, Ordering::AcqRel);
    }

    /// Records that a derived record was dropped on purpose.
    pub(crate) fn filtered(&self) {
        self.0.state.fetch_or(FILTERED, Ordering::AcqRel);
    }

    /// Records that a derived record was written to the dead-letter output with the error `reason`.
    pub(crate) fn dead_lettered(&self, reason: &str) {
        self.0.tracker.dead_lettered(self.0.position, reason);
        self.0.state.fetch_or(DEAD_LETTERED, Ordering::AcqRel);
    }

    /// Records that a derived record was dropped without an outcome: the input stays unacknowledged even
    /// if other records derived from it (fan-out copies, explode's children) were delivered.
    pub(crate) fn unacknowledged(&self) {
        self.0.state.fetch_or(UNACKNOWLEDGED, Ordering::AcqRel);
    }

    /// Where the input came from.
    pub(crate) fn position(&self) -> InputPosition {
        self.0.position
    }
}

#[cfg(test)]
#[path = "ack_tests.rs"]
mod tests;
