//! The formats that are read front to back on one thread: CSV with a header row, and a JSON array
//! streamed element by element.

use std::cell::Cell;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use serde_json::{Map, Value};

use super::Input;
use crate::runtime::ack::InputPosition;
use crate::runtime::checkpoint::ResumeAt;
use crate::sources::SourceError;

/// Reads a CSV file with a header row, each row an object of strings, from `resume` on (rows read in
/// earlier runs are read past); false when `visit` asked to stop.
pub(super) fn read_csv(
    path: &Path,
    file: File,
    delimiter: u8,
    resume: ResumeAt,
    stream: u32,
    visit: &mut dyn FnMut(Input) -> bool,
) -> Result<bool, SourceError> {
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(false).from_reader(BufReader::new(file));
    let headers = reader
        .headers()
        .map_err(|e| SourceError::Read { message: format!("`{}`: {e}", path.display()), retryable: false })?;
    let headers = super::csv_text::header(path, headers)?;
    let mut lines = super::csv_text::Lines::new(path);
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
        let parsed = read
            .map_err(|e| {
                let line = lines.line_of(e.position().map_or(0, csv::Position::byte));
                (format!("{}:{line}: {}", path.display(), super::csv_text::reason(&e)), Value::Null)
            })
            .map(|_| {
                Value::Object(
                    headers
                        .iter()
                        .cloned()
                        .zip(row.iter().map(|s| Value::String(s.to_string())))
                        .collect::<Map<_, _>>(),
                )
            });
        let size = row.as_slice().len() + row.len();
        if !visit(Input { position: InputPosition { stream, seq }, parsed, original: None, end, size }) {
            return Ok(false);
        }
        seq += 1;
    }
}

/// Streams the elements of a top-level JSON array without holding the whole document; false when
/// `visit` asked to stop (the rest of the document is then not read, nor checked). Elements have no
/// byte offsets of their own: each is said to end at the end of the file, so that the checkpoint
/// fingerprints the whole document (its first and last bytes) and a file replaced by another — even
/// one with as many elements — is read again from its start rather than skipped by count.
pub(super) fn read_json_array(
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
        file_len: u64,
        stopped: &'v mut bool,
        consumed: Rc<Cell<u64>>,
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
            let mut before = self.consumed.get();
            while let Some(value) = seq.next_element::<Value>()? {
                let position = InputPosition { stream: self.stream, seq: n };
                let size = usize::try_from(self.consumed.get() - before).unwrap_or(usize::MAX);
                before = self.consumed.get();
                let input = Input { position, parsed: Ok(value), original: None, end: self.file_len, size };
                if !(self.visit)(input) {
                    *self.stopped = true;
                    return Ok(());
                }
                n += 1;
            }
            Ok(())
        }
    }
    let mut stopped = false;
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let consumed = Rc::new(Cell::new(0));
    let reader = CountingReader { inner: BufReader::with_capacity(1 << 20, file), consumed: Rc::clone(&consumed) };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let elements = Elements { visit, stream, skip, file_len, stopped: &mut stopped, consumed };
    let result = serde::Deserializer::deserialize_seq(&mut de, elements);
    match result {
        // Stopping early leaves the rest of the array unread, which serde_json reports as trailing
        // characters: not an error of the input.
        _ if stopped => Ok(false),
        Ok(()) => Ok(true),
        Err(e) => Err(SourceError::Read { message: format!("`{}`: {e}", path.display()), retryable: false }),
    }
}

/// Counts the bytes the JSON parser took, so that each element's size is known (batches are bounded in
/// bytes).
struct CountingReader<R> {
    inner: R,
    consumed: Rc<Cell<u64>>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.set(self.consumed.get() + n as u64);
        Ok(n)
    }
}
