//! The rules every record's JSON text must satisfy whatever a pipeline reads of it, so that skipping
//! a member never changes whether a record is delivered or dead-lettered: at most [`MAX_DEPTH`] levels
//! of nested arrays and objects, and no lone UTF-16 surrogate in a `\u` escape. A full parse
//! (serde_json) rejects both; the skipping parser would accept them (or, nested deep enough, overflow
//! its stack), so they are checked on the text first — cheaply: only a line with more than
//! [`SHALLOW`] brackets is scanned for its depth, only one holding `\ud` / `\uD` for surrogates.

use memchr::memmem::Finder;
use std::sync::LazyLock;

/// The deepest nesting of arrays and objects a record may have (serde_json's own limit: it refuses
/// the 128th level).
pub(crate) const MAX_DEPTH: usize = 127;

/// How deep a record whose text passed [`check`] may be nested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// At most [`SHALLOW`] levels.
    Shallow,
    /// More than [`SHALLOW`] levels (and at most [`MAX_DEPTH`]).
    Deep,
}

/// Up to this depth the skipping parser (which recurses) is used; deeper records are parsed whole by
/// serde_json, whose frames are smaller. Either way the same records are accepted: only the speed
/// differs. A text with at most this many brackets is not scanned at all. Optimized builds skip at
/// every depth allowed (their frames are small: 127 levels fit easily in a thread's 2 MiB); unoptimized
/// builds' frames are large, so there only shallow records are skipped.
pub(crate) const SHALLOW: usize = if cfg!(debug_assertions) { 32 } else { MAX_DEPTH };

/// Checks the text of one record against the rules above; the reason it breaks one.
pub(crate) fn check(text: &[u8]) -> Result<Depth, String> {
    // `[` is 0x5B, `{` 0x7B: one comparison per byte, summed in bytes (chunks of at most 255) so that
    // the compiler vectorizes it 32 bytes at a time.
    let brackets: usize = text
        .chunks(255)
        .map(|chunk| usize::from(chunk.iter().fold(0u8, |n, &b| n.wrapping_add(u8::from(b | 0x20 == b'{')))))
        .sum();
    let mut depth = Depth::Shallow;
    if brackets > SHALLOW {
        let (deepest, at) = deepest(text);
        if deepest > MAX_DEPTH {
            return Err(format!("nesting deeper than {MAX_DEPTH} levels at byte {at}"));
        }
        if deepest > SHALLOW {
            depth = Depth::Deep;
        }
    }
    static ESCAPE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\\u"));
    let surrogate_like = ESCAPE.find_iter(text).any(|i| matches!(text.get(i + 2), Some(b'd' | b'D')));
    if surrogate_like && let Some(at) = lone_surrogate(text) {
        return Err(format!("lone UTF-16 surrogate in a \\u escape at byte {at}"));
    }
    Ok(depth)
}

/// The deepest nesting of brackets outside strings, and the offset of the bracket that reached it
/// (the scan stops at the first bracket deeper than [`MAX_DEPTH`]). Strings, most of a record's bytes,
/// are jumped over with `memchr`.
fn deepest(text: &[u8]) -> (usize, usize) {
    let (mut depth, mut deepest, mut at, mut i) = (0usize, 0usize, 0usize, 0usize);
    while let Some(&b) = text.get(i) {
        i += 1;
        match b {
            b'"' => loop {
                match memchr::memchr2(b'"', b'\\', text.get(i..).unwrap_or_default()) {
                    Some(j) if text[i + j] == b'\\' => i += j + 2,
                    Some(j) => {
                        i += j + 1;
                        break;
                    }
                    None => return (deepest, at),
                }
            },
            b'[' | b'{' => {
                depth += 1;
                if depth > deepest {
                    (deepest, at) = (depth, i - 1);
                    if depth > MAX_DEPTH {
                        break;
                    }
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    (deepest, at)
}

/// Follows JSON text byte by byte to tell the bytes inside strings (quotes included) from the others.
#[derive(Debug, Default)]
pub(crate) struct Strings {
    in_string: bool,
    escaped: bool,
}

impl Strings {
    /// Whether `b`, the next byte, is outside any string (and not a quote).
    pub(crate) fn outside(&mut self, b: u8) -> bool {
        if self.in_string {
            match b {
                _ if self.escaped => self.escaped = false,
                b'\\' => self.escaped = true,
                b'"' => self.in_string = false,
                _ => {}
            }
            return false;
        }
        self.in_string = b == b'"';
        !self.in_string
    }
}

/// The offset of the first `\u` escape (inside a string) that is half of a surrogate pair without its
/// other half.
fn lone_surrogate(text: &[u8]) -> Option<usize> {
    let hex = |at: usize| -> Option<u16> {
        let digits = text.get(at..at + 4)?;
        u16::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    let (mut i, mut in_string) = (0, false);
    while i < text.len() {
        let b = text[i];
        if !in_string {
            in_string = b == b'"';
            i += 1;
            continue;
        }
        match b {
            b'"' => in_string = false,
            b'\\' if text.get(i + 1) == Some(&b'u') => {
                match hex(i + 2) {
                    Some(0xD800..=0xDBFF) => {
                        let low = (text.get(i + 6..i + 8) == Some(b"\\u")).then(|| hex(i + 8)).flatten();
                        if !matches!(low, Some(0xDC00..=0xDFFF)) {
                            return Some(i);
                        }
                        i += 12;
                        continue;
                    }
                    Some(0xDC00..=0xDFFF) => return Some(i),
                    // Not a surrogate, or not four hex digits (the parser reports that).
                    _ => {}
                }
                i += 2;
                continue;
            }
            b'\\' => {
                i += 2;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!("{{\"a\":{}1{}}}", "[".repeat(depth - 1), "]".repeat(depth - 1))
    }

    #[test]
    fn depth_is_counted_outside_strings_only() {
        assert_eq!(check(nested(SHALLOW).as_bytes()), Ok(Depth::Shallow));
        if SHALLOW < MAX_DEPTH {
            assert_eq!(check(nested(MAX_DEPTH).as_bytes()), Ok(Depth::Deep));
            assert_eq!(check(nested(SHALLOW + 1).as_bytes()), Ok(Depth::Deep));
        }
        assert_eq!(check(nested(MAX_DEPTH + 1).as_bytes()), Err("nesting deeper than 127 levels at byte 131".into()));
        assert!(serde_json::from_str::<serde_json::Value>(&nested(MAX_DEPTH)).is_ok());
        assert!(serde_json::from_str::<serde_json::Value>(&nested(MAX_DEPTH + 1)).is_err(), "serde_json's limit");
        let brackets_in_a_string = format!("{{\"a\":\"{}\\\"{}\"}}", "[".repeat(500), "{".repeat(500));
        assert_eq!(check(brackets_in_a_string.as_bytes()), Ok(Depth::Shallow));
        // Many brackets side by side are not deep.
        assert_eq!(check(format!("[{}1]", "[],".repeat(1000)).as_bytes()), Ok(Depth::Shallow));
    }

    #[test]
    fn lone_surrogates_are_found_pairs_are_not() {
        assert!(check(br#"{"a":"\ud83d\ude00 \uD83D\uDE00"}"#).is_ok());
        assert!(check(br#"{"a":"\\ud800"}"#).is_ok(), "an escaped backslash, then text");
        for bad in [&br#"{"a":"\ud800"}"#[..], br#"{"a":"\udc00"}"#, br#"{"a":"\ud800\u0041"}"#, br#"{"\uD800":1}"#] {
            assert!(check(bad).is_err(), "{}", String::from_utf8_lossy(bad));
            assert!(serde_json::from_slice::<serde_json::Value>(bad).is_err(), "serde_json refuses it too");
        }
    }
}
