//! Answering a component's HTTP requests without the network (`weir test`): the request as the
//! component would send it, the mocked reply, and waits that take no time. The HTTP client asks its
//! [`RequestMock`] instead of sending when it was built with one; nothing else changes, so retries,
//! `on_status` and dead letters run as they would against the real API. Or, recording
//! (`weir test --record`), the client sends for real and tells its [`ExchangeRecorder`] every
//! exchange.

use std::time::Duration;

/// A request as a mock sees it.
#[derive(Debug, Clone)]
pub(crate) struct MockRequest {
    /// `GET`, `POST`, …
    pub(crate) method: String,
    /// The URL's path as sent (percent-encoded).
    pub(crate) path: String,
    /// The query parameters, decoded, in order.
    pub(crate) query: Vec<(String, String)>,
    /// The body as sent (empty without one).
    pub(crate) body: Vec<u8>,
}

/// What a mock answers.
#[derive(Debug, Clone)]
pub(crate) enum MockReply {
    /// A response.
    Response {
        /// The status.
        status: u16,
        /// Its headers.
        headers: Vec<(String, String)>,
        /// Its body.
        body: Vec<u8>,
    },
    /// No response: the request timed out (its outcome unknown).
    NoResponse,
    /// No rule answers this request: the test is wrong, the component fails.
    Unmatched,
}

/// Answers the requests of one component.
pub(crate) trait RequestMock: Send + Sync + std::fmt::Debug {
    /// The reply to `request`.
    fn answer(&self, request: &MockRequest) -> MockReply;
    /// A wait the component would make (backoff, `Retry-After`, settle, polling): recorded, not slept.
    fn pause(&self, wait: Duration);
}

/// Keeps the exchanges of one component with the real API (`weir test --record`): the client sends as
/// in production (credentials, rate limit, real waits) and tells the recorder each request and answer.
pub(crate) trait ExchangeRecorder: Send + Sync + std::fmt::Debug {
    /// `request` got `reply` (a [`MockReply::Response`] or [`MockReply::NoResponse`]).
    fn record(&self, request: &MockRequest, reply: &MockReply);
}

/// What a test puts between a component and the network.
#[derive(Debug, Clone)]
pub(crate) enum RequestHook {
    /// Requests are answered by the mock; nothing is sent.
    Mock(std::sync::Arc<dyn RequestMock>),
    /// Requests are sent for real and every exchange recorded.
    Record(std::sync::Arc<dyn ExchangeRecorder>),
}

impl RequestHook {
    /// The mock, when requests are answered by one.
    pub(crate) fn mock(&self) -> Option<std::sync::Arc<dyn RequestMock>> {
        match self {
            Self::Mock(mock) => Some(std::sync::Arc::clone(mock)),
            Self::Record(_) => None,
        }
    }

    /// The recorder, when requests are sent and recorded.
    pub(crate) fn recorder(&self) -> Option<std::sync::Arc<dyn ExchangeRecorder>> {
        match self {
            Self::Record(recorder) => Some(std::sync::Arc::clone(recorder)),
            Self::Mock(_) => None,
        }
    }
}

/// How a component waits (backoff, `Retry-After`, settle, polling): for real, or — with a mock — by
/// telling the mock and going on at once, so a test of retries takes no time.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pauses(Option<std::sync::Arc<dyn RequestMock>>);

impl Pauses {
    /// Waits that a mock takes (`None`: real waits).
    pub(crate) fn new(mock: Option<std::sync::Arc<dyn RequestMock>>) -> Self {
        Self(mock)
    }

    /// Waits `wait` on this thread (or tells the mock).
    pub(crate) fn sleep(&self, wait: Duration) {
        match &self.0 {
            Some(mock) => mock.pause(wait),
            None => std::thread::sleep(wait),
        }
    }

    /// Waits `wait` in async code (or tells the mock).
    pub(crate) async fn sleep_async(&self, wait: Duration) {
        match &self.0 {
            Some(mock) => mock.pause(wait),
            None => tokio::time::sleep(wait).await,
        }
    }
}
