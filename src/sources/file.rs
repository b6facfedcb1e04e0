//! `file` source: reads NDJSON, a JSON array, or CSV with a header row, from one file or every file a
//! glob matches (in sorted order). Lines that do not parse are dead-lettered and reading goes on.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{SourceContext, SourceError};
use crate::build::{BuildContext, BuildErrors};
use crate::record::{Acks, Record};
use crate::runtime::ack::InputPosition;
use crate::runtime::channel::Batch;
use crate::runtime::fused::Chain;
use crate::runtime::projection::Projection;
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
}

/// Built `file` source.
#[derive(Debug)]
pub struct FileSource {
    pattern: String,
    format: FileFormat,
    delimiter: u8,
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
        errors.finish(|| FileSource { pattern: full, format: self.format, delimiter })
    }
}

/// Reads `reader` in large chunks and calls `line` for every complete line (without its newline), as
/// a cheap shared slice of the chunk it came from (records parsed in part keep it as their original).
fn for_each_line(mut reader: impl Read, mut line: impl FnMut(Bytes) -> bool) -> std::io::Result<()> {
    const CHUNK: usize = 1 << 20;
    // Chunks handed out, oldest first. Once no line of one is held any more, its memory is read into
    // again: allocations this large come as fresh pages from the kernel, and faulting them in cost
    // more than the reading (about 15% of a run's CPU time on the canonical benchmark).
    let mut handed_out: VecDeque<Bytes> = VecDeque::new();
    // The incomplete last line of the previous chunk.
    let mut partial: Vec<u8> = Vec::new();
    loop {
        let reused = match handed_out.front() {
            Some(oldest) if oldest.is_unique() => handed_out.pop_front().and_then(|b| b.try_into_mut().ok()),
            _ => None,
        };
        if handed_out.len() > 16 {
            handed_out.pop_front();
        }
        // Room for the partial line too, so that a reused chunk does not have to grow.
        let mut buf = reused.unwrap_or_else(|| BytesMut::with_capacity(CHUNK + (64 << 10)));
        buf.clear();
        buf.extend_from_slice(&partial);
        let start = buf.len();
        buf.resize(start + CHUNK, 0);
        let n = read_up_to(&mut reader, &mut buf[start..])?;
        buf.truncate(start + n);
        if n == 0 {
            break;
        }
        partial.clear();
        let Some(last_newline) = memchr::memrchr(b'\n', &buf) else {
            partial.extend_from_slice(&buf);
            continue;
        };
        partial.extend_from_slice(&buf[last_newline + 1..]);
        buf.truncate(last_newline + 1);
        let complete = buf.freeze();
        handed_out.push_back(complete.clone());
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', &complete) {
            if !line(complete.slice(start..end)) {
                return Ok(());
            }
            start = end + 1;
        }
    }
    if !partial.is_empty() {
        line(Bytes::from(partial));
    }
    Ok(())
}

/// Fills `buf` from `reader` as far as it goes; the number of bytes read (short only at the end).
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// One non-blank NDJSON line, numbered.
struct Line {
    position: InputPosition,
    line_no: u64,
    /// The line as read (with a `\r` before its newline, if any).
    whole: Bytes,
}

/// A line parsed: what [`Emitter::push_with_original`] takes.
type Parsed = (InputPosition, Result<Value, (String, Value)>, Option<Bytes>);

/// Parses one line (only the projected fields, when the pipeline has a projection).
fn parse_line(projection: Option<&Projection>, path: &Path, line: Line) -> Parsed {
    let Line { position, line_no, whole } = line;
    let text = whole.strip_suffix(b"\r").unwrap_or(&whole);
    let invalid = |e: String| {
        let raw = Value::String(String::from_utf8_lossy(text).into_owned());
        (format!("{}:{line_no}: invalid JSON: {e}", path.display()), raw)
    };
    match projection {
        Some(projection) => {
            let parsed = projection.parse(text).map_err(invalid);
            let original = parsed.is_ok().then(|| whole.clone());
            (position, parsed, original)
        }
        None => (position, serde_json::from_slice::<Value>(text).map_err(|e| invalid(e.to_string())), None),
    }
}

/// Calls `line` for every non-blank line of an NDJSON file, numbered; stops when it returns false.
fn for_each_ndjson_line(file: File, stream: u32, mut line: impl FnMut(Line) -> bool) -> std::io::Result<()> {
    let mut seq = 0u64;
    let mut line_no = 0u64;
    for_each_line(file, |whole| {
        line_no += 1;
        if whole.iter().all(u8::is_ascii_whitespace) {
            return true;
        }
        let position = InputPosition { stream, seq };
        seq += 1;
        line(Line { position, line_no, whole })
    })
}

/// How many threads parse NDJSON lines: one per core the process may run on (up to 4).
fn parse_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(4)
}

/// Reads an NDJSON file. With several cores, a reader thread cuts the file into chunks of lines; parse
/// threads take the next chunk whenever they are free, parse it and run the source's steps on it, and
/// this thread sends the resulting batches on in input order.
fn read_ndjson(path: &Path, stream: u32, emitter: &mut Emitter<'_>, file: File) -> std::io::Result<()> {
    let projection = emitter.ctx.projection.as_ref();
    let threads = parse_threads();
    if threads < 2 {
        return for_each_ndjson_line(file, stream, |line| {
            let (position, parsed, original) = parse_line(projection, path, line);
            emitter.push_with_original(position, parsed, original)
        });
    }
    let ctx = emitter.ctx;
    let chunk_size = ctx.batch_size.max(1);
    let remaining = emitter.limit.map(|l| l.saturating_sub(emitter.emitted));
    // At most `window` chunks are between the reader and the emitting side at a time (queued, being
    // parsed, or parsed but waiting for an earlier one), which bounds memory when one thread lags.
    let window = threads * 4;
    let (read, result) = std::thread::scope(|scope| {
        let (token_tx, tokens) = std::sync::mpsc::sync_channel::<()>(window);
        for _ in 0..window {
            let _ = token_tx.send(());
        }
        // One queue of chunks for all parse threads: whichever is free takes the next chunk, so a thread
        // that the OS holds back does not hold the others back.
        let (chunk_tx, chunks) = std::sync::mpsc::sync_channel::<(usize, Vec<Line>)>(threads);
        let chunks = Arc::new(Mutex::new(chunks));
        let (finished_tx, finished) = std::sync::mpsc::sync_channel::<(usize, Vec<Batch>)>(window);
        for _ in 0..threads {
            let mut worker = emitter.for_parse_thread();
            let (chunks, finished_tx) = (Arc::clone(&chunks), finished_tx.clone());
            scope.spawn(move || {
                // Should a parse thread panic, the emitting side stops waiting for its chunk (and the
                // panic is raised again when the scope ends).
                let _panic = PanicNotice(finished_tx.clone());
                loop {
                    let next = chunks.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok((k, chunk)) = next else { break };
                    for line in chunk {
                        let (position, parsed, original) = parse_line(projection, path, line);
                        if !worker.push_with_original(position, parsed, original) {
                            break;
                        }
                    }
                    worker.send();
                    let batches = worker.finished.replace(Vec::new()).unwrap_or_default();
                    if finished_tx.send((k, batches)).is_err() {
                        break;
                    }
                }
            });
        }
        // Only the parse threads hold these now: once they all stop, the reader's sends fail.
        drop((chunks, finished_tx));
        let reader = scope.spawn(move || {
            let mut chunk = Vec::with_capacity(chunk_size);
            let (mut k, mut read) = (0, 0u64);
            let send = |k: usize, chunk: Vec<Line>| tokens.recv().is_ok() && chunk_tx.send((k, chunk)).is_ok();
            let result = for_each_ndjson_line(file, stream, |line| {
                if ctx.stop.load(Ordering::Relaxed) || remaining.is_some_and(|r| read >= r) {
                    return false;
                }
                read += 1;
                chunk.push(line);
                if chunk.len() < chunk_size {
                    return true;
                }
                k += 1;
                send(k - 1, std::mem::replace(&mut chunk, Vec::with_capacity(chunk_size)))
            });
            if !chunk.is_empty() {
                send(k, chunk);
            }
            (read, result)
        });
        // Results arrive in any order; they are sent on in chunk order.
        let mut waiting = std::collections::BTreeMap::new();
        let mut next = 0;
        'emit: for (k, batches) in &finished {
            if k == PanicNotice::CHUNK {
                break;
            }
            waiting.insert(k, batches);
            while let Some(batches) = waiting.remove(&next) {
                for batch in batches {
                    if !ctx.output.blocking_send(batch) {
                        break 'emit;
                    }
                }
                next += 1;
                let _ = token_tx.send(());
            }
        }
        drop((finished, token_tx));
        reader.join().unwrap_or_else(|_| (0, Err(std::io::Error::other("the NDJSON reader thread panicked"))))
    });
    emitter.emitted += read;
    result
}

/// Sends a parse thread's panic to the emitting side, as a result for chunk [`PanicNotice::CHUNK`].
struct PanicNotice(std::sync::mpsc::SyncSender<(usize, Vec<Batch>)>);

impl PanicNotice {
    const CHUNK: usize = usize::MAX;
}

impl Drop for PanicNotice {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.send((Self::CHUNK, Vec::new()));
        }
    }
}

/// Collects records into batches and sends them; stops early when asked or at the limit.
struct Emitter<'a> {
    ctx: &'a SourceContext,
    batch: Vec<Record>,
    emitted: u64,
    /// Inputs after which to stop (`None` on parse threads: their reader stops at the limit).
    limit: Option<u64>,
    /// The steps the source runs itself on each batch before sending it.
    chain: Chain,
    /// On a parse thread, the finished batches, for the emitting thread to send in input order;
    /// otherwise `None` and batches are sent at once.
    finished: Option<Vec<Batch>>,
}

impl<'a> Emitter<'a> {
    fn new(ctx: &'a SourceContext, chain: Chain) -> Self {
        Self { ctx, batch: Vec::with_capacity(ctx.batch_size), emitted: 0, limit: ctx.limit, chain, finished: None }
    }

    /// An emitter for a parse thread, with its own instances of the steps.
    fn for_parse_thread(&self) -> Self {
        Self { limit: None, finished: Some(Vec::new()), ..Emitter::new(self.ctx, self.chain.replicate()) }
    }

    fn should_stop(&self) -> bool {
        self.ctx.stop.load(Ordering::Relaxed) || self.limit.is_some_and(|l| self.emitted >= l)
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
        let acks = Acks::One(self.ctx.tracker.track(position));
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
        let batch = self.chain.run(batch);
        match &mut self.finished {
            Some(finished) => {
                finished.push(batch);
                true
            }
            None => self.ctx.output.blocking_send(batch),
        }
    }
}

impl FileSource {
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

    /// Reads every file, blocking; call from a blocking thread. `chain` holds the steps the source runs
    /// itself (`runtime::fused`).
    pub fn run_blocking(&self, ctx: &SourceContext, chain: Chain) -> Result<(), SourceError> {
        let mut emitter = Emitter::new(ctx, chain);
        for (stream, path) in self.files()?.into_iter().enumerate() {
            if emitter.should_stop() {
                break;
            }
            let stream = u32::try_from(stream).unwrap_or(u32::MAX);
            let io = |e: std::io::Error| SourceError::Read {
                message: format!("reading `{}`: {e}", path.display()),
                retryable: true,
            };
            let file = File::open(&path).map_err(io)?;
            match self.format {
                FileFormat::Ndjson => read_ndjson(&path, stream, &mut emitter, file).map_err(io)?,
                FileFormat::Json => self.read_json_array(&path, stream, &mut emitter, file)?,
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
                    for (seq, row) in reader.records().enumerate() {
                        let parsed = row.map_err(|e| (format!("{}: {e}", path.display()), Value::Null)).map(|row| {
                            Value::Object(
                                headers
                                    .iter()
                                    .cloned()
                                    .zip(row.iter().map(|s| Value::String(s.to_string())))
                                    .collect::<Map<_, _>>(),
                            )
                        });
                        if !emitter.push(InputPosition { stream, seq: seq as u64 }, parsed) {
                            break;
                        }
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
        emitter: &mut Emitter<'_>,
        file: File,
    ) -> Result<(), SourceError> {
        struct Elements<'e, 'c> {
            emitter: &'e mut Emitter<'c>,
            stream: u32,
        }
        impl<'de> serde::de::Visitor<'de> for Elements<'_, '_> {
            type Value = ();
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON array of records")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
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
        serde::Deserializer::deserialize_seq(&mut de, Elements { emitter, stream })
            .map_err(|e| SourceError::Read { message: format!("`{}`: {e}", path.display()), retryable: false })
    }
}
