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
mod idempotent;
mod if_match;
mod payload;
mod send;
mod writes;

use crate::connectors::http::request;

pub(crate) use config::HttpSinkConfig;

use std::sync::Arc;

use serde_json::{Value, json};

use super::{RecordRejection, SinkError};
use crate::connectors::http::client::{self, Answer, Client};
use crate::connectors::http::retry::{RetryPolicy, StatusAction, Verdict};
use crate::expr::jsonpath::JsonPath;
use crate::expr::template::StringTemplate;
use crate::kernel::dead_letter::now_rfc3339;
use crate::kernel::record::Record;
use crate::state::{AuditEntry, CapturedId, StateError, StateStore, WriteOutcome};
use request::{Prepared, RequestTemplate, scrub};

/// Compiled `name → JSONPath` captures.
type Captures = Vec<(String, JsonPath)>;

/// A compiled lookup.
#[derive(Debug, Clone)]
struct Lookup {
    request: RequestTemplate,
    found: JsonPath,
    capture: Captures,
}

/// A compiled `idempotency`.
#[derive(Debug, Clone)]
struct Idempotency {
    key: Option<StringTemplate>,
    lookup: Lookup,
    /// The header that carries the idempotency key, if the target takes one.
    header: Option<reqwest::header::HeaderName>,
    /// The wait before a lookup after an unknown outcome.
    settle: std::time::Duration,
}

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
    pipeline: String,
    sink: String,
    run_id: Option<i64>,
}

/// What became of one record.
#[derive(Debug)]
enum Delivery {
    /// Written, or found at the target; the outcome is recorded in the state store.
    Written,
    /// Not sent: the target has it already. The audit entry is written with the batch's.
    Skipped(AuditEntry),
    /// Dead-lettered for this reason.
    Rejected(String, AuditEntry),
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
                .map(|key| HttpSink::audit_entry(run, key, "dead_lettered", target, detail.clone()))
                .collect(),
            ids: Vec::new(),
            rejected: (0..keys.len()).map(|i| (i, reason.clone())).collect(),
        }
    }
}

impl From<Delivery> for Settled {
    fn from(delivery: Delivery) -> Self {
        match delivery {
            Delivery::Written => Settled::default(),
            Delivery::Skipped(entry) => Settled { audit: vec![entry], ..Settled::default() },
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

fn state_error(e: StateError) -> SinkError {
    SinkError { message: format!("state store: {e}"), retryable: e.is_retryable() }
}

/// The tries of one record's write, judged by the sink's retry policy.
struct Attempts<'p> {
    policy: &'p RetryPolicy,
    /// How to wait between tries (virtually under a test's mock).
    pauses: crate::kernel::mock::Pauses,
    made: u32,
    started: std::time::Instant,
}

/// What to do with an answer.
enum Judged {
    /// As `on_status` says: `ok`, `ignore`, `dead_letter` or `fail`.
    Settle(StatusAction),
    /// The wait before the next try is over: try again.
    Retried,
    /// Tries or time are spent: the record stays unacknowledged.
    GaveUp,
}

impl<'p> Attempts<'p> {
    fn new(policy: &'p RetryPolicy, pauses: crate::kernel::mock::Pauses) -> Self {
        Self { policy, pauses, made: 0, started: std::time::Instant::now() }
    }

    /// Counts one request sent.
    fn sent(&mut self) {
        self.made += 1;
    }

    /// Judges `answer`; waits (backoff with jitter, or the answer's `Retry-After`) when it is to be
    /// tried again.
    fn judge(&mut self, answer: &Answer) -> Judged {
        self.judged(answer).unwrap_or_else(|wait| {
            self.pauses.sleep(wait);
            Judged::Retried
        })
    }

    /// [`Attempts::judge`] from async code.
    async fn judge_async(&mut self, answer: &Answer) -> Judged {
        match self.judged(answer) {
            Ok(judged) => judged,
            Err(wait) => {
                self.pauses.sleep_async(wait).await;
                Judged::Retried
            }
        }
    }

    /// What `answer` calls for, or the wait before trying again.
    fn judged(&self, answer: &Answer) -> Result<Judged, std::time::Duration> {
        match answer.verdict(self.policy, self.made, self.started.elapsed()) {
            Verdict::Settle(action) => Ok(Judged::Settle(action)),
            Verdict::Again { wait, .. } => Err(wait),
            Verdict::GiveUp(_) => Ok(Judged::GaveUp),
        }
    }
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
            pipeline: ctx.pipeline.clone(),
            sink: ctx.sink.clone(),
            run_id: ctx.run_id,
        });
        Ok(())
    }

    fn run(&self) -> Result<&Run, SinkError> {
        self.run.as_ref().ok_or_else(|| SinkError { message: "the http sink was not opened".into(), retryable: false })
    }

    fn audit_entry(run: &Run, key: &str, action: &str, target: &str, detail: Value) -> AuditEntry {
        AuditEntry {
            run_id: run.run_id,
            time: now_rfc3339(),
            pipeline: run.pipeline.clone(),
            key: key.to_string(),
            component: run.sink.clone(),
            action: action.to_string(),
            target: target.to_string(),
            detail: Some(detail),
        }
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
        idempotent::Write {
            sink: self,
            run,
            ctx: &ctx,
            request,
            lookup: std::cell::OnceCell::new(),
            lookup_spec: &idem.lookup,
            key_header: idem.header.as_ref(),
            settle: idem.settle,
            idem_key,
            id_key,
        }
        .deliver()
        .map(Settled::from)
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
        let entry = Self::audit_entry(run, key, "dead_lettered", target, json!({ "reason": reason }));
        Settled { audit: vec![entry], ids: Vec::new(), rejected: vec![(0, reason)] }
    }

    /// The failure `on_status: fail` asks for: the run stops, the record stays unacknowledged.
    fn refused(&self, request: &Prepared, answer: &Answer) -> SinkError {
        SinkError {
            message: scrub(format!("{} answered {}, which `on_status` makes fatal", request.target, answer.describe())),
            retryable: false,
        }
    }

    /// The retryable failure after the last attempt.
    fn gave_up(&self, request: &Prepared, answer: &Answer, attempts: u32) -> SinkError {
        SinkError {
            message: scrub(format!(
                "{}: {} (after {attempts} attempt{}); the record stays unacknowledged",
                request.target,
                answer.describe(),
                if attempts == 1 { "" } else { "s" }
            )),
            retryable: true,
        }
    }

    /// The state changes of a written record: ids captured from `value` with `captures`, and its audit
    /// entry. Returns the outcome and the captured ids (for the intent's stored response).
    #[allow(clippy::too_many_arguments)]
    fn outcome(
        &self,
        run: &Run,
        key: &str,
        action: &str,
        request: &Prepared,
        answer: &Answer,
        value: &Value,
        captures: &Captures,
        attempts: u32,
    ) -> (WriteOutcome, serde_json::Map<String, Value>) {
        let mut ids = serde_json::Map::new();
        let mut missing = Vec::new();
        for (name, path) in captures {
            match path.first(value).filter(|v| !v.is_null()) {
                Some(v) => {
                    ids.insert(name.clone(), v.clone());
                }
                None => missing.push(name.clone()),
            }
        }
        if !missing.is_empty() {
            tracing::warn!(key, ?missing, target = %request.target, "the answer did not hold every id to capture");
        }
        let mut detail = json!({ "status": answer.status(), "attempts": attempts, "ids": ids });
        if !missing.is_empty() {
            detail["missing_ids"] = json!(missing);
        }
        let outcome = WriteOutcome {
            completed: None,
            ids: ids
                .iter()
                .map(|(name, value)| CapturedId { key: key.to_string(), name: name.clone(), value: value.clone() })
                .collect(),
            audit: vec![Self::audit_entry(run, key, action, &request.target, detail)],
        };
        (outcome, ids)
    }
}

#[cfg(test)]
mod tests;
