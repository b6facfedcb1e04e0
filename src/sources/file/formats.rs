//! CSV with a header row, read front to back on one thread (a JSON array is read by `json_array`).

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

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
                headers.iter().cloned().zip(row.iter().map(|s| Value::String(s.to_string()))).collect::<Map<_, _>>(),
            )
        });
        if !visit(Input { position: InputPosition { stream, seq }, parsed, original: None, end }) {
            return Ok(false);
        }
        seq += 1;
    }
}
