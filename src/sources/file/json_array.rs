//! A top-level JSON array streamed element by element. Each element is first only delimited — a byte
//! scan that tracks strings and bracket depth, without recursion and without judging what is inside —
//! and then parsed on its own by the rules every record follows (`kernel::projection::parse_record`),
//! so that an element too deep, with a bad string or a bad number is dead-lettered like a bad NDJSON
//! line, and the elements after it are still read. Only a broken document (no opening `[`, an
//! unfinished last element, text after the closing `]`) fails the read.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::Value;

use super::Input;
use crate::kernel::ack::{InputEnd, InputPosition};
use crate::kernel::projection::parse_record;
use crate::kernel::projection::text::Strings;
use crate::sources::SourceError;

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
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let broken =
        |message: String| SourceError::Read { message: format!("`{}`: {message}", path.display()), retryable: false };
    let mut elements = Elements::new(BufReader::with_capacity(1 << 20, file));
    elements.open().map_err(broken)?;
    let mut text = Vec::new();
    let mut n = 0u64;
    while elements.next(&mut text).map_err(broken)? {
        n += 1;
        // Elements acknowledged in an earlier run are read past, not handed out.
        if n <= skip {
            continue;
        }
        let parsed = parse_record(None, &text).map_err(|e| {
            let raw = Value::String(String::from_utf8_lossy(&text).into_owned());
            (format!("{}: element {n}: invalid JSON: {e}", path.display()), raw)
        });
        let position = InputPosition { stream, seq: n - skip - 1 };
        let end = InputEnd { offset: file_len, lines: 0 };
        if !visit(Input { position, parsed, original: None, end, size: text.len(), key: None }) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The element scanner.
struct Elements<R> {
    reader: R,
    /// Set once the closing `]` was read.
    done: bool,
}

impl<R: BufRead> Elements<R> {
    fn new(reader: R) -> Self {
        Self { reader, done: false }
    }

    /// The next byte, `None` at the end of the input.
    fn byte(&mut self) -> Result<Option<u8>, String> {
        let buf = self.reader.fill_buf().map_err(|e| e.to_string())?;
        let Some(&b) = buf.first() else { return Ok(None) };
        self.reader.consume(1);
        Ok(Some(b))
    }

    /// The next byte that is not JSON whitespace.
    fn non_blank(&mut self) -> Result<Option<u8>, String> {
        loop {
            match self.byte()? {
                Some(b' ' | b'\t' | b'\n' | b'\r') => {}
                other => return Ok(other),
            }
        }
    }

    /// Reads up to and including the opening `[` (after an optional UTF-8 byte order mark).
    fn open(&mut self) -> Result<(), String> {
        if self.reader.fill_buf().map_err(|e| e.to_string())?.starts_with(b"\xEF\xBB\xBF") {
            self.reader.consume(3);
        }
        match self.non_blank()? {
            Some(b'[') => {}
            _ => return Err("expected a JSON array of records".into()),
        }
        // An empty array.
        let buf = self.reader.fill_buf().map_err(|e| e.to_string())?;
        let blank = buf.iter().take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')).count();
        if buf.get(blank) == Some(&b']') {
            self.reader.consume(blank + 1);
            self.done = true;
            self.close()?;
        }
        Ok(())
    }

    /// After the closing `]`: only whitespace may follow.
    fn close(&mut self) -> Result<(), String> {
        match self.non_blank()? {
            None => Ok(()),
            Some(_) => Err("trailing characters after the array".into()),
        }
    }

    /// Puts the next element's text (trimmed) in `text`; false after the last one.
    fn next(&mut self, text: &mut Vec<u8>) -> Result<bool, String> {
        text.clear();
        if self.done {
            return Ok(false);
        }
        let (mut depth, mut strings) = (0usize, Strings::default());
        loop {
            let buf = self.reader.fill_buf().map_err(|e| e.to_string())?;
            if buf.is_empty() {
                return Err("the array is not closed (the document ends inside it)".into());
            }
            let mut end = None;
            for (i, &b) in buf.iter().enumerate() {
                if !strings.outside(b) {
                    continue;
                }
                match b {
                    b'[' | b'{' => depth += 1,
                    b']' | b'}' if depth > 0 => depth -= 1,
                    b',' | b']' if depth == 0 => {
                        end = Some((i, b == b']'));
                        break;
                    }
                    _ => {}
                }
            }
            match end {
                Some((i, last)) => {
                    text.extend_from_slice(&buf[..i]);
                    self.reader.consume(i + 1);
                    if last {
                        self.done = true;
                        self.close()?;
                    }
                    break;
                }
                None => {
                    let len = buf.len();
                    text.extend_from_slice(buf);
                    self.reader.consume(len);
                }
            }
        }
        let start = text.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(text.len());
        let end = text.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
        text.truncate(end);
        text.drain(..start);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(doc: &str) -> Result<Vec<String>, String> {
        let mut e = Elements::new(doc.as_bytes());
        e.open()?;
        let (mut out, mut text) = (Vec::new(), Vec::new());
        while e.next(&mut text)? {
            out.push(String::from_utf8_lossy(&text).into_owned());
        }
        Ok(out)
    }

    #[test]
    fn elements_are_delimited_by_depth_outside_strings() {
        assert_eq!(split(" [ ] ").expect("empty"), Vec::<String>::new());
        assert_eq!(
            split("\u{feff}[{\"a\":\"],[\\\"\"} , [1,[2]],3\n]\n").expect("ok"),
            vec!["{\"a\":\"],[\\\"\"}", "[1,[2]]", "3"]
        );
        // Bad elements are still delimited (and then dead-lettered by the parser).
        assert_eq!(split("[1 2,,{\"a\":}]").expect("ok"), vec!["1 2", "", "{\"a\":}"]);
        let deep = format!("[{}{}]", "[".repeat(200_000), "]".repeat(200_000));
        assert_eq!(split(&deep).expect("deep").len(), 1);
    }

    #[test]
    fn a_broken_document_is_an_error() {
        assert!(split("{\"a\":1}").is_err());
        assert!(split("[1,2").is_err());
        assert!(split("[1,{\"a\":\"]").is_err());
        assert!(split("[1] x").is_err());
    }
}
