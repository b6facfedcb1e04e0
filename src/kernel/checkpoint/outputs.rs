//! Outputs committed with checkpoints: what makes delivery into files exactly once. A file sink tells
//! its source's [`super::Checkpoints`] what it wrote, batch by batch (which inputs the records came
//! from, and the file's length after the batch); each checkpoint save then also records, per output,
//! the length that holds exactly the records of the inputs the checkpoint covers — in the same row of
//! the state store, so in the same transaction. A restarted run cuts the output back to that length
//! and reads the source from the checkpoint: nothing is lost and nothing is written twice.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::kernel::record::Record;

/// The committed length of one output file, saved in the checkpoint of the source feeding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OutputPosition {
    /// Bytes of the file that hold exactly what the inputs before the checkpoint produced (for a JSON
    /// array, without its closing bracket).
    pub(crate) len: u64,
    /// Hash of the file's first bytes (up to 512, never past `len`).
    pub(crate) head: String,
    /// Hash of the (up to 512) bytes just before `len`.
    pub(crate) tail: String,
    /// The run that wrote it ended cleanly, its output complete at `len`: bytes found after it later
    /// were not written by Weir (without it, they are what an interrupted run wrote).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) closed: bool,
}

/// Which inputs the records of one written batch came from: per input stream, the lowest and highest
/// sequence number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BatchInputs(Vec<(u32, u64, u64)>);

impl BatchInputs {
    /// Adds the inputs of `record`.
    pub(crate) fn add(&mut self, record: &Record) {
        record.acks.each(|ack| {
            let p = ack.position();
            match self.0.iter_mut().find(|(s, ..)| *s == p.stream) {
                Some((_, lo, hi)) => {
                    *lo = (*lo).min(p.seq);
                    *hi = (*hi).max(p.seq);
                }
                None => self.0.push((p.stream, p.seq, p.seq)),
            }
        });
    }

    /// Every input is covered by `acknowledged` (per stream, how many leading inputs are).
    fn all_covered(&self, acknowledged: &[u64]) -> bool {
        self.0.iter().all(|(s, _, hi)| acknowledged.get(*s as usize).is_some_and(|a| hi < a))
    }

    /// Some input is covered by `acknowledged`.
    fn any_covered(&self, acknowledged: &[u64]) -> bool {
        self.0.iter().any(|(s, lo, _)| acknowledged.get(*s as usize).is_some_and(|a| lo < a))
    }
}

/// One output's state in this run.
#[derive(Debug)]
pub(super) enum Slot {
    /// Its sink has not opened it yet: no checkpoint can be saved, since its length is not known.
    Pending,
    /// Not a regular file (a pipe, a device): it cannot be cut back; delivery into it stays at least
    /// once.
    Untracked,
    /// Open and written to.
    Open(Ledger),
}

/// What an open output wrote since its last committed length.
#[derive(Debug)]
pub(super) struct Ledger {
    pub(super) path: PathBuf,
    /// A handle on the file, for syncing it before a length that covers new bytes is committed.
    file: File,
    /// The length saved (or about to be saved) with the checkpoint.
    pub(super) committed: u64,
    /// Bytes known to be on disk.
    synced: u64,
    /// Batches written after `committed`: their inputs and the file's length after each.
    batches: VecDeque<(BatchInputs, u64)>,
    /// The sink finished its output (see [`OutputPosition::closed`]).
    pub(super) closed: bool,
}

/// A length an output may be cut back to, found for a checkpoint: keep the first `batches`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cut {
    pub(super) len: u64,
    batches: usize,
    /// The output is finished and the cut keeps all of it.
    pub(super) closed: bool,
}

impl Ledger {
    pub(super) fn new(path: PathBuf, file: File, len: u64) -> Self {
        Self { path, file, committed: len, synced: 0, batches: VecDeque::new(), closed: false }
    }

    pub(super) fn wrote(&mut self, inputs: BatchInputs, len: u64) {
        self.batches.push_back((inputs, len));
    }

    /// The length holding exactly the records of the inputs `acknowledged` covers: after the leading
    /// batches whose inputs are all covered, when no later batch holds a covered input. `None` when
    /// the batches interleave covered and uncovered inputs (a fan-in, say): that checkpoint is put off.
    pub(super) fn cut(&self, acknowledged: &[u64]) -> Option<Cut> {
        let batches = self.batches.iter().take_while(|(inputs, _)| inputs.all_covered(acknowledged)).count();
        if self.batches.iter().skip(batches).any(|(inputs, _)| inputs.any_covered(acknowledged)) {
            return None;
        }
        let len = if batches == 0 { self.committed } else { self.batches[batches - 1].1 };
        Some(Cut { len, batches, closed: self.closed && batches == self.batches.len() })
    }

    /// Every batch written so far (a replay commits what it wrote at its end).
    pub(super) fn cut_all(&self) -> Cut {
        let len = self.batches.back().map_or(self.committed, |(_, len)| *len);
        Cut { len, batches: self.batches.len(), closed: self.closed }
    }

    /// Makes the bytes up to `len` durable: a checkpoint must never claim output a power loss can take.
    pub(super) fn sync_to(&mut self, len: u64) -> std::io::Result<()> {
        self.file.sync_data()?;
        self.synced = self.synced.max(len);
        Ok(())
    }

    /// A handle to sync the file with before committing `len`, unless those bytes are synced already.
    pub(super) fn sync_handle(&self, len: u64) -> std::io::Result<Option<File>> {
        if len <= self.synced {
            return Ok(None);
        }
        self.file.try_clone().map(Some)
    }

    /// The checkpoint holding `cut` was saved (after the bytes it covers were synced).
    pub(super) fn committed(&mut self, cut: Cut) {
        self.batches.drain(..cut.batches);
        self.committed = cut.len;
        self.synced = self.synced.max(cut.len);
    }
}

/// The slots of one run's outputs, by sink id.
pub(super) type Slots = BTreeMap<String, Slot>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::ack::{AckTracker, InputPosition};
    use crate::kernel::record::Acks;

    fn inputs(tracker: &std::sync::Arc<AckTracker>, seqs: &[(u32, u64)]) -> BatchInputs {
        let mut b = BatchInputs::default();
        for (stream, seq) in seqs {
            let mut r = Record::new(serde_json::json!({}));
            r.acks = Acks::One(tracker.track(InputPosition { stream: *stream, seq: *seq }));
            r.mark_delivered();
            b.add(&r);
        }
        b
    }

    #[test]
    fn cuts_after_the_covered_batches_and_not_inside_interleaved_ones() {
        let tracker = AckTracker::new();
        let file = tempfile::tempfile().expect("tempfile");
        let mut ledger = Ledger::new("out".into(), file, 10);
        ledger.wrote(inputs(&tracker, &[(0, 0), (0, 1)]), 20);
        ledger.wrote(inputs(&tracker, &[(0, 2), (0, 3)]), 30);
        assert_eq!(ledger.cut(&[0]).map(|c| c.len), Some(10), "nothing covered: the committed length");
        assert_eq!(ledger.cut(&[2]).map(|c| c.len), Some(20));
        assert_eq!(ledger.cut(&[4]).map(|c| c.len), Some(30));
        assert!(ledger.cut(&[3]).is_none(), "a batch half covered cannot be cut");
        // Fan-in: a later batch holds an input before an earlier batch's.
        ledger.wrote(inputs(&tracker, &[(0, 5)]), 40);
        ledger.wrote(inputs(&tracker, &[(0, 4)]), 50);
        assert!(ledger.cut(&[5]).is_none());
        assert_eq!(ledger.cut(&[6]).map(|c| c.len), Some(50));
        let cut = ledger.cut(&[2]).expect("cut");
        ledger.committed(cut);
        assert_eq!((ledger.committed, ledger.batches.len()), (20, 3));
        // A second stream: covered per stream.
        ledger.wrote(inputs(&tracker, &[(1, 0)]), 60);
        assert_eq!(ledger.cut(&[6, 1]).map(|c| c.len), Some(60));
        assert_eq!(ledger.cut(&[6, 0]).map(|c| c.len), Some(50));
    }
}
