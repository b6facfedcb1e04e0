//! `file` source: reads NDJSON, a JSON array, or CSV with a header row, from one file or every file a
//! glob matches (in sorted order). Lines that do not parse are dead-lettered and reading goes on.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
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

/// One input read from a file.
#[derive(Debug)]
pub struct Input {
    /// Which file (its index among the files the pattern matches) and which record of it.
    pub position: InputPosition,
    /// The value, or why it did not parse and its raw text.
    pub parsed: Result<Value, (String, Value)>,
    /// The input's text, when only part of it was built (see `runtime::projection`).
    pub original: Option<Bytes>,
    /// Where the input ends in its file (a byte offset; 0 for JSON arrays), for checkpoints.
    pub end: u64,
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

    /// Adds one input (a parsed value, or why it did not parse and its raw text; with the input's text
    /// when it was parsed in part); false when reading should stop.
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
    fn checkpoint_key(&self, path: &Path) -> String {
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
            let mut file = File::open(&path).map_err(|e| read_error(&path, e))?;
            let resume = match &ctx.checkpoints {
                Some(c) => c
                    .open_stream(stream, &self.checkpoint_key(&path), &path, &mut file)
                    .map_err(|e| read_error(&path, e))?,
                None => ResumeAt::default(),
            };
            let mut push = |input: Input| {
                emitter.end = input.end;
                emitter.push_with_original(input.position, input.parsed, input.original)
            };
            if !self.read_file(&path, file, resume, stream, ctx.projection.as_ref(), &mut push)? {
                break;
            }
        }
        emitter.send();
        Ok(())
    }

    /// Reads every file the pattern matches, in order, handing each input to `visit` until it returns
    /// false. Blocking. Used by the source and by steps that read a keyed set themselves (`reconcile`).
    pub fn read(&self, visit: &mut dyn FnMut(Input) -> bool) -> Result<(), SourceError> {
        for (stream, path) in self.files()?.into_iter().enumerate() {
            let stream = u32::try_from(stream).unwrap_or(u32::MAX);
            let file = File::open(&path).map_err(|e| read_error(&path, e))?;
            if !self.read_file(&path, file, ResumeAt::default(), stream, None, visit)? {
                break;
            }
        }
        Ok(())
    }

    /// Reads one file (input number `stream` of the pattern) from `resume` on; false when `visit` asked
    /// to stop. `projection`: build only these fields of NDJSON records, keeping the line as the
    /// original.
    fn read_file(
        &self,
        path: &Path,
        mut file: File,
        resume: ResumeAt,
        stream: u32,
        projection: Option<&Projection>,
        visit: &mut dyn FnMut(Input) -> bool,
    ) -> Result<bool, SourceError> {
        let io = |e: std::io::Error| read_error(path, e);
        match self.format {
            FileFormat::Ndjson => {
                file.seek(SeekFrom::Start(resume.offset)).map_err(io)?;
                let mut seq = 0u64;
                // Counted from the resume point (blank lines between records are not in the checkpoint).
                let mut line_no = resume.records;
                let mut go_on = true;
                for_each_line(file, resume.offset, |whole, end| {
                    line_no += 1;
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
                    let input = match projection {
                        Some(projection) => {
                            let parsed = projection.parse(line).map_err(invalid);
                            let original = parsed.is_ok().then(|| whole.clone());
                            Input { position, parsed, original, end }
                        }
                        None => Input {
                            position,
                            parsed: serde_json::from_slice::<Value>(line).map_err(invalid),
                            original: None,
                            end,
                        },
                    };
                    go_on = visit(input);
                    go_on
                })
                .map_err(io)?;
                Ok(go_on)
            }
            FileFormat::Json => read_json_array(path, stream, resume.records, visit, file),
            FileFormat::Csv => {
                let mut reader = csv::ReaderBuilder::new()
                    .delimiter(self.delimiter)
                    .flexible(false)
                    .from_reader(BufReader::new(file));
                let headers: Vec<String> = reader
                    .headers()
                    .map_err(|e| SourceError::Read { message: format!("`{}`: {e}", path.display()), retryable: false })?
                    .iter()
                    .map(str::to_string)
                    .collect();
                let mut row = csv::StringRecord::new();
                let (mut seq, mut skipped) = (0u64, 0u64);
                loop {
                    let read = reader.read_record(&mut row);
                    // Offsets make the checkpoint's fingerprint; rows read in earlier runs are skipped.
                    let end = reader.position().byte();
                    if matches!(read, Ok(false)) {
                        return Ok(true);
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
                    if !visit(Input { position: InputPosition { stream, seq }, parsed, original: None, end }) {
                        return Ok(false);
                    }
                    seq += 1;
                }
            }
        }
    }
}

fn read_error(path: &Path, e: std::io::Error) -> SourceError {
    SourceError::Read { message: format!("reading `{}`: {e}", path.display()), retryable: true }
}

/// Streams the elements of a top-level JSON array without holding the whole document; false when
/// `visit` asked to stop (the rest of the document is then not read, nor checked).
fn read_json_array(
    path: &Path,
    stream: u32,
    skip: u64,
    visit: &mut dyn FnMut(Input) -> bool,
    file: File,
) -> Result<bool, SourceError> {
    struct Elements<'v> {
        visit: &'v mut dyn FnMut(Input) -> bool,
        stream: u32,
        skip: u64,
        stopped: &'v mut bool,
    }
    impl<'de> serde::de::Visitor<'de> for Elements<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON array of records")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            // Elements acknowledged in an earlier run are read past, not handed out.
            for _ in 0..self.skip {
                if seq.next_element::<serde::de::IgnoredAny>()?.is_none() {
                    return Ok(());
                }
            }
            let mut n = 0u64;
            while let Some(value) = seq.next_element::<Value>()? {
                let position = InputPosition { stream: self.stream, seq: n };
                if !(self.visit)(Input { position, parsed: Ok(value), original: None, end: 0 }) {
                    *self.stopped = true;
                    return Ok(());
                }
                n += 1;
            }
            Ok(())
        }
    }
    let mut stopped = false;
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 20, file));
    let result = serde::Deserializer::deserialize_seq(&mut de, Elements { visit, stream, skip, stopped: &mut stopped });
    match result {
        // Stopping early leaves the rest of the array unread, which serde_json reports as trailing
        // characters: not an error of the input.
        _ if stopped => Ok(false),
        Ok(()) => Ok(true),
        Err(e) => Err(SourceError::Read { message: format!("`{}`: {e}", path.display()), retryable: false }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::testing::context;
    use serde_json::json;

    fn source(dir: &Path, name: &str, text: &str, format: &str) -> FileSource {
        std::fs::write(dir.join(name), text).expect("write input");
        let cfg: FileSourceConfig =
            serde_json::from_value(json!({"path": dir.join(name).display().to_string(), "format": format}))
                .expect("valid config");
        cfg.build(&context()).expect("builds")
    }

    /// Every parsed value `read` hands out, stopping after `stop_after` when given.
    fn read_values(s: &FileSource, stop_after: Option<usize>) -> Result<Vec<Value>, SourceError> {
        let mut values = Vec::new();
        s.read(&mut |input| {
            values.push(input.parsed.unwrap_or_else(|(e, _)| json!({ "error": e })));
            stop_after.is_none_or(|n| values.len() < n)
        })?;
        Ok(values)
    }

    #[test]
    fn read_hands_out_every_format_and_bad_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let nd = source(dir.path(), "a.ndjson", "{\"a\":1}\n\n{oops\n{\"a\":2}", "ndjson");
        let values = read_values(&nd, None).expect("reads");
        assert_eq!(values.len(), 3);
        assert_eq!((&values[0], &values[2]), (&json!({"a": 1}), &json!({"a": 2})));
        assert!(values[1]["error"].as_str().is_some_and(|e| e.contains("a.ndjson:3: invalid JSON")), "{values:?}");
        let csv = source(dir.path(), "a.csv", "sku,qty\nA,1\nB,2\n", "csv");
        assert_eq!(
            read_values(&csv, None).expect("reads"),
            vec![json!({"sku": "A", "qty": "1"}), json!({"sku": "B", "qty": "2"})]
        );
    }

    #[test]
    fn stopping_inside_a_json_array_is_not_an_error() {
        // `weir run --limit 1` on a JSON array used to fail with serde_json's "trailing characters".
        let dir = tempfile::tempdir().expect("tempdir");
        let s = source(dir.path(), "a.json", "[{\"a\":1},{\"a\":2},{\"a\":3}]", "json");
        assert_eq!(read_values(&s, Some(1)).expect("stopping early is fine"), vec![json!({"a": 1})]);
        assert_eq!(read_values(&s, None).expect("reads").len(), 3);
        let broken = source(dir.path(), "b.json", "[{\"a\":1},", "json");
        assert!(read_values(&broken, None).is_err(), "a truncated document is still an error");
    }
}
