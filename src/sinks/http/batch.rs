//! Requests of several records (`batch_size` over 1): the URL, query and headers are rendered from the
//! first record of the batch, the body also sees `records`, the list of the batch's values. The answer
//! settles every record of the batch alike: a rejection dead-letters them all with its reason.

use std::sync::Arc;

use serde_json::Value;

use super::request::{Prepared, scrub};
use super::{HttpSink, Run, Settled};
use crate::expr::template::RenderContext;
use crate::kernel::record::Record;
use crate::sinks::SinkError;

/// The template context of `record`: `record`, `parent` and the `ids` of its key.
pub(super) fn context(record: &Record) -> RenderContext {
    let mut ctx = RenderContext::new(Arc::new(record.value.clone())).with_key(record.key.clone());
    ctx.parent = record.parent.clone();
    ctx
}

/// The keys records are audited under (`-` for a record without one).
pub(super) fn keys(records: &[Record]) -> Vec<&str> {
    records.iter().map(|r| r.key.as_deref().unwrap_or("-")).collect()
}

impl HttpSink {
    /// The request of a batch: the first record's context, with `records`.
    pub(super) fn render_batch(&self, records: &[Record]) -> Result<Prepared, String> {
        let Some(first) = records.first() else { return Err("an empty batch".into()) };
        let list = Value::Array(records.iter().map(|r| r.value.clone()).collect());
        self.create.render(&context(first).with_var("records", list))
    }

    /// Sends a batch as one request.
    pub(super) fn deliver_batch(&self, run: &Run, records: &[Record]) -> Result<Settled, SinkError> {
        match self.prepare_batch(run, records) {
            Ok((request, keys)) => self.send_once(run, &request, &keys),
            Err(rejected) => Ok(rejected),
        }
    }

    /// The request of a batch and its records' keys, or every record dead-lettered when it cannot be
    /// rendered.
    pub(super) fn prepare_batch<'r>(
        &self,
        run: &Run,
        records: &'r [Record],
    ) -> Result<(Prepared, Vec<&'r str>), Settled> {
        let keys = keys(records);
        self.render_batch(records).map(|request| (request, keys.clone())).map_err(|e| {
            let reason = scrub(format!("{e} (a batch of {} records, all dead-lettered)", records.len()));
            Settled::all_rejected(run, &keys, "-", None, reason)
        })
    }

    /// The requests `records` would be sent as (for `--dry-run`), or why one cannot be rendered.
    pub(super) fn render_all(&self, records: &[Record]) -> Vec<Result<Prepared, String>> {
        let size = self.batch_size.max(1);
        records
            .chunks(size)
            .flat_map(|chunk| match (&self.bulk, chunk) {
                (Some(bulk), _) => vec![bulk.render(self, chunk)],
                (None, [record]) if size == 1 => vec![self.create.render(&context(record))],
                (None, _) => vec![self.render_batch(chunk)],
            })
            .collect()
    }
}
