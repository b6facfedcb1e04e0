//! The `http` sink's configuration (serde + schemars) and its `build()`, which compiles every template,
//! JSONPath and URL up front into the runtime [`HttpSink`].

use std::collections::BTreeMap;
use std::num::NonZeroUsize;

use indexmap::IndexMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::HttpSink;
use super::bulk::{Bulk, BulkConfig};
use super::if_match::IfMatchConfig;
use super::request::{BodySpec, RequestSpec, RequestTemplate};
use super::writes::HttpSinkWrites;
use crate::config::duration::Duration;
use crate::connectors::http::connection::{self, HttpConnection};
use crate::connectors::http::idempotent::{IdempotencyConfig, compile_captures};
use crate::connectors::http::retry::{RetryConfig, RetryConfigError, StatusAction};
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::sinks::concurrent::MaxInFlight;

fn default_create_method() -> String {
    "POST".into()
}

/// Sends each record to an HTTP API as JSON.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpSinkConfig {
    /// A connection from `connections.yaml`: `path` is appended to its `base_url`, and its headers and
    /// timeout apply. Use either `connection` and `path`, or `url`.
    #[serde(default)]
    pub(crate) connection: Option<String>,
    /// The absolute URL (a template), e.g. `https://erp.example.com/api/orders`.
    #[serde(default)]
    pub(crate) url: Option<String>,
    /// The path below the connection's `base_url` (a template), e.g. `/api/orders`; a missing `/` is
    /// added.
    #[serde(default)]
    pub(crate) path: Option<String>,
    /// The HTTP method: `POST` (default), `PUT`, `PATCH`, `DELETE` or `GET`; may be a template.
    #[serde(default = "default_create_method")]
    pub(crate) method: String,
    /// Query parameters: name → template. Values are form-encoded, names too (Magento's bracketed
    /// `searchCriteria[filter_groups][0][filters][0][field]` keys arrive as written), in the order given,
    /// after any query the URL itself holds.
    #[serde(default)]
    pub(crate) query: IndexMap<String, String>,
    /// Request headers; values are templates and may use `${secret:NAME}`. They replace the
    /// connection's headers of the same name.
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    /// The JSON body: a structured template, like the `template` step's `value` (default: the record;
    /// none for `GET` and `DELETE`).
    /// With `batch_size` over 1 it also sees `records`, the list of the batch's records (e.g.
    /// `{ sourceItems: "{{ records }}" }`; default: that list); with `bulk`, it is one operation's
    /// entity, rendered per record.
    #[serde(default)]
    pub(crate) body: Option<Value>,
    /// Records sent in one request (default 1). Above 1, the URL, query and headers are rendered from
    /// the first record of each batch and the body from `records`; a rejected request dead-letters every
    /// record it held; retries resend the whole batch. Not with `idempotency` or `capture` (both are per
    /// record). Magento accepts at most 20 items per synchronous request when its web API input limits
    /// are on.
    #[serde(default = "default_batch_size")]
    pub(crate) batch_size: NonZeroUsize,
    /// Requests in flight at once (default 1). Answers may complete in any order; the source's
    /// checkpoint still only covers records acknowledged without a gap, and two records of one key are
    /// never in flight together, so updates of one key arrive in order. The connection's rate limit
    /// holds for all of them together.
    #[serde(default)]
    pub(crate) max_in_flight: MaxInFlight,
    /// Adobe Commerce asynchronous bulk: each request (of up to `batch_size` records) is a list of
    /// operations sent to an `/async/bulk/V1/...` path; the sink then polls the bulk's detailed status
    /// until no operation is open and settles each record by its operation's status.
    #[serde(default)]
    pub(crate) bulk: Option<BulkConfig>,
    /// Time limit for one request: connect, send, answer (default: the connection's `timeout`, else
    /// `30s`).
    #[serde(default)]
    pub(crate) timeout: Option<Duration>,
    /// How many more times a request whose outcome is unknown (no answer, 408, 429, 5xx) is tried
    /// within one write before the sink fails (default 2). With `idempotency`, the lookup runs before
    /// each new create. A shorthand for `retry: { max_attempts: retries + 1, initial: retry_backoff }`,
    /// used when `retry` is not given; with neither, the connection's `retry` applies, else this one.
    #[serde(default)]
    pub(crate) retries: Option<u32>,
    /// Wait before the first retry; doubled for each further one, at most 30s (default `200ms`).
    #[serde(default)]
    pub retry_backoff: Option<Duration>,
    /// Retry bounds: `{ max_attempts, initial, max, max_elapsed }` — tries in all (default 5), the
    /// first backoff interval (default `200ms`, doubled each try, with full jitter), the longest one
    /// wait (default `30s`, a `Retry-After` included) and the longest all tries together (default `5m`).
    /// Replaces `retries` and `retry_backoff`.
    #[serde(default)]
    pub retry: Option<RetryConfig>,
    /// What to do with an answer, by status code (`"409"`) or class (`"4xx"`), optionally followed by a
    /// text the answer's body must hold (`"400 already attached"`, without case; such entries are tried
    /// first): `ok`, `retry`,
    /// `rate_limited`, `dead_letter`, `ignore` (counted as delivered) or `fail` (stop the run). Over the
    /// defaults: 2xx ok, 408 and 5xx retry, 409 ignore (the target has it), 429 rate limited (the
    /// connection's whole rate limit waits for its `Retry-After`), other 3xx and 4xx dead letter.
    #[serde(default)]
    pub on_status: BTreeMap<String, StatusAction>,
    /// Makes creates safe to repeat across crashes and lost answers (needs the state store).
    #[serde(default)]
    pub(crate) idempotency: Option<IdempotencyConfig>,
    /// Optimistic concurrency, for APIs that demand `If-Match` on updates (Business Central): `{ path
    /// (or url), etag }` — the entity is read before each write and its ETag sent as `If-Match`; a
    /// `412` (changed in between) reads it again and writes once more.
    #[serde(default)]
    pub(crate) if_match: Option<IfMatchConfig>,
    /// Remote ids to record in the id map under the record's key: name → JSONPath into the answer's
    /// body (e.g. `erp_order_id: "$.id"`); with `idempotency`, also from the found record. Templates
    /// read them as `ids.erp_order_id`. Needs the state store.
    #[serde(default)]
    pub(crate) capture: BTreeMap<String, String>,
}

fn default_batch_size() -> NonZeroUsize {
    NonZeroUsize::MIN
}

impl HttpSinkConfig {
    /// Compiles every template and JSONPath; checks the connection exists.
    pub(crate) fn build(&self, ctx: &BuildContext) -> Result<HttpSinkWrites, BuildErrors> {
        let mut errors = BuildErrors::default();
        let connection = self.connection.as_ref().and_then(|name| {
            let c = errors.connection::<HttpConnection>(ctx, &["connection"], name, connection::KIND)?;
            Some((name.as_str(), c))
        });
        // The sink's headers replace the connection's of the same (case-insensitive) name.
        let mut merged = BTreeMap::new();
        for (name, value) in connection.iter().flat_map(|(_, c)| &c.headers).chain(&self.headers) {
            merged.insert(name.to_ascii_lowercase(), (name.clone(), value.clone()));
        }
        let headers: Vec<(String, String)> = merged.into_values().collect();
        let body = match &self.body {
            Some(v) => errors.value_template(ctx, &["body"], v).map(BodySpec::Template),
            // A batch's default body is the list of its records.
            None if self.batch_size.get() > 1 && self.bulk.is_none() => {
                errors.value_template(ctx, &["body"], &Value::from("{{ records }}")).map(BodySpec::Template)
            }
            // A GET or a DELETE carries no body (HTTP gives one no meaning there).
            None if ["GET", "DELETE"].iter().any(|m| self.method.eq_ignore_ascii_case(m)) => Some(BodySpec::None),
            None => Some(BodySpec::Record),
        };
        let unknown_connection = self.connection.is_some() && connection.is_none();
        let query: Vec<(String, String)> = self.query.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
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
                    query: &query,
                    headers: headers.clone(),
                    body,
                };
                RequestTemplate::compile(ctx, spec, &mut errors)
            })
        };
        let capture = compile_captures(&mut errors, &["capture"], &self.capture);
        let per_record = [
            ("idempotency", self.idempotency.is_some()),
            ("capture", !self.capture.is_empty()),
            ("if_match", self.if_match.is_some()),
        ];
        if self.if_match.is_some() && self.idempotency.is_some() {
            let hint = "`if_match` guards updates; `idempotency` guards creates: use one sink for each";
            errors.push(
                &["if_match"],
                "bad-value",
                "`if_match` cannot be combined with `idempotency`",
                Some(hint.into()),
            );
        }
        let if_match = match (&self.if_match, unknown_connection) {
            (Some(config), false) => config.build(ctx, connection, headers.clone(), &mut errors),
            _ => None,
        };
        for (key, set) in per_record {
            let grouped =
                if self.bulk.is_some() { Some("bulk") } else { (self.batch_size.get() > 1).then_some("batch_size") };
            if let (true, Some(grouped)) = (set, grouped) {
                errors.push(
                    &[key],
                    "bad-value",
                    format!("`{key}` works record by record and cannot be combined with `{grouped}`"),
                    Some(
                        "send one record per request (no `batch_size`, no `bulk`), or drop `{key}`"
                            .replace("{key}", key),
                    ),
                );
            }
        }
        let bulk = match (&self.bulk, unknown_connection) {
            (Some(b), false) => {
                let (url, path) = if connection.is_some() {
                    (None, Some(b.status.as_str()))
                } else {
                    (Some(b.status.as_str()), None)
                };
                let spec = RequestSpec {
                    field: &["bulk"],
                    connection,
                    url,
                    path,
                    method: "GET",
                    query: &[],
                    headers: headers.clone(),
                    body: BodySpec::None,
                };
                // Reported under `bulk.status`, the key that holds the URL or path.
                let mut status_errors = BuildErrors::default();
                let status = RequestTemplate::compile(ctx, spec, &mut status_errors);
                for mut e in status_errors.0 {
                    if let Some(last) = e.field.last_mut() {
                        *last = "status".into();
                    }
                    errors.0.push(e);
                }
                status.map(|status| Bulk::new(status, b))
            }
            _ => None,
        };
        let idempotency = match (&self.idempotency, unknown_connection) {
            (Some(idem), false) => idem.build(ctx, connection, headers.clone(), &capture, &mut errors),
            _ => None,
        };
        let timeout = self
            .timeout
            .map(|d| d.0)
            .or_else(|| connection.and_then(|(_, c)| c.timeout))
            .unwrap_or(std::time::Duration::from_secs(30));
        if timeout.is_zero() {
            errors.push(&["timeout"], "bad-value", "`timeout` must be longer than zero", None);
        }
        // `retry`, else the shorthand when given, else the connection's `retry`, else the shorthand's
        // defaults (3 tries from 200ms).
        let shorthand = RetryConfig {
            max_attempts: self.retries.unwrap_or(2).saturating_add(1),
            initial: self.retry_backoff.unwrap_or(Duration(std::time::Duration::from_millis(200))),
            ..RetryConfig::default()
        };
        let given = self
            .retry
            .clone()
            .or_else(|| (self.retries.is_some() || self.retry_backoff.is_some()).then(|| shorthand.clone()));
        let policy =
            match HttpConnection::policy(connection.map(|(_, c)| c), given.as_ref(), shorthand, &self.on_status) {
                Ok(p) => Some(p),
                Err(e) => {
                    let field = if matches!(e, RetryConfigError::NoAttempt) { "retry" } else { "on_status" };
                    errors.push(&[field], "bad-value", e.to_string(), None);
                    None
                }
            };
        match (create, policy) {
            (Some(create), Some(policy))
                if errors.0.is_empty()
                    && idempotency.is_some() == self.idempotency.is_some()
                    && bulk.is_some() == self.bulk.is_some()
                    && if_match.is_some() == self.if_match.is_some() =>
            {
                Ok(HttpSinkWrites::new(HttpSink {
                    create,
                    batch_size: self.batch_size.get(),
                    max_in_flight: self.max_in_flight.get(),
                    bulk,
                    capture,
                    idempotency,
                    if_match,
                    timeout,
                    auth: connection.and_then(|(_, c)| c.auth.clone()),
                    limit: connection.and_then(|(_, c)| c.limit.clone()),
                    client_options: crate::connectors::http::connection::ClientOptions {
                        hook: ctx.request_hook.clone(),
                        ..connection.map(|(_, c)| c.client.clone()).unwrap_or_default()
                    },
                    policy,
                    run: None,
                }))
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
