//! Source checkpoints: where a source resumes after a stop or a crash. A position is saved only once
//! every record read before it is acknowledged (delivered, filtered or dead-lettered) — the
//! [`AckTracker`]'s contiguous watermark, per input stream — so a crash re-reads, never skips. What a
//! position holds is the source's business ([`Resumable`]: file offsets and fingerprints for the file
//! source, a cursor or a watermark for an API): the kernel stores it as opaque JSON. With each position
//! go the committed lengths of the file outputs fed by the source ([`outputs`]), which makes delivery
//! into files exactly once.

mod outputs;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use super::ack::{AckTracker, InputEnd};
use crate::state::{StateError, StateResult, StateStore};
pub(crate) use outputs::{BatchInputs, OutputPosition};
use outputs::{Ledger, Slot, Slots};

/// Bytes hashed at the head of a file and just before an offset ([`fingerprint`]).
const FINGERPRINT_BYTES: u64 = 512;

/// The key of the outputs' lengths in a saved checkpoint; every other key is the source's.
const OUTPUTS_KEY: &str = "outputs";

/// How far the inputs of each stream of a source are acknowledged: per stream (by index), how many
/// leading inputs are, and where the last of them ends ([`AckTracker::resume_point`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acknowledged(Vec<(u64, InputEnd)>);

impl Acknowledged {
    /// The leading acknowledged inputs of `stream` and where the last of them ends (none: `(0, start)`).
    pub fn stream(&self, stream: usize) -> (u64, InputEnd) {
        self.0.get(stream).copied().unwrap_or_default()
    }

    /// Per stream, how many leading inputs are acknowledged.
    fn counts(&self) -> Vec<u64> {
        self.0.iter().map(|(n, _)| *n).collect()
    }
}

/// A source's resumable position, kept by the source and opaque to the runtime. The checkpoint asks it
/// at every save for the position the acknowledged inputs reach, as the JSON fields to store (the
/// source reads them back at the next run, see `Source::restore`).
pub trait Resumable: Send + Sync + std::fmt::Debug {
    /// True when some input would be read on from the saved position rather than from its start: what
    /// was read of it before is already delivered (a sink that rewrites its output must append).
    fn resumes(&self) -> bool;

    /// The position to save, given how far each stream's inputs are acknowledged. Fields the source
    /// does not know how to update (an input it has not opened yet) keep their saved value.
    fn position(&self, acknowledged: &Acknowledged) -> Map<String, Value>;
}

/// What one checkpoint holds: the source's fields and the outputs' committed lengths.
#[derive(Debug, Clone, Default, PartialEq)]
struct SavedCheckpoint {
    source: Map<String, Value>,
    outputs: BTreeMap<String, OutputPosition>,
}

impl SavedCheckpoint {
    fn from_json(value: Value) -> Result<Self, String> {
        let Value::Object(mut source) = value else { return Err("it is not a JSON object".into()) };
        let outputs = match source.remove(OUTPUTS_KEY) {
            None => BTreeMap::new(),
            Some(v) => serde_json::from_value(v).map_err(|e| format!("its outputs: {e}"))?,
        };
        Ok(Self { source, outputs })
    }

    fn to_json(&self) -> Value {
        let mut fields = self.source.clone();
        if !self.outputs.is_empty() {
            let outputs = serde_json::to_value(&self.outputs).unwrap_or(Value::Null);
            fields.insert(OUTPUTS_KEY.into(), outputs);
        }
        Value::Object(fields)
    }
}

/// Checkpoints of one source in one run.
#[derive(Debug)]
pub struct Checkpoints {
    store: Arc<dyn StateStore>,
    pipeline: String,
    source: String,
    tracker: Arc<AckTracker>,
    saved: SavedCheckpoint,
    /// What the saved checkpoint reads as once the source took it back (its fields as the source
    /// writes them): a save that would write this writes nothing.
    unchanged: Mutex<SavedCheckpoint>,
    /// The source's position, once it took its saved one back ([`Checkpoints::keep`]); until then
    /// (and in a replay, which reads no input) the saved fields are kept as they are.
    position: Mutex<Option<Arc<dyn Resumable>>>,
    last_written: Mutex<Option<SavedCheckpoint>>,
    /// The file outputs committed with the checkpoint, by sink id.
    slots: Mutex<Slots>,
    /// A replay: no input is read; outputs commit what they wrote at the end of the run.
    replay: bool,
}

impl Checkpoints {
    /// Loads the source's saved checkpoint (none with `from_start`).
    pub(crate) fn load(
        store: Arc<dyn StateStore>,
        pipeline: &str,
        source: &str,
        tracker: Arc<AckTracker>,
        from_start: bool,
    ) -> StateResult<Checkpoints> {
        let saved = if from_start {
            SavedCheckpoint::default()
        } else {
            match store.checkpoint(pipeline, source)? {
                None => SavedCheckpoint::default(),
                // Unreadable is not "none": reading everything again would resend what was delivered.
                Some(v) => SavedCheckpoint::from_json(v).map_err(|e| unreadable(pipeline, source, &e))?,
            }
        };
        Ok(Checkpoints {
            store,
            pipeline: pipeline.to_string(),
            source: source.to_string(),
            tracker,
            unchanged: Mutex::new(saved.clone()),
            saved,
            position: Mutex::new(None),
            last_written: Mutex::new(None),
            slots: Mutex::new(Slots::new()),
            replay: false,
        })
    }

    /// For a replay of dead letters: no input is read (the position stays), and each output commits
    /// what it wrote when the run ends, so that the next run does not cut the replayed records away.
    pub(crate) fn for_replay(mut self) -> Self {
        self.replay = true;
        self
    }

    /// The source's fields of the saved checkpoint (empty when there is none), for `Source::restore`.
    pub(crate) fn saved_position(&self) -> &Map<String, Value> {
        &self.saved.source
    }

    /// Hands the source's position to the checkpoint: from now on every save asks it where the
    /// acknowledged inputs reach.
    pub(crate) fn keep(&self, position: Arc<dyn Resumable>) {
        let source = position.position(&Acknowledged::default());
        *self.unchanged.lock().unwrap_or_else(|e| e.into_inner()) =
            SavedCheckpoint { source, outputs: self.saved.outputs.clone() };
        *self.position.lock().unwrap_or_else(|e| e.into_inner()) = Some(position);
    }

    /// Announces that the sink `sink` commits its output with this checkpoint: no position is saved
    /// until it has opened its output ([`Checkpoints::open_output`]).
    pub(crate) fn expect_output(&self, sink: &str) {
        self.lock_slots().insert(sink.to_string(), Slot::Pending);
    }

    /// The committed length of `sink`'s output, as the last run saved it.
    pub(crate) fn saved_output(&self, sink: &str) -> Option<OutputPosition> {
        self.saved.outputs.get(sink).cloned()
    }

    /// `sink`'s output cannot be cut back (not a regular file): it is left out of checkpoints.
    pub(crate) fn untrack_output(&self, sink: &str) {
        self.lock_slots().insert(sink.to_string(), Slot::Untracked);
    }

    /// `sink` opened its output at `path` (`file` is a handle on it), which now holds `len` bytes it
    /// may keep. Saved at once (with the position of the last save), so that a crash before the next
    /// checkpoint cuts the output back to `len`, not to an older length.
    pub(crate) fn open_output(&self, sink: &str, path: &Path, file: File, len: u64) -> StateResult<()> {
        let mut last = self.last_written.lock().unwrap_or_else(|e| e.into_inner());
        let mut ledger = Ledger::new(path.to_path_buf(), file, len);
        ledger.sync_to(len).map_err(|e| output_error(path, e))?;
        self.lock_slots().insert(sink.to_string(), Slot::Open(ledger));
        let mut checkpoint = last.clone().unwrap_or_else(|| self.saved.clone());
        let slots = self.lock_slots();
        checkpoint.outputs.clear();
        for (id, slot) in slots.iter() {
            let output = match slot {
                Slot::Open(ledger) => Some(output_position(&ledger.path, ledger.committed, false)?),
                Slot::Pending => self.saved.outputs.get(id).cloned(),
                Slot::Untracked => None,
            };
            if let Some(output) = output {
                checkpoint.outputs.insert(id.clone(), output);
            }
        }
        drop(slots);
        if last.as_ref() != Some(&checkpoint) {
            self.write(&checkpoint)?;
            *last = Some(checkpoint);
        }
        Ok(())
    }

    /// `sink` wrote a batch of records from `inputs` to its output, which is now `len` bytes long.
    /// Called after the batch is flushed and before its records are acknowledged.
    pub(crate) fn wrote(&self, sink: &str, inputs: BatchInputs, len: u64) {
        if let Some(Slot::Open(ledger)) = self.lock_slots().get_mut(sink) {
            ledger.wrote(inputs, len);
        }
    }

    /// `sink` finished its output (synced, complete): the next save records that it ended cleanly.
    pub(crate) fn close_output(&self, sink: &str) {
        if let Some(Slot::Open(ledger)) = self.lock_slots().get_mut(sink) {
            ledger.closed = true;
        }
    }

    fn lock_slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How far each stream is acknowledged now.
    fn acknowledged(&self) -> Acknowledged {
        Acknowledged(self.tracker.resume_points())
    }

    /// The source's fields for `acknowledged`: what its position says, or the saved fields while it
    /// has none.
    fn source_fields(&self, acknowledged: &Acknowledged) -> Map<String, Value> {
        let position = self.position.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match position {
            Some(position) => position.position(acknowledged),
            None => self.saved.source.clone(),
        }
    }

    /// Saves the current position if it moved; returns whether it wrote. With outputs, the position is
    /// saved together with each output's length holding exactly the records of the inputs it covers,
    /// after those bytes are synced to disk; when some output has not opened yet, or its batches
    /// interleave covered and uncovered inputs, the save is put off (to the next tick, or the end).
    pub(crate) fn save(&self) -> StateResult<bool> {
        // Locked before the position is read: a save still running when the final one starts cannot
        // write its older position after it.
        let mut last = self.last_written.lock().unwrap_or_else(|e| e.into_inner());
        // Read before the outputs' batches: every input acknowledged by then had its batches recorded.
        let acknowledged = self.acknowledged();
        let counts = acknowledged.counts();
        let mut cuts = Vec::new();
        for (id, slot) in self.lock_slots().iter_mut() {
            match slot {
                Slot::Pending => return Ok(false),
                Slot::Untracked => {}
                Slot::Open(ledger) => {
                    let cut = if self.replay { Some(ledger.cut_all()) } else { ledger.cut(&counts) };
                    let Some(cut) = cut else { return Ok(false) };
                    let file = ledger.sync_handle(cut.len).map_err(|e| output_error(&ledger.path, e))?;
                    cuts.push((id.clone(), ledger.path.clone(), file, cut));
                }
            }
        }
        // Synced and fingerprinted without holding the outputs: sinks go on writing meanwhile.
        let mut checkpoint = SavedCheckpoint { source: self.source_fields(&acknowledged), outputs: BTreeMap::new() };
        for (id, path, file, cut) in &cuts {
            if let Some(file) = file {
                file.sync_data().map_err(|e| output_error(path, e))?;
            }
            checkpoint.outputs.insert(id.clone(), output_position(path, cut.len, cut.closed)?);
        }
        let unchanged = last.is_none() && checkpoint == *self.unchanged.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_ref() == Some(&checkpoint) || unchanged {
            return Ok(false);
        }
        self.write(&checkpoint)?;
        *last = Some(checkpoint);
        let mut slots = self.lock_slots();
        for (id, _, _, cut) in cuts {
            if let Some(Slot::Open(ledger)) = slots.get_mut(&id) {
                ledger.committed(cut);
            }
        }
        Ok(true)
    }

    fn write(&self, checkpoint: &SavedCheckpoint) -> StateResult<()> {
        self.store.save_checkpoint(&self.pipeline, &self.source, &checkpoint.to_json())?;
        crate::fault::point("checkpoint_saved");
        Ok(())
    }
}

/// The error for a saved checkpoint (or the source's part of it) that cannot be read: the run stops
/// rather than read everything again, which would resend what was delivered.
pub(crate) fn unreadable(pipeline: &str, source: &str, why: &str) -> StateError {
    StateError::Other {
        message: format!(
            "the checkpoint of source `{source}` (pipeline `{pipeline}`) cannot be read ({why}); \
             Weir will not start over on its own: run with --from-start to read everything again"
        ),
        retryable: false,
    }
}

/// The committed position of an output `len` bytes long.
fn output_position(path: &Path, len: u64, closed: bool) -> StateResult<OutputPosition> {
    let (head, tail) = fingerprint(path, len).map_err(|e| output_error(path, e))?;
    Ok(OutputPosition { len, head, tail, closed })
}

fn output_error(path: &Path, e: std::io::Error) -> StateError {
    StateError::Other { message: format!("output `{}`: {e}", path.display()), retryable: true }
}

/// True when the first `saved.len` bytes of the output at `path` are the ones a checkpoint committed
/// (it may be longer: what an interrupted run wrote after).
pub(crate) fn output_unchanged(path: &Path, saved: &OutputPosition) -> std::io::Result<bool> {
    let mut file = File::open(path)?;
    if file.metadata()?.len() < saved.len {
        return Ok(false);
    }
    let (head, tail) = fingerprint_open(&mut file, saved.len)?;
    Ok(head == saved.head && tail == saved.tail)
}

/// Hashes of the first bytes (up to 512) of the file at `path` and of the (up to 512) bytes just before
/// `offset`: together they tell an appended file (same hashes) from a replaced or edited one.
pub(crate) fn fingerprint(path: &Path, offset: u64) -> std::io::Result<(String, String)> {
    fingerprint_open(&mut File::open(path)?, offset)
}

/// [`fingerprint`] of an open file (left positioned anywhere).
pub(crate) fn fingerprint_open(file: &mut File, offset: u64) -> std::io::Result<(String, String)> {
    let mut read_at = |start: u64, len: u64| -> std::io::Result<String> {
        file.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity(len as usize);
        file.by_ref().take(len).read_to_end(&mut buf)?;
        Ok(format!("{:016x}", fnv1a(&buf)))
    };
    let head = read_at(0, offset.min(FINGERPRINT_BYTES))?;
    let tail_start = offset.saturating_sub(FINGERPRINT_BYTES);
    let tail = read_at(tail_start, offset - tail_start)?;
    Ok((head, tail))
}

/// FNV-1a, 64 bits: stable across Rust versions and platforms (std's hashers are not), which a hash
/// stored on disk needs.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests;
