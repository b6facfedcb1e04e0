//! `http` source: one poll of an HTTP API per `weir run`. Pages are read one after another with the
//! connection's client (auth, rate limit, client settings) and a `paginate` strategy; the records
//! `records` (a JSONPath) selects on each page are the inputs, in order. A page that is not JSON, one
//! where `records` selects nothing, a body over the size cap, a cursor or next link that repeats and a
//! page past `max_pages` fail the source with the page's URL: nothing is skipped silently. No position
//! is kept yet (no watermark): every run reads from the first page.

mod paginate;

use std::collections::BTreeMap;
use std::time::{Duration as StdDuration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::emit::{Emitter, Input};
use super::{Source, SourceContext, SourceError, SourceRun};
use crate::config::duration::Duration;
use crate::connectors::http::client::{Answer, Client, Prepared, scrub};
use crate::connectors::http::connection::{self, ClientOptions, HttpConnection};
use crate::connectors::http::retry::{RetryConfig, RetryPolicy, StatusAction, Verdict};
use crate::expr::jsonpath::JsonPath;
use crate::kernel::ack::{InputEnd, InputPosition};
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::fused::Chain;
use paginate::{Page, Pager, PaginateConfig, Strategy};

fn default_max_pages() -> u64 {
    10_000
}

/// Reads records from an HTTP API, page by page.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpSourceConfig {
    /// A connection from `connections.yaml`: `path` is appended to its `base_url`, and its headers,
    /// auth, rate limit and timeout apply. Use either `connection` and `path`, or `url`.
    #[serde(default)]
    pub(crate) connection: Option<String>,
    /// The absolute URL of the first page, e.g. `https://erp.example.com/api/items`.
    #[serde(default)]
    pub(crate) url: Option<String>,
    /// The path below the connection's `base_url`, e.g. `/V1/orders`; a missing `/` is added.
    #[serde(default)]
    pub(crate) path: Option<String>,
    /// Query parameters added to every page's request (fixed strings), e.g.
    /// `{ "searchCriteria[filter_groups][0][filters][0][field]": status }`.
    #[serde(default)]
    pub(crate) query: BTreeMap<String, String>,
    /// Request headers (values may use `${secret:NAME}`); they replace the connection's headers of the
    /// same name.
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    /// JSONPath selecting the records in each page, e.g. `$.items[*]` or `$.value[*]`; each is one input.
    pub(crate) records: String,
    /// How to page through the API: `{ type: magento | page | offset | cursor | next_link | link_header,
    /// … }` (default: one request).
    #[serde(default)]
    pub(crate) paginate: Option<PaginateConfig>,
    /// The most pages one poll reads (default 10000): more fails the source rather than reading on.
    #[serde(default = "default_max_pages")]
    pub(crate) max_pages: u64,
    /// Time limit for one request: connect, send, answer (default: the connection's `timeout`, else
    /// `30s`).
    #[serde(default)]
    pub(crate) timeout: Option<Duration>,
}

/// Built `http` source.
#[derive(Debug)]
pub(crate) struct HttpSource {
    /// The first page's URL without paging parameters.
    base: url::Url,
    headers: HeaderMap,
    records: JsonPath,
    /// `records` without a last `[*]`, to tell an empty page (an empty list) from a path that selects
    /// nothing.
    container: Option<JsonPath>,
    strategy: Strategy,
    max_pages: u64,
    timeout: StdDuration,
    client_options: ClientOptions,
    auth: Option<crate::connectors::http::auth::Auth>,
    limit: Option<std::sync::Arc<crate::kernel::rate_limit::RateLimit>>,
    policy: RetryPolicy,
}

impl HttpSourceConfig {
    /// Checks the connection, the URL, the headers and every JSONPath.
    pub(crate) fn build(&self, ctx: &BuildContext) -> Result<HttpSource, BuildErrors> {
        let mut errors = BuildErrors::default();
        let connection = self
            .connection
            .as_ref()
            .and_then(|name| errors.connection::<HttpConnection>(ctx, &["connection"], name, connection::KIND));
        let base = self.base_url(connection, &mut errors);
        let mut headers = HeaderMap::new();
        for (name, value) in connection.iter().flat_map(|c| &c.headers).chain(&self.headers) {
            match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
                (Ok(n), Ok(v)) => {
                    headers.insert(n, v);
                }
                (Err(_), _) => {
                    errors.push(&["headers", name], "bad-value", format!("`{name}` is not a valid header name"), None)
                }
                // The value is not shown: it is often a secret.
                (_, Err(_)) => errors.push(
                    &["headers", name],
                    "bad-value",
                    format!("the value of header `{name}` is not a valid header value"),
                    None,
                ),
            }
        }
        let records = errors.jsonpath(&["records"], &self.records);
        let container = self.records.strip_suffix("[*]").and_then(|c| JsonPath::compile(c).ok());
        let strategy = Strategy::build(self.paginate.as_ref(), &mut errors);
        if self.max_pages == 0 {
            errors.push(&["max_pages"], "bad-value", "`max_pages` must be at least 1", None);
        }
        let timeout = self
            .timeout
            .map(|d| d.0)
            .or_else(|| connection.and_then(|c| c.timeout))
            .unwrap_or(StdDuration::from_secs(30));
        if timeout.is_zero() {
            errors.push(&["timeout"], "bad-value", "`timeout` must be longer than zero", None);
        }
        let policy = RetryPolicy::build(&RetryConfig::default(), &BTreeMap::new());
        errors.finish(|| {
            Some(HttpSource {
                base: base?,
                headers,
                records: records?,
                container,
                strategy: strategy?,
                max_pages: self.max_pages,
                timeout,
                client_options: connection.map(|c| c.client.clone()).unwrap_or_default(),
                auth: connection.and_then(|c| c.auth.clone()),
                limit: connection.and_then(|c| c.limit.clone()),
                policy: policy.ok()?,
            })
        })
    }

    /// The first page's URL with `query`, from `url` or the connection's base URL and `path`.
    fn base_url(&self, connection: Option<&HttpConnection>, errors: &mut BuildErrors) -> Option<url::Url> {
        let (field, text) = match (&self.connection, &self.url, &self.path) {
            (None, Some(url), None) => ("url", url.clone()),
            (Some(_), None, Some(path)) => {
                let base = &connection?.base_url;
                ("path", if path.starts_with('/') { format!("{base}{path}") } else { format!("{base}/{path}") })
            }
            (Some(_), Some(_), _) => {
                errors.push(&["url"], "bad-value", "give either `url`, or `connection` and `path`, not both", None);
                return None;
            }
            (None, _, Some(_)) => {
                let message = "`path` is joined to a connection's `base_url`: name the `connection`";
                errors.push(&["path"], "bad-value", message, None);
                return None;
            }
            (Some(name), None, None) => {
                let message = format!("connection `{name}` needs a `path` (appended to its `base_url`)");
                errors.push(&["path"], "bad-value", message, None);
                return None;
            }
            (None, None, None) => {
                let hint = Some("e.g. `url: \"https://erp.example.com/api/items\"`".to_string());
                errors.push(&["url"], "bad-value", "where to read: give `url`, or `connection` and `path`", hint);
                return None;
            }
        };
        match url::Url::parse(&text) {
            Ok(mut url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                if !self.query.is_empty() {
                    url.query_pairs_mut().extend_pairs(&self.query);
                }
                Some(url)
            }
            _ => {
                let hint = Some("write the scheme and host, e.g. `https://erp.example.com/api/items`".to_string());
                errors.push(&[field], "bad-url", format!("`{}` is not an absolute http(s) URL", scrub(&text)), hint);
                None
            }
        }
    }
}

impl Source for HttpSource {
    fn run(self: Box<Self>, ctx: SourceContext, chain: Chain) -> SourceRun {
        SourceRun::Blocking(Box::new(move || self.poll(&ctx, chain)))
    }
}

fn failed(message: String, retryable: bool) -> SourceError {
    SourceError::Read { message: scrub(message), retryable }
}

impl HttpSource {
    /// Reads every page, blocking; call from a blocking thread.
    fn poll(&self, ctx: &SourceContext, chain: Chain) -> Result<(), SourceError> {
        let client = Client::new(self.timeout, &self.client_options, self.auth.clone(), self.limit.clone())
            .map_err(|message| failed(message, false))?;
        let mut emitter = Emitter::new(ctx, chain);
        let mut pager = Pager::new(&self.strategy);
        let mut next = Some(pager.first(&self.base));
        let mut seq = 0u64;
        let mut pages = 0u64;
        while let Some(url) = next.take() {
            if pages == self.max_pages {
                let message = format!(
                    "`max_pages` ({}) pages were read and the API has more (next: {url}); raise `max_pages`",
                    self.max_pages
                );
                return Err(failed(message, false));
            }
            pages += 1;
            let (body, link) = self.fetch(&client, &url)?;
            let selected = self.select(&body, &url)?;
            let count = selected.len();
            for record in selected {
                let size = record.to_string().len();
                let input = Input {
                    position: InputPosition { stream: 0, seq },
                    parsed: Ok(record.clone()),
                    original: None,
                    end: InputEnd::default(),
                    size,
                };
                seq += 1;
                if !emitter.push(input) {
                    emitter.send();
                    return Ok(());
                }
            }
            let page = Page { url: &url, body: &body, records: count, link: link.as_deref() };
            next = pager.next(&self.base, &page).map_err(|e| failed(format!("GET {url}: {e}"), false))?;
        }
        emitter.send();
        Ok(())
    }

    /// The records `records` selects on the page read from `url`; an error when it selects nothing
    /// and the page is not empty.
    fn select<'b>(&self, body: &'b Value, url: &url::Url) -> Result<Vec<&'b Value>, SourceError> {
        let selected = self.records.query(body);
        let empty = |v: &Value| match v {
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            Value::Null => true,
            _ => false,
        };
        let empty_page = empty(body) || self.container.as_ref().and_then(|c| c.first(body)).is_some_and(empty);
        if selected.is_empty() && !empty_page {
            let message = format!(
                "GET {url}: `records` ({}) selects nothing on this page, which is not empty: {}",
                self.records.as_str(),
                crate::connectors::http::client::excerpt(&body.to_string(), 200)
            );
            return Err(failed(message, false));
        }
        Ok(selected)
    }

    /// One page: its JSON body and its `Link` header; tried again as the retry policy says (5xx, 429,
    /// no answer), an error for any other status, a body that is not JSON or one over the size cap.
    fn fetch(&self, client: &Client, url: &url::Url) -> Result<(Value, Option<String>), SourceError> {
        let request = Prepared {
            method: reqwest::Method::GET,
            url: url.clone(),
            headers: self.headers.clone(),
            body: None,
            target: scrub(format!("GET {url}")),
        };
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let answer = client.send(&request).map_err(|e| failed(e.message, e.retryable))?;
            match answer.verdict(&self.policy, attempt, started.elapsed()) {
                Verdict::Again { wait, .. } => std::thread::sleep(wait),
                Verdict::Settle(StatusAction::Ok) => return self.page(&request, answer),
                Verdict::GiveUp(_) => {
                    let message = format!("{}: {} (after {attempt} attempts)", request.target, answer.describe());
                    return Err(failed(message, true));
                }
                Verdict::Settle(_) => {
                    return Err(failed(format!("{} answered {}", request.target, answer.describe()), false));
                }
            }
        }
    }

    /// The body and `Link` header of a successful answer.
    fn page(&self, request: &Prepared, answer: Answer) -> Result<(Value, Option<String>), SourceError> {
        match answer {
            Answer::Response { oversized: true, .. } => Err(failed(
                format!(
                    "{}: the body is larger than {} MiB, the most a page may be; ask for smaller pages",
                    request.target,
                    crate::connectors::http::client::MAX_BODY >> 20
                ),
                false,
            )),
            Answer::Response { json: false, ref body, .. } => {
                let text = body.as_str().unwrap_or_default();
                let start = crate::connectors::http::client::excerpt(text, 200);
                Err(failed(format!("{}: the page is not JSON: {start}", request.target), false))
            }
            Answer::Response { body, link, .. } => Ok((body, link)),
            Answer::NoResponse { message } => Err(failed(format!("{}: {message}", request.target), true)),
        }
    }
}

#[cfg(test)]
mod tests;
