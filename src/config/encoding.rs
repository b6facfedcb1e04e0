//! Recognising text files saved as UTF-16 (Weir reads UTF-8 only), so that config, table and data
//! files in the wrong encoding get a plain hint instead of a parse error.

/// What to tell the user about a file that looks UTF-16.
pub(crate) const UTF16_HINT: &str = "this file looks UTF-16; save it as UTF-8";

/// True when `start` (a file's first bytes) looks UTF-16: a UTF-16 byte-order mark, or — for text saved
/// without one — a NUL byte on the same side of every pair of the first characters.
pub(crate) fn looks_utf16(start: &[u8]) -> bool {
    if start.starts_with(&[0xFF, 0xFE]) || start.starts_with(&[0xFE, 0xFF]) {
        return true;
    }
    let pairs: Vec<&[u8]> = start[..start.len().min(64)].chunks_exact(2).collect();
    if pairs.len() < 2 {
        return false;
    }
    let low_nul = pairs.iter().all(|p| p[0] == 0 && p[1] != 0);
    let high_nul = pairs.iter().all(|p| p[1] == 0 && p[0] != 0);
    low_nul || high_nul
}

#[cfg(test)]
mod tests {
    use super::looks_utf16;

    fn utf16le(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn utf16_is_recognised_with_and_without_a_mark() {
        let mut marked = vec![0xFF, 0xFE];
        marked.extend(utf16le("name: x\n"));
        assert!(looks_utf16(&marked));
        assert!(looks_utf16(&utf16le("id,name\r\n1,Müller\r\n")));
        let be: Vec<u8> = "id,name\n".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert!(looks_utf16(&be));
        for utf8 in ["name: x\n", "id,name\n1,Müller\n", "", "a", "\u{feff}name: x"] {
            assert!(!looks_utf16(utf8.as_bytes()), "{utf8:?}");
        }
    }
}
