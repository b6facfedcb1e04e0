//! The tries of one write, judged by a component's retry policy: what an answer calls for, and the
//! wait (backoff with jitter, or the answer's `Retry-After`) before the next try — slept for real, or
//! virtually under a test's mock.

use super::answer::Answer;
use super::client::Client;
use super::retry::{RetryPolicy, StatusAction, Verdict};

/// The tries of one record's write.
pub(crate) struct Attempts<'p> {
    policy: &'p RetryPolicy,
    /// The client sending them: it counts and logs each try sent again.
    client: &'p Client,
    /// The record's key, when the request is one record's (for the logs).
    key: Option<&'p str>,
    /// How to wait between tries (virtually under a test's mock).
    pauses: crate::kernel::mock::Pauses,
    /// Requests sent so far.
    pub(crate) made: u32,
    started: std::time::Instant,
}

/// What to do with an answer.
pub(crate) enum Judged {
    /// As `on_status` says: `ok`, `ignore`, `dead_letter` or `fail`.
    Settle(StatusAction),
    /// The wait before the next try is over: try again.
    Retried,
    /// Tries or time are spent: the record stays unacknowledged.
    GaveUp,
}

impl<'p> Attempts<'p> {
    /// The tries of a request `client` sends for the record with `key` (none: a batch's, a lookup's).
    pub(crate) fn new(policy: &'p RetryPolicy, client: &'p Client, key: Option<&'p str>) -> Self {
        Self { policy, client, key, pauses: client.pauses(), made: 0, started: std::time::Instant::now() }
    }

    /// Counts one request sent.
    pub(crate) fn sent(&mut self) {
        self.made += 1;
    }

    /// Judges `answer`; waits (backoff with jitter, or the answer's `Retry-After`) when it is to be
    /// tried again.
    pub(crate) fn judge(&mut self, answer: &Answer) -> Judged {
        self.judged(answer).unwrap_or_else(|wait| {
            self.pauses.sleep(wait);
            Judged::Retried
        })
    }

    /// [`Attempts::judge`] from async code.
    pub(crate) async fn judge_async(&mut self, answer: &Answer) -> Judged {
        match self.judged(answer) {
            Ok(judged) => judged,
            Err(wait) => {
                self.pauses.sleep_async(wait).await;
                Judged::Retried
            }
        }
    }

    /// What `answer` calls for, or the wait before trying again.
    fn judged(&self, answer: &Answer) -> Result<Judged, std::time::Duration> {
        match answer.verdict(self.policy, self.made, self.started.elapsed()) {
            Verdict::Settle(action) => Ok(Judged::Settle(action)),
            Verdict::Again { wait, .. } => {
                self.client.sending_again(answer, self.made, wait, self.key);
                Err(wait)
            }
            Verdict::GiveUp(_) => Ok(Judged::GaveUp),
        }
    }
}
