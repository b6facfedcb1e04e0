//! Source checkpoints: where a source resumes after a stop or a crash. A position is saved only once
//! every record read before it is acknowledged (delivered, filtered or dead-lettered) — the
//! [`AckTracker`]'s contiguous watermark — so a crash re-reads, never skips. The file source's
//! position is per file: the byte offset after the last acknowledged line or row, the line ends before
//! it (so that line numbers stay right) and the record count (JSON arrays, which have no offsets of
//! their own, skip that many elements), with fingerprints that tell an appended file (resume) from a
//! replaced or truncated one (read from the start). With each position go the committed lengths of
//! the file outputs fed by the source ([`outputs`]), which makes delivery into files exactly once.

mod outputs;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ack::{AckTracker, InputEnd};
use crate::state::{StateError, StateResult, StateStore};
pub use outputs::{BatchInputs, OutputPosition};
use outputs::{Ledger, Slot, Slots};

/// Bytes hashed at the head of a file and just before its resume offset.
const FINGERPRINT_BYTES: u64 = 512;

/// Where to start reading a stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResumeAt {
    /// Byte offset to seek to (line-oriented formats).
    pub offset: u64,
    /// Records already read before it (formats that cannot seek skip this many).
    pub records: u64,
    /// Line ends before `offset` (line numbers go on from there).
    pub lines: u64,
}

/// The saved position of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePosition {
    /// Byte offset after the last acknowledged record.
    pub offset: u64,
    /// Records acknowledged from the start of the file.
    pub records: u64,
    /// Line ends before `offset` (absent in checkpoints of older versions: counted when resuming).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<u64>,
    /// Hash of the file's first bytes (up to 512, never past `offset`).
    pub head: String,
    /// Hash of the (up to 512) bytes just before `offset`.
    pub tail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct SourcePosition {
    files: BTreeMap<String, FilePosition>,
    /// Committed lengths of the file outputs, by sink id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    outputs: BTreeMap<String, OutputPosition>,
}

#[derive(Debug)]
struct OpenStream {
    /// The file's name in the checkpoint.
    key: String,
    /// Where it is now (for fingerprints).
    path: std::path::PathBuf,
    start: ResumeAt,
}

/// Checkpoints of one source in one run.
#[derive(Debug)]
pub struct Checkpoints {
    store: Arc<dyn StateStore>,
    pipeline: String,
    source: String,
    tracker: Arc<AckTracker>,
    saved: SourcePosition,
    streams: Mutex<Vec<Option<OpenStream>>>,
    last_written: Mutex<Option<SourcePosition>>,
    /// The file outputs committed with the checkpoint, by sink id.
    slots: Mutex<Slots>,
    /// A replay: no input is read; outputs commit what they wrote at the end of the run.
    replay: bool,
}

impl Checkpoints {
    /// Loads the source's saved position (none with `from_start`).
    pub fn load(
        store: Arc<dyn StateStore>,
        pipeline: &str,
        source: &str,
        tracker: Arc<AckTracker>,
        from_start: bool,
    ) -> StateResult<Checkpoints> {
        let saved = if from_start {
            SourcePosition::default()
        } else {
            match store.checkpoint(pipeline, source)? {
                None => SourcePosition::default(),
                // Unreadable is not "none": reading everything again would resend what was delivered.
                Some(v) => serde_json::from_value::<SourcePosition>(v).map_err(|e| StateError::Other {
                    message: format!(
                        "the checkpoint of source `{source}` (pipeline `{pipeline}`) cannot be read ({e}); \
                         Weir will not start over on its own: run with --from-start to read everything again"
                    ),
                    retryable: false,
                })?,
            }
        };
        Ok(Checkpoints {
            store,
            pipeline: pipeline.to_string(),
            source: source.to_string(),
            tracker,
            saved,
            streams: Mutex::new(Vec::new()),
            last_written: Mutex::new(None),
            slots: Mutex::new(Slots::new()),
            replay: false,
        })
    }

    /// For a replay of dead letters: no input is read (the position stays), and each output commits
    /// what it wrote when the run ends, so that the next run does not cut the replayed records away.
    pub fn for_replay(mut self) -> Self {
        self.replay = true;
        self
    }

    /// Announces that the sink `sink` commits its output with this checkpoint: no position is saved
    /// until it has opened its output ([`Checkpoints::open_output`]).
    pub fn expect_output(&self, sink: &str) {
        self.lock_slots().insert(sink.to_string(), Slot::Pending);
    }

    /// The committed length of `sink`'s output, as the last run saved it.
    pub fn saved_output(&self, sink: &str) -> Option<OutputPosition> {
        self.saved.outputs.get(sink).cloned()
    }

    /// `sink`'s output cannot be cut back (not a regular file): it is left out of checkpoints.
    pub fn untrack_output(&self, sink: &str) {
        self.lock_slots().insert(sink.to_string(), Slot::Untracked);
    }

    /// `sink` opened its output at `path` (`file` is a handle on it), which now holds `len` bytes it
    /// may keep. Saved at once (with the position of the last save), so that a crash before the next
    /// checkpoint cuts the output back to `len`, not to an older length.
    pub fn open_output(&self, sink: &str, path: &Path, file: File, len: u64) -> StateResult<()> {
        let mut last = self.last_written.lock().unwrap_or_else(|e| e.into_inner());
        let mut ledger = Ledger::new(path.to_path_buf(), file, len);
        ledger.sync_to(len).map_err(|e| output_error(path, e))?;
        self.lock_slots().insert(sink.to_string(), Slot::Open(ledger));
        let mut position = last.clone().unwrap_or_else(|| self.saved.clone());
        let slots = self.lock_slots();
        position.outputs.clear();
        for (id, slot) in slots.iter() {
            let output = match slot {
                Slot::Open(ledger) => Some(output_position(&ledger.path, ledger.committed, false)?),
                Slot::Pending => self.saved.outputs.get(id).cloned(),
                Slot::Untracked => None,
            };
            if let Some(output) = output {
                position.outputs.insert(id.clone(), output);
            }
        }
        drop(slots);
        if last.as_ref() != Some(&position) {
            self.write(&position)?;
            *last = Some(position);
        }
        Ok(())
    }

    /// `sink` wrote a batch of records from `inputs` to its output, which is now `len` bytes long.
    /// Called after the batch is flushed and before its records are acknowledged.
    pub fn wrote(&self, sink: &str, inputs: BatchInputs, len: u64) {
        if let Some(Slot::Open(ledger)) = self.lock_slots().get_mut(sink) {
            ledger.wrote(inputs, len);
        }
    }

    /// `sink` finished its output (synced, complete): the next save records that it ended cleanly.
    pub fn close_output(&self, sink: &str) {
        if let Some(Slot::Open(ledger)) = self.lock_slots().get_mut(sink) {
            ledger.closed = true;
        }
    }

    fn lock_slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True when the file at `path` (named `key` in checkpoints) would be read on from a saved position
    /// rather than from its start: part of it was read by an earlier run and it is the same file, grown
    /// or not (sinks that rewrite their output from scratch must then append instead).
    pub fn would_resume(&self, key: &str, path: &Path) -> bool {
        let Some(saved) = self.saved.files.get(key) else { return false };
        (saved.offset > 0 || saved.records > 0)
            && File::open(path).and_then(|mut file| same_file(&mut file, saved)).unwrap_or(false)
    }

    /// Registers `file` as `stream` and says where to start reading it: after the saved position when
    /// the file is the same one, grown or not; from the start when it was replaced or truncated.
    pub fn open_stream(&self, stream: u32, key: &str, path: &Path, file: &mut File) -> std::io::Result<ResumeAt> {
        let key = key.to_string();
        let start = match self.saved.files.get(&key) {
            Some(saved) if same_file(file, saved)? => {
                let lines = match saved.lines {
                    Some(lines) => lines,
                    None => count_line_ends(file, saved.offset)?,
                };
                ResumeAt { offset: saved.offset, records: saved.records, lines }
            }
            Some(_) => {
                tracing::warn!(file = %key, "the file changed since its checkpoint (replaced or truncated); reading it from the start");
                ResumeAt::default()
            }
            None => ResumeAt::default(),
        };
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let i = stream as usize;
        if streams.len() <= i {
            streams.resize_with(i + 1, || None);
        }
        streams[i] = Some(OpenStream { key, path: path.to_path_buf(), start });
        Ok(start)
    }

    /// How far each opened stream is acknowledged: leading inputs, and where the last of them ends.
    fn marks(&self) -> Vec<(u64, InputEnd)> {
        let streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        (0..streams.len()).map(|i| self.tracker.resume_point(i as u32)).collect()
    }

    /// The position `marks` acknowledge: saved positions of files not opened (yet) in this run, and for
    /// each opened one, its start plus what was acknowledged since.
    fn current(&self, marks: &[(u64, InputEnd)]) -> SourcePosition {
        let mut position = self.saved.clone();
        position.outputs.clear();
        let streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        for (i, s) in streams.iter().enumerate() {
            let Some(s) = s else { continue };
            let (acknowledged, end) = marks.get(i).copied().unwrap_or_default();
            let (offset, lines) =
                if acknowledged == 0 { (s.start.offset, s.start.lines) } else { (end.offset, end.lines) };
            let records = s.start.records + acknowledged;
            if offset == 0 && records == 0 {
                // Nothing read from it yet (or it was replaced): no position to keep.
                position.files.remove(&s.key);
                continue;
            }
            if offset == s.start.offset && records == s.start.records && position.files.contains_key(&s.key) {
                continue;
            }
            match fingerprint(&s.path, offset) {
                Ok((head, tail)) => {
                    let lines = Some(lines);
                    position.files.insert(s.key.clone(), FilePosition { offset, records, lines, head, tail });
                }
                // Gone or unreadable now: keep what was saved before rather than guess.
                Err(e) => tracing::warn!(file = %s.key, error = %e, "cannot fingerprint the file for its checkpoint"),
            }
        }
        position
    }

    /// Saves the current position if it moved; returns whether it wrote. With outputs, the position is
    /// saved together with each output's length holding exactly the records of the inputs it covers,
    /// after those bytes are synced to disk; when some output has not opened yet, or its batches
    /// interleave covered and uncovered inputs, the save is put off (to the next tick, or the end).
    pub fn save(&self) -> StateResult<bool> {
        // Locked before the position is read: a save still running when the final one starts cannot
        // write its older position after it.
        let mut last = self.last_written.lock().unwrap_or_else(|e| e.into_inner());
        // Read before the outputs' batches: every input acknowledged by then had its batches recorded.
        let marks = self.marks();
        let acknowledged: Vec<u64> = marks.iter().map(|(a, _)| *a).collect();
        let mut cuts = Vec::new();
        for (id, slot) in self.lock_slots().iter_mut() {
            match slot {
                Slot::Pending => return Ok(false),
                Slot::Untracked => {}
                Slot::Open(ledger) => {
                    let cut = if self.replay { Some(ledger.cut_all()) } else { ledger.cut(&acknowledged) };
                    let Some(cut) = cut else { return Ok(false) };
                    let file = ledger.sync_handle(cut.len).map_err(|e| output_error(&ledger.path, e))?;
                    cuts.push((id.clone(), ledger.path.clone(), file, cut));
                }
            }
        }
        // Synced and fingerprinted without holding the outputs: sinks go on writing meanwhile.
        let mut position = self.current(&marks);
        for (id, path, file, cut) in &cuts {
            if let Some(file) = file {
                file.sync_data().map_err(|e| output_error(path, e))?;
            }
            position.outputs.insert(id.clone(), output_position(path, cut.len, cut.closed)?);
        }
        if last.as_ref() == Some(&position) || (last.is_none() && position == self.saved) {
            return Ok(false);
        }
        self.write(&position)?;
        *last = Some(position);
        let mut slots = self.lock_slots();
        for (id, _, _, cut) in cuts {
            if let Some(Slot::Open(ledger)) = slots.get_mut(&id) {
                ledger.committed(cut);
            }
        }
        Ok(true)
    }

    fn write(&self, position: &SourcePosition) -> StateResult<()> {
        let value = serde_json::to_value(position).unwrap_or(Value::Null);
        self.store.save_checkpoint(&self.pipeline, &self.source, &value)?;
        crate::fault::point("checkpoint_saved");
        Ok(())
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
pub fn output_unchanged(path: &Path, saved: &OutputPosition) -> std::io::Result<bool> {
    let mut file = File::open(path)?;
    if file.metadata()?.len() < saved.len {
        return Ok(false);
    }
    let (head, tail) = fingerprint_open(&mut file, saved.len)?;
    Ok(head == saved.head && tail == saved.tail)
}

fn same_file(file: &mut File, saved: &FilePosition) -> std::io::Result<bool> {
    let len = file.metadata()?.len();
    if len < saved.offset {
        return Ok(false);
    }
    let (head, tail) = fingerprint_open(file, saved.offset)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(head == saved.head && tail == saved.tail)
}

/// Line ends in the first `len` bytes of `file` (for checkpoints saved before they recorded it).
fn count_line_ends(file: &mut File, len: u64) -> std::io::Result<u64> {
    file.seek(SeekFrom::Start(0))?;
    let (mut lines, mut left, mut buf) = (0u64, len, vec![0u8; 1 << 16]);
    while left > 0 {
        let n = file.read(&mut buf[..left.min(1 << 16) as usize])?;
        if n == 0 {
            break;
        }
        lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        left -= n as u64;
    }
    file.seek(SeekFrom::Start(0))?;
    Ok(lines)
}

fn fingerprint(path: &Path, offset: u64) -> std::io::Result<(String, String)> {
    fingerprint_open(&mut File::open(path)?, offset)
}

/// Hashes of the first bytes of a file and of the bytes just before `offset`.
fn fingerprint_open(file: &mut File, offset: u64) -> std::io::Result<(String, String)> {
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
