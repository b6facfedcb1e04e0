//! `file` source: reads NDJSON, a JSON array, or CSV with a header row, from one file or every file a
//! glob matches (in sorted order). Lines that do not parse are dead-lettered and reading goes on.

pub(crate) mod csv_text;
mod formats;
mod json_array;
mod lines;
mod ndjson;
mod position;

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::emit::Emitter;
pub(crate) use super::emit::Input;
use super::{Source, SourceContext, SourceError, SourceRun};
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::checkpoint::Resumable;
use crate::kernel::fused::Chain;
use crate::kernel::projection::Projection;
pub(crate) use position::{FilePositions, ResumeAt};

/// Record formats of files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FileFormat {
    /// One JSON value per line.
    #[default]
    Ndjson,
    /// One JSON array of values (read as a stream, element by element).
    Json,
    /// CSV with a header row; each row becomes an object of strings.
    Csv,
}

impl FileFormat {
    /// The format a path's extension names: `.csv`, `.ndjson`/`.jsonl`, `.json` (any case); `None` for
    /// any other (or no) extension.
    pub(crate) fn from_extension(path: &str) -> Option<FileFormat> {
        let ext = Path::new(path).extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(FileFormat::Csv),
            "ndjson" | "jsonl" => Some(FileFormat::Ndjson),
            "json" => Some(FileFormat::Json),
            _ => None,
        }
    }

    /// The name written in config files.
    pub(crate) fn name(self) -> &'static str {
        match self {
            FileFormat::Ndjson => "ndjson",
            FileFormat::Json => "json",
            FileFormat::Csv => "csv",
        }
    }
}

/// Reads records from files.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileSourceConfig {
    /// File path or glob (`data/*.ndjson`, `exports/**/stock-*.csv`), relative to the pipeline's folder.
    pub(crate) path: String,
    /// Record format: `ndjson`, `json` (an array), or `csv` (default: from the extension: `.csv` →
    /// `csv`, `.json` → `json`, `.ndjson`/`.jsonl` → `ndjson`; else `ndjson`). `weir validate` (and
    /// `weir run`) warn when a declared format contradicts the extension.
    #[serde(default)]
    pub(crate) format: Option<FileFormat>,
    /// CSV field delimiter, one ASCII character, e.g. `";"` or `"\t"` (default: `,`).
    #[serde(default)]
    pub(crate) delimiter: Option<char>,
    /// Read every file whole on every run instead of resuming where the last run stopped (for
    /// snapshots that are replaced each time, e.g. a full stock export read by a reconciliation).
    #[serde(default)]
    pub(crate) ignore_checkpoints: bool,
}

impl FileSourceConfig {
    /// The format read: the declared one, else the one the path's extension names, else NDJSON.
    pub(crate) fn effective_format(&self) -> FileFormat {
        self.format.or_else(|| FileFormat::from_extension(&self.path)).unwrap_or_default()
    }
}

/// Built `file` source.
#[derive(Debug)]
pub(crate) struct FileSource {
    pattern: String,
    format: FileFormat,
    delimiter: u8,
    /// Resume from checkpoints (`ignore_checkpoints: false`).
    pub(crate) checkpointed: bool,
    /// The pipeline's folder.
    base_dir: PathBuf,
    /// The files' positions, when the run keeps them ([`Source::restore`]).
    positions: Option<Arc<FilePositions>>,
}

impl FileSourceConfig {
    /// Resolves the path against the pipeline's folder and checks the glob.
    pub(crate) fn build(&self, ctx: &BuildContext) -> Result<FileSource, BuildErrors> {
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
        errors.finish(|| {
            Some(FileSource {
                pattern: full,
                format: self.effective_format(),
                delimiter,
                checkpointed: !self.ignore_checkpoints,
                base_dir: ctx.base_dir.clone(),
                positions: None,
            })
        })
    }
}

impl Source for FileSource {
    fn checkpointed(&self) -> bool {
        self.checkpointed
    }

    fn restore(&mut self, saved: &serde_json::Map<String, Value>) -> Result<Option<Arc<dyn Resumable>>, String> {
        // The files matched now, to tell whether one is read on from a saved position; none matching
        // is the run's error to report, not the checkpoint's.
        let files: Vec<(String, PathBuf)> =
            self.files().unwrap_or_default().into_iter().map(|p| (self.checkpoint_key(&p), p)).collect();
        let positions = Arc::new(FilePositions::restore(saved, &files)?);
        self.positions = Some(Arc::clone(&positions));
        Ok(Some(positions))
    }

    fn run(self: Box<Self>, ctx: SourceContext, chain: Chain) -> SourceRun {
        SourceRun::Blocking(Box::new(move || self.run_blocking(&ctx, chain)))
    }
}

impl FileSource {
    /// A file's name in checkpoints: relative to the pipeline's folder, so that moving the client
    /// folder or running from another directory keeps its position.
    fn checkpoint_key(&self, path: &Path) -> String {
        path.strip_prefix(&self.base_dir).unwrap_or(path).display().to_string()
    }

    /// The files the pattern matches now, sorted.
    pub(crate) fn files(&self) -> Result<Vec<PathBuf>, SourceError> {
        let err = |message: String| SourceError::Read { message, retryable: false };
        let mut files: Vec<PathBuf> = glob::glob(&self.pattern)
            .map_err(|e| err(format!("invalid glob `{}`: {e}", self.pattern)))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            let pattern = crate::config::paths::shown(Path::new(&self.pattern));
            return Err(SourceError::Read { message: format!("no file matches {pattern}"), retryable: true });
        }
        Ok(files)
    }

    /// Reads every file, blocking; call from a blocking thread. `chain` holds the steps the source runs
    /// itself (`kernel::fused`). When a checkpoint keeps the position, a last line or row without a
    /// line end is held back (see [`FileSource::read_file`]); the count shows in the run summary.
    pub(crate) fn run_blocking(&self, ctx: &SourceContext, chain: Chain) -> Result<(), SourceError> {
        let mut emitter = Emitter::new(ctx, chain);
        let hold_back = self.positions.is_some();
        let mut held_back = 0;
        for (stream, path) in self.files()?.into_iter().enumerate() {
            if emitter.should_stop() {
                break;
            }
            let stream = u32::try_from(stream).unwrap_or(u32::MAX);
            let mut file = File::open(&path).map_err(|e| read_error(&path, e))?;
            refuse_utf16(&path, &mut file)?;
            let resume = match &self.positions {
                Some(c) => c
                    .open_stream(stream, &self.checkpoint_key(&path), &path, &mut file)
                    .map_err(|e| read_error(&path, e))?,
                None => ResumeAt::default(),
            };
            let (go_on, held) = match self.format {
                FileFormat::Ndjson => {
                    file.seek(SeekFrom::Start(resume.offset)).map_err(|e| read_error(&path, e))?;
                    let held = ndjson::read_ndjson(&path, stream, resume, hold_back, &mut emitter, file)
                        .map_err(|e| read_error(&path, e))?;
                    (true, held)
                }
                FileFormat::Csv => {
                    match formats::read_csv(&path, file, self.delimiter, resume, stream, hold_back, &mut |input| {
                        emitter.push(input)
                    })? {
                        formats::CsvEnd::Done => (true, None),
                        formats::CsvEnd::Stopped => (false, None),
                        formats::CsvEnd::Held(n) => (true, Some(n)),
                    }
                }
                FileFormat::Json => {
                    (self.read_file(&path, file, resume, stream, None, &mut |input| emitter.push(input))?, None)
                }
            };
            if let Some(bytes) = held {
                held_back += 1;
                tracing::warn!(
                    file = %self.checkpoint_key(&path),
                    bytes,
                    "the last line has no line end yet (a writer may not have finished it): it is held back \
                     and read once its line end is written; end the file with a newline"
                );
            }
            if !go_on {
                break;
            }
        }
        emitter.send();
        if held_back > 0 {
            ctx.counters.set_report(crate::kernel::stats::StepReport(vec![("held_back_unterminated", held_back)]));
        }
        Ok(())
    }

    /// Reads every file the pattern matches, in order, handing each input to `visit` until it returns
    /// false. Blocking. Used by the source and by steps that read a keyed set themselves (`reconcile`).
    pub(crate) fn read(&self, visit: &mut dyn FnMut(Input) -> bool) -> Result<(), SourceError> {
        for (stream, path) in self.files()?.into_iter().enumerate() {
            let stream = u32::try_from(stream).unwrap_or(u32::MAX);
            let mut file = File::open(&path).map_err(|e| read_error(&path, e))?;
            refuse_utf16(&path, &mut file)?;
            if !self.read_file(&path, file, ResumeAt::default(), stream, None, visit)? {
                break;
            }
        }
        Ok(())
    }

    /// Reads one file (input number `stream` of the pattern) from `resume` on, whole (its last line
    /// too, with or without a line end: nothing resumes after this read); false when `visit` asked to
    /// stop. `projection`: build only these fields of NDJSON records, keeping the line as the
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
                lines::for_each_ndjson_line(file, stream, resume, false, |line| {
                    go_on = visit(lines::parse_line(projection, path, line));
                    go_on
                })
                .map_err(io)?;
                Ok(go_on)
            }
            FileFormat::Json => json_array::read_json_array(path, stream, resume.records, visit, file),
            FileFormat::Csv => {
                let end = formats::read_csv(path, file, self.delimiter, resume, stream, false, visit)?;
                Ok(end != formats::CsvEnd::Stopped)
            }
        }
    }
}

/// Fails on a file that looks UTF-16 (its every line would be dead-lettered as garbage), with the hint
/// to save it as UTF-8; leaves the file at its start.
fn refuse_utf16(path: &Path, file: &mut File) -> Result<(), SourceError> {
    use std::io::Read;
    let mut start = Vec::with_capacity(64);
    file.by_ref().take(64).read_to_end(&mut start).map_err(|e| read_error(path, e))?;
    file.seek(SeekFrom::Start(0)).map_err(|e| read_error(path, e))?;
    if crate::config::encoding::looks_utf16(&start) {
        let hint = crate::config::encoding::UTF16_HINT;
        return Err(SourceError::Read { message: format!("`{}`: {hint}", path.display()), retryable: false });
    }
    Ok(())
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
    fn a_repeated_csv_column_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = source(dir.path(), "dup.csv", "id,id\n1,2\n", "csv");
        let err = read_values(&s, None).expect_err("a repeated column would overwrite a value");
        assert!(err.to_string().contains("names the column `id` twice"), "{err}");
    }

    #[test]
    fn csv_error_lines_are_right_in_crlf_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = source(dir.path(), "w.csv", "id,name\r\n1,a\r\n2,b,c\r\n3,\"x\r\ny\"\r\n4,d,e\r\n", "csv");
        let errors: Vec<String> = read_values(&s, None)
            .expect("reads")
            .iter()
            .filter_map(|v| v["error"].as_str().map(str::to_string))
            .collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].ends_with("w.csv:3: row has 3 fields, the header has 2"), "{errors:?}");
        assert!(errors[1].ends_with("w.csv:6: row has 3 fields, the header has 2"), "{errors:?}");
    }

    #[test]
    fn a_utf16_data_file_gets_a_hint() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, format) in [("u.ndjson", "ndjson"), ("u.csv", "csv"), ("u.json", "json")] {
            let mut bytes = vec![0xFF, 0xFE];
            bytes.extend("{\"id\":1}\n".encode_utf16().flat_map(u16::to_le_bytes));
            let s = source(dir.path(), name, "", format);
            std::fs::write(dir.path().join(name), bytes).expect("write");
            let err = read_values(&s, None).expect_err("not read as garbage");
            assert!(err.to_string().contains("looks UTF-16; save it as UTF-8"), "{name}: {err}");
        }
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
