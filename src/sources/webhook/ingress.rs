//! The webhook ingress: what a server calls for each request to a pipeline's hook. It answers Adobe I/O
//! Events' `challenge`, refuses what is not the configured sender's (401, counted), too large (413) or
//! outside the replay window (401), rejects (400) or keeps for the dead-letter queue a body the source
//! cannot read, and stores every other event in the state store's inbox before it answers 200 — so a
//! crash after the answer loses nothing. An event id stored before is a duplicate: 200, not stored
//! again. With `reply: sync` the answer waits for the event's outcome (Adobe Commerce's
//! `{"op": …}`). Nothing here parses config: [`super::Settings`] is compiled.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use super::adobe_io::AdobeIo;
use super::event::body_hash;
use super::verdict::Refusal;
use super::{OnMalformed, Reply, Settings, SyncTimeout, signal};
use crate::state::{Acceptance, EventOutcome, EventStatus, NewEvent, OutcomeKind, StateError, StateStore};

/// Request headers kept with an event (for diagnostics): never a signature.
const KEPT_HEADERS: &[&str] =
    &["content-type", "user-agent", "x-adobe-event-code", "x-adobe-event-id", "x-adobe-delivery-id", "x-request-id"];
/// `Retry-After` of a 503, in seconds.
const RETRY_AFTER_SECONDS: &str = "5";

/// One request to a pipeline's hook, as the server received it.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// `GET` (the Adobe I/O challenge) or `POST` (an event); anything else is answered 405.
    pub method: &'a Method,
    /// The raw query string, without `?` (`challenge=…`).
    pub query: Option<&'a str>,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The raw body, exactly as received (signatures are over these bytes).
    pub body: &'a [u8],
    /// When it was received: the replay window is measured from it.
    pub received_at: SystemTime,
}

/// What became of a request, for logs and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    /// Adobe I/O Events' `challenge` answered (or its asynchronous validation noted).
    Challenge,
    /// Stored; the pipeline will read it.
    Accepted,
    /// Stored though it cannot be read (`on_malformed: dead_letter`): it will be dead-lettered.
    AcceptedMalformed,
    /// Its id was stored before: not stored again.
    Duplicate,
    /// Missing or wrong signature, another recipient, or outside the replay window: 401.
    Unauthorized,
    /// Larger than `max_body_bytes`: 413.
    TooLarge,
    /// A body the source cannot read, rejected: 400.
    Malformed,
    /// Neither `POST` nor the challenge's `GET`: 405.
    MethodNotAllowed,
    /// Nothing stored for now (the state store is busy or full, a public key could not be fetched):
    /// 503 with `Retry-After`; the sender should try again.
    Unavailable,
    /// Nothing stored: the state store failed for good (500).
    Failed,
}

/// The answer to send back.
#[derive(Debug, Clone)]
pub struct IngressAnswer {
    /// Its status.
    pub status: StatusCode,
    /// Its headers (`content-type`, and `Retry-After` or `Allow` where they apply).
    pub headers: HeaderMap,
    /// Its body (JSON).
    pub body: Bytes,
    /// What became of the request.
    pub kind: AnswerKind,
}

impl IngressAnswer {
    fn json(status: StatusCode, kind: AnswerKind, body: &Value) -> IngressAnswer {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        IngressAnswer { status, headers, body: Bytes::from(body.to_string()), kind }
    }

    fn error(status: StatusCode, kind: AnswerKind, why: &str) -> IngressAnswer {
        IngressAnswer::json(status, kind, &json!({ "error": crate::config::secrets::redact(why) }))
    }

    /// True when the sender may succeed by sending the same request again later (503).
    pub fn retryable(&self) -> bool {
        self.kind == AnswerKind::Unavailable
    }
}

/// Requests counted by what became of them.
#[derive(Debug, Default)]
struct Counters([AtomicU64; 10]);

/// A snapshot of an ingress's counters (for `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngressCounts {
    /// Challenges answered.
    pub challenges: u64,
    /// Events stored.
    pub accepted: u64,
    /// Events stored to be dead-lettered.
    pub accepted_malformed: u64,
    /// Duplicates answered without storing.
    pub duplicates: u64,
    /// Requests refused with 401.
    pub unauthorized: u64,
    /// Requests refused with 413.
    pub too_large: u64,
    /// Requests rejected with 400.
    pub malformed: u64,
    /// Requests answered 405.
    pub method_not_allowed: u64,
    /// Requests answered 503.
    pub unavailable: u64,
    /// Requests answered 500.
    pub failed: u64,
}

/// The ingress of one pipeline's webhook source.
#[derive(Debug)]
pub struct WebhookIngress {
    pipeline: String,
    settings: Arc<Settings>,
    store: Arc<dyn StateStore>,
    counters: Counters,
}

fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl WebhookIngress {
    pub(super) fn new(pipeline: &str, settings: Arc<Settings>, store: Arc<dyn StateStore>) -> WebhookIngress {
        WebhookIngress { pipeline: pipeline.to_string(), settings, store, counters: Counters::default() }
    }

    /// The pipeline this ingress stores events for.
    pub fn pipeline(&self) -> &str {
        &self.pipeline
    }

    /// The largest body accepted, in bytes: read no more than this (plus one, to tell it was larger).
    pub fn max_body(&self) -> usize {
        self.settings.max_body
    }

    /// The 413 answer (counted), for a server that stopped reading a body past [`Self::max_body`].
    pub fn body_too_large(&self) -> IngressAnswer {
        let why = format!("the body is larger than {} bytes", self.settings.max_body);
        self.counted(IngressAnswer::error(StatusCode::PAYLOAD_TOO_LARGE, AnswerKind::TooLarge, &why))
    }

    /// The counters so far.
    pub fn counts(&self) -> IngressCounts {
        let c = |kind: AnswerKind| self.counters.0.get(kind as usize).map_or(0, |n| n.load(Ordering::Relaxed));
        IngressCounts {
            challenges: c(AnswerKind::Challenge),
            accepted: c(AnswerKind::Accepted),
            accepted_malformed: c(AnswerKind::AcceptedMalformed),
            duplicates: c(AnswerKind::Duplicate),
            unauthorized: c(AnswerKind::Unauthorized),
            too_large: c(AnswerKind::TooLarge),
            malformed: c(AnswerKind::Malformed),
            method_not_allowed: c(AnswerKind::MethodNotAllowed),
            unavailable: c(AnswerKind::Unavailable),
            failed: c(AnswerKind::Failed),
        }
    }

    fn counted(&self, answer: IngressAnswer) -> IngressAnswer {
        if let Some(n) = self.counters.0.get(answer.kind as usize) {
            n.fetch_add(1, Ordering::Relaxed);
        }
        if matches!(answer.kind, AnswerKind::Unauthorized | AnswerKind::Malformed | AnswerKind::Failed) {
            let why = String::from_utf8_lossy(&answer.body);
            tracing::warn!(pipeline = %self.pipeline, status = answer.status.as_u16(), answer = %why, "webhook request refused");
        }
        answer
    }

    /// Answers one request to the pipeline's hook: checks it, stores its event durably (or answers
    /// why not), and — with `reply: sync` — waits for the event's outcome. Never panics on any input.
    pub async fn accept(&self, request: WebhookRequest<'_>) -> IngressAnswer {
        let answer = self.answer(request).await;
        self.counted(answer)
    }

    async fn answer(&self, request: WebhookRequest<'_>) -> IngressAnswer {
        let s = &*self.settings;
        let adobe_io = s.verifier.adobe_io();
        if request.method == Method::GET
            && adobe_io.is_some()
            && let Some(challenge) = AdobeIo::challenge(request.query)
        {
            return IngressAnswer::json(StatusCode::OK, AnswerKind::Challenge, &json!({ "challenge": challenge }));
        }
        if request.method != Method::POST {
            let mut answer = IngressAnswer::error(
                StatusCode::METHOD_NOT_ALLOWED,
                AnswerKind::MethodNotAllowed,
                "send events with POST",
            );
            let allow = if adobe_io.is_some() { "GET, POST" } else { "POST" };
            answer.headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            return answer;
        }
        if request.body.len() > s.max_body {
            let why = format!("the body is larger than {} bytes", s.max_body);
            return IngressAnswer::error(StatusCode::PAYLOAD_TOO_LARGE, AnswerKind::TooLarge, &why);
        }
        let parsed = serde_json::from_slice::<Value>(request.body);
        // Adobe's asynchronous validation (the challenge was not answered): not an event, not signed.
        if adobe_io.is_some()
            && let Ok(body) = &parsed
            && let Some(url) = AdobeIo::is_validation(body)
        {
            tracing::warn!(pipeline = %self.pipeline, validation_url = url,
                "Adobe I/O Events asks for a manual validation of this hook: open the URL within 5 minutes");
            return IngressAnswer::json(StatusCode::OK, AnswerKind::Challenge, &json!({ "status": "noted" }));
        }
        let verified = match s.verifier.verify(request.headers, request.body).await {
            Ok(v) => v,
            Err(Refusal::Unauthorized(why)) => {
                return IngressAnswer::error(StatusCode::UNAUTHORIZED, AnswerKind::Unauthorized, &why);
            }
            Err(Refusal::Unavailable(why)) => return unavailable(&why),
        };
        let now_ms = unix_ms(request.received_at);
        let window_ms = i64::try_from(s.replay_window.as_millis()).unwrap_or(i64::MAX);
        let stale = |at_ms: i64| now_ms.saturating_sub(at_ms).saturating_abs() > window_ms;
        if verified.signed_at_ms.is_some_and(stale) {
            let why = "the signed timestamp is outside the replay window";
            return IngressAnswer::error(StatusCode::UNAUTHORIZED, AnswerKind::Unauthorized, why);
        }
        let (event_id, malformed) = match &parsed {
            Err(e) => (body_hash(request.body), Some(format!("the body is not JSON: {e}"))),
            Ok(body) => {
                if let Some(adobe) = adobe_io
                    && let Err(Refusal::Unauthorized(why) | Refusal::Unavailable(why)) = adobe.check_recipient(body)
                {
                    return IngressAnswer::error(StatusCode::UNAUTHORIZED, AnswerKind::Unauthorized, &why);
                }
                match s.ids.id(request.headers, body, request.body) {
                    Err(why) => (body_hash(request.body), Some(why)),
                    Ok(id) => match s.times.time_ms(request.headers, body) {
                        Err(why) => (id, Some(why)),
                        Ok(Some(at_ms)) if stale(at_ms) => {
                            let why = "the event's time is outside the replay window";
                            return IngressAnswer::error(StatusCode::UNAUTHORIZED, AnswerKind::Unauthorized, why);
                        }
                        Ok(_) => (id, None),
                    },
                }
            }
        };
        if let Some(why) = &malformed
            && s.on_malformed == OnMalformed::Reject
        {
            return IngressAnswer::error(StatusCode::BAD_REQUEST, AnswerKind::Malformed, why);
        }
        let acceptance = match self.store(&request, &event_id, malformed.as_deref(), now_ms).await {
            Ok(a) => a,
            Err(answer) => return answer,
        };
        let (kind, known) = match acceptance {
            Acceptance::Accepted { .. } if malformed.is_some() => (AnswerKind::AcceptedMalformed, None),
            Acceptance::Accepted { .. } => (AnswerKind::Accepted, None),
            Acceptance::Duplicate { outcome, .. } => (AnswerKind::Duplicate, outcome),
        };
        if kind != AnswerKind::Duplicate {
            signal::notify(&self.pipeline);
        }
        match s.reply {
            Reply::Accepted => {
                let status = if kind == AnswerKind::Duplicate { "duplicate" } else { "accepted" };
                let mut body = json!({ "status": status, "event_id": event_id });
                if let Some(why) = &malformed {
                    body["dead_letter"] = Value::String(why.clone());
                }
                IngressAnswer::json(StatusCode::OK, kind, &body)
            }
            Reply::Sync => {
                let outcome = match (&malformed, known) {
                    (Some(why), _) => Some(EventOutcome { kind: OutcomeKind::DeadLettered, reason: Some(why.clone()) }),
                    (None, Some(known)) => Some(known),
                    (None, None) => self.wait_outcome(&event_id, s.sync_timeout).await,
                };
                IngressAnswer::json(StatusCode::OK, kind, &self.sync_reply(outcome.as_ref()))
            }
        }
    }

    /// Stores the event in the inbox (on a blocking thread), or the answer saying why not.
    async fn store(
        &self,
        request: &WebhookRequest<'_>,
        event_id: &str,
        malformed: Option<&str>,
        now_ms: i64,
    ) -> Result<Acceptance, IngressAnswer> {
        let kept: serde_json::Map<String, Value> = KEPT_HEADERS
            .iter()
            .filter_map(|name| Some((name.to_string(), Value::from(request.headers.get(*name)?.to_str().ok()?))))
            .collect();
        let store = Arc::clone(&self.store);
        let (pipeline, event_id, body) = (self.pipeline.clone(), event_id.to_string(), request.body.to_vec());
        let malformed = malformed.map(str::to_string);
        let stored = tokio::task::spawn_blocking(move || {
            let headers = Value::Object(kept);
            let event = NewEvent {
                event_id: &event_id,
                received_at_ms: now_ms,
                headers: &headers,
                body: &body,
                malformed: malformed.as_deref(),
            };
            store.inbox_accept(&pipeline, &event)
        })
        .await;
        match stored {
            Ok(Ok(acceptance)) => Ok(acceptance),
            Ok(Err(e)) if e.is_retryable() => Err(unavailable(&format!("the event could not be stored: {e}"))),
            Ok(Err(e)) => Err(failed(&e)),
            Err(e) => Err(IngressAnswer::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                AnswerKind::Failed,
                &format!("the event could not be stored: {e}"),
            )),
        }
    }

    /// The outcome of event `event_id` once it is settled, waiting at most `timeout`; `None` when it is
    /// not settled by then (or not known at all).
    pub async fn wait_outcome(&self, event_id: &str, timeout: Duration) -> Option<EventOutcome> {
        let deadline = Instant::now() + timeout;
        // Subscribed before the first look: an outcome recorded in between still wakes the wait.
        let mut changes = signal::subscribe(&self.pipeline);
        loop {
            let store = Arc::clone(&self.store);
            let (pipeline, id) = (self.pipeline.clone(), event_id.to_string());
            let status = tokio::task::spawn_blocking(move || store.inbox_status(&pipeline, &id)).await;
            if let Ok(Ok(EventStatus::Settled(outcome))) = status {
                return Some(outcome);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            signal::wait(&mut changes, left).await;
        }
    }

    /// Adobe Commerce's synchronous answer for an outcome (`None`: not known within `sync_timeout`).
    pub fn sync_reply(&self, outcome: Option<&EventOutcome>) -> Value {
        let exception = |message: String| json!({ "op": "exception", "message": message });
        match outcome.map(|o| (o.kind, o.reason.as_deref())) {
            Some((OutcomeKind::Delivered | OutcomeKind::Filtered, _)) => json!({ "op": "success" }),
            Some((OutcomeKind::DeadLettered, reason)) => {
                exception(crate::config::secrets::redact(reason.unwrap_or("the event could not be processed")))
            }
            None => match self.settings.sync_on_timeout {
                SyncTimeout::Success => json!({ "op": "success" }),
                SyncTimeout::Exception => exception(format!(
                    "the event was not processed within {}",
                    humantime::format_duration(self.settings.sync_timeout)
                )),
            },
        }
    }
}

fn unavailable(why: &str) -> IngressAnswer {
    let mut answer = IngressAnswer::error(StatusCode::SERVICE_UNAVAILABLE, AnswerKind::Unavailable, why);
    answer.headers.insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    answer
}

fn failed(e: &StateError) -> IngressAnswer {
    let why = format!("the event could not be stored: {e}");
    IngressAnswer::error(StatusCode::INTERNAL_SERVER_ERROR, AnswerKind::Failed, &why)
}
