//! `http` source: one poll of an HTTP API per `weir run`. Pages are read one after another with the
//! connection's client (auth, rate limit, client settings) and a `paginate` strategy; the records
//! `records` (a JSONPath) selects on each page are the inputs, in order. A page that is not JSON, one
//! where `records` selects nothing, a body over the size cap, a cursor or next link that repeats and a
//! page past `max_pages` fail the source with the page's URL: nothing is skipped silently. With
//! `incremental`, a run reads only what changed since the last one ([`watermark`]); without it, every
//! run reads from the first page.

mod config;
mod paginate;
mod watermark;

pub(crate) use config::HttpSourceConfig;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;

use super::emit::{Emitter, Input};
use super::{Source, SourceContext, SourceError, SourceRun};
use crate::connectors::http::client::{Answer, Client, Prepared, scrub};
use crate::connectors::http::connection::ClientOptions;
use crate::connectors::http::retry::{RetryPolicy, StatusAction, Verdict};
use crate::expr::jsonpath::JsonPath;
use crate::expr::template::{RenderContext, StringTemplate};
use crate::kernel::ack::{InputEnd, InputPosition};
use crate::kernel::checkpoint::Resumable;
use crate::kernel::fused::Chain;
use paginate::{Page, Pager, Strategy};
use watermark::{Delivered, Incremental, Mark, WatermarkPosition};

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
                    key: None,
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
                Verdict::Again { wait, .. } => {
                    client.sending_again(&answer, attempt, wait, None);
                    client.pauses().sleep(wait);
                }
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
