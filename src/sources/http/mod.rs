//! `http` source: one poll of an HTTP API per `weir run`. Pages are read one after another with the
//! connection's client (auth, rate limit, client settings) and a `paginate` strategy; the records
//! `records` (a JSONPath) selects on each page are the inputs, in order. A page that is not JSON, one
//! where `records` selects nothing, a body over the size cap, a cursor or next link that repeats and a
//! page past `max_pages` fail the source with the page's URL: nothing is skipped silently. With
//! `incremental`, a run reads only what changed since the last one ([`watermark`]); without it, every
//! run reads from the first page.

mod paginate;
mod watermark;

use std::collections::BTreeMap;
use std::sync::Arc;
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
use crate::expr::template::{RenderContext, StringTemplate};
use crate::kernel::ack::{InputEnd, InputPosition};
use crate::kernel::build::{BuildContext, BuildErrors};
use crate::kernel::checkpoint::Resumable;
use crate::kernel::fused::Chain;
use paginate::{Page, Pager, PaginateConfig, Strategy};
use watermark::{Delivered, Incremental, IncrementalConfig, Mark, WatermarkPosition};

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
    /// Query parameters added to every page's request, e.g.
    /// `{ "searchCriteria[filter_groups][0][filters][0][field]": status }`. Values are templates:
    /// with `incremental`, `{{ watermark }}` is where the run starts (see `incremental`).
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
    /// Read only what changed since the last run: `{ field, key, start, look_back }`. A query value
    /// filters on `{{ watermark }}` (e.g. Magento `updated_at` `gteq`, OData `lastModifiedDateTime ge
    /// {{ watermark }}`), sorted ascending by `field`. The watermark is saved once the records are
    /// acknowledged (needs the state store).
    #[serde(default)]
    pub(crate) incremental: Option<IncrementalConfig>,
}

/// Built `http` source.
#[derive(Debug)]
pub(crate) struct HttpSource {
    /// The first page's URL without query and paging parameters.
    base: url::Url,
    /// `query`, compiled.
    query: Vec<(String, StringTemplate)>,
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
    incremental: Option<Incremental>,
    /// The saved watermark, restored before the run (runs with a state store).
    position: Option<Arc<WatermarkPosition>>,
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
        // The connection's `retry` and `on_status`, else 5 tries.
        let policy = HttpConnection::policy(connection, None, RetryConfig::default(), &BTreeMap::new());
        let query: Vec<Option<(String, StringTemplate)>> = self
            .query
            .iter()
            .map(|(name, value)| Some((name.clone(), errors.string_template(ctx, &["query", name], value)?)))
            .collect();
        let incremental = self.incremental.as_ref().map(|i| i.build(&mut errors));
        if self.incremental.is_some() && !self.query.values().any(|v| v.contains("watermark")) {
            let message = "`incremental` needs a query parameter that filters on `{{ watermark }}`: \
                           otherwise every run reads everything again";
            let hint = Some(
                "Magento: `searchCriteria[filter_groups][0][filters][0][value]: \"{{ watermark }}\"` with \
                 `condition_type: gteq`; OData: `$filter: \"lastModifiedDateTime ge {{ watermark }}\"`"
                    .to_string(),
            );
            errors.push(&["incremental"], "bad-value", message, hint);
        }
        errors.finish(|| {
            Some(HttpSource {
                base: base?,
                query: query.into_iter().collect::<Option<_>>()?,
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
                incremental: incremental.flatten(),
                position: None,
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
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Some(url),
            _ => {
                let hint = Some("write the scheme and host, e.g. `https://erp.example.com/api/items`".to_string());
                errors.push(&[field], "bad-url", format!("`{}` is not an absolute http(s) URL", scrub(&text)), hint);
                None
            }
        }
    }
}

impl Source for HttpSource {
    fn checkpointed(&self) -> bool {
        self.incremental.is_some()
    }

    fn restore(&mut self, saved: &serde_json::Map<String, Value>) -> Result<Option<Arc<dyn Resumable>>, String> {
        let Some(incremental) = &self.incremental else { return Ok(None) };
        let position = Arc::new(WatermarkPosition::restore(incremental, saved)?);
        self.position = Some(Arc::clone(&position));
        Ok(Some(position))
    }

    fn run(self: Box<Self>, ctx: SourceContext, chain: Chain) -> SourceRun {
        SourceRun::Blocking(Box::new(move || self.poll(&ctx, chain)))
    }
}

/// An input as the emitter takes it: the record, or why it cannot be read and the raw value.
type Parsed = Result<Value, (String, Value)>;

/// A page read: its body and the answer's headers.
type PageRead = (Value, HeaderMap);

fn failed(message: String, retryable: bool) -> SourceError {
    SourceError::Read { message: scrub(message), retryable }
}

impl HttpSource {
    /// Reads every page, blocking; call from a blocking thread.
    fn poll(&self, ctx: &SourceContext, chain: Chain) -> Result<(), SourceError> {
        let client = Client::new(self.timeout, &self.client_options, self.auth.clone(), self.limit.clone())
            .map_err(|message| failed(message, false))?;
        let mut emitter = Emitter::new(ctx, chain);
        // Where an incremental run starts: the saved watermark, or `start` (runs without a state store).
        let mut delivered = self.incremental.as_ref().map(|i| match &self.position {
            Some(position) => position.delivered(),
            None => i.initial(),
        });
        let mut anchor = delivered.as_ref().map(Delivered::floor);
        let mut base = self.url_for(anchor.as_ref())?;
        let mut pager = Pager::new(&self.strategy);
        let mut next = Some(pager.first(&base));
        let mut seq = 0u64;
        let mut pages = 0u64;
        // The last change time read, to check the API answers in ascending order.
        let mut last: Option<Mark> = None;
        while let Some(url) = next.take() {
            if pages == self.max_pages {
                let message = format!(
                    "`max_pages` ({}) pages were read and the API has more (next: {url}); raise `max_pages`",
                    self.max_pages
                );
                return Err(failed(message, false));
            }
            pages += 1;
            let Some((body, headers)) = self.fetch(&client, &url, pager.range())? else { break };
            let selected = self.select(&body, &url)?;
            let count = selected.len();
            for record in selected {
                let parsed = match (&self.incremental, delivered.as_mut()) {
                    (Some(incremental), Some(delivered)) => {
                        match self.judge(incremental, delivered, record, &mut last, &url)? {
                            Some(parsed) => parsed,
                            None => continue,
                        }
                    }
                    _ => Ok(record.clone()),
                };
                let size = record.to_string().len();
                let input = Input {
                    position: InputPosition { stream: 0, seq },
                    parsed,
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
            let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
            let page = Page {
                url: &url,
                body: &body,
                records: count,
                link: header(reqwest::header::LINK),
                content_range: header(reqwest::header::CONTENT_RANGE),
            };
            next = pager.next(&base, &page).map_err(|e| failed(format!("GET {url}: {e}"), false))?;
            // Numbered pages shift when a record read earlier is updated meanwhile (it moves to the end):
            // an incremental poll asks again from the change time reached instead of for page n + 1.
            if next.is_some()
                && self.strategy.numbered()
                && let (Some(from), Some(reached)) = (&anchor, &last)
                && from.before(reached)
            {
                anchor = Some(*reached);
                base = self.url_for(anchor.as_ref())?;
                pager.restart();
                next = Some(pager.first(&base));
            }
        }
        emitter.send();
        Ok(())
    }

    /// The first page's URL with the query rendered (`watermark`: where an incremental poll reads from).
    fn url_for(&self, watermark: Option<&Mark>) -> Result<url::Url, SourceError> {
        let mut url = self.base.clone();
        if self.query.is_empty() {
            return Ok(url);
        }
        let mut render = RenderContext::new(Arc::new(Value::Null));
        if let Some(mark) = watermark {
            render = render.with_var("watermark", Value::String(mark.render()));
        }
        let mut pairs = Vec::with_capacity(self.query.len());
        for (name, template) in &self.query {
            let value = template.render(&render).map_err(|e| failed(format!("query `{name}`: {e}"), false))?;
            pairs.push((name, value));
        }
        url.query_pairs_mut().extend_pairs(pairs);
        Ok(url)
    }

    /// What an incremental poll does with `record`: `None` to skip it (a version already delivered),
    /// else the input — the record, or why it cannot be placed (no key, no change time), for the
    /// dead-letter queue. Records out of ascending order fail the poll: the watermark would skip some.
    fn judge(
        &self,
        incremental: &Incremental,
        delivered: &mut Delivered,
        record: &Value,
        last: &mut Option<Mark>,
        url: &url::Url,
    ) -> Result<Option<Parsed>, SourceError> {
        let key = incremental.key.first(record).and_then(|k| match k {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        let mark = match incremental.field.first(record).map(Mark::read) {
            Some(Ok(mark)) if mark.comparable(&delivered.mark) => Ok(mark),
            Some(Ok(mark)) => Err(format!(
                "its change time `{}` is not of the watermark's kind (`{}`)",
                mark.render(),
                delivered.mark.render()
            )),
            Some(Err(e)) => Err(format!("its change time at `{}`: {e}", incremental.field.as_str())),
            None => Err(format!("it has no change time at `{}`", incremental.field.as_str())),
        };
        let (key, mark) = match (key, mark) {
            (Some(key), Ok(mark)) => (key, mark),
            (None, _) => {
                self.note_emitted(None);
                let reason = format!("it has no key at `{}` (a string or a number)", incremental.key.as_str());
                return Ok(Some(Err((reason, record.clone()))));
            }
            (_, Err(reason)) => {
                self.note_emitted(None);
                return Ok(Some(Err((reason, record.clone()))));
            }
        };
        if let Some(previous) = last
            && mark.before(previous)
        {
            let message = format!(
                "GET {url}: the records are not in ascending order of `{}` (`{}` after `{}`), so the watermark \
                 could skip some; sort the API by it (Magento: `searchCriteria[sortOrders][0][field]`, \
                 OData: `$orderby`)",
                incremental.field.as_str(),
                mark.render(),
                previous.render()
            );
            return Err(failed(message, false));
        }
        *last = Some(mark);
        if delivered.has(&key, &mark) {
            return Ok(None);
        }
        delivered.note(&key, mark);
        self.note_emitted(Some((key, mark)));
        Ok(Some(Ok(record.clone())))
    }

    fn note_emitted(&self, input: Option<(String, Mark)>) {
        if let Some(position) = &self.position {
            position.emitted(input);
        }
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

    /// One page: its JSON body and the answer's headers; tried again as the retry policy says (5xx,
    /// 429, no answer), an error for any other status, a body that is not JSON or one over the size
    /// cap. `None`: a `416` to a `Range` request, past the last page.
    fn fetch(&self, client: &Client, url: &url::Url, range: Option<String>) -> Result<Option<PageRead>, SourceError> {
        let mut headers = self.headers.clone();
        let ranged = range.is_some();
        if let Some(range) = range.and_then(|r| HeaderValue::from_str(&r).ok()) {
            headers.insert(reqwest::header::RANGE, range);
        }
        let request = Prepared {
            method: reqwest::Method::GET,
            url: url.clone(),
            headers,
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
                Verdict::Settle(StatusAction::Ok) => return self.page(&request, answer).map(Some),
                Verdict::Settle(_) if ranged && answer.status() == Some(416) => return Ok(None),
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

    /// The body and headers of a successful answer.
    fn page(&self, request: &Prepared, answer: Answer) -> Result<PageRead, SourceError> {
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
            Answer::Response { body, headers, .. } => Ok((body, *headers)),
            Answer::NoResponse { message } => Err(failed(format!("{}: {message}", request.target), true)),
        }
    }
}

#[cfg(test)]
mod tests;
