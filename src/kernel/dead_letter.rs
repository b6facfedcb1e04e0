//! The pipeline's dead-letter output: records that a step (or the source's parser) could not process are
//! written here with the step id, key, error and the record as it entered the step, and only then
//! acknowledged as dead-lettered. Entries are rare, so they are written and flushed one by one, under a
//! lock, from whichever task found them.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::config::secrets;
use crate::kernel::record::Record;
use crate::state::{AuditEntry, StateError, StateStore};

pub(crate) use crate::state::DeadLetterEntry;

/// Default of `dead_letter.max_record_size`: far below SQLite's 1 GB limit on one value.
pub(crate) const DEFAULT_MAX_DEAD_LETTER_RECORD: usize = 16 * 1024 * 1024;

/// Where entries go.
#[derive(Debug)]
enum Target {
    /// An NDJSON file (`dead_letter: { path: … }`).
    File { path: PathBuf, writer: Mutex<Option<BufWriter<File>>> },
    /// The state store's dead-letter queue (`weir dlq …`).
    Store { store: Arc<dyn StateStore>, run_id: Option<i64>, stop: Arc<AtomicBool> },
    /// Printed to stdout, prefixed with `[dead-letter]` (dry runs).
    Print,
}

#[derive(Debug)]
struct Inner {
    pipeline: String,
    target: Target,
    /// For replays: how often each replayed input (by sequence number) had been attempted already.
    previous_attempts: Vec<u32>,
    /// Largest record (JSON text, bytes) an entry holds whole; bigger ones are stored truncated.
    max_record: usize,
    written: AtomicU64,
    failed: AtomicU64,
    /// Writes that found the store full (or busy) and were tried again.
    retried: AtomicU64,
}

/// A cloneable handle on the dead-letter output.
#[derive(Debug, Clone)]
pub(crate) struct DeadLetterSender(Arc<Inner>);

impl DeadLetterSender {
    fn new(pipeline: &str, target: Target) -> Self {
        Self(Arc::new(Inner {
            pipeline: pipeline.to_string(),
            target,
            previous_attempts: Vec::new(),
            max_record: DEFAULT_MAX_DEAD_LETTER_RECORD,
            written: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
        }))
    }

    /// Appends to `path`, creating it (and its folder) on the first entry.
    pub(crate) fn to_file(pipeline: &str, path: &Path) -> Self {
        Self::new(pipeline, Target::File { path: path.to_path_buf(), writer: Mutex::new(None) })
    }

    /// Stores entries in the state store's dead-letter queue. When the store is full (or busy) the
    /// write is retried until it succeeds or `stop` is set: the record stays unacknowledged meanwhile,
    /// so a full disk pauses the pipeline instead of losing records.
    pub(crate) fn to_store(
        pipeline: &str,
        store: Arc<dyn StateStore>,
        run_id: Option<i64>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        Self::new(pipeline, Target::Store { store, run_id, stop })
    }

    /// Prints entries to stdout, prefixed with `[dead-letter]`, instead of writing them (dry runs).
    pub(crate) fn printing(pipeline: &str) -> Self {
        Self::new(pipeline, Target::Print)
    }

    /// For replays: entries of input `seq` count `previous[seq]` earlier attempts.
    pub(crate) fn with_previous_attempts(self, previous: Vec<u32>) -> Self {
        self.configure(|inner| inner.previous_attempts = previous)
    }

    /// Records whose JSON text is longer than `bytes` are stored truncated (see [`TRUNCATED`]).
    pub(crate) fn with_max_record(self, bytes: usize) -> Self {
        self.configure(|inner| inner.max_record = bytes)
    }

    /// Changes a sender not yet shared.
    fn configure(self, change: impl FnOnce(&mut Inner)) -> Self {
        match Arc::try_unwrap(self.0) {
            Ok(mut inner) => {
                change(&mut inner);
                Self(Arc::new(inner))
            }
            Err(shared) => Self(shared),
        }
    }

    /// Where entries go, for the run summary.
    pub(crate) fn describe(&self) -> Option<String> {
        match &self.0.target {
            Target::File { path, .. } => Some(path.display().to_string()),
            Target::Store { .. } => Some(format!("the state store (weir dlq list {})", self.0.pipeline)),
            Target::Print => None,
        }
    }

    /// Entries written so far.
    pub(crate) fn written(&self) -> u64 {
        self.0.written.load(Ordering::Acquire)
    }

    /// Writes that found the store full or busy and waited (the pipeline pauses meanwhile).
    #[cfg(test)]
    pub(crate) fn retried(&self) -> u64 {
        self.0.retried.load(Ordering::Acquire)
    }

    /// Entries that could not be written (their inputs stay unacknowledged).
    #[cfg(test)]
    pub(crate) fn failed(&self) -> u64 {
        self.0.failed.load(Ordering::Acquire)
    }

    /// Writes one entry; on success the record's inputs are marked dead-lettered.
    pub(crate) fn send(&self, record: Record, step: &str, error: impl Into<String>) {
        let mut attempts = 1;
        record.acks.each(|a| {
            let previous = self.0.previous_attempts.get(a.position().seq as usize).copied().unwrap_or(0);
            attempts = attempts.max(previous + 1);
        });
        let mut entry = DeadLetterEntry {
            time: now_rfc3339(),
            pipeline: self.0.pipeline.clone(),
            step: step.to_string(),
            key: record.key.as_deref().map(str::to_string),
            error: error.into(),
            attempts,
            // A record parsed in part (see `kernel::projection`) is shown as the whole input, with what
            // the steps before this one set in it (so that a replay gives the step what it was given).
            record: match &record.original {
                Some(text) => match crate::exact_json::from_slice(text) {
                    Ok(mut whole) => {
                        overlay(&mut whole, &record.value);
                        whole
                    }
                    Err(_) => Value::String(String::from_utf8_lossy(text).into_owned()),
                },
                None => record.value.clone(),
            },
            parent: record.parent.as_deref().cloned(),
        };
        tracing::debug!(key = entry.key.as_deref(), component = step, reason = %entry.error, attempts, "record dead-lettered");
        // A record too big to store (SQLite refuses values over 1 GB) would fail every run: it is stored
        // truncated, with its size; the error names where it came from (a source entry: file and line).
        let max = self.0.max_record;
        if let Some(summary) = truncated(&entry.record, max) {
            let bytes = summary[TRUNCATED]["bytes"].clone();
            entry.record = summary;
            entry.error = format!(
                "{}; the record ({bytes} bytes) is larger than `dead_letter.max_record_size` ({max} bytes) and \
                 is stored truncated: fix it at its source",
                entry.error
            );
        }
        if let Some(summary) = entry.parent.as_ref().and_then(|p| truncated(p, max)) {
            entry.parent = Some(summary);
        }
        if secrets::any() {
            entry = redact_entry(entry);
        }
        match self.write(&entry) {
            Ok(()) => {
                record.mark_dead_lettered(&entry.error);
                self.0.written.fetch_add(1, Ordering::AcqRel);
            }
            Err(e) => {
                // Other records derived from the same input may have been delivered: this one was not.
                record.mark_unacknowledged();
                self.0.failed.fetch_add(1, Ordering::AcqRel);
                let target = self.describe().unwrap_or_default();
                // Printing into a closed standard output (`weir run --dry-run … | head`) ends the run quietly.
                if !crate::stdout::stdout_closed() {
                    tracing::error!(pipeline = %self.0.pipeline, step, error = %e, target, "cannot write dead-letter entry");
                }
            }
        }
    }

    fn write(&self, entry: &DeadLetterEntry) -> std::io::Result<()> {
        match &self.0.target {
            Target::Print => {
                let line = serde_json::to_string(entry).map_err(std::io::Error::other)?;
                crate::stdout::print_line(&format!("[dead-letter] {line}"))
            }
            Target::File { path, writer } => {
                let line = serde_json::to_string(entry).map_err(std::io::Error::other)?;
                let mut guard = writer.lock().unwrap_or_else(|e| e.into_inner());
                if guard.is_none() {
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir)?;
                    }
                    let file = OpenOptions::new().create(true).append(true).open(path)?;
                    *guard = Some(BufWriter::new(file));
                }
                let writer = guard.as_mut().ok_or_else(|| std::io::Error::other("dead-letter writer missing"))?;
                writer.write_all(line.as_bytes())?;
                writer.write_all(b"\n")?;
                writer.flush()
            }
            Target::Store { store, run_id, stop } => {
                retry_while_full(stop, "dead-letter entry", || {
                    let result = store.push_dead_letter(entry, *run_id).map(drop);
                    if result.as_ref().is_err_and(StateError::is_retryable) {
                        self.0.retried.fetch_add(1, Ordering::AcqRel);
                    }
                    result
                })
                .map_err(std::io::Error::other)?;
                if let Some(key) = &entry.key {
                    let audit = AuditEntry {
                        run_id: *run_id,
                        time: entry.time.clone(),
                        pipeline: entry.pipeline.clone(),
                        key: key.clone(),
                        component: entry.step.clone(),
                        action: "dead_lettered".into(),
                        target: "dead-letter queue".into(),
                        detail: Some(serde_json::json!({ "error": entry.error, "attempts": entry.attempts })),
                    };
                    // The entry is stored; an audit line that cannot be written only costs history.
                    if let Err(e) = store.audit(&[audit]) {
                        tracing::warn!(error = %e, "cannot write the audit entry of a dead letter");
                    }
                }
                Ok(())
            }
        }
    }
}

/// The key of a truncated record's stand-in: `{"$truncated": {"bytes": N, "head": "first KiB of its JSON"}}`.
pub(crate) const TRUNCATED: &str = "$truncated";

/// How much of a truncated record's JSON text is kept.
const TRUNCATED_HEAD: usize = 1024;

/// The stand-in of `value` when its JSON text is longer than `max` bytes (measured without building
/// the text).
fn truncated(value: &Value, max: usize) -> Option<Value> {
    struct Measure {
        bytes: usize,
        head: Vec<u8>,
    }
    impl Write for Measure {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let room = TRUNCATED_HEAD.saturating_sub(self.head.len());
            self.head.extend_from_slice(&buf[..room.min(buf.len())]);
            self.bytes += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut measure = Measure { bytes: 0, head: Vec::with_capacity(TRUNCATED_HEAD) };
    serde_json::to_writer(&mut measure, value).ok()?;
    if measure.bytes <= max {
        return None;
    }
    // `from_utf8_lossy` drops a character cut in half at the end.
    let head = String::from_utf8_lossy(&measure.head).trim_end_matches('\u{FFFD}').to_string();
    Some(serde_json::json!({ TRUNCATED: { "bytes": measure.bytes, "head": head } }))
}

/// Writes the fields of `part` (a record built from some fields of `whole`, and changed since) over
/// `whole`, object by object; anything else in `part` replaces what `whole` has there.
fn overlay(whole: &mut Value, part: &Value) {
    match (whole, part) {
        (Value::Object(whole), Value::Object(part)) => {
            for (name, value) in part {
                match whole.get_mut(name) {
                    Some(existing) => overlay(existing, value),
                    None => {
                        whole.insert(name.clone(), value.clone());
                    }
                }
            }
        }
        (whole, part) => *whole = part.clone(),
    }
}

/// Masks registered secrets everywhere in an entry (error text, key, record and parent), value by
/// value: a round trip through text would respell numbers and miss a secret that JSON escapes.
fn redact_entry(mut entry: DeadLetterEntry) -> DeadLetterEntry {
    entry.error = secrets::redact(&entry.error);
    entry.key = entry.key.map(|k| secrets::redact(&k));
    redact_value(&mut entry.record);
    if let Some(parent) = &mut entry.parent {
        redact_value(parent);
    }
    entry
}

fn redact_value(value: &mut Value) {
    match value {
        Value::String(s) => *s = secrets::redact(s),
        Value::Number(n) => {
            let masked = secrets::redact(n.as_str());
            if masked != n.as_str() {
                *value = Value::String(masked);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        Value::Object(map) => {
            if map.keys().any(|k| secrets::redact(k) != *k) {
                *map = std::mem::take(map).into_iter().map(|(k, v)| (secrets::redact(&k), v)).collect();
            }
            map.values_mut().for_each(redact_value);
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// Calls `write` until it succeeds, fails for good, or `stop` is set; a full or busy store is waited
/// out with growing pauses (up to 5 s), warning on each. Blocks the calling thread (on a tokio worker,
/// through `block_in_place`, so other tasks move on).
pub(crate) fn retry_while_full(
    stop: &AtomicBool,
    what: &str,
    mut write: impl FnMut() -> Result<(), StateError>,
) -> Result<(), StateError> {
    let run = || {
        let mut pause = Duration::from_millis(50);
        loop {
            match write() {
                Err(e) if e.is_retryable() && !stop.load(Ordering::SeqCst) => {
                    tracing::warn!(error = %e, retry_in = ?pause, "cannot store {what}; records stay unacknowledged until it succeeds");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                other => return other,
            }
        }
    };
    crate::kernel::step::blocking(run)
}

/// The current time as RFC 3339 in UTC.
pub(crate) use crate::clock::now_rfc3339;

#[cfg(test)]
#[path = "dead_letter_tests.rs"]
mod tests;
