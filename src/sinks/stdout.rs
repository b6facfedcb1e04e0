//! `stdout` sink: prints records, one JSON document per line or pretty-printed.

use std::io::Write;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{RecordRejection, Sink, SinkError};
use crate::config::secrets;
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::record::Record;

/// How records are printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StdoutFormat {
    /// One JSON document per line.
    #[default]
    Ndjson,
    /// Indented JSON.
    Pretty,
}

/// Prints records to standard output.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StdoutSinkConfig {
    /// `ndjson` (default) or `pretty`.
    #[serde(default)]
    pub(crate) format: StdoutFormat,
}

/// Built `stdout` sink.
#[derive(Debug)]
pub(crate) struct StdoutSink {
    format: StdoutFormat,
}

impl StdoutSinkConfig {
    /// Nothing to compile.
    pub(crate) fn build(&self, _ctx: &BuildContext) -> Result<StdoutSink, BuildErrors> {
        Ok(StdoutSink { format: self.format })
    }
}

pub(crate) use crate::stdout::stdout_closed;

/// The sink error for a failed write to standard output; a closed pipe is remembered.
pub(super) fn stdout_error(e: std::io::Error) -> SinkError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        crate::stdout::remember_closed();
        return SinkError { message: "standard output was closed".into(), retryable: false };
    }
    SinkError::io("stdout", e)
}

/// Renders a record for printing, with secrets masked.
pub(crate) fn render(record: &Record, pretty: bool) -> String {
    let text = if pretty { serde_json::to_string_pretty(&record.value) } else { serde_json::to_string(&record.value) };
    let text = text.unwrap_or_else(|e| format!("<unprintable: {e}>"));
    if secrets::any() { secrets::redact(&text) } else { text }
}

impl Sink for StdoutSink {
    fn target(&self) -> String {
        "stdout".into()
    }

    fn write(&mut self, batch: &[Record]) -> Result<Vec<RecordRejection>, SinkError> {
        let mut out = std::io::stdout().lock();
        for record in batch {
            writeln!(out, "{}", render(record, self.format == StdoutFormat::Pretty)).map_err(stdout_error)?;
        }
        out.flush().map_err(stdout_error)?;
        Ok(Vec::new())
    }
}
