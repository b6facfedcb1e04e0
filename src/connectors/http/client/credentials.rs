//! What an answer means for the connection's credentials: a 401 judged against the token it went
//! with (renewed and sent again, or refused for good), the renewals one request may have, and a login
//! that failed. Both ways to send ([`Client::send`], [`Client::send_async`]) ask here after each try.

use std::time::Duration;

use super::{Answer, Client, ClientError, Prepared, scrub};
use crate::connectors::http::token::{Refusal, TokenError, TokenUse};

/// The 401s one request may meet and still be sent again (its token expired, replaced by another
/// request's login, or renewed once): a request is sent at most `1 + MAX_RESENDS` times for 401s.
pub(super) const MAX_RESENDS: u32 = 2;

/// The renewals one request has had.
#[derive(Debug, Default)]
pub(super) struct Renewals {
    /// A token refused unused has been renewed for this request (allowed once).
    renewed: bool,
    /// Sent again after a 401, for any reason.
    resends: u32,
}

/// True when an answer proves the token was accepted: a 2xx, or a 4xx about the request itself (not
/// 401, 403 or 407, which may be about the credentials). A 5xx or no response proves nothing.
pub(super) fn proves_accepted(status: u16) -> bool {
    (200..300).contains(&status) || ((400..500).contains(&status) && !matches!(status, 401 | 403 | 407))
}

/// The use of a token that the API refused with 401, for the caller to judge ([`TokenUse::refused`]);
/// any other answer gives the use back here, as accepted when it proves so.
pub(super) fn refused_use<'a>(answer: &Answer, used: Option<TokenUse<'a>>) -> Option<TokenUse<'a>> {
    let used = used?;
    match answer.status() {
        Some(401) => Some(used),
        Some(status) if proves_accepted(status) => {
            used.accepted();
            None
        }
        // Dropped: given back, proving nothing.
        _ => None,
    }
}

/// What to do after an answer, as far as credentials go.
pub(super) enum AfterAuth {
    /// The token was renewed after a 401: send again.
    SendAgain,
    /// The answer stands, or the credentials are refused for good.
    Done(Result<Answer, ClientError>),
}

impl Client {
    /// What a 401 means for credentials: a token that had served requests (expired, revoked) or that
    /// another request has replaced meanwhile is renewed and the request sent again; a fresh token
    /// refused is renewed once per request, and a token from the login after such a refusal is not
    /// (whichever request meets it); a request is sent again at most [`MAX_RESENDS`] times for 401s.
    /// After that, or with credentials that do not renew, the refusal is final. `refusal` is what a
    /// 401 meant for the token sent ([`refused_use`], judged once the requests in flight with the token
    /// have answered); `None` for credentials that are not a token.
    pub(super) fn after_auth(
        &self,
        request: &Prepared,
        answer: Answer,
        refusal: Option<Refusal>,
        renewals: &mut Renewals,
    ) -> AfterAuth {
        if self.auth.is_none() || answer.status() != Some(401) {
            return AfterAuth::Done(Ok(answer));
        }
        let mut after_login = renewals.resends > 0;
        if let Some(refusal) = refusal {
            let again = match refusal {
                Refusal::Replaced | Refusal::Expired => true,
                Refusal::Unused => !std::mem::replace(&mut renewals.renewed, true),
                Refusal::Final => {
                    after_login = true;
                    false
                }
            };
            if again && renewals.resends < MAX_RESENDS {
                renewals.resends += 1;
                return AfterAuth::SendAgain;
            }
        }
        let again = if after_login { " (after logging in again)" } else { "" };
        let error = ClientError {
            message: scrub(format!(
                "{} answered HTTP 401{again}: the API refuses the connection's credentials; fix its `auth` and run \
                 again",
                request.target
            )),
            retryable: false,
        };
        let _ = self.refused.set(error.clone());
        AfterAuth::Done(Err(error))
    }

    /// The error of credentials refused for good by an earlier request, if they were.
    pub(super) fn still_accepted(&self) -> Result<(), ClientError> {
        self.refused.get().map_or(Ok(()), |error| Err(error.clone()))
    }

    /// A login that failed: a passing failure (no answer, 5xx, 408, 429) is the request's answer
    /// `NoResponse` — nothing reached the API, and its retry policy tries again, as for the request
    /// itself (a login's `Retry-After` pauses the rate limit, so that no request comes before it); a
    /// refusal is an error: every try would be refused.
    pub(super) fn login_failed(&self, e: TokenError) -> Result<Answer, ClientError> {
        if !e.retryable {
            return Err(ClientError { message: scrub(e.message), retryable: false });
        }
        if let (Some(limit), Some(wait)) = (&self.limit, e.retry_after) {
            limit.pause_for(wait.min(Duration::from_secs(300)));
        }
        Ok(Answer::NoResponse { message: scrub(e.message) })
    }
}
