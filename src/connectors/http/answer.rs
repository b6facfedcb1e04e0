//! What a request is and what comes back, for every HTTP component: the prepared request, the
//! [`Answer`] (a response, or why there was none), the error of credentials the API refuses, and the
//! masking of registered secrets in every text that leaves the HTTP layer; reading a body (bounded) and
//! describing a transport error.

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
            Answer::Response { status, body, retry_after, .. } => {
                policy.verdict(*status, Some(body), attempt, elapsed, *retry_after, jitter)
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

/// The body of `response` from async code, or none when it is longer than [`MAX_BODY`]; on a
/// transport error, its description.
pub(super) async fn read_bounded_async(mut response: reqwest::Response) -> Result<Option<Vec<u8>>, String> {
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if bytes.len() + chunk.len() > MAX_BODY => return Ok(None),
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => return Ok(Some(bytes)),
            Err(e) => return Err(describe_error(&e)),
        }
    }
}

/// The body of `response`, or no body when it is longer than [`MAX_BODY`].
/// On a transport error, its description.
pub(super) fn read_bounded(response: reqwest::blocking::Response) -> Result<Option<Vec<u8>>, String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    match response.take(MAX_BODY as u64 + 1).read_to_end(&mut bytes) {
        Ok(n) if n > MAX_BODY => Ok(None),
        Ok(_) => Ok(Some(bytes)),
        Err(e) => {
            let text = e.to_string();
            // The reader wraps reqwest's own error (a timeout, a dropped connection).
            Err(match e.into_inner().map(|inner| inner.downcast::<reqwest::Error>()) {
                Some(Ok(e)) => describe_error(&e),
                _ => scrub(format!("no response: {text}")),
            })
        }
    }
}

/// A transport error with its causes, without the URL (the caller names the target).
/// The certificate error in `e`'s causes (an unknown issuer, an expired or mismatched certificate), if
/// that is why the request failed. Read from the text rustls gives it (`invalid peer certificate: …`):
/// the error reaches here wrapped in hyper's and `io::Error`s, which do not all expose their source.
pub(super) fn certificate_problem(e: &reqwest::Error) -> Option<String> {
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if let Some(at) = text.find("invalid peer certificate: ") {
            return Some(text[at + "invalid peer certificate: ".len()..].trim().to_string());
        }
        cause = c.source();
    }
    None
}

pub(super) fn describe_error(e: &reqwest::Error) -> String {
    let mut message = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        "no response".to_string()
    };
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = c.source();
    }
    scrub(message)
}
