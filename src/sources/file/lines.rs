//! Cutting a file into lines without copying them: large chunks are read into buffers that are reused
//! once no line of theirs is held any more, and each line is handed out as a shared slice of its chunk,
//! with the byte offset just after it (what a checkpoint records).

use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use serde_json::Value;

use super::Input;
use super::ResumeAt;
use crate::kernel::ack::{InputEnd, InputPosition};
use crate::kernel::projection::{Projection, parse_record};

/// Reads `reader` (positioned at byte `start` of its file) in large chunks and calls `line` for every
/// line (without its newline), as a cheap shared slice of the chunk it came from, with the offset just
/// after the line and whether a newline ended it (only the file's last line may lack one); stops when
/// `line` returns false.
pub(super) fn for_each_line(
    reader: impl Read,
    start: u64,
    line: impl FnMut(Bytes, u64, bool) -> bool,
) -> std::io::Result<()> {
    for_each_line_counted(reader, start, line).map(drop)
}

/// [`for_each_line`], returning how many bytes it searched for newlines (each byte once, however long
/// the line: a line longer than a chunk grows in place and only its new bytes are searched).
fn for_each_line_counted(
    mut reader: impl Read,
    start: u64,
    mut line: impl FnMut(Bytes, u64, bool) -> bool,
) -> std::io::Result<u64> {
    const CHUNK: usize = 1 << 20;
    // Chunks handed out, oldest first. Once no line of one is held any more, its memory is read into
    // again: allocations this large come as fresh pages from the kernel, and faulting them in cost
    // more than the reading (about 15% of a run's CPU time on the canonical benchmark).
    let mut handed_out: VecDeque<Bytes> = VecDeque::new();
    // What was read and not handed out yet: the incomplete last line of the previous chunk, then the
    // bytes read since. Its first `scanned` bytes are known to hold no newline.
    let mut buf = BytesMut::with_capacity(CHUNK + (64 << 10));
    let mut scanned = 0;
    let mut examined = 0u64;
    // File offset of the first byte of `buf`.
    let mut chunk_start = start;
    loop {
        let filled = buf.len();
        // A line longer than a chunk: the buffer at least doubles, so copying it stays linear.
        if buf.capacity() - filled < CHUNK {
            buf.reserve(CHUNK.max(filled));
        }
        buf.resize(filled + CHUNK, 0);
        let n = read_up_to(&mut reader, &mut buf[filled..])?;
        buf.truncate(filled + n);
        if n == 0 {
            break;
        }
        examined += (buf.len() - scanned) as u64;
        let Some(last_newline) = memchr::memrchr(b'\n', &buf[scanned..]).map(|i| scanned + i) else {
            scanned = buf.len();
            continue;
        };
        let complete = buf.split_to(last_newline + 1).freeze();
        // The partial line moves to the front of a chunk no line is held from any more (or a new one).
        let reused = match handed_out.front() {
            Some(oldest) if oldest.is_unique() => handed_out.pop_front().and_then(|b| b.try_into_mut().ok()),
            _ => None,
        };
        if handed_out.len() > 16 {
            handed_out.pop_front();
        }
        let mut next = reused.unwrap_or_else(|| BytesMut::with_capacity(CHUNK + (64 << 10)));
        next.clear();
        next.extend_from_slice(&buf);
        buf = next;
        scanned = buf.len();
        handed_out.push_back(complete.clone());
        let mut from = 0;
        for end in memchr::memchr_iter(b'\n', &complete) {
            if !line(complete.slice(from..end), chunk_start + end as u64 + 1, true) {
                return Ok(examined);
            }
            from = end + 1;
        }
        chunk_start += complete.len() as u64;
    }
    if !buf.is_empty() {
        let end = chunk_start + buf.len() as u64;
        line(buf.freeze(), end, false);
    }
    Ok(examined)
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
pub(super) struct Line {
    pub(super) position: InputPosition,
    /// Its line number (from 1): also the number of line ends up to its own.
    pub(crate) line_no: u64,
    /// The line as read (with a `\r` before its newline, if any).
    pub(crate) whole: Bytes,
    /// The file offset just after the line.
    pub(crate) end: u64,
}

/// Calls `line` for every non-blank line of an NDJSON file read from `resume` on (the reader is
/// positioned there), numbered; stops when it returns false. A last line without a newline may be
/// one a writer has not finished: with `hold_back`, it is not handed out (a later run reads it once
/// its newline is there), and its length is returned.
pub(super) fn for_each_ndjson_line(
    reader: impl Read,
    stream: u32,
    resume: ResumeAt,
    hold_back: bool,
    mut line: impl FnMut(Line) -> bool,
) -> std::io::Result<Option<u64>> {
    let mut seq = 0u64;
    let mut line_no = resume.lines;
    let mut at_file_start = resume.offset == 0;
    let mut held = None;
    for_each_line(reader, resume.offset, |mut whole, end, terminated| {
        line_no += 1;
        // A UTF-8 byte order mark (written by some Windows tools) is not part of the first record.
        if std::mem::take(&mut at_file_start) && whole.starts_with(b"\xEF\xBB\xBF") {
            whole = whole.slice(3..);
        }
        if whole.iter().all(u8::is_ascii_whitespace) {
            return true;
        }
        if hold_back && !terminated {
            held = Some(whole.len() as u64);
            return false;
        }
        let position = InputPosition { stream, seq };
        seq += 1;
        line(Line { position, line_no, whole, end })
    })?;
    Ok(held)
}

/// Parses one line (only the projected fields, when the pipeline has a projection).
pub(super) fn parse_line(projection: Option<&Projection>, path: &Path, line: Line) -> Input {
    let Line { position, line_no, whole, end } = line;
    let text = whole.strip_suffix(b"\r").unwrap_or(&whole);
    let end = InputEnd { offset: end, lines: line_no };
    let invalid = |e: String| {
        let raw = Value::String(String::from_utf8_lossy(text).into_owned());
        (format!("{}:{line_no}: invalid JSON: {e}", path.display()), raw)
    };
    let parsed = parse_record(projection, text).map_err(invalid);
    // Parsed in part: the line is kept for a dead-letter entry to show the whole input.
    let original = (projection.is_some() && parsed.is_ok()).then(|| whole.clone());
    Input { position, parsed, original, end, size: whole.len(), key: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(text: &str, start: u64) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for_each_line(text.as_bytes(), start, |l, end, _| {
            out.push((String::from_utf8_lossy(&l).into_owned(), end));
            true
        })
        .expect("reads");
        out
    }

    #[test]
    fn offsets_point_just_after_each_line() {
        assert_eq!(
            lines_of("ab\nc\n\nlast", 0),
            vec![("ab".into(), 3), ("c".into(), 5), ("".into(), 6), ("last".into(), 10)]
        );
        // Read from a resume point: offsets are the file's, not the reader's.
        assert_eq!(lines_of("x\nyz\n", 100), vec![("x".into(), 102), ("yz".into(), 105)]);
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_record() {
        let text = b"\xEF\xBB\xBF{\"a\":1}\n{\"a\":2}\n";
        let mut values = Vec::new();
        for_each_ndjson_line(&text[..], 0, ResumeAt::default(), false, |l| {
            values.push(parse_line(None, Path::new("f"), l).parsed.ok());
            true
        })
        .expect("reads");
        assert_eq!(values, vec![Some(serde_json::json!({"a": 1})), Some(serde_json::json!({"a": 2}))]);
    }

    #[test]
    fn offsets_stay_right_across_chunks() {
        // Lines crossing the 1 MiB chunk boundary.
        let line = format!("{}\n", "a".repeat(999));
        let text = line.repeat(3000);
        let ends: Vec<u64> = lines_of(&text, 0).into_iter().map(|(_, e)| e).collect();
        assert_eq!(ends.len(), 3000);
        assert!(ends.iter().enumerate().all(|(i, e)| *e == (i as u64 + 1) * 1000));
    }

    #[test]
    fn a_long_line_is_searched_once_not_again_with_every_chunk() {
        // 20 MiB without a newline, then a short line: each byte is searched for newlines once (a
        // partial line used to be copied and searched again from its start with every 1 MiB chunk).
        let mut text = vec![b'x'; 20 << 20];
        text.extend_from_slice(b"\nshort\n");
        let mut lens = Vec::new();
        let examined = for_each_line_counted(&text[..], 0, |l, _, _| {
            lens.push(l.len());
            true
        })
        .expect("reads");
        assert_eq!(lens, vec![20 << 20, 5]);
        assert_eq!(examined, text.len() as u64);
    }
}
