//! Sending a prepared request: the HTTP client every HTTP component uses — the connection's client
//! settings, auth and rate limit applied to every request, one token renewal on a 401. Two ways to
//! send, with one behaviour: blocking ([`Client::send`], for the components that run on a thread of
//! their own) and async ([`Client::send_async`], for the `http` sink's requests in flight, so that
//! 64 requests in flight are 64 futures, not 64 threads each waiting on reqwest's internal runtime).
//! What a 401 or a failed login means for the credentials is judged in `credentials`. Every text that
//! leaves this module (errors, targets) has the registered secrets masked.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

pub(crate) use super::answer::{Answer, ClientError, MAX_BODY, Prepared, excerpt, scrub};
use super::answer::{certificate_problem, describe_error, read_bounded, read_bounded_async};
use crate::connectors::http::auth::Auth;
use crate::connectors::http::connection::ClientOptions;
use crate::connectors::http::token::{TokenError, TokenUse};
use crate::kernel::mock::RequestHook;
use crate::kernel::rate_limit::RateLimit;

mod credentials;
use credentials::{AfterAuth, Renewals, refused_use};

/// One HTTP client per component (connections are pooled and kept alive).
#[derive(Debug, Clone)]
pub(crate) struct Client {
    inner: reqwest::blocking::Client,
    /// The async client, made on the first [`Client::send_async`] (most components never need it).
    asynchronous: Arc<OnceLock<Result<reqwest::Client, String>>>,
    /// What both clients are made from.
    settings: Settings,
    /// Added to every request (the connection's `auth`).
    auth: Option<Auth>,
    /// Every request waits for a permit of the connection's rate limit; a 429 or 503 with
    /// `Retry-After` pauses the whole limit.
    limit: Option<Arc<RateLimit>>,
    /// Set when the API has refused the credentials for good: every later request of this client
    /// fails at once with the same error, instead of logging in again (requests in flight would
    /// otherwise each renew the token twice).
    refused: Arc<OnceLock<ClientError>>,
    /// Answers requests instead of the network (`weir test`).
    mock: Option<Arc<dyn crate::kernel::mock::RequestMock>>,
    /// Told every exchange with the real API (`weir test --record`).
    recorder: Option<Arc<dyn crate::kernel::mock::ExchangeRecorder>>,
    /// The connection's metrics: every answer (status, time), every request sent again.
    metrics: crate::telemetry::metrics::HttpMetrics,
}

/// The settings of a component's client.
#[derive(Debug, Clone)]
struct Settings {
    timeout: Duration,
    connect_timeout: Duration,
    follow_redirects: bool,
    ca_certificates: Vec<reqwest::Certificate>,
}

/// Applies [`Settings`] to a blocking or an async client builder (the two have the same methods but
/// no common trait), all but `timeout`: the blocking client's bounds the wait for the answer's
/// headers, then each read of its body; the async client's would bound the whole exchange, body
/// included. The async client gets the same limits as a read timeout and a time limit on `send`.
macro_rules! configure {
    ($builder:expr, $settings:expr) => {{
        let settings = $settings;
        // A redirected POST would be re-sent as a GET and its answer taken for the create's: unless the
        // connection says so, an API that redirects writes is a configuration error, reported with
        // its 3xx status.
        let redirects = if settings.follow_redirects {
            reqwest::redirect::Policy::limited(5)
        } else {
            reqwest::redirect::Policy::none()
        };
        let mut builder = $builder
            .connect_timeout(settings.connect_timeout)
            .user_agent(concat!("weir/", env!("CARGO_PKG_VERSION")))
            .redirect(redirects);
        for ca in &settings.ca_certificates {
            builder = builder.add_root_certificate(ca.clone());
        }
        builder.build().map_err(|e| format!("cannot create the HTTP client: {e}"))
    }};
}

impl Client {
    /// Builds the client. Must run on a thread that may block (the sink's), not in async code.
    pub(crate) fn new(
        timeout: Duration,
        options: &ClientOptions,
        auth: Option<Auth>,
        limit: Option<Arc<RateLimit>>,
    ) -> Result<Self, String> {
        // reqwest is built without a bundled crypto provider; use ring's (first caller wins).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let connect = options.connect_timeout.unwrap_or(Duration::from_secs(10));
        let settings = Settings {
            timeout,
            connect_timeout: timeout.min(connect),
            follow_redirects: options.follow_redirects,
            ca_certificates: options.ca_certificates.clone(),
        };
        let inner = configure!(reqwest::blocking::Client::builder().timeout(settings.timeout), &settings)?;
        let hook = options.hook.as_ref();
        let (mock, recorder) = (hook.and_then(RequestHook::mock), hook.and_then(RequestHook::recorder));
        // A mocked API gets no credentials (no login is made) and no rate limit (waits are virtual).
        let (auth, limit) = if mock.is_some() { (None, None) } else { (auth, limit) };
        let refused = Arc::default();
        let metrics = options.metrics.clone();
        Ok(Self { inner, asynchronous: Arc::default(), settings, auth, limit, refused, mock, recorder, metrics })
    }

    /// Counts and logs a request sent again in `wait` after `answer` to its try number `attempt`
    /// (`key`: the record's, when the request is one record's).
    pub(crate) fn sending_again(&self, answer: &Answer, attempt: u32, wait: Duration, key: Option<&str>) {
        let status = answer.status();
        self.metrics.retried(status);
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        tracing::debug!(
            connection = self.metrics.connection(),
            key,
            attempt,
            status,
            wait_ms,
            "sending the request again"
        );
    }

    /// How this client's components wait between tries: for real, or virtually with a mock.
    pub(crate) fn pauses(&self) -> crate::kernel::mock::Pauses {
        crate::kernel::mock::Pauses::new(self.mock.clone())
    }

    /// The mock's answer, when the client has one.
    fn mocked(
        &self,
        request: &Prepared,
        body: Option<&[u8]>,
    ) -> Option<Result<(Answer, Option<TokenUse<'_>>), ClientError>> {
        let mock = self.mock.as_deref()?;
        let answer = |status, headers: HeaderMap, bytes: Vec<u8>| {
            let retry_after = self.slow_down(status, &headers);
            Self::answer(status, headers, retry_after, Ok(Some(bytes)))
        };
        Some(super::mocked::answer(mock, request, body, answer).map(|a| (a, None)))
    }

    /// Sends `request`. Failures of the request are in the [`Answer`]; the error is for credentials the
    /// API refuses — a login that fails, or a 401 with credentials set (after one renewal of a token):
    /// every further request would be refused too, so the component fails rather than dead-letter or retry.
    pub(crate) fn send(&self, request: &Prepared) -> Result<Answer, ClientError> {
        let mut renewals = Renewals::default();
        loop {
            self.still_accepted()?;
            let (answer, used) = self.send_once(request)?;
            let refusal = refused_use(&answer, used).map(|used| used.refused(self.settings.timeout));
            match self.after_auth(request, answer, refusal, &mut renewals) {
                AfterAuth::SendAgain => {}
                AfterAuth::Done(done) => return super::mocked::recorded(self.recorder.as_deref(), request, done),
            }
        }
    }

    /// [`Client::send`] from async code: the same answer, errors, rate limit and token renewal.
    pub(crate) async fn send_async(&self, request: &Prepared) -> Result<Answer, ClientError> {
        let mut renewals = Renewals::default();
        loop {
            self.still_accepted()?;
            let (answer, used) = self.send_once_async(request).await?;
            let refusal = match refused_use(&answer, used) {
                Some(used) => Some(used.refused_async(self.settings.timeout).await),
                None => None,
            };
            match self.after_auth(request, answer, refusal, &mut renewals) {
                AfterAuth::SendAgain => {}
                AfterAuth::Done(done) => return super::mocked::recorded(self.recorder.as_deref(), request, done),
            }
        }
    }

    /// The headers and the body of `request` as sent, the auth header aside.
    fn outgoing(request: &Prepared) -> (HeaderMap, Option<Vec<u8>>) {
        let mut headers = request.headers.clone();
        let body = request.body.as_ref().map(|body| {
            headers.append(reqwest::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            body.to_string().into_bytes()
        });
        headers.append(reqwest::header::ACCEPT, HeaderValue::from_static("application/json"));
        (headers, body)
    }

    /// One try: the answer, and the use of the token it went with (credentials that are a token).
    fn send_once(&self, request: &Prepared) -> Result<(Answer, Option<TokenUse<'_>>), ClientError> {
        let (mut headers, body) = Self::outgoing(request);
        if let Some(mocked) = self.mocked(request, body.as_deref()) {
            return mocked;
        }
        let mut used = None;
        if let Some(limit) = &self.limit {
            limit.acquire_blocking();
        }
        if let Some(auth) = &self.auth {
            // Signed last, over the URL exactly as it is sent.
            let (name, value) = match auth.header(request.method.as_str(), &request.url, &self.inner) {
                Ok(header) => header,
                Err(e) => return self.login_failed(e).map(|answer| (answer, None)),
            };
            headers.append(name, value.clone());
            // Counted in flight before it is sent: a refusal judged meanwhile waits for its answer.
            used = auth.token().map(|token| token.in_use(value));
        }
        let mut builder = self.inner.request(request.method.clone(), request.url.clone()).headers(headers);
        if let Some(body) = body {
            builder = builder.body(body);
        }
        let started = Instant::now();
        let response = match builder.send() {
            Ok(response) => response,
            Err(e) => {
                self.metrics.answered(request.method.as_str(), None, started.elapsed());
                return Self::unsent(request, &e).map(|answer| (answer, used));
            }
        };
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let retry_after = self.slow_down(status, &headers);
        let body = read_bounded(response);
        self.metrics.answered(request.method.as_str(), Some(status), started.elapsed());
        Ok((Self::answer(status, headers, retry_after, body), used))
    }

    async fn send_once_async(&self, request: &Prepared) -> Result<(Answer, Option<TokenUse<'_>>), ClientError> {
        let (mut headers, body) = Self::outgoing(request);
        if let Some(mocked) = self.mocked(request, body.as_deref()) {
            return mocked;
        }
        let mut used = None;
        if let Some(limit) = &self.limit {
            limit.acquire().await;
        }
        if let Some(auth) = &self.auth {
            let (name, value) = match self.auth_header_async(auth, request).await? {
                Ok(header) => header,
                Err(e) => return self.login_failed(e).map(|answer| (answer, None)),
            };
            headers.append(name, value.clone());
            // Counted in flight before it is sent: a refusal judged meanwhile waits for its answer.
            used = auth.token().map(|token| token.in_use(value));
        }
        let client = self
            .asynchronous
            .get_or_init(|| configure!(reqwest::Client::builder().read_timeout(self.settings.timeout), &self.settings))
            .as_ref()
            .map_err(|message| ClientError { message: message.clone(), retryable: false })?;
        let mut builder = client.request(request.method.clone(), request.url.clone()).headers(headers);
        if let Some(body) = body {
            builder = builder.body(body);
        }
        // As the blocking client: the headers within `timeout`, then each read of the body.
        let started = Instant::now();
        let no_answer = || self.metrics.answered(request.method.as_str(), None, started.elapsed());
        let response = match tokio::time::timeout(self.settings.timeout, builder.send()).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => {
                no_answer();
                return Self::unsent(request, &e).map(|answer| (answer, used));
            }
            Err(_) => {
                no_answer();
                return Ok((Answer::NoResponse { message: "timed out: no answer in time".into() }, used));
            }
        };
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let retry_after = self.slow_down(status, &headers);
        let body = read_bounded_async(response).await;
        self.metrics.answered(request.method.as_str(), Some(status), started.elapsed());
        Ok((Self::answer(status, headers, retry_after, body), used))
    }

    /// The auth header from async code: at once when it needs no login (a static header, an OAuth 1.0a
    /// signature, a token held), else the login on the blocking pool (logins are rare and use the
    /// blocking client, like every other caller's).
    async fn auth_header_async(
        &self,
        auth: &Auth,
        request: &Prepared,
    ) -> Result<Result<(HeaderName, HeaderValue), TokenError>, ClientError> {
        let header = match auth.header_now(request.method.as_str(), &request.url) {
            Some(header) => header,
            None => {
                let (auth, inner, method, url) =
                    (auth.clone(), self.inner.clone(), request.method.clone(), request.url.clone());
                // A panic's payload may hold anything the login saw: it is not shown.
                tokio::task::spawn_blocking(move || auth.header(method.as_str(), &url, &inner))
                    .await
                    .map_err(|_| ClientError { message: "login task failed".into(), retryable: true })?
            }
        };
        Ok(header)
    }

    /// The answer's `Retry-After`, as a wait; a 429 or 503 with one pauses the whole rate limit.
    fn slow_down(&self, status: u16, headers: &HeaderMap) -> Option<Duration> {
        let after = headers.get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok());
        let retry_after =
            after.and_then(|a| crate::connectors::http::retry::parse_retry_after(a, std::time::SystemTime::now()));
        if let (Some(limit), true, Some(wait)) = (&self.limit, matches!(status, 429 | 503), retry_after) {
            // At most 5 minutes: a server asking for longer is better answered by failing the run.
            limit.pause_for(wait.min(Duration::from_secs(300)));
        }
        retry_after
    }

    /// A request that got no response: an unknown outcome, or an error when the server's certificate
    /// is refused — not a passing failure: every try would meet the same certificate.
    fn unsent(request: &Prepared, e: &reqwest::Error) -> Result<Answer, ClientError> {
        if let Some(problem) = certificate_problem(e) {
            let message = format!(
                "{}: the server's TLS certificate is not accepted ({problem}); if it is signed by a company \
                 or test CA, add that CA to the connection's `ca_bundle`",
                request.target
            );
            return Err(ClientError { message: scrub(message), retryable: false });
        }
        Ok(Answer::NoResponse { message: describe_error(e) })
    }

    /// The answer made of a response's status, headers and body as read (no body: longer than
    /// [`MAX_BODY`]; an error: the body could not be read to its end).
    fn answer(
        status: u16,
        headers: HeaderMap,
        retry_after: Option<Duration>,
        body: Result<Option<Vec<u8>>, String>,
    ) -> Answer {
        let headers = Box::new(headers);
        match body {
            Ok(None) => Answer::Response {
                status,
                body: Value::String(format!("(a body larger than {} MiB, not read)", MAX_BODY >> 20)),
                json: false,
                retry_after,
                headers,
                oversized: true,
            },
            Ok(Some(bytes)) => {
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
        }
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
