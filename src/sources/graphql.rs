//! `graphql` source: one poll of a GraphQL API per `weir run`. The query is POSTed with its variables
//! through the connection's client (auth, rate limit, retries); the records `records` (a JSONPath into
//! the answer's `data`) selects are the inputs, in order. Paging follows the Relay connection shape:
//! `pageInfo { hasNextPage endCursor }` read at `paginate.page_info`, `endCursor` passed back in the
//! variable `paginate.cursor_variable`. An answer with `errors` (even with HTTP 200), a page that is
//! not JSON, a cursor that repeats or a page past `max_pages` fails the source: nothing is skipped
//! silently. No position is kept: every run reads from the first page.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::emit::{Emitter, Input};
use super::{Source, SourceContext, SourceError, SourceRun};
use crate::config::duration::Duration;
use crate::connectors::http::client::{Client, Prepared, excerpt, scrub};
use crate::connectors::http::connection::{self, HttpConnection};
use crate::connectors::http::exchange::{Exchange, client, exchange, json_body, time_limit};
use crate::connectors::http::graphql;
use crate::connectors::http::request::{BodySpec, RequestSpec, RequestTemplate, merged_headers};
use crate::connectors::http::retry::{RetryConfig, RetryPolicy, StatusAction};
use crate::expr::jsonpath::JsonPath;
use crate::expr::template::{RenderContext, ValueTemplate};
use crate::kernel::ack::{InputEnd, InputPosition};
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::fused::Chain;

fn default_max_pages() -> u64 {
    10_000
}

fn default_cursor_variable() -> String {
    "after".into()
}

/// Cursor paging over a Relay-style connection.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GraphqlPaginateConfig {
    /// JSONPath into `data` of the connection's `pageInfo` object, which holds `hasNextPage` and
    /// `endCursor`, e.g. `$.products.pageInfo`.
    pub(crate) page_info: String,
    /// The query variable the next page's cursor (the last `endCursor`) is passed in (default
    /// `after`); absent on the first page unless `variables` sets it.
    #[serde(default = "default_cursor_variable")]
    pub(crate) cursor_variable: String,
}

/// Reads records from a GraphQL API, page by page.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GraphqlSourceConfig {
    /// A connection from `connections.yaml`: `path` is appended to its `base_url`, and its headers,
    /// auth, rate limit and timeout apply. Use either `connection` and `path`, or `url`.
    #[serde(default)]
    pub(crate) connection: Option<String>,
    /// The absolute URL of the GraphQL endpoint, e.g. `https://shop.example.com/graphql`.
    #[serde(default)]
    pub(crate) url: Option<String>,
    /// The path below the connection's `base_url`, e.g. `/graphql`.
    #[serde(default)]
    pub(crate) path: Option<String>,
    /// Request headers (values may use `${secret:NAME}`); they replace the connection's headers of the
    /// same name.
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    /// The GraphQL document, sent as written. With `paginate`, it declares the cursor variable, e.g.
    /// `query ($after: String) { products(first: 50, after: $after) { … pageInfo { hasNextPage endCursor } } }`.
    pub(crate) query: String,
    /// The query's variables: a structured template rendered once per poll (it sees no record), e.g.
    /// `{ status: "processing" }`.
    #[serde(default)]
    pub(crate) variables: Option<Value>,
    /// JSONPath into the answer's `data` selecting the records of each page, e.g.
    /// `$.products.items[*]`; each is one input.
    pub(crate) records: String,
    /// Cursor paging: `{ page_info, cursor_variable }` (default: one request).
    #[serde(default)]
    pub(crate) paginate: Option<GraphqlPaginateConfig>,
    /// Take a page's `data` even when it comes with `errors` (partial data; a warning is logged).
    /// Default false: any error fails the poll with the server's messages.
    #[serde(default)]
    pub(crate) allow_partial: bool,
    /// The most pages one poll reads (default 10000): more fails the source rather than reading on.
    #[serde(default = "default_max_pages")]
    pub(crate) max_pages: u64,
    /// Time limit for one request: connect, send, answer (default: the connection's `timeout`, else
    /// `30s`).
    #[serde(default)]
    pub(crate) timeout: Option<Duration>,
    /// Retry bounds: `{ max_attempts, initial, max, max_elapsed }`, as the `http` sink's (default 5
    /// tries, `200ms` doubled with full jitter, at most `30s` a wait and `5m` in all); 408, 429, 5xx
    /// and no answer are tried again, any other status but 2xx fails the poll.
    #[serde(default)]
    pub(crate) retry: Option<RetryConfig>,
}

/// Compiled paging.
#[derive(Debug)]
struct Paging {
    page_info: JsonPath,
    cursor_variable: String,
}

/// Built `graphql` source.
#[derive(Debug)]
pub(crate) struct GraphqlSource {
    request: RequestTemplate,
    query: String,
    variables: Option<ValueTemplate>,
    records: JsonPath,
    /// `records` without a last `[*]`, to tell an empty page from a path that selects nothing.
    container: Option<JsonPath>,
    paging: Option<Paging>,
    allow_partial: bool,
    max_pages: u64,
    timeout: StdDuration,
    connection: Option<HttpConnection>,
    /// Answers or records requests (`weir test`).
    hook: Option<crate::kernel::mock::RequestHook>,
    policy: RetryPolicy,
}

impl GraphqlSourceConfig {
    /// Checks the connection, the URL, the headers, the variables and every JSONPath.
    pub(crate) fn build(&self, ctx: &BuildContext) -> Result<GraphqlSource, BuildErrors> {
        let mut errors = BuildErrors::default();
        let connection = self.connection.as_ref().and_then(|name| {
            let c = errors.connection::<HttpConnection>(ctx, &["connection"], name, connection::KIND)?;
            Some((name.as_str(), c))
        });
        let request = if self.connection.is_some() && connection.is_none() {
            None
        } else {
            let spec = RequestSpec {
                query: &[],
                field: &[],
                connection,
                url: self.url.as_deref(),
                path: self.path.as_deref(),
                method: "POST",
                headers: merged_headers(connection.map(|(_, c)| c), &self.headers),
                body: BodySpec::None,
            };
            RequestTemplate::compile(ctx, spec, &mut errors)
        };
        if self.query.trim().is_empty() {
            errors.push(&["query"], "bad-value", "`query` is empty", None);
        }
        let variables = self.variables.as_ref().map(|v| errors.value_template(ctx, &["variables"], v));
        let records = errors.jsonpath(&["records"], &self.records);
        let container = self.records.strip_suffix("[*]").and_then(|c| JsonPath::compile(c).ok());
        let paging = self.paginate.as_ref().map(|p| {
            let page_info = errors.jsonpath(&["paginate", "page_info"], &p.page_info);
            if p.cursor_variable.trim().is_empty() {
                errors.push(&["paginate", "cursor_variable"], "bad-value", "name the cursor variable", None);
            } else if !self.query.contains(&format!("${}", p.cursor_variable)) {
                let message = format!("`query` does not use the cursor variable `${}`", p.cursor_variable);
                let hint = format!("declare it, e.g. `query ($after: String) {{ …(after: ${}) }}`", p.cursor_variable);
                errors.push(&["paginate", "cursor_variable"], "bad-value", message, Some(hint));
            }
            page_info.map(|page_info| Paging { page_info, cursor_variable: p.cursor_variable.clone() })
        });
        if self.max_pages == 0 {
            errors.push(&["max_pages"], "bad-value", "`max_pages` must be at least 1", None);
        }
        let timeout = time_limit(self.timeout, connection.map(|(_, c)| c), &mut errors);
        // The source's own `retry` over the connection's `retry` and `on_status`.
        let policy = HttpConnection::policy(
            connection.map(|(_, c)| c),
            self.retry.as_ref(),
            RetryConfig::default(),
            &BTreeMap::new(),
        );
        if let Err(e) = &policy {
            errors.push(&["retry"], "bad-value", e.to_string(), None);
        }
        errors.finish(|| {
            Some(GraphqlSource {
                request: request?,
                query: self.query.clone(),
                variables: match variables {
                    Some(v) => Some(v?),
                    None => None,
                },
                records: records?,
                container,
                paging: match paging {
                    Some(p) => Some(p?),
                    None => None,
                },
                allow_partial: self.allow_partial,
                max_pages: self.max_pages,
                timeout,
                connection: connection.map(|(_, c)| c.clone()),
                hook: ctx.request_hook.clone(),
                policy: policy.ok()?,
            })
        })
    }
}

impl Source for GraphqlSource {
    fn run(self: Box<Self>, ctx: SourceContext, chain: Chain) -> SourceRun {
        SourceRun::Blocking(Box::new(move || self.poll(&ctx, chain)))
    }
}

fn failed(message: String, retryable: bool) -> SourceError {
    SourceError::Read { message: scrub(message), retryable }
}

impl GraphqlSource {
    /// Reads every page, blocking; call from a blocking thread.
    fn poll(&self, ctx: &SourceContext, chain: Chain) -> Result<(), SourceError> {
        let client = client(self.timeout, self.connection.as_ref(), self.hook.clone())
            .map_err(|message| failed(message, false))?;
        let render = RenderContext::new(std::sync::Arc::new(Value::Object(Map::new())));
        let mut request = self.request.render(&render).map_err(|e| failed(e, false))?;
        let mut variables = match &self.variables {
            Some(t) => match t.render(&render).map_err(|e| failed(format!("`variables`: {e}"), false))? {
                Value::Object(map) => map,
                other => return Err(failed(format!("`variables` must be an object, not {other}"), false)),
            },
            None => Map::new(),
        };
        let mut emitter = Emitter::new(ctx, chain);
        let mut seen_cursors = std::collections::HashSet::new();
        let mut seq = 0u64;
        for page in 1.. {
            if page > self.max_pages {
                let message =
                    format!("`max_pages` ({}) pages were read and the API has more; raise `max_pages`", self.max_pages);
                return Err(failed(message, false));
            }
            request.body = Some(graphql::body(&self.query, Value::Object(variables.clone())));
            let data = self.fetch(&client, &request)?;
            for record in self.select(&data, &request)? {
                let size = record.to_string().len();
                let position = InputPosition { stream: 0, seq };
                seq += 1;
                let input = Input {
                    position,
                    parsed: Ok(record.clone()),
                    original: None,
                    end: InputEnd::default(),
                    size,
                    key: None,
                };
                if !emitter.push(input) {
                    emitter.send();
                    return Ok(());
                }
            }
            let Some(paging) = &self.paging else { break };
            match self.next_cursor(paging, &data, &request)? {
                None => break,
                Some(cursor) => {
                    if !seen_cursors.insert(cursor.clone()) {
                        let message = format!(
                            "{}: page {page} answered `endCursor` {} again: the API loops; stopping",
                            request.target,
                            excerpt(&cursor.to_string(), 60)
                        );
                        return Err(failed(message, false));
                    }
                    variables.insert(paging.cursor_variable.clone(), cursor);
                }
            }
        }
        emitter.send();
        Ok(())
    }

    /// One page's `data`: retried as the policy says (5xx, 429, no answer); any other status, a body
    /// that is not JSON or GraphQL `errors` fail the source.
    fn fetch(&self, client: &Client, request: &Prepared) -> Result<Value, SourceError> {
        let (ended, tries) = exchange(client, &self.policy, request).map_err(|e| failed(e.message, e.retryable))?;
        match ended {
            Exchange::Settled(StatusAction::Ok, answer) => {
                let body = json_body(request, answer).map_err(|e| failed(e, false))?;
                graphql::data(body, self.allow_partial).map_err(|e| failed(format!("{}: {e}", request.target), false))
            }
            Exchange::GaveUp(answer) => {
                Err(failed(format!("{}: {} (after {tries} attempts)", request.target, answer.describe()), true))
            }
            Exchange::Settled(_, answer) => {
                Err(failed(format!("{} answered {}", request.target, answer.describe()), false))
            }
        }
    }

    /// The records of a page; an error when `records` selects nothing and the page is not empty.
    fn select<'d>(&self, data: &'d Value, request: &Prepared) -> Result<Vec<&'d Value>, SourceError> {
        let selected = self.records.query(data);
        let empty_page = self.container.as_ref().and_then(|c| c.first(data)).is_some_and(|v| match v {
            Value::Array(a) => a.is_empty(),
            Value::Null => true,
            _ => false,
        });
        if selected.is_empty() && !empty_page {
            let message = format!(
                "{}: `records` ({}) selects nothing in this page's `data`: {}",
                request.target,
                self.records.as_str(),
                excerpt(&data.to_string(), 200)
            );
            return Err(failed(message, false));
        }
        Ok(selected)
    }

    /// The cursor of the next page, or `None` when `hasNextPage` is false.
    fn next_cursor(&self, paging: &Paging, data: &Value, request: &Prepared) -> Result<Option<Value>, SourceError> {
        let info = paging.page_info.first(data).filter(|v| v.is_object()).ok_or_else(|| {
            let message = format!(
                "{}: `paginate.page_info` ({}) selects no object in this page's `data`; ask for `pageInfo {{ hasNextPage endCursor }}`",
                request.target,
                paging.page_info.as_str()
            );
            failed(message, false)
        })?;
        match (info.get("hasNextPage"), info.get("endCursor")) {
            (Some(Value::Bool(false)), _) => Ok(None),
            (Some(Value::Bool(true)), Some(cursor)) if !cursor.is_null() => Ok(Some(cursor.clone())),
            _ => {
                let message = format!(
                    "{}: `pageInfo` needs `hasNextPage` (a boolean) and, while it is true, `endCursor`: {}",
                    request.target,
                    excerpt(&info.to_string(), 200)
                );
                Err(failed(message, false))
            }
        }
    }
}

#[cfg(test)]
#[path = "graphql_tests.rs"]
mod tests;
