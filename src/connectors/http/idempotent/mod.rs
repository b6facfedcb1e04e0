//! Idempotent creates, shared by the `http` sink and the `http` step: the configuration
//! (`idempotency: { key, lookup, header, settle }`, `capture`) and its `build()`, who writes (the
//! audit entries and captured ids a write records), and the intent protocol itself (`write`): an
//! intent row before the call, the outcome after it, and a lookup against the target whenever an
//! earlier attempt's outcome is unknown (see `docs/delivery-guarantees.md`, "Idempotent writes").

mod payload;
mod write;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

pub(crate) use write::{Scope, Write};

use super::answer::Answer;
use super::connection::HttpConnection;
use super::request::{BodySpec, Prepared, RequestSpec, RequestTemplate};
use crate::config::duration::Duration;
use crate::expr::jsonpath::JsonPath;
use crate::expr::template::{ExprTemplate, StringTemplate};
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::dead_letter::now_rfc3339;
use crate::state::{AuditEntry, CapturedId, StateError, WriteOutcome};

fn default_lookup_method() -> String {
    "GET".into()
}

/// How an idempotent create recognises a record the target already has.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdempotencyConfig {
    /// What identifies the record at the target, a template (default: the record's key). Intents are
    /// kept per pipeline, component (sink or step) and this key.
    #[serde(default)]
    pub(crate) key: Option<String>,
    /// The request that finds the record at the target, run whenever an earlier attempt's outcome is
    /// unknown.
    pub(crate) lookup: LookupConfig,
    /// A request header carrying an idempotency key on every attempt of a create, for targets that
    /// recognise a repeated create by it (e.g. `Idempotency-Key`, NetSuite's
    /// `X-NetSuite-Idempotency-Key`). The value is a UUID derived from the pipeline, the component,
    /// the key and the payload: the same for every retry and every run, new when the payload changes.
    #[serde(default)]
    pub(crate) header: Option<String>,
    /// How long to wait, after a create whose outcome is unknown (no answer in time, a 5xx), before
    /// the lookup that decides whether to send it again (default `0s`): a target that commits after
    /// the client gave up is then seen to have the record. Set it above the target's slowest commit.
    #[serde(default)]
    pub(crate) settle: Option<Duration>,
}

/// The lookup request of an idempotent create.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LookupConfig {
    /// The HTTP method (default `GET`).
    #[serde(default = "default_lookup_method")]
    pub(crate) method: String,
    /// The absolute URL (a template), e.g. `https://erp.example.com/api/orders?reference={{ record.reference | urlencode }}`.
    #[serde(default)]
    pub(crate) url: Option<String>,
    /// The path below the component's connection's `base_url` (a template). One of `url` and `path`
    /// is required.
    #[serde(default)]
    pub(crate) path: Option<String>,
    /// JSONPath into the answer's body that selects the existing record (e.g. `$[0]` for a search that
    /// answers a list). Found: it selects a value that is not null, `[]` or `{}`. A 404 means not found;
    /// a `2xx` answer that is not JSON (a proxy's or a login page) dead-letters the record and keeps
    /// the intent pending (whether the target has it is unknown).
    pub(crate) found: String,
    /// A condition the existing record meets, for a search that cannot filter by what identifies it
    /// (the shop's shipments of one order, told apart by their tracking number): an expression over
    /// `found` (each value the `found` query selects, in turn) and `record`, e.g. `record.tracking in
    /// found.tracks | map(attribute='track_number') | list`. The first value for which it holds is the
    /// existing record (default: the first value `found` selects). Select the candidates one by one
    /// (`$.items[*]`, not `$.items`).
    #[serde(default, rename = "where")]
    pub(crate) condition: Option<String>,
    /// Captures from the found record: name → JSONPath into the value `found` selected (default: the
    /// component's `capture`, applied to that value).
    #[serde(default)]
    pub(crate) capture: Option<BTreeMap<String, String>>,
}

/// Compiled `name → JSONPath` captures.
pub(crate) type Captures = Vec<(String, JsonPath)>;

/// A compiled lookup.
#[derive(Debug, Clone)]
pub(crate) struct Lookup {
    pub(crate) request: RequestTemplate,
    pub(crate) found: JsonPath,
    /// `where`: the condition a found value must meet.
    pub(crate) condition: Option<ExprTemplate>,
    pub(crate) capture: Captures,
}

/// A compiled `idempotency`.
#[derive(Debug, Clone)]
pub(crate) struct Idempotency {
    pub(crate) key: Option<StringTemplate>,
    pub(crate) lookup: Lookup,
    /// The header that carries the idempotency key, if the target takes one.
    pub(crate) header: Option<reqwest::header::HeaderName>,
    /// The wait before a lookup after an unknown outcome.
    pub(crate) settle: std::time::Duration,
}

/// Compiles `capture` (under `field`).
pub(crate) fn compile_captures(
    errors: &mut BuildErrors,
    field: &[&str],
    captures: &BTreeMap<String, String>,
) -> Captures {
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

impl IdempotencyConfig {
    /// Compiles the key and the lookup (its request against `connection`, with `headers`); the
    /// lookup's captures default to `capture`. `None` after an error (in `errors`), or when the
    /// connection is unknown (reported by the caller).
    pub(crate) fn build(
        &self,
        ctx: &BuildContext,
        connection: Option<(&str, &HttpConnection)>,
        headers: Vec<(String, String)>,
        capture: &Captures,
        errors: &mut BuildErrors,
    ) -> Option<Idempotency> {
        let key = self.key.as_ref().map(|k| errors.string_template(ctx, &["idempotency", "key"], k));
        let l = &self.lookup;
        let spec = RequestSpec {
            field: &["idempotency", "lookup"],
            connection,
            url: l.url.as_deref(),
            path: l.path.as_deref(),
            method: &l.method,
            query: &[],
            headers,
            body: BodySpec::None,
        };
        let request = RequestTemplate::compile(ctx, spec, errors);
        let found = errors.jsonpath(&["idempotency", "lookup", "found"], &l.found);
        let condition = l.condition.as_ref().map(|c| errors.expression(ctx, &["idempotency", "lookup", "where"], c));
        let header =
            self.header.as_ref().and_then(|name| match reqwest::header::HeaderName::from_bytes(name.as_bytes()) {
                Ok(name) => Some(name),
                Err(_) => {
                    errors.push(
                        &["idempotency", "header"],
                        "bad-value",
                        format!("`{name}` is not a valid header name"),
                        None,
                    );
                    None
                }
            });
        let lookup_capture = match &l.capture {
            Some(c) => compile_captures(errors, &["idempotency", "lookup", "capture"], c),
            None => capture.clone(),
        };
        Some(Idempotency {
            key: match key {
                Some(k) => Some(k?),
                None => None,
            },
            lookup: Lookup {
                request: request?,
                found: found?,
                condition: match condition {
                    Some(c) => Some(c?),
                    None => None,
                },
                capture: lookup_capture,
            },
            header,
            settle: self.settle.map(|d| d.0).unwrap_or_default(),
        })
    }
}

/// Who writes: the pipeline, the component (sink or step) and the run its audit entries name.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    pub(crate) pipeline: String,
    pub(crate) component: String,
    pub(crate) run_id: Option<i64>,
}

impl Writer {
    /// An audit entry of this writer.
    pub(crate) fn audit_entry(&self, key: &str, action: &str, target: &str, detail: Value) -> AuditEntry {
        AuditEntry {
            run_id: self.run_id,
            time: now_rfc3339(),
            pipeline: self.pipeline.clone(),
            key: key.to_string(),
            component: self.component.clone(),
            action: action.to_string(),
            target: target.to_string(),
            detail: Some(detail),
        }
    }

    /// The state changes of a written record: ids captured from `value` with `captures`, and its audit
    /// entry. Returns the outcome and the captured ids (for the intent's stored response).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn outcome(
        &self,
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
            audit: vec![self.audit_entry(key, action, &request.target, detail)],
        };
        (outcome, ids)
    }
}

/// What became of one record's idempotent create.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// Created, or found at the target; the outcome is recorded in the state store. The ids captured.
    Written(serde_json::Map<String, Value>),
    /// Not sent: the target has it already (an earlier run created it). The audit entry is for the
    /// caller to record; the ids are those captured back then.
    Skipped(AuditEntry, serde_json::Map<String, Value>),
    /// Dead-lettered for this reason.
    Rejected(String, AuditEntry),
}

/// A write that cannot go on: the run stops and the record stays unacknowledged.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub(crate) struct WriteError {
    pub(crate) message: String,
    /// Whether a later attempt may succeed.
    pub(crate) retryable: bool,
}

impl From<super::client::ClientError> for WriteError {
    fn from(e: super::client::ClientError) -> Self {
        WriteError { message: e.message, retryable: e.retryable }
    }
}

impl From<StateError> for WriteError {
    fn from(e: StateError) -> Self {
        WriteError { message: format!("state store: {e}"), retryable: e.is_retryable() }
    }
}

/// The failure `on_status: fail` asks for: the run stops, the record stays unacknowledged.
pub(crate) fn refused(request: &Prepared, answer: &Answer) -> WriteError {
    WriteError {
        message: super::request::scrub(format!(
            "{} answered {}, which `on_status` makes fatal",
            request.target,
            answer.describe()
        )),
        retryable: false,
    }
}

/// The retryable failure after the last attempt.
pub(crate) fn gave_up(request: &Prepared, answer: &Answer, attempts: u32) -> WriteError {
    WriteError {
        message: super::request::scrub(format!(
            "{}: {} (after {attempts} attempt{}); the record stays unacknowledged",
            request.target,
            answer.describe(),
            if attempts == 1 { "" } else { "s" }
        )),
        retryable: true,
    }
}
