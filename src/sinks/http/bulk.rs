//! Adobe Commerce asynchronous bulk (`bulk:`): the records of a request become the operations of one
//! bulk — the request's body is the list of each record's rendered `body` — POSTed to an
//! `/async/bulk/V1/...` path. Magento answers at once with `bulk_uuid` and `request_items` (one per
//! operation, `accepted` or `rejected`); the sink then polls the bulk's detailed status until no
//! operation is open (status 4) and settles each record by its operation: 1 (complete) delivered,
//! 2 (failed, may be retried) sent again in a new bulk up to `resends` times, then dead-lettered,
//! 3 (failed) and 5 (rejected) dead-lettered with Magento's `result_message`. Operations are matched to
//! records by their `id`, the position of the record in the request (`request_items[].id`).

use std::collections::HashMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::batch::{context, keys};
use super::request::{Prepared, RequestTemplate, excerpt, scrub};
use super::send::Exchanged;
use super::{HttpSink, Run, Settled};
use crate::config::duration::Duration as ConfigDuration;
use crate::expr::template::RenderContext;
use crate::kernel::record::Record;
use crate::sinks::SinkError;

fn default_status() -> String {
    "/V1/bulk/{{ bulk_uuid }}/detailed-status".into()
}

fn default_poll_interval() -> ConfigDuration {
    ConfigDuration(Duration::from_secs(2))
}

fn default_max_polls() -> u32 {
    150
}

fn default_resends() -> u32 {
    2
}

/// How an asynchronous bulk request is followed up.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BulkConfig {
    /// The bulk's detailed status, a template seeing `bulk_uuid`: a path below the connection's
    /// `base_url` (default `/V1/bulk/{{ bulk_uuid }}/detailed-status`), or an absolute URL when the sink
    /// uses `url`.
    #[serde(default = "default_status")]
    pub(crate) status: String,
    /// Wait between two polls of the status (default `2s`).
    #[serde(default = "default_poll_interval")]
    pub(crate) poll_interval: ConfigDuration,
    /// Polls before the sink gives up on a bulk whose operations are still open (default 150); the
    /// records stay unacknowledged and the sink fails with a retryable error.
    #[serde(default = "default_max_polls")]
    pub(crate) max_polls: u32,
    /// How many times the records of operations that failed retriably (status 2) are sent again, in a
    /// new bulk (default 2); then they are dead-lettered with Magento's message.
    #[serde(default = "default_resends")]
    pub(crate) resends: u32,
}

/// Magento's operation statuses (`Magento\AsynchronousOperations\Api\Data\OperationInterface`).
const COMPLETE: i64 = 1;
const RETRIABLY_FAILED: i64 = 2;
const OPEN: i64 = 4;

/// A compiled `bulk:`.
#[derive(Debug, Clone)]
pub(super) struct Bulk {
    /// The detailed status request, rendered with `bulk_uuid`.
    status: RequestTemplate,
    poll_interval: Duration,
    max_polls: u32,
    resends: u32,
}

/// What one bulk said about each of its operations, by position in the request.
enum Round {
    /// The operation's final status and message.
    Settled(Vec<(i64, String)>),
    /// The whole request was refused: why.
    Refused(String, Option<u16>),
}

impl Bulk {
    pub(super) fn new(status: RequestTemplate, config: &BulkConfig) -> Self {
        Self { status, poll_interval: config.poll_interval.0, max_polls: config.max_polls, resends: config.resends }
    }

    /// The bulk request of `records`: URL, query and headers from the first record, the body the list
    /// of each record's rendered `body`.
    pub(super) fn render(&self, sink: &HttpSink, records: &[Record]) -> Result<Prepared, String> {
        let Some(first) = records.first() else { return Err("an empty bulk".into()) };
        let mut request = sink.create.render(&context(first))?;
        let mut operations = Vec::with_capacity(records.len());
        operations.push(request.body.take().unwrap_or(Value::Null));
        for record in &records[1..] {
            operations.push(sink.create.render_body(&context(record))?.unwrap_or(Value::Null));
        }
        request.body = Some(Value::Array(operations));
        Ok(request)
    }

    /// Sends `records` as bulks until every operation is settled; resends those that failed retriably.
    pub(super) fn deliver(&self, sink: &HttpSink, run: &Run, records: &[Record]) -> Result<Settled, SinkError> {
        let keys = keys(records);
        let mut settled = Settled::default();
        // Positions (among `records`) still to send, and the message of their last retriable failure.
        let mut open: Vec<usize> = (0..records.len()).collect();
        let mut failures: HashMap<usize, String> = HashMap::new();
        for round in 0..=self.resends {
            let batch: Vec<Record> = open.iter().map(|&i| records[i].clone()).collect();
            let request = match self.render(sink, &batch) {
                Ok(r) => r,
                Err(e) => {
                    let reason = scrub(format!("{e} (a bulk of {} records, all dead-lettered)", open.len()));
                    for &i in &open {
                        self.settle_one(run, &mut settled, keys[i], i, "-", None, Some(reason.clone()));
                    }
                    return Ok(settled);
                }
            };
            let statuses = match self.round(sink, run, &request)? {
                Round::Refused(reason, status) => {
                    for &i in &open {
                        self.settle_one(run, &mut settled, keys[i], i, &request.target, status, Some(reason.clone()));
                    }
                    return Ok(settled);
                }
                Round::Settled(statuses) => statuses,
            };
            let mut again = Vec::new();
            for (&i, (status, message)) in open.iter().zip(statuses) {
                match status {
                    COMPLETE => self.settle_one(run, &mut settled, keys[i], i, &request.target, Some(200), None),
                    RETRIABLY_FAILED if round < self.resends => {
                        failures.insert(i, message);
                        again.push(i);
                    }
                    _ => {
                        let tries = if status == RETRIABLY_FAILED {
                            format!(" (failed {} times)", round + 1)
                        } else {
                            String::new()
                        };
                        let reason = scrub(format!(
                            "{}: bulk operation status {status}{tries}: {}",
                            request.target,
                            excerpt(&message, 300)
                        ));
                        self.settle_one(run, &mut settled, keys[i], i, &request.target, Some(200), Some(reason));
                    }
                }
            }
            if again.is_empty() {
                break;
            }
            tracing::info!(target = %request.target, records = again.len(), "bulk operations failed retriably; sending them again");
            open = again;
        }
        Ok(settled)
    }

    /// Audits record `i` as sent, or as dead-lettered for `reason`.
    #[allow(clippy::too_many_arguments)]
    fn settle_one(
        &self,
        run: &Run,
        settled: &mut Settled,
        key: &str,
        i: usize,
        target: &str,
        status: Option<u16>,
        reason: Option<String>,
    ) {
        match reason {
            None => settled.audit.push(run.writer.audit_entry(
                key,
                "sent",
                target,
                json!({ "status": status, "bulk": true }),
            )),
            Some(reason) => {
                let detail = json!({ "status": status, "reason": reason });
                settled.audit.push(run.writer.audit_entry(key, "dead_lettered", target, detail));
                settled.rejected.push((i, reason));
            }
        }
    }

    /// Sends one bulk and polls its status until no operation is open: each operation's status and
    /// message, in the order of the request's records.
    fn round(&self, sink: &HttpSink, run: &Run, request: &Prepared) -> Result<Round, SinkError> {
        let answer = match sink.exchange(run, request, None)? {
            Exchanged::Refused(answer) => {
                let reason = scrub(format!("{} answered {}", request.target, answer.describe()));
                return Ok(Round::Refused(reason, answer.status()));
            }
            Exchanged::Accepted(_, answer, _) => answer,
        };
        let body = match &answer {
            super::client::Answer::Response { body, .. } => body,
            super::client::Answer::NoResponse { .. } => &Value::Null,
        };
        let count = request.body.as_ref().and_then(Value::as_array).map_or(0, Vec::len);
        let Some(uuid) = body.get("bulk_uuid").and_then(Value::as_str) else {
            let reason = scrub(format!(
                "{} answered {} without a `bulk_uuid`: is the path an `/async/bulk/V1/...` one?",
                request.target,
                answer.describe()
            ));
            return Ok(Round::Refused(reason, answer.status()));
        };
        // Operations Magento refused at once (`rejected` request items) are settled now.
        let mut statuses: Vec<Option<(i64, String)>> = vec![None; count];
        let items = body.get("request_items").and_then(Value::as_array).cloned().unwrap_or_default();
        for (position, item) in items.iter().enumerate() {
            let at = item.get("id").and_then(Value::as_u64).map_or(position, |id| id as usize);
            let at = if at < count { at } else { position };
            if item.get("status").and_then(Value::as_str) == Some("rejected") {
                let message = item.get("error_message").and_then(Value::as_str).unwrap_or("rejected").to_string();
                if let Some(slot) = statuses.get_mut(at) {
                    *slot = Some((5, message));
                }
            }
        }
        let ctx = RenderContext::new(std::sync::Arc::new(Value::Null)).with_var("bulk_uuid", json!(uuid));
        let status_request = self.status.render(&ctx).map_err(|e| SinkError {
            message: scrub(format!("bulk {uuid}: the status request: {e}")),
            retryable: false,
        })?;
        for poll in 0..self.max_polls {
            if poll > 0 {
                run.client.pauses().sleep(self.poll_interval);
            }
            let answer = match sink.exchange(run, &status_request, None)? {
                Exchanged::Accepted(_, answer, _) => answer,
                Exchanged::Refused(answer) => {
                    return Err(SinkError {
                        message: scrub(format!(
                            "bulk {uuid}: {} answered {}; its records stay unacknowledged",
                            status_request.target,
                            answer.describe()
                        )),
                        retryable: true,
                    });
                }
            };
            let super::client::Answer::Response { body, .. } = &answer else { continue };
            let operations = body.get("operations_list").and_then(Value::as_array).cloned().unwrap_or_default();
            let mut current = statuses.clone();
            for (position, op) in operations.iter().enumerate() {
                let at = op.get("id").and_then(Value::as_u64).map_or(position, |id| id as usize);
                let at = if at < count { at } else { position };
                let status = op.get("status").and_then(Value::as_i64).unwrap_or(OPEN);
                let message = op.get("result_message").and_then(Value::as_str).unwrap_or_default().to_string();
                if let Some(slot @ None) = current.get_mut(at) {
                    *slot = (status != OPEN).then_some((status, message));
                }
            }
            if current.iter().all(Option::is_some) {
                return Ok(Round::Settled(current.into_iter().flatten().collect()));
            }
        }
        Err(SinkError {
            message: format!(
                "bulk {uuid}: operations still open after {} polls; its records stay unacknowledged",
                self.max_polls
            ),
            retryable: true,
        })
    }
}
