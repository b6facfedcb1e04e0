//! `http` sink: sends each record as one JSON request (templated method, URL and body) and, when marked
//! `idempotency`, makes creates safe to repeat: an intent row before the call, the outcome after it, and
//! a lookup against the target whenever an earlier attempt's outcome is unknown (see
//! `docs/delivery-guarantees.md`, "Idempotent writes"). Values captured from the answers go to the id
//! map, where templates read them as `ids.<name>`.
//!
//! Answers: 2xx written; 409 the target has it already (like a lookup that found it); any other 4xx
//! dead-letters the record with the status and body; no answer (timeout, connection error), 408, 429
//! and 5xx are retried within the write (`retries`, doubling `retry_backoff`), then fail the sink with a
//! retryable error, leaving the record unacknowledged.

mod idempotent;
mod payload;
mod request;

use std::collections::BTreeMap;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{RecordRejection, Sink, SinkContext, SinkError};
use crate::build::{BuildContext, BuildErrors};
use crate::config::duration::Duration;
use crate::expr::jsonpath::JsonPath;
use crate::expr::template::{RenderContext, StringTemplate};
use crate::record::Record;
use crate::runtime::dead_letter::now_rfc3339;
use crate::state::{AuditEntry, CapturedId, StateError, StateStore, WriteOutcome};
use request::{Answer, BodySpec, Client, Prepared, RequestSpec, RequestTemplate, scrub};

fn default_create_method() -> String {
    "POST".into()
}

fn default_lookup_method() -> String {
    "GET".into()
}

fn default_retries() -> u32 {
    2
}

fn default_retry_backoff() -> Duration {
    Duration(std::time::Duration::from_millis(200))
}

/// Sends each record to an HTTP API as JSON.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSinkConfig {
    /// A connection from `connections.yaml`: `path` is appended to its `base_url`, and its headers and
    /// timeout apply. Use either `connection` and `path`, or `url`.
    #[serde(default)]
    pub connection: Option<String>,
    /// The absolute URL (a template), e.g. `https://erp.example.com/api/orders`.
    #[serde(default)]
    pub url: Option<String>,
    /// The path below the connection's `base_url` (a template), e.g. `/api/orders`.
    #[serde(default)]
    pub path: Option<String>,
    /// The HTTP method: `POST` (default), `PUT`, `PATCH`, `DELETE` or `GET`; may be a template.
    #[serde(default = "default_create_method")]
    pub method: String,
    /// Request headers; values are templates and may use `${secret:NAME}`. They replace the
    /// connection's headers of the same name.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The JSON body: a structured template, like the `template` step's `value` (default: the record).
    #[serde(default)]
    pub body: Option<Value>,
    /// Time limit for one request (default: the connection's `timeout`, else `30s`).
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// How many more times a request whose outcome is unknown (no answer, 408, 429, 5xx) is tried
    /// within one write before the sink fails (default 2). With `idempotency`, the lookup runs before
    /// each new create.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one, at most 30s (default `200ms`).
    #[serde(default = "default_retry_backoff")]
    pub retry_backoff: Duration,
    /// Makes creates safe to repeat across crashes and lost answers (needs the state store).
    #[serde(default)]
    pub idempotency: Option<IdempotencyConfig>,
    /// Remote ids to record in the id map under the record's key: name → JSONPath into the answer's
    /// body (e.g. `erp_order_id: "$.id"`). Templates read them as `ids.erp_order_id`. Needs the state
    /// store.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
}

/// How an idempotent sink recognises a record the target already has.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdempotencyConfig {
    /// What identifies the record at the target (a template; default: the record's key). Intents are
    /// kept per pipeline, sink and this key.
    #[serde(default)]
    pub key: Option<String>,
    /// The request that finds the record at the target, run whenever an earlier attempt's outcome is
    /// unknown.
    pub lookup: LookupConfig,
}

/// The lookup request of an idempotent sink.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupConfig {
    /// The HTTP method (default `GET`).
    #[serde(default = "default_lookup_method")]
    pub method: String,
    /// The absolute URL (a template), e.g. `https://erp.example.com/api/orders?reference={{ record.reference | urlencode }}`.
    #[serde(default)]
    pub url: Option<String>,
    /// The path below the sink's connection's `base_url` (a template).
    #[serde(default)]
    pub path: Option<String>,
    /// JSONPath into the answer's body that selects the existing record (e.g. `$[0]` for a search that
    /// answers a list). Found: it selects a value that is not null, `[]` or `{}`. A 404 means not found.
    pub found: String,
    /// Captures from the found record (name → JSONPath into the value `found` selected); default: the
    /// sink's `capture`, applied to that value.
    #[serde(default)]
    pub capture: Option<BTreeMap<String, String>>,
}

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
}

/// Built `http` sink.
#[derive(Debug)]
pub struct HttpSink {
    create: RequestTemplate,
    capture: Captures,
    idempotency: Option<Idempotency>,
    timeout: std::time::Duration,
    retries: u32,
    backoff: std::time::Duration,
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

fn compile_captures(errors: &mut BuildErrors, field: &[&str], captures: &BTreeMap<String, String>) -> Captures {
    let mut out = Vec::new();
    for (name, path) in captures {
        let mut f = field.to_vec();
        f.push(name);
        if name.trim().is_empty() {
            errors.push(&f, "bad-value", "a captured id needs a name", None);
        }
        if let Some(p) = errors.jsonpath(&f, path) {
            out.push((name.clone(), p));
        }
    }
    out
}

impl HttpSinkConfig {
    /// Compiles every template and JSONPath; checks the connection exists.
    pub fn build(&self, ctx: &BuildContext) -> Result<HttpSink, BuildErrors> {
        let mut errors = BuildErrors::default();
        let connection = match &self.connection {
            Some(name) => match ctx.connections.connections.get(name) {
                Some(c) => Some((name.as_str(), c)),
                None => {
                    let known: Vec<&str> = ctx.connections.connections.keys().map(String::as_str).collect();
                    let hint = if known.is_empty() {
                        "no connections are defined: add one to the folder's connections.yaml".to_string()
                    } else {
                        crate::config::diagnostic::suggestion(name, &known, "known connections")
                    };
                    errors.push(
                        &["connection"],
                        "unknown-connection",
                        format!("unknown connection `{name}`"),
                        Some(hint),
                    );
                    None
                }
            },
            None => None,
        };
        // The sink's headers replace the connection's of the same (case-insensitive) name.
        let mut merged = BTreeMap::new();
        for (name, value) in connection.iter().flat_map(|(_, c)| &c.headers).chain(&self.headers) {
            merged.insert(name.to_ascii_lowercase(), (name.clone(), value.clone()));
        }
        let headers: Vec<(String, String)> = merged.into_values().collect();
        let body = match &self.body {
            Some(v) => errors.value_template(ctx, &["body"], v).map(BodySpec::Template),
            None => Some(BodySpec::Record),
        };
        let unknown_connection = self.connection.is_some() && connection.is_none();
        let create = if unknown_connection {
            None
        } else {
            body.and_then(|body| {
                let spec = RequestSpec {
                    field: &[],
                    connection,
                    url: self.url.as_deref(),
                    path: self.path.as_deref(),
                    method: &self.method,
                    headers: headers.clone(),
                    body,
                };
                RequestTemplate::compile(ctx, spec, &mut errors)
            })
        };
        let capture = compile_captures(&mut errors, &["capture"], &self.capture);
        let idempotency = self.idempotency.as_ref().and_then(|idem| {
            let key = idem.key.as_ref().map(|k| errors.string_template(ctx, &["idempotency", "key"], k));
            let l = &idem.lookup;
            let request = if unknown_connection {
                None
            } else {
                let spec = RequestSpec {
                    field: &["idempotency", "lookup"],
                    connection,
                    url: l.url.as_deref(),
                    path: l.path.as_deref(),
                    method: &l.method,
                    headers: headers.clone(),
                    body: BodySpec::None,
                };
                RequestTemplate::compile(ctx, spec, &mut errors)
            };
            let found = errors.jsonpath(&["idempotency", "lookup", "found"], &l.found);
            let lookup_capture = match &l.capture {
                Some(c) => compile_captures(&mut errors, &["idempotency", "lookup", "capture"], c),
                None => capture.clone(),
            };
            Some(Idempotency {
                key: match key {
                    Some(k) => Some(k?),
                    None => None,
                },
                lookup: Lookup { request: request?, found: found?, capture: lookup_capture },
            })
        });
        let timeout = self
            .timeout
            .or_else(|| connection.and_then(|(_, c)| c.timeout))
            .map_or(std::time::Duration::from_secs(30), |d| d.0);
        if timeout.is_zero() {
            errors.push(&["timeout"], "bad-value", "`timeout` must be longer than zero", None);
        }
        match create {
            Some(create) if errors.0.is_empty() && idempotency.is_some() == self.idempotency.is_some() => {
                Ok(HttpSink {
                    create,
                    capture,
                    idempotency,
                    timeout,
                    retries: self.retries,
                    backoff: self.retry_backoff.0,
                    run: None,
                })
            }
            _ => {
                if errors.0.is_empty() {
                    errors.push(&[], "bad-value", "the sink could not be built", None);
                }
                Err(errors)
            }
        }
    }
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

fn state_error(e: StateError) -> SinkError {
    SinkError { message: format!("state store: {e}"), retryable: e.is_retryable() }
}

/// Retry budget of one record's write.
struct Attempts {
    left: u32,
    delay: std::time::Duration,
    made: u32,
}

impl Attempts {
    fn new(retries: u32, backoff: std::time::Duration) -> Self {
        Self { left: retries, delay: backoff, made: 0 }
    }

    /// Counts one request sent.
    fn sent(&mut self) {
        self.made += 1;
    }

    /// Waits before trying again; false when the budget is spent.
    fn retry(&mut self) -> bool {
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        std::thread::sleep(self.delay);
        self.delay = (self.delay * 2).min(std::time::Duration::from_secs(30));
        true
    }
}

impl HttpSink {
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

    /// Writes one record.
    fn deliver(&self, record: &Record) -> Result<Delivery, SinkError> {
        let run = self.run()?;
        let mut ctx = RenderContext::new(Arc::new(record.value.clone())).with_key(record.key.clone());
        ctx.parent = record.parent.clone();
        let key = record.key.as_deref();
        let reject = |reason: String, target: &str| {
            let reason = scrub(reason);
            let entry =
                Self::audit_entry(run, key.unwrap_or("-"), "dead_lettered", target, json!({ "reason": reason }));
            Ok(Delivery::Rejected(reason, entry))
        };
        let request = match self.create.render(&ctx) {
            Ok(r) => r,
            Err(e) => return reject(e, "-"),
        };
        match &self.idempotency {
            Some(idem) => {
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
                    idem_key,
                    id_key,
                }
                .deliver()
            }
            None => {
                if !self.capture.is_empty() && key.is_none() {
                    return reject("the record has no key to record the captured ids under".into(), &request.target);
                }
                self.send_once(run, &request, key.unwrap_or("-"))
            }
        }
    }

    /// A write without intents: send (retrying when the outcome is unknown; this may repeat a create).
    fn send_once(&self, run: &Run, request: &Prepared, key: &str) -> Result<Delivery, SinkError> {
        let mut attempts = Attempts::new(self.retries, self.backoff);
        loop {
            attempts.sent();
            let answer = run.client.send(request);
            match &answer {
                Answer::Response { status, body } if (200..300).contains(status) || *status == 409 => {
                    let action = if *status == 409 { "exists" } else { "sent" };
                    let outcome = self.outcome(run, key, action, request, &answer, body, &self.capture, attempts.made);
                    if let Some(state) = &run.state {
                        state.record_outcome(&outcome.0).map_err(state_error)?;
                    }
                    return Ok(Delivery::Written);
                }
                a if a.is_uncertain() => {
                    if !attempts.retry() {
                        return Err(self.gave_up(request, &answer, attempts.made));
                    }
                }
                _ => {
                    let reason = format!("{} answered {}", request.target, answer.describe());
                    let detail = json!({ "status": answer.status(), "reason": scrub(reason.clone()) });
                    return Ok(Delivery::Rejected(
                        scrub(reason),
                        Self::audit_entry(run, key, "dead_lettered", &request.target, detail),
                    ));
                }
            }
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

impl Sink for HttpSink {
    /// Every request is audited by the sink itself (`created`, `found`, `skipped`, `sent`, with the
    /// URL and the status), in the same transaction as its outcome.
    fn audits_itself(&self) -> bool {
        true
    }

    fn open(&mut self, ctx: &SinkContext) -> Result<(), SinkError> {
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
        let client = Client::new(self.timeout).map_err(|message| SinkError { message, retryable: false })?;
        self.run = Some(Run {
            client,
            state: ctx.state.clone(),
            pipeline: ctx.pipeline.clone(),
            sink: ctx.sink.clone(),
            run_id: ctx.run_id,
        });
        Ok(())
    }

    fn write(&mut self, batch: &[Record]) -> Result<Vec<RecordRejection>, SinkError> {
        let mut rejected = Vec::new();
        let mut audit = Vec::new();
        let mut failure = None;
        for (i, record) in batch.iter().enumerate() {
            match self.deliver(record) {
                Ok(Delivery::Written) => {}
                Ok(Delivery::Skipped(entry)) => audit.push(entry),
                Ok(Delivery::Rejected(reason, entry)) => {
                    audit.push(entry);
                    rejected.push((i, reason));
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        // The batch's skips and rejections are audited even when the batch failed.
        if let Some(state) = &self.run()?.state {
            state.audit(&audit).map_err(state_error)?;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(rejected),
        }
    }
}

#[cfg(test)]
mod tests;
