//! The 429 budget: at most N requests per client (a token's client, a session's user) in each fixed
//! window; past it, Business Central's `Application_TooManyRequests` with `Retry-After` — the seconds
//! left in the window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{ODataError, lock};

/// Requests counted per client and window.
pub(super) struct Budget {
    limit: u32,
    window: Duration,
    /// Client → (window start, requests in it).
    counts: Mutex<HashMap<String, (Instant, u32)>>,
}

impl Budget {
    /// `limit` requests per `window` (0: no budget).
    pub(super) fn new(limit: u32, window: Duration) -> Self {
        Budget { limit, window, counts: Mutex::default() }
    }

    /// Counts a request of `client`; past the budget, the 429 to answer.
    pub(super) fn spend(&self, client: &str) -> Result<(), ODataError> {
        if self.limit == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut counts = lock(&self.counts);
        let (start, count) = counts.entry(client.to_string()).or_insert((now, 0));
        if now.duration_since(*start) >= self.window {
            *start = now;
            *count = 0;
        }
        *count += 1;
        if *count <= self.limit {
            return Ok(());
        }
        let left = self.window.saturating_sub(now.duration_since(*start));
        let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        let message = format!("Too many requests reached. Actual ({}). Maximum ({}).", *count, self.limit);
        let mut refusal = ODataError::new(429, "Application_TooManyRequests", &message);
        refusal.retry_after = Some(seconds.max(1));
        Err(refusal)
    }
}
