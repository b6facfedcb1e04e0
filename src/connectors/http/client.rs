//! Sending a prepared request and reading what comes back: the blocking HTTP client every HTTP
//! component uses (the connection's client settings, auth and rate limit applied to every request, one
//! token renewal on a 401) and the [`Answer`] — a response, or why there was none. Every text that
//! leaves this module (errors, targets) has the registered secrets masked.

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

/// One blocking HTTP client per component (connections are pooled and kept alive).
#[derive(Debug, Clone)]
pub(crate) struct Client {
    inner: reqwest::blocking::Client,
    /// Added to every request (the connection's `auth`).
    auth: Option<crate::connectors::http::auth::Auth>,
    /// Every request waits for a permit of the connection's rate limit; a 429 or 503 with
    /// `Retry-After` pauses the whole limit.
    limit: Option<std::sync::Arc<crate::kernel::rate_limit::RateLimit>>,
}

impl Client {
    /// Builds the client. Must run on a thread that may block (the sink's), not in async code.
    pub(crate) fn new(
        timeout: Duration,
        options: &crate::connectors::http::connection::ClientOptions,
        auth: Option<crate::connectors::http::auth::Auth>,
        limit: Option<std::sync::Arc<crate::kernel::rate_limit::RateLimit>>,
    ) -> Result<Self, String> {
        // reqwest is built without a bundled crypto provider; use ring's (first caller wins).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let connect = options.connect_timeout.unwrap_or(Duration::from_secs(10));
        // A redirected POST would be re-sent as a GET and its answer taken for the create's: unless the
        // connection says so, an API that redirects writes is a configuration error, reported with
        // its 3xx status.
        let redirects = if options.follow_redirects {
            reqwest::redirect::Policy::limited(5)
        } else {
            reqwest::redirect::Policy::none()
        };
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(connect))
            .user_agent(concat!("weir/", env!("CARGO_PKG_VERSION")))
            .redirect(redirects);
        for ca in &options.ca_certificates {
            builder = builder.add_root_certificate(ca.clone());
        }
        let inner = builder.build().map_err(|e| format!("cannot create the HTTP client: {e}"))?;
        Ok(Self { inner, auth, limit })
    }

    /// Sends `request`. Failures of the request are in the [`Answer`]; the error is for credentials the
    /// API refuses — a login that fails, or a 401 with credentials set (after one renewal of a token):
    /// every further request would be refused too, so the component fails rather than dead-letter or retry.
    pub(crate) fn send(&self, request: &Prepared) -> Result<Answer, ClientError> {
        let mut renewed = false;
        loop {
            let answer = self.send_once(request)?;
            match (&self.auth, answer.status()) {
                (Some(auth), Some(401)) if auth.renews() && !renewed => {
                    auth.invalidate();
                    renewed = true;
                }
                (Some(_), Some(401)) => {
                    let again = if renewed { " (after logging in again)" } else { "" };
                    return Err(ClientError {
                        message: scrub(format!(
                            "{} answered HTTP 401{again}: the API refuses the connection's credentials; fix its `auth` \
                             and run again",
                            request.target
                        )),
                        retryable: false,
                    });
                }
                _ => return Ok(answer),
            }
        }
    }

    fn send_once(&self, request: &Prepared) -> Result<Answer, ClientError> {
        let mut builder =
            self.inner.request(request.method.clone(), request.url.clone()).headers(request.headers.clone());
        if let Some(body) = &request.body {
            builder = builder.header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_string());
        }
        builder = builder.header(reqwest::header::ACCEPT, "application/json");
        if let Some(limit) = &self.limit {
            limit.acquire_blocking();
        }
        if let Some(auth) = &self.auth {
            // Signed last, over the URL exactly as it is sent.
            let (name, value) = auth
                .header(request.method.as_str(), &request.url, &self.inner)
                .map_err(|e| ClientError { message: scrub(e.message), retryable: e.retryable })?;
            builder = builder.header(name, value);
        }
        let mut retry_after = None;
        let mut headers = Box::default();
        let slow_down = |response: &reqwest::blocking::Response| {
            *headers = response.headers().clone();
            let status = response.status().as_u16();
            let after = response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok());
            retry_after =
                after.and_then(|a| crate::connectors::http::retry::parse_retry_after(a, std::time::SystemTime::now()));
            if let (Some(limit), true, Some(wait)) = (&self.limit, matches!(status, 429 | 503), retry_after) {
                // At most 5 minutes: a server asking for longer is better answered by failing the run.
                limit.pause_for(wait.min(Duration::from_secs(300)));
            }
        };
        let sent = builder.send();
        if let Err(e) = &sent
            && let Some(problem) = certificate_problem(e)
        {
            // Not a passing failure: every try would meet the same certificate.
            let message = format!(
                "{}: the server's TLS certificate is not accepted ({problem}); if it is signed by a company \
                 or test CA, add that CA to the connection's `ca_bundle`",
                request.target
            );
            return Err(ClientError { message: scrub(message), retryable: false });
        }
        let sent = sent.map_err(|e| describe_error(&e)).inspect(slow_down);
        Ok(match sent.and_then(read_bounded) {
            Ok((status, None)) => Answer::Response {
                status,
                body: Value::String(format!("(a body larger than {} MiB, not read)", MAX_BODY >> 20)),
                json: false,
                retry_after,
                headers,
                oversized: true,
            },
            Ok((status, Some(bytes))) => {
                let (body, json) = if bytes.iter().all(u8::is_ascii_whitespace) {
                    (Value::Null, true)
                } else {
                    match serde_json::from_slice(&bytes) {
                        Ok(body) => (body, true),
                        Err(_) => (Value::String(String::from_utf8_lossy(&bytes).into_owned()), false),
                    }
                };
                Answer::Response { status, body, json, retry_after, headers, oversized: false }
            }
            Err(message) => Answer::NoResponse { message },
        })
    }
}

/// The status and the body of `response`, or no body when it is longer than [`MAX_BODY`].
/// On a transport error, its description.
fn read_bounded(response: reqwest::blocking::Response) -> Result<(u16, Option<Vec<u8>>), String> {
    use std::io::Read;
    let status = response.status().as_u16();
    let mut bytes = Vec::new();
    match response.take(MAX_BODY as u64 + 1).read_to_end(&mut bytes) {
        Ok(n) if n > MAX_BODY => Ok((status, None)),
        Ok(_) => Ok((status, Some(bytes))),
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
fn certificate_problem(e: &reqwest::Error) -> Option<String> {
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

fn describe_error(e: &reqwest::Error) -> String {
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
