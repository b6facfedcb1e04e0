//! One request tried until the retry policy settles it (backoff and `Retry-After` waited out on the
//! calling thread), and the JSON body of a settled answer: what the `http` step and the `graphql`
//! source do with every request.

use std::time::Instant;

use serde_json::Value;

use super::HttpConnection;
use super::client::{Answer, Client, ClientError, MAX_BODY, Prepared, excerpt};
use super::retry::{RetryPolicy, StatusAction, Verdict};

/// A client with the connection's settings, auth and rate limit (none without a connection). Must run
/// on a thread that may block.
pub(crate) fn client(
    timeout: std::time::Duration,
    connection: Option<&HttpConnection>,
    hook: Option<crate::kernel::mock::RequestHook>,
) -> Result<Client, String> {
    let mut options = connection.map(|c| c.client.clone()).unwrap_or_default();
    options.hook = hook;
    Client::new(timeout, &options, connection.and_then(|c| c.auth.clone()), connection.and_then(|c| c.limit.clone()))
}

/// A component's time limit for one request: its own `timeout`, else the connection's, else 30 s; zero
/// is reported at `timeout`.
pub(crate) fn time_limit(
    own: Option<crate::config::duration::Duration>,
    connection: Option<&HttpConnection>,
    errors: &mut crate::kernel::build::BuildErrors,
) -> std::time::Duration {
    let limit =
        own.map(|d| d.0).or_else(|| connection.and_then(|c| c.timeout)).unwrap_or(std::time::Duration::from_secs(30));
    if limit.is_zero() {
        errors.push(&["timeout"], "bad-value", "`timeout` must be longer than zero", None);
    }
    limit
}

/// How a request ended.
#[derive(Debug)]
pub(crate) enum Exchange {
    /// The policy settled on `action` (`ok`, `ignore`, `dead_letter` or `fail`) for this answer.
    Settled(StatusAction, Answer),
    /// The answer asked for another try but the tries or the time are spent: the last answer.
    GaveUp(Answer),
}

/// Sends `request` until `policy` settles it, blocking; returns how it ended and the tries made. The
/// error is the client's: credentials the API refuses (after one token renewal).
pub(crate) fn exchange(
    client: &Client,
    policy: &RetryPolicy,
    request: &Prepared,
) -> Result<(Exchange, u32), ClientError> {
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let answer = client.send(request)?;
        match answer.verdict(policy, attempt, started.elapsed()) {
            Verdict::Again { wait, .. } => {
                client.sending_again(&answer, attempt, wait, None);
                client.pauses().sleep(wait);
            }
            Verdict::Settle(action) => return Ok((Exchange::Settled(action, answer), attempt)),
            Verdict::GiveUp(_) => return Ok((Exchange::GaveUp(answer), attempt)),
        }
    }
}

/// The JSON body of an answer, or why there is none (secrets masked): a body over the size cap, one
/// that is not JSON (a proxy's error page, a login page), no response.
pub(crate) fn json_body(request: &Prepared, answer: Answer) -> Result<Value, String> {
    match answer {
        Answer::Response { oversized: true, .. } => {
            Err(format!("{}: the answer is larger than {} MiB, the most that is read", request.target, MAX_BODY >> 20))
        }
        Answer::Response { json: false, status, body, .. } => {
            let start = excerpt(body.as_str().unwrap_or_default(), 200);
            Err(format!("{} answered HTTP {status} with a body that is not JSON: {start}", request.target))
        }
        Answer::Response { body, .. } => Ok(body),
        Answer::NoResponse { message } => Err(format!("{}: {message}", request.target)),
    }
}
