//! What to do with an HTTP answer, and when to try again: `on_status` maps a status code (`"409"`) or
//! class (`"5xx"`), optionally with a text the body holds (`"400 already attached"`), to an action,
//! and `retry` bounds the tries — exponential backoff with full jitter (a random wait between zero and
//! the doubled interval, so clients that failed together do not come back together), a cap on one wait, on the number of tries and on the total time, and the server's
//! `Retry-After` (seconds or an HTTP date) honoured when it asks for longer.

use std::collections::BTreeMap;
use std::time::{Duration as StdDuration, SystemTime};

use schemars::JsonSchema;
use serde::Deserialize;

use crate::config::duration::Duration;

/// What to do with an answer of a given status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StatusAction {
    /// Delivered.
    Ok,
    /// Try again after a backoff (the target may recover: 5xx, 408).
    Retry,
    /// The target is overloaded: pause the connection's whole rate limit (for `Retry-After` when it
    /// says), then try again.
    RateLimited,
    /// This record cannot be written as it is: to the dead-letter queue with the answer.
    DeadLetter,
    /// Counted as delivered without being written (e.g. `409` for a record the target already has).
    Ignore,
    /// Stop the pipeline (e.g. for a status that means the configuration is wrong).
    Fail,
}

/// Retry bounds: `{ max_attempts, initial, max, max_elapsed }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetryConfig {
    /// Tries in all, the first included (default 5).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// The backoff's first interval, doubled for each further try (default `200ms`).
    #[serde(default = "default_initial")]
    pub initial: Duration,
    /// The longest one wait may be, `Retry-After` included (default `30s`).
    #[serde(default = "default_max")]
    pub max: Duration,
    /// The longest all tries of one request may take together (default `5m`).
    #[serde(default = "default_max_elapsed")]
    pub max_elapsed: Duration,
}

fn default_max_attempts() -> u32 {
    5
}
fn default_initial() -> Duration {
    Duration(StdDuration::from_millis(200))
}
fn default_max() -> Duration {
    Duration(StdDuration::from_secs(30))
}
fn default_max_elapsed() -> Duration {
    Duration(StdDuration::from_secs(300))
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: default_max_attempts(),
            initial: default_initial(),
            max: default_max(),
            max_elapsed: default_max_elapsed(),
        }
    }
}

/// Which answers an `on_status` key matches: a status code or class, and optionally a text the
/// answer's body must hold (`"400 already attached"`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct StatusMatch {
    status: StatusKind,
    /// Lower-cased; matched, without case, against every string of the body (or its text).
    text: Option<String>,
}

/// The status part of an `on_status` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusKind {
    /// One code, `"409"`: wins over its class.
    Code(u16),
    /// A class, `"4xx"`.
    Class(u16),
}

impl StatusMatch {
    fn parse(key: &str) -> Option<Self> {
        let (status, text) = match key.trim().split_once(' ') {
            Some((status, text)) => (status, Some(text.trim().to_lowercase()).filter(|t| !t.is_empty())),
            None => (key.trim(), None),
        };
        let bytes = status.as_bytes();
        let status = match bytes {
            [c @ b'1'..=b'5', b'x' | b'X', b'x' | b'X'] => StatusKind::Class(u16::from(c - b'0')),
            [b'1'..=b'5', b'0'..=b'9', b'0'..=b'9'] => StatusKind::Code(status.parse().ok()?),
            _ => return None,
        };
        Some(Self { status, text })
    }

    fn code(code: u16) -> Self {
        Self { status: StatusKind::Code(code), text: None }
    }

    fn class(class: u16) -> Self {
        Self { status: StatusKind::Class(class), text: None }
    }

    /// The order rules are tried in: those with a text (the more specific), codes before classes,
    /// then those without.
    fn rank(&self) -> (bool, bool) {
        (self.text.is_none(), matches!(self.status, StatusKind::Class(_)))
    }

    fn matches(&self, status: u16, body: Option<&serde_json::Value>) -> bool {
        let status_matches = match self.status {
            StatusKind::Code(c) => c == status,
            StatusKind::Class(c) => c == status / 100,
        };
        status_matches && self.text.as_deref().is_none_or(|text| body.is_some_and(|b| holds(b, text)))
    }
}

/// Whether a string of `body` (a JSON answer's strings, any depth, or a text answer) holds `text`
/// (lower case), without case: Magento's `{"message": "The product is already attached."}` holds
/// `already attached`.
fn holds(body: &serde_json::Value, text: &str) -> bool {
    use serde_json::Value;
    match body {
        Value::String(s) => s.to_lowercase().contains(text),
        Value::Array(items) => items.iter().any(|v| holds(v, text)),
        Value::Object(map) => map.values().any(|v| holds(v, text)),
        _ => false,
    }
}

/// Why a retry policy cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RetryConfigError {
    /// An `on_status` key that is neither a code nor a class (optionally followed by a text).
    #[error(
        "`{0}` is not a status code (`409`) or class (`4xx`) from 100 to 599, optionally followed by a text the \
         answer must hold (`400 already attached`)"
    )]
    BadStatus(String),
    /// `max_attempts: 0`.
    #[error("`max_attempts` must be at least 1 (the first try)")]
    NoAttempt,
}

/// A compiled retry policy.
#[derive(Debug, Clone)]
pub(crate) struct RetryPolicy {
    rules: Vec<(StatusMatch, StatusAction)>,
    max_attempts: u32,
    initial: StdDuration,
    max: StdDuration,
    max_elapsed: StdDuration,
}

/// What to do after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Done: `Ok`, `Ignore`, `DeadLetter` or `Fail` (the action itself).
    Settle(StatusAction),
    /// Try again after this wait; `pause_limit` when the whole rate limit waits too (a 429).
    Again {
        /// How long to wait.
        wait: StdDuration,
        /// Pause the connection's rate limit for `wait`.
        pause_limit: bool,
    },
    /// The answer asked for another try but the policy's bounds are spent: the action the status
    /// called for, and why it stops.
    GiveUp(StatusAction),
}

impl RetryPolicy {
    /// Compiles `retry` and `on_status` (codes and classes override the defaults: 2xx ok, 408 retry,
    /// 409 ignore, 429 rate limited, 5xx retry, 3xx and 4xx dead letter, 1xx fail).
    pub(crate) fn build(
        retry: &RetryConfig,
        on_status: &BTreeMap<String, StatusAction>,
    ) -> Result<Self, RetryConfigError> {
        if retry.max_attempts == 0 {
            return Err(RetryConfigError::NoAttempt);
        }
        let mut rules = vec![
            (StatusMatch::class(1), StatusAction::Fail),
            (StatusMatch::class(2), StatusAction::Ok),
            // Redirects are not followed unless the connection says so; the record is dead-lettered
            // with the status (an idempotent sink keeps its intent: a create may have happened).
            (StatusMatch::class(3), StatusAction::DeadLetter),
            (StatusMatch::class(4), StatusAction::DeadLetter),
            (StatusMatch::class(5), StatusAction::Retry),
            (StatusMatch::code(408), StatusAction::Retry),
            // The target has it already (an idempotent sink looks it up for its ids).
            (StatusMatch::code(409), StatusAction::Ignore),
            (StatusMatch::code(429), StatusAction::RateLimited),
        ];
        for (key, action) in on_status {
            let m = StatusMatch::parse(key).ok_or_else(|| RetryConfigError::BadStatus(key.clone()))?;
            rules.retain(|(existing, _)| *existing != m);
            rules.push((m, *action));
        }
        // Rules with a text first, codes before classes.
        rules.sort_by_key(|(m, _)| m.rank());
        Ok(Self {
            rules,
            max_attempts: retry.max_attempts,
            initial: retry.initial.0,
            max: retry.max.0,
            max_elapsed: retry.max_elapsed.0,
        })
    }

    /// The action for an answer with `status` (whatever its body says).
    #[cfg(test)]
    pub(crate) fn action(&self, status: u16) -> StatusAction {
        self.action_for(status, None)
    }

    /// The action for an answer with `status` and `body`: a rule with a text matches only a body
    /// holding it.
    pub(crate) fn action_for(&self, status: u16, body: Option<&serde_json::Value>) -> StatusAction {
        self.rules.iter().find(|(m, _)| m.matches(status, body)).map_or(StatusAction::Fail, |(_, a)| *a)
    }

    /// The wait before try number `attempt + 1` (after `attempt` tries, from 1): full jitter, a random
    /// share `jitter` (0 to 1) of `initial × 2^(attempt-1)`, at most `max`.
    pub(crate) fn backoff(&self, attempt: u32, jitter: f64) -> StdDuration {
        let doubled = self.initial.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        doubled.min(self.max).mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// What to do after try number `attempt` (from 1) answered `status` with `body`, `elapsed` after
    /// the first try started; `retry_after` is the answer's `Retry-After`, `jitter` a random number
    /// from 0 to 1.
    pub(crate) fn verdict(
        &self,
        status: u16,
        body: Option<&serde_json::Value>,
        attempt: u32,
        elapsed: StdDuration,
        retry_after: Option<StdDuration>,
        jitter: f64,
    ) -> Verdict {
        let action = self.action_for(status, body);
        if !matches!(action, StatusAction::Retry | StatusAction::RateLimited) {
            return Verdict::Settle(action);
        }
        self.again(action, attempt, elapsed, retry_after, jitter)
    }

    /// What to do after try number `attempt` got no answer at all (a timeout, a reset): whether the
    /// target acted is unknown, and it is tried again within the bounds, whatever `on_status` says.
    pub(crate) fn verdict_unknown(&self, attempt: u32, elapsed: StdDuration, jitter: f64) -> Verdict {
        self.again(StatusAction::Retry, attempt, elapsed, None, jitter)
    }

    fn again(
        &self,
        action: StatusAction,
        attempt: u32,
        elapsed: StdDuration,
        retry_after: Option<StdDuration>,
        jitter: f64,
    ) -> Verdict {
        let backoff = self.backoff(attempt, jitter);
        // The server knows best when it says; never wait less than it asks, nor more than `max`.
        let wait = retry_after.map_or(backoff, |r| r.max(backoff)).min(self.max);
        if attempt >= self.max_attempts || elapsed.saturating_add(wait) > self.max_elapsed {
            return Verdict::GiveUp(action);
        }
        Verdict::Again { wait, pause_limit: action == StatusAction::RateLimited }
    }
}

/// A `Retry-After` value: seconds (`120`) or an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`, also the
/// two obsolete forms), as a wait from `now` (a date in the past is no wait). `None` when it is
/// neither.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<StdDuration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(StdDuration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(StdDuration::ZERO))
}

#[cfg(test)]
#[path = "retry_tests.rs"]
mod tests;
