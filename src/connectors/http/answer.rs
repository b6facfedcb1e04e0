//! What a request is and what comes back, for every HTTP component: the prepared request, the
//! [`Answer`] (a response, or why there was none), the error of credentials the API refuses, and the
//! masking of registered secrets in every text that leaves the HTTP layer.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::config::secrets;
use crate::connectors::http::retry::{RetryPolicy, Verdict};

/// `text` with every registered secret masked.
pub(crate) fn scrub(text: impl Into<String>) -> String {
    let text = text.into();
    if secrets::any() { secrets::redact(&text) } else { text }
}

/// At most `max` characters of `text`, secrets masked, for error messages. Masked before it is cut: a
/// secret across the cut would otherwise leave its start behind.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    let text = scrub(text.trim());
    let text = text.as_str();
    if text.chars().count() > max { text.chars().take(max).chain("…".chars()).collect() } else { text.to_string() }
}

/// A request ready to send.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) method: Method,
    pub(crate) url: reqwest::Url,
    pub(crate) headers: HeaderMap,
    /// The JSON body.
    pub(crate) body: Option<Value>,
    /// `METHOD URL` with secrets masked, for audit entries and errors.
    pub(crate) target: String,
}

/// Why a request cannot be sent at all: the API refuses the credentials, or a login failed. Every
/// further request would fail the same way, so the component stops.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub(crate) struct ClientError {
    /// What went wrong, secrets masked.
    pub(crate) message: String,
    /// Whether trying again later may succeed (a login endpoint that was down).
    pub(crate) retryable: bool,
}

/// The most of an answer's body that is read (16 MiB); a longer body is not read to its end.
pub(crate) const MAX_BODY: usize = 16 * 1024 * 1024;

/// What came back.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// A response: its status and its body (JSON when it parses, else the text; `null` when empty; a
    /// note when longer than [`MAX_BODY`]).
    Response {
        status: u16,
        body: Value,
        /// False when the body is not JSON (and `body` holds its text).
        json: bool,
        /// The answer's `Retry-After`, as a wait from when it arrived.
        retry_after: Option<Duration>,
        /// The answer's headers (`Link`, `Content-Range` for paging, `ETag`).
        headers: Box<HeaderMap>,
        /// True when the body was longer than [`MAX_BODY`] and not read.
        oversized: bool,
    },
    /// No response: a timeout, a refused or dropped connection. Whether the target acted is unknown.
    NoResponse { message: String },
}

impl Answer {
    /// What `policy` says to do after try number `attempt` got this answer, `elapsed` after the first
    /// try: no response (a timeout, a reset) is an unknown outcome, tried again like a `5xx`.
    pub(crate) fn verdict(&self, policy: &RetryPolicy, attempt: u32, elapsed: Duration) -> Verdict {
        let jitter = fastrand::f64();
        match self {
            Answer::NoResponse { .. } => policy.verdict_unknown(attempt, elapsed, jitter),
            Answer::Response { status, retry_after, .. } => {
                policy.verdict(*status, attempt, elapsed, *retry_after, jitter)
            }
        }
    }

    /// A one-line description (secrets masked): `HTTP 422: {"error": …}` or the transport error.
    pub(crate) fn describe(&self) -> String {
        match self {
            Answer::NoResponse { message } => scrub(message.clone()),
            Answer::Response { status, body, .. } => {
                let text = match body {
                    Value::Null => String::new(),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if text.is_empty() {
                    format!("HTTP {status}")
                } else {
                    scrub(format!("HTTP {status}: {}", excerpt(&text, 300)))
                }
            }
        }
    }

    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            Answer::Response { status, .. } => Some(*status),
            Answer::NoResponse { .. } => None,
        }
    }
}
