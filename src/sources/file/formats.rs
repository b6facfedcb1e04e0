//! CSV with a header row, read front to back on one thread (a JSON array is read by `json_array`).

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use serde_json::{Map, Value};

use super::Input;
use super::ResumeAt;
use crate::kernel::ack::{InputEnd, InputPosition};
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
        if !visit(Input { position: InputPosition { stream, seq }, parsed, original: None, end, size, key: None }) {
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
