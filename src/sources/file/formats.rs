//! The formats that are read front to back on one thread: CSV with a header row, and a JSON array
//! streamed element by element.

use std::cell::Cell;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use serde_json::{Map, Value};

use super::Input;
use crate::runtime::ack::{InputEnd, InputPosition};
use crate::runtime::checkpoint::ResumeAt;
use crate::sources::SourceError;

/// Reads a CSV file with a header row, each row an object of strings, from `resume` on: the header is
/// read at the start, then reading goes on at the resume offset, with the line and record numbers it
/// had there (so that error messages name the right lines). With `hold_back`, a last row without a
/// line end is not read — a writer may not have finished it — and its length is returned in
/// [`CsvEnd::Held`].
pub(super) fn read_csv(
    path: &Path,
    file: File,
    delimiter: u8,
    resume: ResumeAt,
    stream: u32,
    hold_back: bool,
    visit: &mut dyn FnMut(Input) -> bool,
) -> Result<CsvEnd, SourceError> {
    let bad = |e: String| SourceError::Read { message: format!("`{}`: {e}", path.display()), retryable: false };
    // For asking whether the byte before a row's end is a line end, without disturbing the reader.
    let probe = file.try_clone().map_err(|e| super::read_error(path, e))?;
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(false).from_reader(BufReader::new(file));
    let headers = reader.headers().map_err(|e| bad(e.to_string()))?;
    let headers = super::csv_text::header(path, headers)?;
    let mut lines = super::csv_text::Lines::new(path);
    if resume.offset > 0 {
        let mut at = csv::Position::new();
        at.set_byte(resume.offset).set_line(resume.lines + 1).set_record(resume.records + 1);
        reader.seek(at).map_err(|e| bad(e.to_string()))?;
    }
    let mut row = csv::StringRecord::new();
    let mut seq = 0u64;
    // Rows ending before this offset are followed by more bytes, so a line end closed them.
    let mut known_len = probe.metadata().map(|m| m.len()).unwrap_or(0);
    loop {
        let start = reader.position().byte();
        let read = reader.read_record(&mut row);
        let position = reader.position();
        if matches!(read, Ok(false)) {
            return Ok(CsvEnd::Done);
        }
        let end = InputEnd { offset: position.byte(), lines: position.line().saturating_sub(1) };
        if hold_back && end.offset >= known_len {
            known_len = probe.metadata().map(|m| m.len()).unwrap_or(known_len);
            if !ends_a_line(&probe, end.offset).map_err(|e| super::read_error(path, e))? {
                return Ok(CsvEnd::Held(end.offset - start));
            }
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
            return Ok(CsvEnd::Stopped);
        }
        seq += 1;
    }
}

/// How reading a CSV file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CsvEnd {
    /// At the end of the file.
    Done,
    /// `visit` asked to stop.
    Stopped,
    /// Before a last row without a line end, this many bytes long (held back).
    Held(u64),
}

/// True when the byte just before `offset` is a line end. Only `\n` counts: a row ending in `\r` may be
/// one whose `\r\n` a writer has not finished (and resuming between the two would number lines wrong).
fn ends_a_line(file: &File, offset: u64) -> std::io::Result<bool> {
    use std::os::unix::fs::FileExt;
    let Some(at) = offset.checked_sub(1) else { return Ok(true) };
    let mut byte = [0u8];
    Ok(file.read_at(&mut byte, at)? == 1 && byte[0] == b'\n')
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
                let end = InputEnd { offset: self.file_len, lines: 0 };
                if !(self.visit)(Input { position, parsed: Ok(value), original: None, end, size }) {
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
    let mut reader = BufReader::with_capacity(1 << 20, file);
    skip_byte_order_mark(&mut reader).map_err(|e| super::read_error(path, e))?;
    let consumed = Rc::new(Cell::new(0));
    let reader = CountingReader { inner: reader, consumed: Rc::clone(&consumed) };
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

/// Reads past a UTF-8 byte order mark (written by some Windows tools) at the start of `reader`.
fn skip_byte_order_mark(reader: &mut BufReader<File>) -> std::io::Result<()> {
    use std::io::BufRead;
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let mut head = Vec::with_capacity(3);
    // A buffer may hold fewer than three bytes at a time (a file still being written).
    while head.len() < 3 {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let take = buf.len().min(3 - head.len());
        head.extend_from_slice(&buf[..take]);
        if !BOM.starts_with(&head) {
            return Ok(());
        }
        reader.consume(take);
    }
    if head != BOM {
        // Consumed a prefix of a byte order mark that is not one: the document is not JSON anyway.
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the file starts with a broken byte order mark",
        ));
    }
    Ok(())
}
