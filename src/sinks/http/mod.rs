//! `http` sink: sends each record — or each batch of `batch_size` records, or each Adobe Commerce
//! asynchronous bulk (`bulk.rs`) — as one JSON request (templated method, URL, query, headers and
//! body), one at a time or `max_in_flight` at once (`writes.rs`), and, when marked
//! `idempotency`, makes creates safe to repeat: an intent row before the call, the outcome after it, and
//! a lookup against the target whenever an earlier attempt's outcome is unknown (see
//! `docs/delivery-guarantees.md`, "Idempotent writes"). Values captured from the answers go to the id
//! map, where templates read them as `ids.<name>`.
//!
//! Answers are judged by the sink's retry policy (`on_status`, `retry`; `connectors::http::retry`): by
//! default 2xx written; 409 the target has it already (like a lookup that found it); other 3xx and 4xx
//! dead-letter the record with the status and body; no answer (timeout, connection error), 408, 429
//! and 5xx are retried within the write (backoff with full jitter, `Retry-After` honoured), then fail
//! the sink with a retryable error, leaving the record unacknowledged. `fail` stops the run.

mod batch;
mod bulk;
mod config;
mod if_match;
mod send;
mod writes;

use crate::connectors::http::request;

pub(crate) use config::HttpSinkConfig;

use std::sync::Arc;

use serde_json::json;

use super::{RecordRejection, SinkError};
use crate::connectors::http::attempts::{Attempts, Judged};
use crate::connectors::http::client::{self, Answer, Client};
use crate::connectors::http::idempotent::{self, Captures, Delivery, Idempotency, WriteError, Writer};
use crate::connectors::http::retry::RetryPolicy;
use crate::kernel::record::Record;
use crate::state::{AuditEntry, CapturedId, StateError, StateStore, WriteOutcome};
use request::{Prepared, RequestTemplate, scrub};

/// Built `http` sink: what every request needs, shared by the requests in flight.
#[derive(Debug)]
pub(crate) struct HttpSink {
    create: RequestTemplate,
    /// Records per request.
    batch_size: usize,
    /// Requests in flight at once.
    max_in_flight: std::num::NonZeroUsize,
    /// Asynchronous bulk requests, followed up by polling their status.
    bulk: Option<bulk::Bulk>,
    capture: Captures,
    idempotency: Option<Idempotency>,
    /// Reads the entity's ETag before each write and sends it as `If-Match`.
    if_match: Option<if_match::IfMatch>,
    timeout: std::time::Duration,
    /// How requests authenticate (the connection's `auth`).
    auth: Option<crate::connectors::http::auth::Auth>,
    /// The connection's rate limit, shared with every component naming it.
    limit: Option<Arc<crate::kernel::rate_limit::RateLimit>>,
    /// The connection's client settings (connect time limit, redirects, extra CAs).
    client_options: crate::connectors::http::connection::ClientOptions,
    /// What to do with each answer, and when to try again.
    policy: RetryPolicy,
    /// Set by `open`.
    run: Option<Run>,
}

/// What the sink holds while it runs.
#[derive(Debug)]
struct Run {
    client: Client,
    state: Option<Arc<dyn StateStore>>,
    /// The pipeline, the sink and the run its audit entries name.
    writer: Writer,
}

/// What became of the records of one request: audit entries and captured ids to commit with the
/// write's (one transaction per write, not per request: a commit waits for the disk), and the reason
/// they were dead-lettered, if they were.
#[derive(Debug, Default)]
struct Settled {
    audit: Vec<AuditEntry>,
    /// Ids captured from the answers of requests without intents.
    ids: Vec<CapturedId>,
    /// The dead-lettered records, by index among the request's, and why.
    rejected: Vec<RecordRejection>,
}

impl Settled {
    /// Adds `other`'s entries and ids (its rejections are the caller's to place).
    fn absorb(&mut self, other: &mut Settled) {
        self.audit.append(&mut other.audit);
        self.ids.append(&mut other.ids);
    }

    /// Commits the audit entries and captured ids in one transaction.
    fn commit(&mut self, run: &Run) -> Result<(), SinkError> {
        if let Some(state) = &run.state
            && !(self.audit.is_empty() && self.ids.is_empty())
        {
            let outcome = WriteOutcome {
                completed: None,
                ids: std::mem::take(&mut self.ids),
                audit: std::mem::take(&mut self.audit),
            };
            state.record_outcome(&outcome).map_err(state_error)?;
        }
        Ok(())
    }

    /// Every one of `keys` dead-lettered for `reason`, audited against `target`.
    fn all_rejected(run: &Run, keys: &[&str], target: &str, status: Option<u16>, reason: String) -> Self {
        let detail = json!({ "status": status, "reason": reason });
        Settled {
            audit: keys
                .iter()
                .map(|key| run.writer.audit_entry(key, "dead_lettered", target, detail.clone()))
                .collect(),
            ids: Vec::new(),
            rejected: (0..keys.len()).map(|i| (i, reason.clone())).collect(),
        }
    }
}

impl From<Delivery> for Settled {
    fn from(delivery: Delivery) -> Self {
        match delivery {
            Delivery::Written(_) => Settled::default(),
            Delivery::Skipped(entry, _) => Settled { audit: vec![entry], ..Settled::default() },
            Delivery::Rejected(reason, entry) => {
                Settled { audit: vec![entry], ids: Vec::new(), rejected: vec![(0, reason)] }
            }
        }
    }
}

impl From<client::ClientError> for SinkError {
    fn from(e: client::ClientError) -> Self {
        SinkError { message: e.message, retryable: e.retryable }
    }
}

impl From<WriteError> for SinkError {
    fn from(e: WriteError) -> Self {
        SinkError { message: e.message, retryable: e.retryable }
    }
}

fn state_error(e: StateError) -> SinkError {
    WriteError::from(e).into()
}

impl HttpSink {
    /// Checks the run offers what the sink needs and creates its client.
    fn open(&mut self, ctx: &super::SinkContext) -> Result<(), SinkError> {
        if ctx.state.is_none() && (self.idempotency.is_some() || !self.capture.is_empty()) {
            let what = if self.idempotency.is_some() { "`idempotency`" } else { "`capture`" };
            return Err(SinkError {
                message: format!(
                    "{what} needs the state store (intents and the id map live there), and this run has none: \
                     run with `--state PATH` (or WEIR_STATE)"
                ),
                retryable: false,
            });
        }
        let client = Client::new(self.timeout, &self.client_options, self.auth.clone(), self.limit.clone())
            .map_err(|message| SinkError { message, retryable: false })?;
        self.run = Some(Run {
            client,
            state: ctx.state.clone(),
            writer: Writer { pipeline: ctx.pipeline.clone(), component: ctx.sink.clone(), run_id: ctx.run_id },
        });
        Ok(())
    }

    fn run(&self) -> Result<&Run, SinkError> {
        self.run.as_ref().ok_or_else(|| SinkError { message: "the http sink was not opened".into(), retryable: false })
    }

    /// Writes the records of one request: one record, a batch, or a bulk.
    fn deliver_unit(&self, records: &[Record]) -> Result<Settled, SinkError> {
        match (&self.bulk, records) {
            (Some(bulk), _) => bulk.deliver(self, self.run()?, records),
            (None, [record]) if self.batch_size == 1 => self.deliver(record),
            (None, _) => self.deliver_batch(self.run()?, records),
        }
    }

    /// True when each request is sent and settled on its own — no intents, no ETag read first, no bulk
    /// to follow up: the requests in flight are then driven as futures (`send.rs`).
    fn sends_plainly(&self) -> bool {
        self.bulk.is_none() && self.idempotency.is_none() && self.if_match.is_none()
    }

    /// Writes one record.
    fn deliver(&self, record: &Record) -> Result<Settled, SinkError> {
        let run = self.run()?;
        let Some(idem) = &self.idempotency else {
            let (request, keys) = match self.prepare_one(run, record) {
                Ok(prepared) => prepared,
                Err(rejected) => return Ok(rejected),
            };
            return match &self.if_match {
                None => self.send_once(run, &request, &keys),
                Some(if_match) => match if_match.send(self, run, &batch::context(record), &request)? {
                    Ok((sent, exchanged)) => self.settle(run, &sent, &keys, exchanged),
                    Err(reason) => Ok(Self::rejected_one(run, record, reason, &request.target)),
                },
            };
        };
        let ctx = batch::context(record);
        let key = record.key.as_deref();
        let reject = |reason: String, target: &str| Ok(Self::rejected_one(run, record, reason, target));
        let request = match self.create.render(&ctx) {
            Ok(r) => r,
            Err(e) => return reject(e, "-"),
        };
        let idem_key = match &idem.key {
            Some(t) => match t.render(&ctx) {
                Ok(k) if !k.trim().is_empty() => k,
                Ok(_) => return reject("the idempotency key is empty".into(), &request.target),
                Err(e) => return reject(format!("idempotency key: {e}"), &request.target),
            },
            None => match key {
                Some(k) => k.to_string(),
                None => {
                    return reject(
                        "the record has no key; an idempotent sink needs one (set the source's `key` or \
                         `idempotency.key`)"
                            .into(),
                        &request.target,
                    );
                }
            },
        };
        let id_key = key.unwrap_or(&idem_key).to_string();
        let Some(state) = run.state.as_deref() else {
            return Err(SinkError { message: "an idempotent sink needs the state store".into(), retryable: false });
        };
        let scope = idempotent::Scope {
            client: &run.client,
            state,
            policy: &self.policy,
            writer: &run.writer,
            capture: &self.capture,
            idempotency: idem,
        };
        Ok(idempotent::Write::new(scope, &ctx, request, idem_key, id_key).deliver()?.into())
    }

    /// The request of one record written without intents, and the key it is audited under; or the
    /// record dead-lettered (its request cannot be rendered, or ids are to be captured and it has no
    /// key to hold them).
    fn prepare_one<'r>(&self, run: &Run, record: &'r Record) -> Result<(Prepared, [&'r str; 1]), Settled> {
        let request =
            self.create.render(&batch::context(record)).map_err(|e| Self::rejected_one(run, record, e, "-"))?;
        if !self.capture.is_empty() && record.key.is_none() {
            let reason = "the record has no key to record the captured ids under".to_string();
            return Err(Self::rejected_one(run, record, reason, &request.target));
        }
        Ok((request, [record.key.as_deref().unwrap_or("-")]))
    }

    /// `record` dead-lettered for `reason`, audited against `target`.
    fn rejected_one(run: &Run, record: &Record, reason: String, target: &str) -> Settled {
        let reason = scrub(reason);
        let key = record.key.as_deref().unwrap_or("-");
        let entry = run.writer.audit_entry(key, "dead_lettered", target, json!({ "reason": reason }));
        Settled { audit: vec![entry], ids: Vec::new(), rejected: vec![(0, reason)] }
    }

    /// The failure `on_status: fail` asks for: the run stops, the record stays unacknowledged.
    fn refused(&self, request: &Prepared, answer: &Answer) -> SinkError {
        idempotent::refused(request, answer).into()
    }

    /// The retryable failure after the last attempt.
    fn gave_up(&self, request: &Prepared, answer: &Answer, attempts: u32) -> SinkError {
        idempotent::gave_up(request, answer, attempts).into()
    }
}

#[cfg(test)]
mod tests;
