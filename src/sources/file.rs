//! `file` source: reads NDJSON, a JSON array, or CSV with a header row, from one file or every file a
//! glob matches (in sorted order). Lines that do not parse are dead-lettered and reading goes on.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{SourceContext, SourceError};
use crate::build::{BuildContext, BuildErrors};
use crate::record::{Acks, Record};
use crate::runtime::ack::InputPosition;
use crate::runtime::checkpoint::ResumeAt;
use crate::runtime::stats::NodeCounters;
use crate::transforms::context::with_context;

/// Record formats of files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// One JSON value per line.
    #[default]
    Ndjson,
    /// One JSON array of values (read as a stream, element by element).
    Json,
    /// CSV with a header row; each row becomes an object of strings.
    Csv,
}

/// Reads records from files.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// File path or glob (`data/*.ndjson`), relative to the pipeline's folder.
    pub path: String,
    /// Record format: `ndjson` (default), `json` (an array), or `csv`.
    #[serde(default)]
    pub format: FileFormat,
    /// CSV field delimiter (one character).
    #[serde(default)]
    pub delimiter: Option<char>,
    /// Read every file whole on every run instead of resuming where the last run stopped (for
    /// snapshots that are replaced each time, e.g. a full stock export read by a reconciliation).
    #[serde(default)]
    pub ignore_checkpoints: bool,
}

/// Built `file` source.
#[derive(Debug)]
pub struct FileSource {
    pattern: String,
    format: FileFormat,
    delimiter: u8,
    /// Resume from checkpoints (`ignore_checkpoints: false`).
    pub checkpointed: bool,
    /// The pipeline's folder.
    base_dir: PathBuf,
}

impl FileSourceConfig {
    /// Resolves the path against the pipeline's folder and checks the glob.
    pub fn build(&self, ctx: &BuildContext) -> Result<FileSource, BuildErrors> {
        let mut errors = BuildErrors::default();
        let full = if std::path::Path::new(&self.path).is_absolute() {
            self.path.clone()
        } else {
            ctx.base_dir.join(&self.path).to_string_lossy().into_owned()
        };
        if let Err(e) = glob::Pattern::new(&full) {
            errors.push(&["path"], "bad-glob", format!("invalid glob `{}`: {e}", self.path), None);
        }
        let delimiter = match self.delimiter {
            None => b',',
            Some(c) if c.is_ascii() => c as u8,
            Some(c) => {
                errors.push(
                    &["delimiter"],
                    "bad-value",
                    format!("delimiter `{c}` is not a single-byte character"),
                    None,
                );
                b','
            }
        };
        errors.finish(|| FileSource {
            pattern: full,
            format: self.format,
            delimiter,
            checkpointed: !self.ignore_checkpoints,
            base_dir: ctx.base_dir.clone(),
        })
    }
}

/// Reads `reader` in large chunks and calls `line` for every complete line (without its newline), as
/// a cheap shared slice of the chunk it came from (records parsed in part keep it as their original),
/// with the offset just after the line (`start` being the reader's offset).
fn for_each_line(mut reader: impl Read, start: u64, mut line: impl FnMut(Bytes, u64) -> bool) -> std::io::Result<()> {
    const CHUNK: u64 = 1 << 20;
    let mut buf = BytesMut::new();
    let mut consumed = start;
    loop {
        // Read into a fresh vector (`read_to_end` does not zero it first), after the partial line left
        // over from the previous chunk; the vector becomes the shared chunk without a copy.
        let mut next = Vec::with_capacity(buf.len() + CHUNK as usize);
        next.extend_from_slice(&buf);
        let n = (&mut reader).take(CHUNK).read_to_end(&mut next)?;
        buf = BytesMut::from(Bytes::from(next));
        if n == 0 {
            break;
        }
        let Some(last_newline) = buf.iter().rposition(|&b| b == b'\n') else { continue };
        let complete = buf.split_to(last_newline + 1).freeze();
        let mut start = 0;
        while let Some(len) = complete[start..].iter().position(|&b| b == b'\n') {
            if !line(complete.slice(start..start + len), consumed + (start + len + 1) as u64) {
                return Ok(());
            }
            start += len + 1;
        }
        consumed += complete.len() as u64;
    }
    if !buf.is_empty() {
        let end = consumed + buf.len() as u64;
        line(buf.freeze(), end);
    }
    Ok(())
}

/// Collects records into batches and sends them; stops early when asked or at the limit.
struct Emitter<'a> {
    ctx: &'a SourceContext,
    batch: Vec<Record>,
    emitted: u64,
    /// Where the input being pushed ends in its file (byte offset), for checkpoints.
    end: u64,
}

impl Emitter<'_> {
    fn should_stop(&self) -> bool {
        self.ctx.stop.load(Ordering::Relaxed) || self.ctx.limit.is_some_and(|l| self.emitted >= l)
    }

    /// Adds one input (a parsed value, or why it did not parse and its raw text); false when reading
    /// should stop.
    fn push(&mut self, position: InputPosition, parsed: Result<Value, (String, Value)>) -> bool {
        self.push_with_original(position, parsed, None)
    }

    /// [`Emitter::push`] for a record parsed in part, with the input's text.
    fn push_with_original(
        &mut self,
        position: InputPosition,
        parsed: Result<Value, (String, Value)>,
        original: Option<Bytes>,
    ) -> bool {
        if self.should_stop() {
            return false;
        }
        self.emitted += 1;
        NodeCounters::add(&self.ctx.counters.received, 1);
        let acks = Acks::One(self.ctx.tracker.track_until(position, self.end));
        let mut record = Record { value: Value::Null, key: None, parent: None, acks, original: None };
        match parsed {
            Ok(value) => {
                record.value = value;
                record.original = original;
                if let Some(key) = &self.ctx.key {
                    match with_context(&mut record, |c| key.render(c)) {
                        Ok(k) => record.key = Some(k.into()),
                        Err(e) => {
                            NodeCounters::add(&self.ctx.counters.dead_lettered, 1);
                            self.ctx.dead_letter.send(record, &self.ctx.id, format!("record key: {e}"));
                            return true;
                        }
                    }
                }
                NodeCounters::add(&self.ctx.counters.emitted, 1);
                self.batch.push(record);
                if self.batch.len() >= self.ctx.batch_size {
                    return self.send();
                }
            }
            Err((error, raw)) => {
                record.value = raw;
                NodeCounters::add(&self.ctx.counters.dead_lettered, 1);
                self.ctx.dead_letter.send(record, &self.ctx.id, error);
            }
        }
        true
    }

    fn send(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(self.ctx.batch_size));
        self.ctx.output.blocking_send(batch)
    }
}

impl FileSource {
    /// A file's name in checkpoints: relative to the pipeline's folder, so that moving the client
    /// folder or running from another directory keeps its position.
    fn checkpoint_key(&self, path: &std::path::Path) -> String {
        path.strip_prefix(&self.base_dir).unwrap_or(path).display().to_string()
    }

    /// The files the pattern matches now, sorted.
    pub fn files(&self) -> Result<Vec<PathBuf>, SourceError> {
        let err = |message: String| SourceError::Read { message, retryable: false };
        let mut files: Vec<PathBuf> = glob::glob(&self.pattern)
            .map_err(|e| err(format!("invalid glob `{}`: {e}", self.pattern)))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(SourceError::Read { message: format!("no file matches `{}`", self.pattern), retryable: true });
        }
        Ok(files)
    }

    /// Reads every file, blocking; call from a blocking thread.
    pub fn run_blocking(&self, ctx: &SourceContext) -> Result<(), SourceError> {
        let mut emitter = Emitter { ctx, batch: Vec::with_capacity(ctx.batch_size), emitted: 0, end: 0 };
        for (stream, path) in self.files()?.into_iter().enumerate() {
            if emitter.should_stop() {
                break;
            }
            let stream = u32::try_from(stream).unwrap_or(u32::MAX);
            let io = |e: std::io::Error| SourceError::Read {
                message: format!("reading `{}`: {e}", path.display()),
                retryable: true,
            };
            let mut file = File::open(&path).map_err(io)?;
            let resume = match &ctx.checkpoints {
                Some(c) => c.open_stream(stream, &self.checkpoint_key(&path), &path, &mut file).map_err(io)?,
                None => ResumeAt::default(),
            };
            match self.format {
                FileFormat::Ndjson => {
                    file.seek(SeekFrom::Start(resume.offset)).map_err(io)?;
                    let mut seq = 0u64;
                    // Counted from the resume point (blank lines between records are not in the checkpoint).
                    let mut line_no = resume.records;
                    for_each_line(file, resume.offset, |whole, end| {
                        line_no += 1;
                        emitter.end = end;
                        let line = whole.strip_suffix(b"\r").unwrap_or(&whole);
                        if line.iter().all(u8::is_ascii_whitespace) {
                            return true;
                        }
                        let invalid = |e: serde_json::Error| {
                            let raw = Value::String(String::from_utf8_lossy(line).into_owned());
                            (format!("{}:{line_no}: invalid JSON: {e}", path.display()), raw)
                        };
                        let position = InputPosition { stream, seq };
                        seq += 1;
                        match &ctx.projection {
                            Some(projection) => {
                                let parsed = projection.parse(line).map_err(invalid);
                                let original = parsed.is_ok().then(|| whole.clone());
                                emitter.push_with_original(position, parsed, original)
                            }
                            None => emitter.push(position, serde_json::from_slice::<Value>(line).map_err(invalid)),
                        }
                    })
                    .map_err(io)?;
                }
                FileFormat::Json => self.read_json_array(&path, stream, resume.records, &mut emitter, file)?,
                FileFormat::Csv => {
                    let mut reader = csv::ReaderBuilder::new()
                        .delimiter(self.delimiter)
                        .flexible(false)
                        .from_reader(BufReader::new(file));
                    let headers: Vec<String> = reader
                        .headers()
                        .map_err(|e| SourceError::Read {
                            message: format!("`{}`: {e}", path.display()),
                            retryable: false,
                        })?
                        .iter()
                        .map(str::to_string)
                        .collect();
                    let mut row = csv::StringRecord::new();
                    let (mut seq, mut skipped) = (0u64, 0u64);
                    loop {
                        let read = reader.read_record(&mut row);
                        // Offsets make the checkpoint's fingerprint; rows already read are skipped.
                        emitter.end = reader.position().byte();
                        if matches!(read, Ok(false)) {
                            break;
                        }
                        if skipped < resume.records {
                            skipped += 1;
                            continue;
                        }
                        let parsed = read.map_err(|e| (format!("{}: {e}", path.display()), Value::Null)).map(|_| {
                            Value::Object(
                                headers
                                    .iter()
                                    .cloned()
                                    .zip(row.iter().map(|s| Value::String(s.to_string())))
                                    .collect::<Map<_, _>>(),
                            )
                        });
                        if !emitter.push(InputPosition { stream, seq }, parsed) {
                            break;
                        }
                        seq += 1;
                    }
                }
            }
        }
        emitter.send();
        Ok(())
    }

    /// Streams the elements of a top-level JSON array without holding the whole document.
    fn read_json_array(
        &self,
        path: &std::path::Path,
        stream: u32,
        skip: u64,
        emitter: &mut Emitter<'_>,
        file: File,
    ) -> Result<(), SourceError> {
        struct Elements<'e, 'c> {
            emitter: &'e mut Emitter<'c>,
            stream: u32,
            skip: u64,
        }
        impl<'de> serde::de::Visitor<'de> for Elements<'_, '_> {
            type Value = ();
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON array of records")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                // Elements acknowledged in an earlier run are read past, not emitted.
                for _ in 0..self.skip {
                    if seq.next_element::<serde::de::IgnoredAny>()?.is_none() {
                        return Ok(());
                    }
                }
                let mut n = 0u64;
                while let Some(value) = seq.next_element::<Value>()? {
                    if !self.emitter.push(InputPosition { stream: self.stream, seq: n }, Ok(value)) {
                        return Ok(());
                    }
                    n += 1;
                }
                Ok(())
            }
        }
        let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 20, file));
        serde::Deserializer::deserialize_seq(&mut de, Elements { emitter, stream, skip })
            .map_err(|e| SourceError::Read { message: format!("`{}`: {e}", path.display()), retryable: false })
    }
}
