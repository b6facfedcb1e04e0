//! `file` source: reads NDJSON, a JSON array, or CSV with a header row, from one file or every file a
//! glob matches (in sorted order). Lines that do not parse are dead-lettered and reading goes on.

mod emitter;
mod formats;
mod json_array;
mod lines;
mod ndjson;

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{SourceContext, SourceError};
use crate::build::{BuildContext, BuildErrors};
use crate::runtime::ack::InputPosition;
use crate::runtime::checkpoint::ResumeAt;
use crate::runtime::fused::Chain;
use crate::runtime::projection::Projection;
use emitter::Emitter;

/// Record formats of files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// One JSON value per line.
    #[default]
    Ndjson,
    /// One JSON array of values (read as a stream, element by element).
    Json,
    /// CSV with a header row; each row becomes an object of strings.
    Csv,
}

/// Reads records from files.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// File path or glob (`data/*.ndjson`), relative to the pipeline's folder.
    pub path: String,
    /// Record format: `ndjson` (default), `json` (an array), or `csv`.
    #[serde(default)]
    pub format: FileFormat,
    /// CSV field delimiter (one character).
    #[serde(default)]
    pub delimiter: Option<char>,
    /// Read every file whole on every run instead of resuming where the last run stopped (for
    /// snapshots that are replaced each time, e.g. a full stock export read by a reconciliation).
    #[serde(default)]
    pub ignore_checkpoints: bool,
}

/// Built `file` source.
#[derive(Debug)]
pub struct FileSource {
    pattern: String,
    format: FileFormat,
    delimiter: u8,
    /// Resume from checkpoints (`ignore_checkpoints: false`).
    pub checkpointed: bool,
    /// The pipeline's folder.
    base_dir: PathBuf,
}

impl FileSourceConfig {
    /// Resolves the path against the pipeline's folder and checks the glob.
    pub fn build(&self, ctx: &BuildContext) -> Result<FileSource, BuildErrors> {
        let mut errors = BuildErrors::default();
        let full = if std::path::Path::new(&self.path).is_absolute() {
            self.path.clone()
        } else {
            ctx.base_dir.join(&self.path).to_string_lossy().into_owned()
        };
        if let Err(e) = glob::Pattern::new(&full) {
            errors.push(&["path"], "bad-glob", format!("invalid glob `{}`: {e}", self.path), None);
        }
        let delimiter = match self.delimiter {
            None => b',',
            Some(c) if c.is_ascii() => c as u8,
            Some(c) => {
                errors.push(
                    &["delimiter"],
                    "bad-value",
                    format!("delimiter `{c}` is not a single-byte character"),
                    None,
                );
                b','
            }
        };
        errors.finish(|| FileSource {
            pattern: full,
            format: self.format,
            delimiter,
            checkpointed: !self.ignore_checkpoints,
            base_dir: ctx.base_dir.clone(),
        })
    }
}

/// One input read from a file.
#[derive(Debug)]
pub struct Input {
    /// Which file (its index among the files the pattern matches) and which record of it.
    pub position: InputPosition,
    /// The value, or why it did not parse and its raw text.
    pub parsed: Result<Value, (String, Value)>,
    /// The input's text, when only part of it was built (see `runtime::projection`).
    pub original: Option<Bytes>,
    /// Where the input ends in its file (a byte offset; 0 for JSON arrays), for checkpoints.
    pub end: u64,
}

impl FileSource {
    /// A file's name in checkpoints: relative to the pipeline's folder, so that moving the client
    /// folder or running from another directory keeps its position.
    fn checkpoint_key(&self, path: &Path) -> String {
        path.strip_prefix(&self.base_dir).unwrap_or(path).display().to_string()
    }

    /// The files the pattern matches now, sorted.
    pub fn files(&self) -> Result<Vec<PathBuf>, SourceError> {
        let err = |message: String| SourceError::Read { message, retryable: false };
        let mut files: Vec<PathBuf> = glob::glob(&self.pattern)
            .map_err(|e| err(format!("invalid glob `{}`: {e}", self.pattern)))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(SourceError::Read { message: format!("no file matches `{}`", self.pattern), retryable: true });
        }
        Ok(files)
    }

    /// Reads every file, blocking; call from a blocking thread. `chain` holds the steps the source runs
    /// itself (`runtime::fused`).
    pub fn run_blocking(&self, ctx: &SourceContext, chain: Chain) -> Result<(), SourceError> {
        let mut emitter = Emitter::new(ctx, chain);
        for (stream, path) in self.files()?.into_iter().enumerate() {
            if emitter.should_stop() {
                break;
            }
            let stream = u32::try_from(stream).unwrap_or(u32::MAX);
            let mut file = File::open(&path).map_err(|e| read_error(&path, e))?;
            let resume = match &ctx.checkpoints {
                Some(c) => c
                    .open_stream(stream, &self.checkpoint_key(&path), &path, &mut file)
                    .map_err(|e| read_error(&path, e))?,
                None => ResumeAt::default(),
            };
            let go_on = match self.format {
                FileFormat::Ndjson => {
                    file.seek(SeekFrom::Start(resume.offset)).map_err(|e| read_error(&path, e))?;
                    ndjson::read_ndjson(&path, stream, resume, &mut emitter, file).map_err(|e| read_error(&path, e))?;
                    true
                }
                _ => self.read_file(&path, file, resume, stream, None, &mut |input| emitter.push(input))?,
            };
            if !go_on {
                break;
            }
        }
        emitter.send();
        Ok(())
    }

    /// Reads every file the pattern matches, in order, handing each input to `visit` until it returns
    /// false. Blocking. Used by the source and by steps that read a keyed set themselves (`reconcile`).
    pub fn read(&self, visit: &mut dyn FnMut(Input) -> bool) -> Result<(), SourceError> {
        for (stream, path) in self.files()?.into_iter().enumerate() {
            let stream = u32::try_from(stream).unwrap_or(u32::MAX);
            let file = File::open(&path).map_err(|e| read_error(&path, e))?;
            if !self.read_file(&path, file, ResumeAt::default(), stream, None, visit)? {
                break;
            }
        }
        Ok(())
    }

    /// Reads one file (input number `stream` of the pattern) from `resume` on; false when `visit` asked
    /// to stop. `projection`: build only these fields of NDJSON records, keeping the line as the
    /// original.
    fn read_file(
        &self,
        path: &Path,
        mut file: File,
        resume: ResumeAt,
        stream: u32,
        projection: Option<&Projection>,
        visit: &mut dyn FnMut(Input) -> bool,
    ) -> Result<bool, SourceError> {
        let io = |e: std::io::Error| read_error(path, e);
        match self.format {
            FileFormat::Ndjson => {
                file.seek(SeekFrom::Start(resume.offset)).map_err(io)?;
                let mut go_on = true;
                lines::for_each_ndjson_line(file, stream, resume, |line| {
                    go_on = visit(lines::parse_line(projection, path, line));
                    go_on
                })
                .map_err(io)?;
                Ok(go_on)
            }
            FileFormat::Json => json_array::read_json_array(path, stream, resume.records, visit, file),
            FileFormat::Csv => formats::read_csv(path, file, self.delimiter, resume, stream, visit),
        }
    }
}

pub(super) fn read_error(path: &Path, e: std::io::Error) -> SourceError {
    SourceError::Read { message: format!("reading `{}`: {e}", path.display()), retryable: true }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::testing::context;
    use serde_json::json;

    fn source(dir: &Path, name: &str, text: &str, format: &str) -> FileSource {
        std::fs::write(dir.join(name), text).expect("write input");
        let cfg: FileSourceConfig =
            serde_json::from_value(json!({"path": dir.join(name).display().to_string(), "format": format}))
                .expect("valid config");
        cfg.build(&context()).expect("builds")
    }

    /// Every parsed value `read` hands out, stopping after `stop_after` when given.
    fn read_values(s: &FileSource, stop_after: Option<usize>) -> Result<Vec<Value>, SourceError> {
        let mut values = Vec::new();
        s.read(&mut |input| {
            values.push(input.parsed.unwrap_or_else(|(e, _)| json!({ "error": e })));
            stop_after.is_none_or(|n| values.len() < n)
        })?;
        Ok(values)
    }

    #[test]
    fn read_hands_out_every_format_and_bad_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let nd = source(dir.path(), "a.ndjson", "{\"a\":1}\n\n{oops\n{\"a\":2}", "ndjson");
        let values = read_values(&nd, None).expect("reads");
        assert_eq!(values.len(), 3);
        assert_eq!((&values[0], &values[2]), (&json!({"a": 1}), &json!({"a": 2})));
        assert!(values[1]["error"].as_str().is_some_and(|e| e.contains("a.ndjson:3: invalid JSON")), "{values:?}");
        let csv = source(dir.path(), "a.csv", "sku,qty\nA,1\nB,2\n", "csv");
        assert_eq!(
            read_values(&csv, None).expect("reads"),
            vec![json!({"sku": "A", "qty": "1"}), json!({"sku": "B", "qty": "2"})]
        );
    }

    #[test]
    fn stopping_inside_a_json_array_is_not_an_error() {
        // `weir run --limit 1` on a JSON array used to fail with serde_json's "trailing characters".
        let dir = tempfile::tempdir().expect("tempdir");
        let s = source(dir.path(), "a.json", "[{\"a\":1},{\"a\":2},{\"a\":3}]", "json");
        assert_eq!(read_values(&s, Some(1)).expect("stopping early is fine"), vec![json!({"a": 1})]);
        assert_eq!(read_values(&s, None).expect("reads").len(), 3);
        let broken = source(dir.path(), "b.json", "[{\"a\":1},", "json");
        assert!(read_values(&broken, None).is_err(), "a truncated document is still an error");
    }
}
