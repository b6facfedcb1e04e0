//! `http` step: calls an API for each record and writes (part of) the answer into it — the ERP customer
//! looked up by e-mail before the order is created, a configurable product's children. The request is
//! templated like the `http` sink's (connection, URL or path, method, query, headers, JSON body, or a
//! GraphQL query with variables), judged by the same retry policy and `on_status`, paced by the
//! connection's rate limit; answers are cached by request within a run (`cache`). With `idempotency`
//! the step creates something exactly once (the sink's intent protocol) and passes the ids it
//! captured on, e.g. to a sink writing the ERP's order number back to the shop. The configuration and
//! its `build()` live here; the runtime in `call`, the idempotent creates in `create`, the cache in
//! `cache`.

mod cache;
mod call;
mod create;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::context::field_to_jsonpath;
use crate::config::duration::Duration;
use crate::connectors::http::connection::{self, HttpConnection};
use crate::connectors::http::exchange::time_limit;
use crate::connectors::http::idempotent::{IdempotencyConfig, compile_captures};
use crate::connectors::http::request::{BodySpec, RequestSpec, RequestTemplate, merged_headers};
use crate::connectors::http::retry::{RetryConfig, StatusAction};
use crate::kernel::build::{BuildContext, BuildErrors};
pub(crate) use call::HttpStep;

/// What a request that finds nothing means: a `404`, or an answer where `select` selects nothing,
/// `null`, `[]` or `{}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OnMissing {
    /// The record goes on unchanged (`into` is not written).
    Keep,
    /// The record is dropped on purpose (counted as filtered).
    Drop,
    /// The record goes to the dead-letter queue, with the request and what was missing.
    #[default]
    DeadLetter,
}

/// A GraphQL request: POSTed as `{"query", "variables"}`; the answer's `errors` are failures.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GraphqlRequestConfig {
    /// The GraphQL document, sent as written (not a template: pass values through `variables`).
    pub(crate) query: String,
    /// The variables: a structured template over `record`, like the `template` step's `value`, e.g.
    /// `{ sku: "{{ record.sku }}" }`.
    #[serde(default)]
    pub(crate) variables: Option<Value>,
    /// Take the answer's `data` even when it comes with `errors` (partial data; a warning is logged).
    /// Default false: any error dead-letters the record with the server's messages.
    #[serde(default)]
    pub(crate) allow_partial: bool,
}

/// The answer cache: `{ max_entries, max_bytes }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CacheConfig {
    /// Answers kept at most, the least recently used dropped first (default 10000); `0` turns the
    /// cache off.
    #[serde(default = "default_max_entries")]
    pub(crate) max_entries: usize,
    /// Bytes kept at most, counted as each request's key plus its selected answer's JSON text (default
    /// 67108864, 64 MiB); a larger answer is not cached.
    #[serde(default = "default_max_bytes")]
    pub(crate) max_bytes: usize,
}

fn default_max_entries() -> usize {
    10_000
}

fn default_max_bytes() -> usize {
    64 << 20
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self { max_entries: default_max_entries(), max_bytes: default_max_bytes() }
    }
}

/// Calls an HTTP API for each record and writes the answer into it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpStepConfig {
    /// A connection from `connections.yaml`: `path` is appended to its `base_url`, and its headers,
    /// auth, rate limit and timeout apply. Use either `connection` and `path`, or `url`.
    #[serde(default)]
    pub(crate) connection: Option<String>,
    /// The absolute URL (a template), e.g. `https://erp.example.com/api/customers`.
    #[serde(default)]
    pub(crate) url: Option<String>,
    /// The path below the connection's `base_url` (a template), e.g.
    /// `/V1/products/{{ record.sku | path_segment }}`; a missing `/` is added.
    #[serde(default)]
    pub(crate) path: Option<String>,
    /// The HTTP method, `GET`, `POST`, `PUT`, `PATCH` or `DELETE`; may be a template (default: `GET`,
    /// `POST` with `graphql` or `idempotency`).
    #[serde(default)]
    pub(crate) method: Option<String>,
    /// Query parameters added to the URL: name → template, each value URL-encoded, e.g.
    /// `{ email: "{{ record.email }}" }`.
    #[serde(default)]
    pub(crate) query: indexmap::IndexMap<String, String>,
    /// Request headers; values are templates and may use `${secret:NAME}`. They replace the
    /// connection's headers of the same name.
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    /// A JSON body: a structured template, like the `template` step's `value` (default: none).
    #[serde(default)]
    pub(crate) body: Option<Value>,
    /// A GraphQL request instead of `body`: `{ query, variables, allow_partial }`. `select` then reads
    /// the answer's `data`.
    #[serde(default)]
    pub(crate) graphql: Option<GraphqlRequestConfig>,
    /// JSONPath into the answer's JSON body (GraphQL: into its `data`) selecting what is written, e.g.
    /// `$.items[0]` (default `$`, the whole answer). The first match is taken.
    #[serde(default)]
    pub(crate) select: Option<String>,
    /// Field (name, dotted name or JSONPath) the selected answer is written to, e.g. `erp_customer`.
    pub(crate) into: String,
    /// What is written to `into` instead of the selected answer: a structured template that sees
    /// `answer` (the selected value) and `record`, e.g. `"{{ answer.id }}"`.
    #[serde(default)]
    pub(crate) value: Option<Value>,
    /// What a request that finds nothing (`404`, or `select` finds nothing, `null`, `[]` or `{}`)
    /// does: `keep` (the record goes on unchanged), `drop` (filtered) or `dead_letter` (default).
    #[serde(default)]
    pub(crate) on_missing: OnMissing,
    /// Time limit for one request: connect, send, answer (default: the connection's `timeout`, else
    /// `30s`).
    #[serde(default)]
    pub(crate) timeout: Option<Duration>,
    /// Retry bounds: `{ max_attempts, initial, max, max_elapsed }`, as the `http` sink's (default 5
    /// tries, `200ms` doubled with full jitter, at most `30s` a wait and `5m` in all). When they are
    /// spent the run stops and the record stays unacknowledged (read again next run).
    #[serde(default)]
    pub(crate) retry: Option<RetryConfig>,
    /// What to do with an answer, by status code (`"409"`) or class (`"4xx"`), optionally followed by a
    /// text the answer's body must hold (`"400 already attached"`, without case): `ok`, `retry`,
    /// `rate_limited`, `dead_letter`, `ignore` (the record goes on unchanged) or `fail` (stop the run).
    /// Over the `http` sink's defaults, with `404` meaning missing (`on_missing`) unless listed here.
    #[serde(default)]
    pub(crate) on_status: BTreeMap<String, StatusAction>,
    /// The answer cache: a request equal to an earlier one of the run (method, URL, headers, body) is
    /// answered from it; `max_entries: 0` turns it off (default: `{ max_entries: 10000, max_bytes:
    /// 67108864 }`). Never used with `idempotency`.
    #[serde(default)]
    pub(crate) cache: CacheConfig,
    /// Makes the request a create that happens once per record, across retries, crashes and runs (the
    /// `http` sink's intent protocol; needs the state store): `{ key, lookup: { path, found, capture },
    /// header, settle }`. What the step then writes to `into` is the ids it captured — from the
    /// create's answer (`capture`), from the record found by the lookup (`lookup.capture`), or, when an
    /// earlier run created it, those remembered with the intent — so a later step or sink (writing the
    /// ERP's order number back to the shop) gets them every time. `select` does not apply.
    #[serde(default)]
    pub(crate) idempotency: Option<IdempotencyConfig>,
    /// Ids to record in the id map under the record's key: name → JSONPath into the answer (what
    /// `select` selected; with `idempotency`, the create's whole answer), e.g. `erp_order_number:
    /// "$.number"`; with `idempotency` also what `into` receives. Templates read them as `ids.<name>`
    /// (this pipeline) or `ids_for(key).<name>` (any). Needs the state store.
    #[serde(default)]
    pub(crate) capture: BTreeMap<String, String>,
}

impl HttpStepConfig {
    /// Compiles the request, every template and JSONPath, and the retry policy.
    pub(crate) fn build(&self, ctx: &BuildContext) -> Result<HttpStep, BuildErrors> {
        let mut errors = BuildErrors::default();
        let connection = self.connection.as_ref().and_then(|name| {
            let c = errors.connection::<HttpConnection>(ctx, &["connection"], name, connection::KIND)?;
            Some((name.as_str(), c))
        });
        let body = match (&self.body, &self.graphql) {
            (Some(_), Some(_)) => {
                errors.push(&["graphql"], "bad-value", "give either `body` or `graphql`, not both", None);
                None
            }
            (Some(v), None) => errors.value_template(ctx, &["body"], v).map(BodySpec::Template),
            (None, Some(g)) => match &g.variables {
                Some(v) => errors.value_template(ctx, &["graphql", "variables"], v).map(BodySpec::Template),
                None => Some(BodySpec::None),
            },
            (None, None) => Some(BodySpec::None),
        };
        let default_method = if self.graphql.is_some() || self.idempotency.is_some() { "POST" } else { "GET" };
        let method = self.method.as_deref().unwrap_or(default_method);
        if self.graphql.is_some() && !method.eq_ignore_ascii_case("POST") {
            errors.push(&["method"], "bad-value", "a `graphql` request is a `POST`", None);
        }
        let query: Vec<(String, String)> = self.query.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let headers = merged_headers(connection.map(|(_, c)| c), &self.headers);
        let capture = compile_captures(&mut errors, &["capture"], &self.capture);
        let unknown_connection = self.connection.is_some() && connection.is_none();
        let idempotency = match (&self.idempotency, unknown_connection) {
            (Some(idem), false) => idem.build(ctx, connection, headers.clone(), &capture, &mut errors),
            _ => None,
        };
        if self.idempotency.is_some() {
            for (set, key) in [(self.select.is_some(), "select"), (self.graphql.is_some(), "graphql")] {
                if set {
                    errors.push(
                        &[key],
                        "bad-value",
                        format!("`{key}` cannot be combined with `idempotency`"),
                        Some("an idempotent step writes the ids it captured (`capture`) to `into`".into()),
                    );
                }
            }
            if self.capture.is_empty() && self.idempotency.as_ref().is_some_and(|i| i.lookup.capture.is_none()) {
                errors.push(
                    &["capture"],
                    "bad-value",
                    "an idempotent step needs `capture`: the ids it passes on",
                    Some("e.g. `capture: { erp_order_number: \"$.number\" }`".into()),
                );
            }
        }
        let request = body.and_then(|body| {
            if self.connection.is_some() && connection.is_none() {
                return None;
            }
            let spec = RequestSpec {
                field: &[],
                connection,
                url: self.url.as_deref(),
                path: self.path.as_deref(),
                method,
                query: &query,
                headers,
                body,
            };
            RequestTemplate::compile(ctx, spec, &mut errors)
        });
        let select = self.select.as_ref().map(|s| errors.jsonpath(&["select"], s));
        let into = errors.jsonpath(&["into"], &field_to_jsonpath(&self.into));
        if let Some(into) = &into
            && !into.is_singular()
        {
            errors.push(
                &["into"],
                "bad-value",
                "`into` must name one field (a name, a dotted name or a singular JSONPath)",
                None,
            );
        }
        let value = self.value.as_ref().map(|v| errors.value_template(ctx, &["value"], v));
        let timeout = time_limit(self.timeout, connection.map(|(_, c)| c), &mut errors);
        // The step's own `retry` and `on_status` over the connection's, as for every HTTP component.
        let policy = match HttpConnection::policy(
            connection.map(|(_, c)| c),
            self.retry.as_ref(),
            RetryConfig::default(),
            &self.on_status,
        ) {
            Ok(p) => Some(p),
            Err(e) => {
                errors.push(&["on_status"], "bad-value", e.to_string(), None);
                None
            }
        };
        errors.finish(|| {
            Some(HttpStep::new(call::Compiled {
                request: request?,
                graphql: self
                    .graphql
                    .as_ref()
                    .map(|g| call::Graphql { query: g.query.clone(), allow_partial: g.allow_partial }),
                select: match select {
                    Some(s) => Some(s?),
                    None => None,
                },
                into: into?,
                value: match value {
                    Some(v) => Some(v?),
                    None => None,
                },
                on_missing: self.on_missing,
                not_found_is_missing: !self.on_status.contains_key("404"),
                policy: policy?,
                timeout,
                connection: connection.map(|(_, c)| c.clone()),
                hook: ctx.request_hook.clone(),
                cache: if self.idempotency.is_some() {
                    CacheConfig { max_entries: 0, ..self.cache.clone() }
                } else {
                    self.cache.clone()
                },
                idempotency: match (&self.idempotency, idempotency) {
                    (Some(_), Some(i)) => Some(i),
                    (Some(_), None) => return None,
                    (None, _) => None,
                },
                capture,
            }))
        })
    }
}

#[cfg(test)]
mod tests;
