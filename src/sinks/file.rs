//! `file` sink: writes NDJSON, a JSON array, or CSV to a file.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{RecordRejection, Sink, SinkContext, SinkError};
use crate::build::{BuildContext, BuildErrors};
use crate::record::Record;
use crate::sources::file::FileFormat;

/// Whether an existing file is replaced or extended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// Replace the file's contents at the start of each run.
    #[default]
    Truncate,
    /// Add to the end of the file (NDJSON and CSV only).
    Append,
}

/// Writes records to a file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// Output file, relative to the pipeline's folder; its folder is created if missing.
    pub path: String,
    /// Format: `ndjson` (default), `json` (one array), or `csv`.
    #[serde(default)]
    pub format: FileFormat,
    /// CSV columns, in order (default: the keys of the first record, in their order).
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// `truncate` (default) or `append`.
    #[serde(default)]
    pub mode: WriteMode,
}

/// Built `file` sink.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    format: FileFormat,
    columns: Option<Vec<String>>,
    mode: WriteMode,
    writer: Option<BufWriter<File>>,
    written: u64,
    header_written: bool,
    line: Vec<u8>,
}

impl FileSinkConfig {
    /// Resolves the path.
    pub fn build(&self, ctx: &BuildContext) -> Result<FileSink, BuildErrors> {
        let mut errors = BuildErrors::default();
        if self.mode == WriteMode::Append && self.format == FileFormat::Json {
            errors.push(&["mode"], "bad-value", "`append` cannot extend a JSON array; use `ndjson`", None);
        }
        if self.columns.is_some() && self.format != FileFormat::Csv {
            errors.push(&["columns"], "bad-value", "`columns` applies to `format: csv` only", None);
        }
        errors.finish(|| FileSink {
            path: ctx.base_dir.join(&self.path),
            format: self.format,
            columns: self.columns.clone(),
            mode: self.mode,
            writer: None,
            written: 0,
            header_written: false,
            line: Vec::with_capacity(4096),
        })
    }
}

fn csv_cell(v: &Value) -> Result<String, String> {
    Ok(match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(_) | Value::Number(_) => v.to_string(),
        Value::Array(_) | Value::Object(_) => return Err("holds a list or object; CSV cells hold scalars".into()),
    })
}

impl FileSink {
    fn open(&mut self) -> Result<&mut BufWriter<File>, SinkError> {
        if self.writer.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| SinkError::io(format!("creating `{}`", dir.display()), e))?;
            }
            let mut options = OpenOptions::new();
            options.create(true);
            match self.mode {
                WriteMode::Truncate => options.write(true).truncate(true),
                WriteMode::Append => options.append(true),
            };
            let file =
                options.open(&self.path).map_err(|e| SinkError::io(format!("opening `{}`", self.path.display()), e))?;
            self.header_written =
                self.mode == WriteMode::Append && file.metadata().map(|m| m.len() > 0).unwrap_or(false);
            let mut writer = BufWriter::with_capacity(1 << 20, file);
            if self.format == FileFormat::Json {
                writer.write_all(b"[").map_err(|e| SinkError::io(self.path.display(), e))?;
            }
            self.writer = Some(writer);
        }
        self.writer.as_mut().ok_or_else(|| SinkError { message: "file sink not open".into(), retryable: false })
    }

    /// Serializes one record into `self.line`.
    fn encode(&mut self, record: &Record) -> Result<(), String> {
        self.line.clear();
        match self.format {
            FileFormat::Ndjson => {
                serde_json::to_writer(&mut self.line, &record.value).map_err(|e| e.to_string())?;
                self.line.push(b'\n');
            }
            FileFormat::Json => {
                if self.written > 0 {
                    self.line.push(b',');
                }
                self.line.push(b'\n');
                serde_json::to_writer(&mut self.line, &record.value).map_err(|e| e.to_string())?;
            }
            FileFormat::Csv => {
                let Value::Object(obj) = &record.value else {
                    return Err("CSV output needs object records".into());
                };
                let columns = self.columns.get_or_insert_with(|| obj.keys().cloned().collect());
                let mut cells = Vec::with_capacity(columns.len());
                for c in columns.iter() {
                    let cell = obj.get(c).map(csv_cell).transpose().map_err(|e| format!("field `{c}` {e}"))?;
                    cells.push(cell.unwrap_or_default());
                }
                let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
                if !self.header_written {
                    w.write_record(columns.iter()).map_err(|e| e.to_string())?;
                    self.header_written = true;
                }
                w.write_record(&cells).map_err(|e| e.to_string())?;
                self.line = w.into_inner().map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }
}

impl Sink for FileSink {
    fn target(&self) -> String {
        self.path.display().to_string()
    }

    fn open(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        // What earlier runs delivered is already in the file: truncating it would lose it.
        if ctx.resumed && self.mode == WriteMode::Truncate {
            if self.format == FileFormat::Json {
                return Err(SinkError {
                    message: format!(
                        "the source resumes from a checkpoint, and `{}` holds a JSON array that cannot be \
                         extended; use `format: ndjson`, or re-read everything with `weir run --from-start`",
                        self.path.display()
                    ),
                    retryable: false,
                });
            }
            self.mode = WriteMode::Append;
        }
        Ok(())
    }

    fn write(&mut self, batch: &[Record]) -> Result<Vec<RecordRejection>, SinkError> {
        self.open()?;
        let mut rejected = Vec::new();
        for (i, record) in batch.iter().enumerate() {
            match self.encode(record) {
                Ok(()) => {
                    let line = std::mem::take(&mut self.line);
                    let written = self.open()?.write_all(&line);
                    self.line = line;
                    written.map_err(|e| SinkError::io(self.path.display(), e))?;
                    self.written += 1;
                }
                Err(e) => rejected.push((i, e)),
            }
        }
        let path = self.path.display().to_string();
        self.open()?.flush().map_err(|e| SinkError::io(path, e))?;
        Ok(rejected)
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        let path = self.path.display().to_string();
        let format = self.format;
        let writer = self.open()?;
        if format == FileFormat::Json {
            writer.write_all(b"\n]\n").map_err(|e| SinkError::io(&path, e))?;
        }
        writer.flush().map_err(|e| SinkError::io(&path, e))?;
        // Only regular files can be synced (pipes, /dev/null and other devices refuse).
        let file = writer.get_ref();
        if file.metadata().is_ok_and(|m| m.is_file()) {
            file.sync_data().map_err(|e| SinkError::io(&path, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::testing::context;
    use serde_json::json;

    fn sink(dir: &std::path::Path, format: FileFormat) -> FileSink {
        let mut ctx = context();
        ctx.base_dir = dir.to_path_buf();
        FileSinkConfig { path: "out/x".into(), format, columns: None, mode: WriteMode::Truncate }
            .build(&ctx)
            .expect("builds")
    }

    #[test]
    fn writes_each_format() {
        let dir = tempfile::tempdir().expect("tempdir");
        let records = vec![Record::new(json!({"a": 1, "b": "x,y"})), Record::new(json!({"a": 2, "b": null}))];
        for (format, expected) in [
            (FileFormat::Ndjson, "{\"a\":1,\"b\":\"x,y\"}\n{\"a\":2,\"b\":null}\n"),
            (FileFormat::Json, "[\n{\"a\":1,\"b\":\"x,y\"},\n{\"a\":2,\"b\":null}\n]\n"),
            (FileFormat::Csv, "a,b\n1,\"x,y\"\n2,\n"),
        ] {
            let mut s = sink(dir.path(), format);
            assert!(s.write(&records).expect("writes").is_empty());
            s.finish().expect("finishes");
            assert_eq!(std::fs::read_to_string(dir.path().join("out/x")).expect("read"), expected, "{format:?}");
        }
    }

    #[test]
    fn csv_rejects_nested_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = sink(dir.path(), FileFormat::Csv);
        let rejected = s.write(&[Record::new(json!({"a": [1]}))]).expect("writes");
        assert_eq!(rejected.len(), 1);
        assert!(rejected[0].1.contains("field `a`"));
    }

    #[test]
    fn empty_json_output_is_an_empty_array() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = sink(dir.path(), FileFormat::Json);
        s.finish().expect("finishes");
        let text = std::fs::read_to_string(dir.path().join("out/x")).expect("read");
        assert_eq!(serde_json::from_str::<Value>(&text).expect("json"), json!([]));
    }
}
