//! `file` sink: writes NDJSON, a JSON array, or CSV to a file. With a checkpointed source, the file's
//! length is committed with each checkpoint and a restarted run cuts it back to that length (see
//! `kernel::checkpoint::outputs`): every record lands in the file exactly once. Without one (a sink fed
//! by several sources), it appends after a line boundary (`tail`). What a run keeps of an earlier run's
//! file is decided in `resume`.

mod resume;
mod tail;

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{RecordRejection, Sink, SinkContext, SinkError};
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::checkpoint::{BatchInputs, Checkpoints};
use crate::kernel::record::Record;
use crate::sources::file::FileFormat;

/// Whether an existing file is replaced or extended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WriteMode {
    /// Replace the file's contents at the start of each run.
    #[default]
    Truncate,
    /// Add to the end of the file (NDJSON and CSV only).
    Append,
}

/// Writes records to a file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileSinkConfig {
    /// Output file, relative to the pipeline's folder; its folder is created if missing. `${env:…}` is
    /// handy here: `"${env:WEIR_OUT:-out}/items.ndjson"`.
    pub(crate) path: String,
    /// Format: `ndjson` (default), `json` (one array), or `csv`. `weir validate` warns when it
    /// contradicts the path's extension (e.g. NDJSON written to `out.csv`).
    #[serde(default)]
    pub(crate) format: FileFormat,
    /// CSV columns, in order (default: the first record's fields, in their order); `format: csv` only.
    #[serde(default)]
    pub(crate) columns: Option<Vec<String>>,
    /// `truncate` (default) or `append` (`append` works with `ndjson` and `csv`, not `json`). A
    /// `truncate` sink appends when the source resumes from a checkpoint (an input file is read on from
    /// where an earlier run stopped) or dead letters are replayed: what earlier runs delivered stays;
    /// when the inputs were replaced and are read from their start, it rewrites the file.
    #[serde(default)]
    pub(crate) mode: WriteMode,
}

/// Built `file` sink.
#[derive(Debug)]
pub(crate) struct FileSink {
    path: PathBuf,
    format: FileFormat,
    columns: Option<Vec<String>>,
    mode: WriteMode,
    writer: Option<BufWriter<File>>,
    written: u64,
    header_written: bool,
    line: Vec<u8>,
    /// Bytes in the file: what it kept when opened, and what this run wrote (a JSON array's closing
    /// bracket excluded).
    len: u64,
    /// The source's checkpoints, which commit the file's length (see [`Sink::commit_with`]).
    commits: Option<Arc<Checkpoints>>,
    /// The sink's id.
    id: String,
    /// The run resumes where an earlier one stopped (set by `open`).
    resumed: bool,
}

impl FileSinkConfig {
    /// Resolves the path.
    pub(crate) fn build(&self, ctx: &BuildContext) -> Result<FileSink, BuildErrors> {
        let mut errors = BuildErrors::default();
        if self.mode == WriteMode::Append && self.format == FileFormat::Json {
            errors.push(&["mode"], "bad-value", "`append` cannot extend a JSON array; use `ndjson`", None);
        }
        if self.columns.is_some() && self.format != FileFormat::Csv {
            errors.push(&["columns"], "bad-value", "`columns` applies to `format: csv` only", None);
        }
        errors.finish(|| {
            Some(FileSink {
                path: ctx.base_dir.join(&self.path),
                format: self.format,
                columns: self.columns.clone(),
                mode: self.mode,
                writer: None,
                written: 0,
                header_written: false,
                line: Vec::with_capacity(4096),
                len: 0,
                commits: None,
                id: String::new(),
                resumed: false,
            })
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
            if self.mode == WriteMode::Append {
                self.end_on_a_line()?;
            }
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
    /// Appends the record's compact JSON text (made by the source when it could, see
    /// [`Sink::takes_encoded_json`]).
    fn push_json(&mut self, record: &Record) -> Result<(), String> {
        match &record.encoded {
            Some(text) => {
                self.line.extend_from_slice(text);
                Ok(())
            }
            None => serde_json::to_writer(&mut self.line, &record.value).map_err(|e| e.to_string()),
        }
    }

    fn encode(&mut self, record: &Record) -> Result<(), String> {
        self.line.clear();
        match self.format {
            FileFormat::Ndjson => {
                self.push_json(record)?;
                self.line.push(b'\n');
            }
            FileFormat::Json => {
                if self.written > 0 {
                    self.line.push(b',');
                }
                self.line.push(b'\n');
                self.push_json(record)?;
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

    fn commit_with(&mut self, checkpoints: &Arc<Checkpoints>) -> bool {
        self.commits = Some(Arc::clone(checkpoints));
        true
    }

    fn open(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
        self.id = ctx.sink.clone();
        match self.commits.clone() {
            Some(commits) => self.open_committed(ctx, &commits),
            None => self.open_uncommitted(ctx),
        }
    }

    fn write(&mut self, batch: &[Record]) -> Result<Vec<RecordRejection>, SinkError> {
        self.open()?;
        let mut rejected = Vec::new();
        let mut inputs = BatchInputs::default();
        for (i, record) in batch.iter().enumerate() {
            match self.encode(record) {
                Ok(()) => {
                    let line = std::mem::take(&mut self.line);
                    let written = self.open()?.write_all(&line);
                    self.len += line.len() as u64;
                    self.line = line;
                    written.map_err(|e| SinkError::io(self.path.display(), e))?;
                    self.written += 1;
                    if self.commits.is_some() {
                        inputs.add(record);
                    }
                }
                Err(e) => rejected.push((i, e)),
            }
        }
        let path = self.path.display().to_string();
        self.open()?.flush().map_err(|e| SinkError::io(path, e))?;
        crate::fault::point("file_batch_written");
        // Recorded before the records are acknowledged: a checkpoint covering them also covers these bytes.
        if let Some(commits) = &self.commits {
            commits.wrote(&self.id, inputs, self.len);
        }
        Ok(rejected)
    }

    fn takes_encoded_json(&self) -> bool {
        matches!(self.format, FileFormat::Ndjson | FileFormat::Json)
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
        if let Some(commits) = &self.commits {
            commits.close_output(&self.id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
