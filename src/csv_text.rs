//! CSV details the csv crate leaves to Weir, shared by the file source and tables: a header naming a
//! column twice is found, errors are worded without the crate's position, and error positions are
//! `file:line` counted by Weir — right for CRLF files too, where the csv crate's own count is one short.

/// The first column name that appears twice in `columns`.
pub(crate) fn repeated_column(columns: &[String]) -> Option<&str> {
    columns.iter().enumerate().find(|(i, c)| columns[..*i].contains(c)).map(|(_, c)| c.as_str())
}

/// What went wrong in a CSV error, without the csv crate's position (see [`line_at`]).
pub(crate) fn reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("row has {len} fields, the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { err, .. } => format!("invalid UTF-8 in field {}", err.field() + 1),
        _ => e.to_string(),
    }
}

/// The 1-based line of the record the csv crate says starts at byte `start` of `bytes`: one more than
/// the newlines up to and including that byte — after a CRLF the crate places the next record on the
/// `\n`, which ends the line before.
pub(crate) fn line_at(bytes: &[u8], start: u64) -> u64 {
    let end = usize::try_from(start).unwrap_or(usize::MAX).saturating_add(1).min(bytes.len());
    1 + memchr::memchr_iter(b'\n', &bytes[..end]).count() as u64
}
