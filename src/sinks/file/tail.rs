//! The end of a file the `file` sink appends to: it must end on a line boundary, or the first record
//! appended is glued onto the last line. A line cut short (a run killed while its buffer was being
//! written) is cut off — its records were never acknowledged, and are written again; a complete last
//! line that only lacks its newline (a file someone else wrote) gets one.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::FileSink;
use crate::sinks::SinkError;
use crate::sources::file::FileFormat;

/// How far back a torn last line is looked for its start (a longer line is left as it is and a newline
/// written after it).
const MAX_TAIL: u64 = 16 * 1024 * 1024;

impl FileSink {
    /// Before appending to a regular file: makes it end on a line boundary. Only a resumed run cuts
    /// its last line (torn; for NDJSON, only when it does not parse); otherwise a last line without its
    /// newline gets one. A pipe or a device is left alone: it cannot be read back, and opening one for
    /// reading would let its reader go on. A file that may be appended to but not read (append-only
    /// permissions) is not checked: the records are appended, with a warning.
    pub(super) fn end_on_a_line(&self) -> Result<(), SinkError> {
        if !std::fs::metadata(&self.path).is_ok_and(|m| m.is_file() && m.len() > 0) {
            return Ok(());
        }
        let io = |e| SinkError::io(format!("appending to `{}`", self.path.display()), e);
        let Some(mut file) = open_to_end(&self.path).map_err(io)? else { return Ok(()) };
        let (format, resumed) = (self.format, self.resumed);
        let torn = |fragment: &[u8]| {
            resumed
                && match format {
                    FileFormat::Ndjson => serde_json::from_slice::<serde::de::IgnoredAny>(fragment).is_err(),
                    _ => true,
                }
        };
        cut_or_end_line(&mut file, &self.path, torn).map_err(io)
    }
}

/// `path` opened to read its end and append; `None` when it can be appended to but not read.
fn open_to_end(path: &Path) -> io::Result<Option<File>> {
    match OpenOptions::new().read(true).append(true).open(path) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied && OpenOptions::new().append(true).open(path).is_ok() => {
            tracing::warn!(
                "`{}` cannot be read, only appended to: whether its last line is complete is not checked",
                path.display()
            );
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Makes `file` (opened for appending) end on a line boundary. `torn` says whether the bytes after the
/// last newline (without it) are a line cut short rather than a complete one.
fn cut_or_end_line(file: &mut File, path: &Path, torn: impl Fn(&[u8]) -> bool) -> io::Result<()> {
    let len = file.metadata()?.len();
    let mut last = [0u8; 1];
    if len == 0 || (file.read_exact_at(&mut last, len - 1).is_ok() && last[0] == b'\n') {
        return Ok(());
    }
    let start = len.saturating_sub(MAX_TAIL);
    let mut tail = vec![0u8; (len - start) as usize];
    file.read_exact_at(&mut tail, start)?;
    let Some(line_start) = tail.iter().rposition(|b| *b == b'\n').map(|i| i + 1).or((start == 0).then_some(0)) else {
        return file.write_all(b"\n");
    };
    let fragment = &tail[line_start..];
    if torn(fragment) {
        tracing::warn!(
            "`{}`: cutting {} bytes of a line an interrupted run left unfinished; its records are written again",
            path.display(),
            fragment.len()
        );
        file.set_len(start + line_start as u64)
    } else {
        file.write_all(b"\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(content: &[u8], torn: bool) -> Vec<u8> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out");
        std::fs::write(&path, content).expect("write");
        let mut file = std::fs::OpenOptions::new().append(true).read(true).open(&path).expect("open");
        cut_or_end_line(&mut file, &path, |_| torn).expect("ends on a line");
        std::fs::read(&path).expect("read")
    }

    #[test]
    fn a_torn_line_is_cut_and_a_complete_one_gets_its_newline() {
        assert_eq!(ended(b"{\"n\":1}\n{\"n\":2", true), b"{\"n\":1}\n");
        assert_eq!(ended(b"{\"n\":1}\n{\"n\":2}", false), b"{\"n\":1}\n{\"n\":2}\n");
        assert_eq!(ended(b"{\"n\":1", true), b"", "a file of one torn line is emptied");
        assert_eq!(ended(b"{\"n\":1}\n", true), b"{\"n\":1}\n", "a file ending on a line is left alone");
        assert_eq!(ended(b"", true), b"");
    }

    #[test]
    fn a_file_that_may_only_be_appended_to_is_not_checked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out");
        std::fs::write(&path, b"{\"n\":1").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o200)).expect("chmod");
        if File::open(&path).is_ok() {
            // Privileged (root): permissions do not stop reading, there is no case to test.
            return;
        }
        assert!(open_to_end(&path).expect("not an error").is_none());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).expect("chmod");
        assert!(open_to_end(&path).is_err(), "neither readable nor writable: an error");
    }
}
