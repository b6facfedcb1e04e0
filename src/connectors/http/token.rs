//! Auth kinds that exchange credentials for a token and keep it: the Magento admin token
//! (`POST /V1/integration/admin/token`, valid 4 hours by default), OAuth2 client credentials (Business
//! Central / Azure AD style, `expires_in`), and a session login (SAP Business One's Service Layer and
//! many ERPs: POST the credentials, keep the session id, send it as a cookie or a header). A token is
//! fetched on first use, renewed before it expires, and once more when the API answers 401 (the
//! caller tells it with [`TokenUse::refused`]); a 401 to a token that never served a request, after
//! a renewal, is the caller's to report as a failure, not to retry.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderName, HeaderValue, SET_COOKIE};
use serde_json::Value;

use crate::config::secrets;
use crate::expr::jsonpath::JsonPath;

mod in_flight;
pub(crate) use in_flight::TokenUse;

/// The most of a login answer that is read.
const MAX_LOGIN_ANSWER: u64 = 1 << 20;

/// How long before its expiry a token is renewed: a request signed with a token about to expire may
/// reach the API after it has.
const RENEW_MARGIN: Duration = Duration::from_secs(60);

/// The Magento admin token's lifetime unless the store changed it (Stores → Configuration → Services →
/// OAuth → Access Token Expiration).
pub(crate) const MAGENTO_ADMIN_TOKEN_LIFETIME: Duration = Duration::from_secs(4 * 3600);

/// How a session token travels with each request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SendAs {
    /// `Authorization: Bearer TOKEN`.
    Bearer,
    /// `Cookie: NAME=TOKEN`.
    Cookie(String),
    /// `NAME: TOKEN`.
    Header(HeaderName),
}

/// Where a token comes from.
#[derive(Debug, Clone)]
pub(crate) enum TokenKind {
    /// `POST url` with `{"username", "password"}`; the answer is the token as a JSON string.
    MagentoAdmin {
        /// `{base_url}/V1/integration/admin/token`.
        url: url::Url,
        /// The admin user.
        username: String,
        /// Its password.
        password: String,
        /// How long a token lives.
        lifetime: Duration,
    },
    /// `POST url` with the form `grant_type=client_credentials&client_id&client_secret[&scope]`; the
    /// answer is `{"access_token", "expires_in"}`.
    ClientCredentials {
        /// The token endpoint.
        url: url::Url,
        /// The form sent.
        form: Vec<(String, String)>,
    },
    /// `POST url` with a JSON body of credentials; the token is selected from the answer by `token`
    /// (or is the cookie of that name when the answer sets one and the token travels as a cookie).
    Session {
        /// The login endpoint.
        url: url::Url,
        /// The credentials, as JSON.
        body: Value,
        /// Selects the session id in the answer.
        token: JsonPath,
        /// How the session id travels.
        send_as: SendAs,
        /// How long a session lives (`None`: until the API answers 401).
        lifetime: Option<Duration>,
    },
}

/// Why no token could be had.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub(crate) struct TokenError {
    /// What went wrong (secrets masked).
    pub message: String,
    /// The endpoint could not be reached, failed (5xx), timed out (408) or asked to slow down (429):
    /// later may work. A refusal (another 4xx) is not.
    pub retryable: bool,
    /// The login answer's `Retry-After` (a 429 or 503), as a wait.
    pub retry_after: Option<Duration>,
}

#[derive(Debug, Clone)]
struct Cached {
    /// The header that carries the token.
    header: (HeaderName, HeaderValue),
    renew_at: Option<Instant>,
    /// True once the API has accepted the token for a request: a 401 to it later means it expired or
    /// was revoked, not that the credentials are refused.
    served: bool,
    /// The requests sent with the token whose answers are not known yet ([`TokenUse`]). An API that
    /// counts or times its tokens may accept some of them and refuse a later one, and the answers
    /// can be processed in another order than they were given: a 401 to a token not known to have
    /// served waits for these answers before it is taken for refused credentials.
    in_flight: usize,
}

impl Cached {
    /// True until the token is due for renewal.
    fn fresh(&self) -> bool {
        self.renew_at.is_none_or(|at| Instant::now() < at)
    }
}

/// What a 401 to a token means (see [`TokenUse::refused`]). A token not known to have served is
/// judged once the other requests in flight with it have answered (or the wait's bound has passed):
/// one of them accepted means it served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Another request met the refusal first and has replaced (or forgotten) the token: send again.
    Replaced,
    /// The token had served requests before, or a request in flight with it when it was refused was
    /// accepted: it expired or was revoked. Forgotten; send again.
    Expired,
    /// The token was refused before it ever served a request, and no request in flight with it was
    /// accepted. Forgotten; the caller allows one such renewal per request, then the credentials are
    /// refused for good.
    Unused,
    /// The token of the login that followed an [`Refusal::Unused`] was refused unused too: the
    /// credentials are refused for good, for every request (no request logs in again).
    Final,
}

/// What the cache lock guards: the token held, and what earlier refusals said.
#[derive(Debug, Default)]
struct State {
    /// The token held, if any.
    cached: Option<Cached>,
    /// The last token was refused before serving a request: if the next one is too, the credentials
    /// are refused ([`Refusal::Final`]), whichever request meets the refusal.
    after_unused: bool,
    /// The credentials are refused for good: no further login.
    refused: bool,
}

/// A token source with its cache, shared by every request of a connection.
#[derive(Debug)]
pub(crate) struct TokenAuth {
    kind: TokenKind,
    /// Held only for short reads and writes, never during a login: async callers take it.
    state: Mutex<State>,
    /// Held during a login (blocking callers only), so that requests needing a token together cause
    /// one login.
    login: Mutex<()>,
    /// Told whenever a use of a token is given back: blocking callers waiting in [`TokenUse::refused`].
    given_back: Condvar,
    /// The same for async callers ([`TokenUse::refused_async`]), which must not block their thread: the
    /// requests they wait for may be futures of the same task.
    given_back_async: tokio::sync::Notify,
}

impl TokenAuth {
    /// A source of `kind`, with no token yet.
    pub(crate) fn new(kind: TokenKind) -> Self {
        Self {
            kind,
            state: Mutex::default(),
            login: Mutex::new(()),
            given_back: Condvar::new(),
            given_back_async: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The API answered 401 to a request sent with `sent`, and the requests in flight with it have
    /// answered: forgets that token, if it is still the one held, so the next request logs in again;
    /// and says what the refusal means. Requests in flight refused together thus cause one login, not
    /// one each.
    fn judge(state: &mut State, sent: &HeaderValue) -> Refusal {
        match state.cached.take() {
            Some(held) if held.header.1 == sent => {
                if held.served {
                    Refusal::Expired
                } else if state.after_unused {
                    state.refused = true;
                    Refusal::Final
                } else {
                    state.after_unused = true;
                    Refusal::Unused
                }
            }
            other => {
                state.cached = other;
                Refusal::Replaced
            }
        }
    }

    /// The header carrying a valid token, logging in first when there is none or it is about to expire.
    /// Blocks during a login (one at a time); the cache lock is not held meanwhile.
    pub(crate) fn header(&self, client: &reqwest::blocking::Client) -> Result<(HeaderName, HeaderValue), TokenError> {
        if let Some(held) = self.held()? {
            return Ok(held);
        }
        let _login = self.login.lock().unwrap_or_else(|e| e.into_inner());
        // Another request may have logged in while this one waited.
        if let Some(held) = self.held()? {
            return Ok(held);
        }
        let fetched = self.fetch(client)?;
        let header = fetched.header.clone();
        self.lock().cached = Some(fetched);
        Ok(header)
    }

    /// The fresh token held, if any; an error when the credentials are refused for good.
    fn held(&self) -> Result<Option<(HeaderName, HeaderValue)>, TokenError> {
        let state = self.lock();
        if state.refused {
            // Worded as the client's error for the request that met the refusal: of the requests in
            // flight, any may be the one whose error the run reports.
            return Err(TokenError {
                message: "the API answered HTTP 401 (after logging in again) to the token of a fresh login: it \
                          refuses the connection's credentials; fix its `auth` and run again"
                    .into(),
                retryable: false,
                retry_after: None,
            });
        }
        Ok(state.cached.as_ref().filter(|c| c.fresh()).map(|c| c.header.clone()))
    }

    /// The header carrying the token held, if it is still fresh; `None` when a login is due.
    pub(crate) fn header_held(&self) -> Option<(HeaderName, HeaderValue)> {
        self.lock().cached.as_ref().filter(|c| c.fresh()).map(|c| c.header.clone())
    }

    /// The header that sends `value` as the API expects it.
    fn to_header(&self, value: &str) -> Result<(HeaderName, HeaderValue), TokenError> {
        let (name, text) = match self.send_as() {
            SendAs::Bearer => (AUTHORIZATION, format!("Bearer {value}")),
            SendAs::Cookie(cookie) => (COOKIE, format!("{cookie}={value}")),
            SendAs::Header(name) => (name.clone(), value.to_string()),
        };
        let mut header = HeaderValue::from_str(&text).map_err(|_| TokenError {
            message: "the token the API gave cannot be sent in a header".into(),
            retryable: false,
            retry_after: None,
        })?;
        header.set_sensitive(true);
        Ok((name, header))
    }

    fn send_as(&self) -> &SendAs {
        match &self.kind {
            TokenKind::Session { send_as, .. } => send_as,
            _ => &SendAs::Bearer,
        }
    }

    /// Logs in and returns the token with when to renew it; the token is registered as a secret.
    fn fetch(&self, client: &reqwest::blocking::Client) -> Result<Cached, TokenError> {
        let json = |url: &url::Url, body: &Value| {
            client.post(url.clone()).header(CONTENT_TYPE, "application/json").body(body.to_string())
        };
        let (url, request) = match &self.kind {
            TokenKind::MagentoAdmin { url, username, password, .. } => {
                (url, json(url, &serde_json::json!({ "username": username, "password": password })))
            }
            TokenKind::ClientCredentials { url, form } => {
                let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
                let request = client.post(url.clone()).header(CONTENT_TYPE, "application/x-www-form-urlencoded");
                (url, request.body(encoded))
            }
            TokenKind::Session { url, body, .. } => (url, json(url, body)),
        };
        let fail = |message: String, retryable: bool| TokenError {
            message: secrets::redact(&format!("logging in at {url}: {message}")),
            retryable,
            retry_after: None,
        };
        let response = request
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .map_err(|e| fail(e.to_string(), true))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|a| super::retry::parse_retry_after(a, std::time::SystemTime::now()));
        // `Set-Cookie: NAME=VALUE; Path=/; HttpOnly`: the name and value are all a session needs.
        let cookies: Vec<(String, String)> = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next()?.split_once('='))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        // A login answer is small: at most 1 MiB is read, so a hostile or broken endpoint cannot
        // exhaust memory.
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(response, MAX_LOGIN_ANSWER), &mut text)
            .map_err(|e| fail(e.to_string(), true))?;
        if !status.is_success() {
            let excerpt: String = text.chars().take(200).collect();
            let passing = status.is_server_error() || matches!(status.as_u16(), 408 | 429);
            let error = fail(format!("HTTP {}: {excerpt}", status.as_u16()), passing);
            return Err(TokenError { retry_after: retry_after.filter(|_| passing), ..error });
        }
        let body: Value = serde_json::from_str(&text).map_err(|_| fail("the answer is not JSON".into(), false))?;
        let now = Instant::now();
        let renew = |lifetime: Duration| Some(now + lifetime.saturating_sub(RENEW_MARGIN).max(lifetime / 2));
        let (value, renew_at) = match &self.kind {
            TokenKind::MagentoAdmin { lifetime, .. } => (body.as_str().map(str::to_string), renew(*lifetime)),
            TokenKind::ClientCredentials { .. } => (
                body.get("access_token").and_then(Value::as_str).map(str::to_string),
                body.get("expires_in").and_then(Value::as_u64).and_then(|s| renew(Duration::from_secs(s))),
            ),
            TokenKind::Session { token, send_as, lifetime, .. } => {
                let from_cookie = match send_as {
                    SendAs::Cookie(name) => cookies.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()),
                    _ => None,
                };
                let from_body = token.first(&body).and_then(Value::as_str).map(str::to_string);
                (from_cookie.or(from_body), lifetime.and_then(renew))
            }
        };
        let value = value.filter(|v| !v.is_empty()).ok_or_else(|| fail("the answer holds no token".into(), false))?;
        secrets::register(&value);
        Ok(Cached { header: self.to_header(&value)?, renew_at, served: false, in_flight: 0 })
    }
}

#[cfg(test)]
mod tests;
