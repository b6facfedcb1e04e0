//! Named rate limits (`connections.yaml` → `rate_limits`): a request budget shared by every component
//! that names it, in one process — GCRA from `governor` (a rate, and a burst allowed after idling).
//! An API that answers 429 with `Retry-After` is telling the whole client to wait, not one request:
//! [`RateLimit::pause_for`] holds every caller of the limit until then.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use schemars::JsonSchema;
use serde::Deserialize;

/// The slowest rate: one request a day.
const MAX_INTERVAL: Duration = Duration::from_secs(86_400);

/// The largest burst.
const MAX_BURST: u32 = 100_000;

/// A request budget shared by the components that name it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateLimitConfig {
    /// Requests per second (fractions allowed: `0.5` is one request every two seconds). Give this or
    /// `per_minute`.
    #[serde(default)]
    pub per_second: Option<f64>,
    /// Requests per minute (e.g. `1200` for an ERP allowing 6,000 per 5 minutes). Give this or
    /// `per_second`.
    #[serde(default)]
    pub per_minute: Option<f64>,
    /// Requests that may be sent at once after an idle period (default 1: evenly spaced; at most
    /// 100000).
    #[serde(default)]
    pub burst: Option<u32>,
}

/// Why a rate limit's settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RateLimitError {
    /// Neither or both of the rates.
    #[error("give one rate: `per_second` or `per_minute`")]
    OneRate,
    /// A rate that is zero, negative, not a number, slower than one a day, or so high no interval
    /// fits it.
    #[error("the rate must be a positive number of requests, from one a day to one per nanosecond")]
    BadRate,
    /// A burst of zero, or one so large no limit can hold it.
    #[error("`burst` must be from 1 to 100000")]
    BadBurst,
}

impl RateLimitConfig {
    /// The interval between two requests at the steady rate, and the burst.
    fn quota(&self) -> Result<Quota, RateLimitError> {
        let per_second = match (self.per_second, self.per_minute) {
            (Some(s), None) => s,
            (None, Some(m)) => m / 60.0,
            _ => return Err(RateLimitError::OneRate),
        };
        if !per_second.is_finite() || per_second <= 0.0 {
            return Err(RateLimitError::BadRate);
        }
        let interval = Duration::try_from_secs_f64(1.0 / per_second).map_err(|_| RateLimitError::BadRate)?;
        // The limiter holds interval × burst in 64-bit nanoseconds (584 years): these bounds keep it
        // far inside.
        if interval > MAX_INTERVAL {
            return Err(RateLimitError::BadRate);
        }
        let burst = NonZeroU32::new(self.burst.unwrap_or(1))
            .filter(|b| b.get() <= MAX_BURST)
            .ok_or(RateLimitError::BadBurst)?;
        Quota::with_period(interval).map(|q| q.allow_burst(burst)).ok_or(RateLimitError::BadRate)
    }

    /// Checks the settings and makes the limit.
    pub(crate) fn build(&self, name: &str) -> Result<RateLimit, RateLimitError> {
        Ok(RateLimit::with_clock(name, self.quota()?, DefaultClock::default()))
    }
}

/// A built rate limit, shared (`Arc`) by every component naming it.
#[derive(Debug)]
pub(crate) struct RateLimit<C: Clock + Clone = DefaultClock> {
    name: String,
    limiter: RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
    clock: C,
    /// No request before this instant (a 429's `Retry-After`).
    paused_until: Mutex<Option<C::Instant>>,
}

impl<C: Clock + Clone> RateLimit<C> {
    fn with_clock(name: &str, quota: Quota, clock: C) -> Self {
        let limiter = RateLimiter::direct_with_clock(quota, clock.clone());
        Self { name: name.to_string(), limiter, clock, paused_until: Mutex::new(None) }
    }

    /// Takes one request's permit now, or says how long to wait before asking again.
    pub(crate) fn try_acquire(&self) -> Result<(), Duration> {
        let now = self.clock.now();
        if let Some(until) = *self.paused_until.lock().unwrap_or_else(|e| e.into_inner()) {
            let wait = Duration::from(until.duration_since(now));
            if !wait.is_zero() {
                return Err(wait);
            }
        }
        self.limiter.check().map_err(|not_until| not_until.wait_time_from(now))
    }

    /// Holds every request of this limit for `wait` (a 429's `Retry-After`); a shorter pause than one
    /// already set changes nothing.
    pub(crate) fn pause_for(&self, wait: Duration) {
        // Bounded: the limiter's clock counts 64-bit nanoseconds.
        let wait = wait.min(MAX_INTERVAL);
        let until = self.clock.now() + Nanos::from(wait);
        let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if paused.is_none_or(|p| until > p) {
            *paused = Some(until);
        }
        crate::telemetry::metrics::rate_limit_paused(&self.name);
        tracing::warn!(limit = %self.name, wait_ms = wait.as_millis() as u64, "the API asked to slow down: every request of this rate limit waits");
    }
}

impl RateLimit<DefaultClock> {
    /// Waits until a request may be sent, blocking the thread (a blocking component's).
    pub(crate) fn acquire_blocking(&self) {
        let mut waited = Duration::ZERO;
        while let Err(wait) = self.try_acquire() {
            std::thread::sleep(wait);
            waited += wait;
        }
        self.count_wait(waited);
    }

    /// Waits until a request may be sent, from async code (the `http` sink's requests in flight): the
    /// same permits and pauses as [`RateLimit::acquire_blocking`], shared with its callers.
    pub(crate) async fn acquire(&self) {
        let mut waited = Duration::ZERO;
        while let Err(wait) = self.try_acquire() {
            tokio::time::sleep(wait).await;
            waited += wait;
        }
        self.count_wait(waited);
    }

    /// Counts a request that waited for its permit (the metrics).
    fn count_wait(&self, waited: Duration) {
        if !waited.is_zero() {
            crate::telemetry::metrics::rate_limit_waited(&self.name, waited);
        }
    }
}

/// The folder's rate limits, by name, built once per process and shared by every pipeline.
#[derive(Debug, Default, Clone)]
pub(crate) struct RateLimits(BTreeMap<String, Arc<RateLimit>>);

impl RateLimits {
    /// Adds a built limit.
    pub(crate) fn insert(&mut self, limit: RateLimit) {
        self.0.insert(limit.name.clone(), Arc::new(limit));
    }

    /// The limit named `name`.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<RateLimit>> {
        self.0.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn limit(yaml: &str) -> (RateLimit<FakeRelativeClock>, FakeRelativeClock) {
        let config: RateLimitConfig = serde_yaml::from_str(yaml).expect("a rate limit");
        let clock = FakeRelativeClock::default();
        (RateLimit::with_clock("api", config.quota().expect("valid"), clock.clone()), clock)
    }

    /// Permits granted while the fake clock runs `seconds`, asking every millisecond.
    fn granted_over(limit: &RateLimit<FakeRelativeClock>, clock: &FakeRelativeClock, seconds: u64) -> u64 {
        let mut granted = 0;
        for _ in 0..seconds * 1000 {
            while limit.try_acquire().is_ok() {
                granted += 1;
            }
            clock.advance(Duration::from_millis(1));
        }
        granted
    }

    #[test]
    fn the_rate_holds_over_time_and_the_burst_only_after_idling() {
        let (limit, clock) = limit("{ per_second: 20, burst: 40 }");
        // 30 s: the burst at the start, then 20 per second.
        assert_eq!(granted_over(&limit, &clock, 30), 40 + 20 * 30 - 1);
        // Idle for long enough: the burst comes back, and no more.
        clock.advance(Duration::from_secs(10));
        assert_eq!(granted_over(&limit, &clock, 0), 0);
        let mut at_once = 0;
        while limit.try_acquire().is_ok() {
            at_once += 1;
        }
        assert_eq!(at_once, 40);
    }

    #[test]
    fn per_minute_and_fractions() {
        let (limit, clock) = limit("{ per_minute: 1200 }");
        assert_eq!(granted_over(&limit, &clock, 60), 1200);
        let (slow, clock) = limit_slow();
        assert_eq!(granted_over(&slow, &clock, 10), 5, "0.5 per second");
    }

    fn limit_slow() -> (RateLimit<FakeRelativeClock>, FakeRelativeClock) {
        limit("{ per_second: 0.5 }")
    }

    #[test]
    fn a_pause_holds_every_request_and_a_shorter_one_does_not_shorten_it() {
        let (limit, clock) = limit("{ per_second: 100, burst: 100 }");
        limit.pause_for(Duration::from_secs(5));
        limit.pause_for(Duration::from_secs(1));
        assert_eq!(limit.try_acquire(), Err(Duration::from_secs(5)));
        clock.advance(Duration::from_millis(4999));
        assert!(limit.try_acquire().is_err());
        clock.advance(Duration::from_millis(1));
        assert_eq!(limit.try_acquire(), Ok(()));
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        for (yaml, error) in [
            ("{}", RateLimitError::OneRate),
            ("{ per_second: 1, per_minute: 60 }", RateLimitError::OneRate),
            ("{ per_second: 0 }", RateLimitError::BadRate),
            ("{ per_second: -3 }", RateLimitError::BadRate),
            ("{ per_second: .nan }", RateLimitError::BadRate),
            ("{ per_second: 1e300 }", RateLimitError::BadRate),
            ("{ per_second: 0.000000000001, burst: 4294967295 }", RateLimitError::BadRate),
            ("{ per_minute: 0.0001 }", RateLimitError::BadRate),
            ("{ per_second: 1, burst: 4294967295 }", RateLimitError::BadBurst),
            ("{ per_second: 1, burst: 0 }", RateLimitError::BadBurst),
        ] {
            let config: RateLimitConfig = serde_yaml::from_str(yaml).expect("parses");
            assert_eq!(config.build("api").err(), Some(error), "{yaml}");
        }
    }
}
