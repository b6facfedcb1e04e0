//! CSV details of the file source: the header row (a column named twice is an error, not a silent
//! overwrite) and line numbers of errors counted while a file is read front to back (see
//! [`crate::csv_text`] for the details tables share).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

pub(crate) use crate::csv_text::{reason, repeated_column};
use crate::sources::SourceError;

/// The header row's column names; an error when one repeats (each row would keep only the last value).
pub(super) fn header(path: &Path, headers: &csv::StringRecord) -> Result<Vec<String>, SourceError> {
    let columns: Vec<String> = headers.iter().map(str::to_string).collect();
    if let Some(column) = repeated_column(&columns) {
        return Err(SourceError::Read {
            message: format!("`{}`: the header row names the column `{column}` twice", path.display()),
            retryable: false,
        });
    }
    Ok(columns)
}

/// [`line_at`](crate::csv_text::line_at) for a file read front to back: counts lines up to each (increasing) error position
/// with a second handle on the file, opened at the first error, so that errors cost no more than one
/// more pass over the file.
#[derive(Debug)]
pub(super) struct Lines {
    path: PathBuf,
    file: Option<BufReader<File>>,
    /// Bytes counted so far, and the newlines among them.
    at: u64,
    newlines: u64,
}

impl Lines {
    pub(super) fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf(), file: None, at: 0, newlines: 0 }
    }

    /// The 1-based line of the record the csv crate says starts at byte `start`; 0 when the file
    /// cannot be read again.
    pub(super) fn line_of(&mut self, start: u64) -> u64 {
        if start < self.at || self.file.is_none() {
            let Ok(file) = File::open(&self.path) else { return 0 };
            *self = Self { file: Some(BufReader::new(file)), ..Self::new(&self.path) };
        }
        let Some(file) = self.file.as_mut() else { return 0 };
        let mut buf = [0u8; 8192];
        while self.at <= start {
            let want = usize::try_from((start + 1 - self.at).min(buf.len() as u64)).unwrap_or(buf.len());
            let n = match file.read(&mut buf[..want]) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            self.newlines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
            self.at += n as u64;
        }
        1 + self.newlines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_right_with_lf_and_crlf() {
        for text in ["id,name\n1,a\n2,b,c\n3,\"x\ny\"\n4,d,e\n", "id,name\r\n1,a\r\n2,b,c\r\n3,\"x\r\ny\"\r\n4,d,e\r\n"]
        {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("in.csv");
            std::fs::write(&path, text).expect("write");
            let mut reader = csv::ReaderBuilder::new().from_path(&path).expect("open");
            let mut lines = Lines::new(&path);
            let mut found = Vec::new();
            for row in reader.records() {
                if let Err(e) = row {
                    let start = e.position().map_or(0, csv::Position::byte);
                    found.push((crate::csv_text::line_at(text.as_bytes(), start), lines.line_of(start)));
                }
            }
            assert_eq!(found, vec![(3, 3), (6, 6)], "{text:?}");
        }
    }

    #[test]
    fn a_repeated_column_is_found() {
        let cols = |c: &[&str]| c.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        assert_eq!(repeated_column(&cols(&["id", "name", "id"])), Some("id"));
        assert_eq!(repeated_column(&cols(&["id", "name"])), None);
    }
}
