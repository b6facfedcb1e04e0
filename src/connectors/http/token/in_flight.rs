//! The requests in flight with a token: each holds a [`TokenUse`] until its answer is known, so that a
//! 401 to a token not known to have served is judged once the others sent with it have answered — an
//! API that lets a token serve a number of requests (or a time) accepts some and refuses the next, and
//! their answers may be processed in another order than the API gave them.

use std::time::{Duration, Instant};

use reqwest::header::HeaderValue;

use super::{Refusal, State, TokenAuth};

impl TokenAuth {
    /// A use of the token `sent` (the header value [`TokenAuth::header`] has just given) by one request,
    /// counted in flight until its answer gives it back.
    pub(crate) fn in_use(&self, sent: HeaderValue) -> TokenUse<'_> {
        if let Some(held) = self.lock().cached.as_mut().filter(|held| held.header.1 == sent) {
            held.in_flight += 1;
        }
        TokenUse { auth: self, sent, open: true }
    }

    /// A use of `sent` is given back, by a request the API `accepted` or not, and the refusals waiting
    /// for it are told.
    fn give_back(&self, sent: &HeaderValue, accepted: bool) {
        let mut state = self.lock();
        if let Some(held) = state.cached.as_mut().filter(|held| held.header.1 == sent) {
            // Saturating: a token fetched again with the same value (some APIs answer the token still
            // valid) starts its count afresh while uses of the one before may still come back.
            held.in_flight = held.in_flight.saturating_sub(1);
            if accepted && !held.served {
                held.served = true;
                state.after_unused = false;
            }
        }
        drop(state);
        self.given_back.notify_all();
        self.given_back_async.notify_waiters();
    }

    /// True while a refusal of `sent` waits: the token is still held, not known to have served, and
    /// other requests sent with it have not answered yet.
    fn awaits_answers(state: &State, sent: &HeaderValue) -> bool {
        state.cached.as_ref().is_some_and(|held| held.header.1 == sent && !held.served && held.in_flight > 0)
    }
}

/// One request's use of a token ([`TokenAuth::in_use`]): given back by its answer, [`TokenUse::accepted`]
/// or [`TokenUse::refused`], or when dropped (no answer, an answer that proves nothing, a request given
/// up), so that no refusal waits for it.
#[derive(Debug)]
pub(crate) struct TokenUse<'a> {
    auth: &'a TokenAuth,
    /// The token's header value, as sent.
    sent: HeaderValue,
    /// Not given back yet.
    open: bool,
}

impl TokenUse<'_> {
    /// The API accepted the request: the token works, and a 401 to it later means it expired.
    pub(crate) fn accepted(mut self) {
        self.give_back(true);
    }

    /// The API answered 401 to the request: what that means ([`Refusal`]), once the other requests in
    /// flight with the token have answered, waiting for them at most `wait` (they answer within the
    /// client's timeout). Blocks the thread meanwhile: for callers on a thread of their own.
    pub(crate) fn refused(mut self, wait: Duration) -> Refusal {
        self.give_back(false);
        let deadline = Instant::now() + wait;
        let mut state = self.auth.lock();
        while TokenAuth::awaits_answers(&state, &self.sent) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self.auth.given_back.wait_timeout(state, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        TokenAuth::judge(&mut state, &self.sent)
    }

    /// [`TokenUse::refused`] from async code: waits without blocking the thread.
    pub(crate) async fn refused_async(mut self, wait: Duration) -> Refusal {
        self.give_back(false);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before the check, so that a use given back in between is not missed.
            let mut given_back = std::pin::pin!(self.auth.given_back_async.notified());
            given_back.as_mut().enable();
            {
                let mut state = self.auth.lock();
                if !TokenAuth::awaits_answers(&state, &self.sent) {
                    return TokenAuth::judge(&mut state, &self.sent);
                }
            }
            if tokio::time::timeout_at(deadline, given_back).await.is_err() {
                return TokenAuth::judge(&mut self.auth.lock(), &self.sent);
            }
        }
    }

    fn give_back(&mut self, accepted: bool) {
        if std::mem::take(&mut self.open) {
            self.auth.give_back(&self.sent, accepted);
        }
    }
}

impl Drop for TokenUse<'_> {
    fn drop(&mut self) {
        self.give_back(false);
    }
}
