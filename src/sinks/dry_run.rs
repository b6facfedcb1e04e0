//! The stand-in for every sink under `weir run --dry-run`: prints what the sink would have received,
//! prefixed with its id, secrets masked, and writes nothing.

use std::io::Write;

use super::stdout::{render, stdout_error};
use super::{RecordRejection, Sink, SinkError};
use crate::kernel::record::Record;

/// Prints records instead of delivering them.
#[derive(Debug)]
pub(crate) struct DryRunSink {
    id: String,
}

impl DryRunSink {
    /// Stands in for the sink `id`.
    pub(crate) fn new(id: &str) -> Self {
        Self { id: id.to_string() }
    }
}

impl Sink for DryRunSink {
    fn write(&mut self, batch: &[Record]) -> Result<Vec<RecordRejection>, SinkError> {
        let mut out = std::io::stdout().lock();
        for record in batch {
            writeln!(out, "[{}] {}", self.id, render(record, false)).map_err(stdout_error)?;
        }
        out.flush().map_err(stdout_error)?;
        Ok(Vec::new())
    }
}
