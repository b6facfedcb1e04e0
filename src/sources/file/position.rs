//! The file source's resumable position: per file, the byte offset after the last acknowledged line or
//! row, the line ends before it (so that line numbers stay right) and the record count (JSON arrays,
//! which have no offsets of their own, skip that many elements), with fingerprints that tell an
//! appended file (resume) from a replaced or truncated one (read from the start). The kernel's
//! checkpoint stores it as the `files` field of the source's checkpoint.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::kernel::checkpoint::{Acknowledged, Resumable, fingerprint, fingerprint_open};

/// The field of the source's checkpoint that holds the files' positions.
const FILES_KEY: &str = "files";

/// Where to start reading a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ResumeAt {
    /// Byte offset to seek to (line-oriented formats).
    pub(crate) offset: u64,
    /// Records already read before it (formats that cannot seek skip this many).
    pub(crate) records: u64,
    /// Line ends before `offset` (line numbers go on from there).
    pub(crate) lines: u64,
}

/// The saved position of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FilePosition {
    /// Byte offset after the last acknowledged record.
    pub(crate) offset: u64,
    /// Records acknowledged from the start of the file.
    pub(crate) records: u64,
    /// Line ends before `offset` (absent in checkpoints of older versions: counted when resuming).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) lines: Option<u64>,
    /// Hash of the file's first bytes (up to 512, never past `offset`).
    pub(crate) head: String,
    /// Hash of the (up to 512) bytes just before `offset`.
    pub(crate) tail: String,
}

#[derive(Debug)]
struct OpenFile {
    /// The file's name in the checkpoint.
    key: String,
    /// Where it is now (for fingerprints).
    path: PathBuf,
    start: ResumeAt,
}

/// The positions of the files one file source reads, as saved by the last run and as this run reads
/// them (each file is one input stream, numbered in the order the source opens them).
#[derive(Debug, Default)]
pub(crate) struct FilePositions {
    saved: BTreeMap<String, FilePosition>,
    /// Whether some file the pattern matched when the run started is read on from its position.
    resumes: bool,
    streams: Mutex<Vec<Option<OpenFile>>>,
}

impl FilePositions {
    /// Reads the `files` field of a saved checkpoint; `files` are those the pattern matches now, with
    /// their checkpoint names (to tell whether some would be read on from a saved position).
    pub(crate) fn restore(saved: &Map<String, Value>, files: &[(String, PathBuf)]) -> Result<Self, String> {
        let saved: BTreeMap<String, FilePosition> = match saved.get(FILES_KEY) {
            None => BTreeMap::new(),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| format!("its files: {e}"))?,
        };
        let resumes = files.iter().any(|(key, path)| would_resume(saved.get(key), path));
        Ok(Self { saved, resumes, streams: Mutex::new(Vec::new()) })
    }

    /// Registers `file` as input stream `stream` and says where to start reading it: after the saved
    /// position when the file is the same one, grown or not; from the start when it was replaced or
    /// truncated.
    pub(crate) fn open_stream(
        &self,
        stream: u32,
        key: &str,
        path: &Path,
        file: &mut File,
    ) -> std::io::Result<ResumeAt> {
        let key = key.to_string();
        let start = match self.saved.get(&key) {
            Some(saved) if same_file(file, saved)? => {
                let lines = match saved.lines {
                    Some(lines) => lines,
                    None => count_line_ends(file, saved.offset)?,
                };
                ResumeAt { offset: saved.offset, records: saved.records, lines }
            }
            Some(_) => {
                tracing::warn!(file = %key, "the file changed since its checkpoint (replaced or truncated); reading it from the start");
                ResumeAt::default()
            }
            None => ResumeAt::default(),
        };
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let i = stream as usize;
        if streams.len() <= i {
            streams.resize_with(i + 1, || None);
        }
        streams[i] = Some(OpenFile { key, path: path.to_path_buf(), start });
        Ok(start)
    }
}

impl Resumable for FilePositions {
    fn resumes(&self) -> bool {
        self.resumes
    }

    /// Saved positions of files not opened (yet) in this run, and for each opened one, its start plus
    /// what was acknowledged since.
    fn position(&self, acknowledged: &Acknowledged) -> Map<String, Value> {
        let mut files = self.saved.clone();
        let streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        for (i, s) in streams.iter().enumerate() {
            let Some(s) = s else { continue };
            let (count, end) = acknowledged.stream(i);
            let (offset, lines) = if count == 0 { (s.start.offset, s.start.lines) } else { (end.offset, end.lines) };
            let records = s.start.records + count;
            if offset == 0 && records == 0 {
                // Nothing read from it yet (or it was replaced): no position to keep.
                files.remove(&s.key);
                continue;
            }
            if offset == s.start.offset && records == s.start.records && files.contains_key(&s.key) {
                continue;
            }
            match fingerprint(&s.path, offset) {
                Ok((head, tail)) => {
                    let lines = Some(lines);
                    files.insert(s.key.clone(), FilePosition { offset, records, lines, head, tail });
                }
                // Gone or unreadable now: keep what was saved before rather than guess.
                Err(e) => tracing::warn!(file = %s.key, error = %e, "cannot fingerprint the file for its checkpoint"),
            }
        }
        let mut fields = Map::new();
        fields.insert(FILES_KEY.into(), serde_json::to_value(files).unwrap_or(Value::Null));
        fields
    }
}

/// True when the file at `path` would be read on from `saved` rather than from its start: part of it
/// was read by an earlier run and it is the same file, grown or not.
fn would_resume(saved: Option<&FilePosition>, path: &Path) -> bool {
    let Some(saved) = saved else { return false };
    (saved.offset > 0 || saved.records > 0)
        && File::open(path).and_then(|mut file| same_file(&mut file, saved)).unwrap_or(false)
}

fn same_file(file: &mut File, saved: &FilePosition) -> std::io::Result<bool> {
    let len = file.metadata()?.len();
    if len < saved.offset {
        return Ok(false);
    }
    let (head, tail) = fingerprint_open(file, saved.offset)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(head == saved.head && tail == saved.tail)
}

/// Line ends in the first `len` bytes of `file` (for checkpoints saved before they recorded it).
fn count_line_ends(file: &mut File, len: u64) -> std::io::Result<u64> {
    file.seek(SeekFrom::Start(0))?;
    let (mut lines, mut left, mut buf) = (0u64, len, vec![0u8; 1 << 16]);
    while left > 0 {
        let n = file.read(&mut buf[..left.min(1 << 16) as usize])?;
        if n == 0 {
            break;
        }
        lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        left -= n as u64;
    }
    file.seek(SeekFrom::Start(0))?;
    Ok(lines)
}

#[cfg(test)]
mod tests;
