//! The stand-in for every sink under `weir run --dry-run`: prints what the sink would have sent (its
//! [`Sink::describe`], e.g. the `http` sink's requests) or else the records it would have received,
//! prefixed with its id, secrets masked, and writes nothing.

use std::io::Write;

use super::stdout::{render, stdout_error};
use super::{RecordRejection, Sink, SinkError};
use crate::config::secrets;
use crate::kernel::record::Record;

/// Prints records instead of delivering them.
pub(crate) struct DryRunSink {
    id: String,
    /// The sink stood in for: never opened, only asked to describe.
    sink: Box<dyn Sink>,
}

impl DryRunSink {
    /// Stands in for `sink`, whose id is `id`.
    pub(crate) fn new(id: &str, sink: Box<dyn Sink>) -> Self {
        Self { id: id.to_string(), sink }
    }
}

impl Sink for DryRunSink {
    fn write(&mut self, batch: &[Record]) -> Result<Vec<RecordRejection>, SinkError> {
        let described = self.sink.describe(batch);
        let mut out = std::io::stdout().lock();
        match described {
            Some(lines) => {
                for line in lines {
                    writeln!(out, "[{}] {}", self.id, secrets::redact(&line)).map_err(stdout_error)?;
                }
            }
            None => {
                for record in batch {
                    writeln!(out, "[{}] {}", self.id, render(record, false)).map_err(stdout_error)?;
                }
            }
        }
        out.flush().map_err(stdout_error)?;
        Ok(Vec::new())
    }
}
