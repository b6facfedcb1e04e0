//! The `http` step at run time: for each record, render the request, answer it from the cache or
//! send it (retries, rate limit and token renewal by the connector), judge the answer and write the
//! selected part into the record.
//!
//! Steps run as tokio tasks; this one's requests block (reqwest's blocking client, the one every HTTP
//! component shares), so each batch is processed inside `kernel::step::blocking` (`block_in_place`):
//! the worker hands its other tasks to another thread, and the steps and sinks downstream keep
//! flowing while this one waits for answers. Records are sent one at a time, in order.

use std::sync::Arc;

use serde_json::Value;

use super::OnMissing;
use super::cache::{AnswerCache, Found};
use crate::connectors::http::HttpConnection;
use crate::connectors::http::client::{Answer, Client, Prepared, excerpt, scrub};
use crate::connectors::http::exchange::{Exchange, client, exchange, json_body};
use crate::connectors::http::graphql;
use crate::connectors::http::idempotent::{Captures, Idempotency, Writer};
use crate::connectors::http::request::RequestTemplate;
use crate::connectors::http::retry::{RetryPolicy, StatusAction};
use crate::expr::jsonpath::JsonPath;
use crate::expr::template::{RenderContext, ValueTemplate};
use crate::kernel::record::Record;
use crate::kernel::stats::StepReport;
use crate::kernel::step::{Output, StepContext, Transform, blocking};
use crate::state::StateStore;

/// A compiled `graphql` request.
#[derive(Debug)]
pub(super) struct Graphql {
    pub(super) query: String,
    pub(super) allow_partial: bool,
}

/// What `build()` compiled.
#[derive(Debug)]
pub(super) struct Compiled {
    pub(super) request: RequestTemplate,
    pub(super) graphql: Option<Graphql>,
    pub(super) select: Option<JsonPath>,
    pub(super) into: JsonPath,
    pub(super) value: Option<ValueTemplate>,
    pub(super) on_missing: OnMissing,
    /// A `404` means missing (`on_status` does not name it).
    pub(super) not_found_is_missing: bool,
    pub(super) policy: RetryPolicy,
    pub(super) timeout: std::time::Duration,
    pub(super) connection: Option<HttpConnection>,
    /// Answers or records requests (`weir test`).
    pub(super) hook: Option<crate::kernel::mock::RequestHook>,
    pub(super) cache: super::CacheConfig,
    /// Creates once per record (intent ledger and lookup).
    pub(super) idempotency: Option<Idempotency>,
    /// Ids recorded in the id map (and, with `idempotency`, written to `into`).
    pub(super) capture: Captures,
}

/// Built `http` step.
#[derive(Debug)]
pub(crate) struct HttpStep {
    pub(super) c: Compiled,
    /// Made on the first batch (on a thread that may block), dropped at `flush`.
    pub(super) client: Option<Client>,
    cache: AnswerCache,
    /// The state store and who writes to it (this pipeline and step), set by `open`.
    pub(super) state: Option<Arc<dyn StateStore>>,
    pub(super) writer: Option<Writer>,
    /// `--dry-run`: creates are not sent.
    pub(super) dry_run: bool,
    /// Requests sent (tries included), records that found nothing, creates made and skipped (made by
    /// an earlier run).
    sent: u64,
    missing: u64,
    pub(super) created: u64,
    pub(super) skipped: u64,
    /// Set after a fatal error: the remaining records are left unacknowledged.
    pub(super) stopped: bool,
}

/// What became of one record's request.
enum Outcome {
    Found(Found),
    /// `on_status: ignore`: the record goes on unchanged.
    Ignored,
    /// To the dead-letter queue, with this reason.
    Reject(String),
    /// Stop the run.
    Fatal(String),
}

impl HttpStep {
    pub(super) fn new(c: Compiled) -> Self {
        let cache = AnswerCache::new(c.cache.max_entries, c.cache.max_bytes);
        Self {
            c,
            client: None,
            cache,
            state: None,
            writer: None,
            dry_run: false,
            sent: 0,
            missing: 0,
            created: 0,
            skipped: 0,
            stopped: false,
        }
    }

    /// The request for the record in `ctx`: the template rendered, a GraphQL body wrapped.
    fn render(&self, ctx: &RenderContext) -> Result<Prepared, String> {
        let mut request = self.c.request.render(ctx)?;
        if let Some(g) = &self.c.graphql {
            let variables = request.body.take().unwrap_or_else(|| Value::Object(Default::default()));
            request.body = Some(graphql::body(&g.query, variables));
        }
        Ok(request)
    }

    /// The cache key: everything that makes two requests equal.
    fn cache_key(request: &Prepared) -> String {
        let mut key = format!("{} {}", request.method, request.url);
        for (name, value) in &request.headers {
            key.push('\n');
            key.push_str(name.as_str());
            key.push(':');
            key.push_str(&String::from_utf8_lossy(value.as_bytes()));
        }
        if let Some(body) = &request.body {
            key.push('\n');
            key.push_str(&body.to_string());
        }
        key
    }

    /// The HTTP client, made on first use (on a thread that may block).
    pub(super) fn client(&mut self) -> Result<(), String> {
        if self.client.is_none() {
            self.client = Some(client(self.c.timeout, self.c.connection.as_ref(), self.c.hook.clone())?);
        }
        Ok(())
    }

    /// Sends `request` and judges the answer.
    fn call(&mut self, request: &Prepared) -> Outcome {
        if let Err(e) = self.client() {
            return Outcome::Fatal(e);
        }
        let Some(client) = &self.client else { return Outcome::Fatal("no HTTP client".into()) };
        let (ended, tries) = match exchange(client, &self.c.policy, request) {
            Ok(x) => x,
            Err(e) => return Outcome::Fatal(e.message),
        };
        self.sent += u64::from(tries);
        let plural = if tries == 1 { "" } else { "s" };
        match ended {
            Exchange::GaveUp(answer) => Outcome::Fatal(format!(
                "{}: {} (after {tries} attempt{plural}); the record stays unacknowledged and is read again next run",
                request.target,
                answer.describe()
            )),
            Exchange::Settled(_, Answer::Response { status: 404, .. }) if self.c.not_found_is_missing => {
                Outcome::Found(Found::Missing(format!("{} answered HTTP 404", request.target)))
            }
            Exchange::Settled(StatusAction::Fail, answer) => Outcome::Fatal(format!(
                "{} answered {}, which `on_status` makes fatal",
                request.target,
                answer.describe()
            )),
            Exchange::Settled(StatusAction::Ignore, _) => Outcome::Ignored,
            Exchange::Settled(StatusAction::Ok, answer) => match self.select(request, answer) {
                Ok(found) => Outcome::Found(found),
                Err(reason) => Outcome::Reject(reason),
            },
            Exchange::Settled(_, answer) => {
                Outcome::Reject(format!("{} answered {}", request.target, answer.describe()))
            }
        }
    }

    /// What `select` finds in a successful answer.
    fn select(&self, request: &Prepared, answer: Answer) -> Result<Found, String> {
        let mut body = json_body(request, answer)?;
        if let Some(g) = &self.c.graphql {
            body = graphql::data(body, g.allow_partial).map_err(|e| format!("{}: {e}", request.target))?;
        }
        let selected = match &self.c.select {
            Some(path) => path.first(&body).cloned(),
            None => Some(body),
        };
        let empty = |v: &Value| match v {
            Value::Null => true,
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        Ok(match selected {
            Some(v) if !empty(&v) => Found::Value(v),
            Some(v) => Found::Missing(format!("{} answered {}", request.target, excerpt(&v.to_string(), 40))),
            None => Found::Missing(format!(
                "{}: `select` ({}) selects nothing in the answer",
                request.target,
                self.c.select.as_ref().map_or("$", JsonPath::as_str)
            )),
        })
    }

    /// One record through the step.
    fn one(&mut self, mut record: Record, out: &mut Output) {
        if self.c.idempotency.is_some() {
            return self.create(record, out);
        }
        let rendered = crate::kernel::record::with_context(&mut record, |ctx| self.render(ctx));
        let request = match rendered {
            Ok(r) => r,
            Err(e) => return out.reject(record, scrub(format!("http step: the request cannot be made: {e}"))),
        };
        let key = Self::cache_key(&request);
        let outcome = match self.cache.get(&key) {
            Some(found) => Outcome::Found(found),
            None => {
                let outcome = self.call(&request);
                if let Outcome::Found(found) = &outcome {
                    self.cache.put(key, found);
                }
                outcome
            }
        };
        match outcome {
            Outcome::Found(Found::Value(answer)) => {
                if let Err(e) = self.capture_ids(&record, &request, &answer) {
                    self.stopped = true;
                    return out.fail(record, scrub(format!("http step: {e}")));
                }
                self.write(record, answer, out)
            }
            Outcome::Found(Found::Missing(reason)) => {
                self.missing += 1;
                match self.c.on_missing {
                    OnMissing::Keep => out.emit(record),
                    OnMissing::Drop => out.filter(record),
                    OnMissing::DeadLetter => out.reject(record, scrub(format!("not found: {reason}"))),
                }
            }
            Outcome::Ignored => out.emit(record),
            Outcome::Reject(reason) => out.reject(record, scrub(reason)),
            Outcome::Fatal(reason) => {
                self.stopped = true;
                out.fail(record, scrub(format!("http step: {reason}")));
            }
        }
    }

    /// Writes the answer (or `value` rendered over it) to `into`.
    pub(super) fn write(&self, mut record: Record, answer: Value, out: &mut Output) {
        let value = match &self.c.value {
            None => answer,
            Some(template) => {
                let record_value = Arc::new(std::mem::take(&mut record.value));
                let mut ctx = RenderContext::new(Arc::clone(&record_value))
                    .with_key(record.key.clone())
                    .with_var("answer", answer);
                ctx.parent = record.parent.clone();
                let rendered = template.render(&ctx);
                drop(ctx);
                record.value = Arc::try_unwrap(record_value).unwrap_or_else(|shared| (*shared).clone());
                match rendered {
                    Ok(v) => v,
                    Err(e) => return out.reject(record, scrub(format!("http step: `value`: {e}"))),
                }
            }
        };
        match self.c.into.set(&mut record.value, value) {
            Ok(()) => out.emit(record),
            Err(e) => out.reject(record, format!("http step: `into`: {}", e.reason)),
        }
    }
}

impl Transform for HttpStep {
    fn open(&mut self, ctx: &StepContext) -> Result<(), String> {
        if ctx.state.is_none() && !ctx.dry_run && (self.c.idempotency.is_some() || !self.c.capture.is_empty()) {
            let what = if self.c.idempotency.is_some() { "`idempotency`" } else { "`capture`" };
            return Err(format!(
                "{what} needs the state store (intents and the id map live there), and this run has none: run \
                 with `--state PATH` (or WEIR_STATE)"
            ));
        }
        self.state = ctx.state.clone();
        self.writer = Some(Writer { pipeline: ctx.pipeline.clone(), component: ctx.step.clone(), run_id: ctx.run_id });
        self.dry_run = ctx.dry_run;
        Ok(())
    }

    fn process(&mut self, batch: Vec<Record>, out: &mut Output) {
        blocking(|| {
            for record in batch {
                if self.stopped {
                    // After a fatal error nothing more is sent; these stay unacknowledged.
                    record.mark_unacknowledged();
                    continue;
                }
                self.one(record, out);
            }
        });
    }

    fn flush(&mut self, _out: &mut Output) {
        // reqwest's blocking client is dropped where blocking is allowed.
        let client = self.client.take();
        blocking(move || drop(client));
    }

    fn report(&self) -> Option<StepReport> {
        let mut counts = vec![("requests", self.sent), ("cache_hits", self.cache.hits), ("missing", self.missing)];
        if self.c.idempotency.is_some() {
            counts = vec![("created", self.created), ("skipped", self.skipped)];
        }
        Some(StepReport(counts))
    }
}
