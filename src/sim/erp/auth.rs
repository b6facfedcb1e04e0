//! Credentials: an Azure AD-like OAuth2 client-credentials token endpoint
//! (`POST /{tenant}/oauth2/v2.0/token`, form-encoded, answering `access_token` and `expires_in`) whose
//! bearer tokens the API accepts until they expire, and a SAP Business One Service Layer-like session
//! login (`POST /b1s/v1/Login` → `SessionId` and the `B1SESSION` cookie). Tokens and sessions can be
//! revoked (`POST /__sim/tokens/revoke`), so a client's renewal on 401 can be tested.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::{Erp, ODataError, lock};
use crate::sim::respond::json_response;

/// The tokens and sessions issued, with who they were issued to.
#[derive(Default)]
pub(super) struct Credentials {
    /// Token → (client id, expiry).
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    /// Session id → user name.
    sessions: Mutex<HashMap<String, String>>,
}

impl Credentials {
    /// Forgets every token and session: the next request with one answers 401.
    pub(super) fn revoke(&self) -> usize {
        let mut tokens = lock(&self.tokens);
        let mut sessions = lock(&self.sessions);
        let count = tokens.len() + sessions.len();
        tokens.clear();
        sessions.clear();
        count
    }
}

fn fresh(erp: &Erp) -> String {
    let mut store = erp.store();
    format!("{:016x}{:016x}", store.rng.u64(..), store.rng.u64(..))
}

/// `POST /{tenant}/oauth2/v2.0/token` with `grant_type=client_credentials&client_id&client_secret&scope`.
pub(super) fn token(erp: &Erp, body: &[u8]) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let refuse = |status: u16, code: &str, description: &str| {
        json_response(status, &json!({"error": code, "error_description": description, "error_codes": [7_000_215]}))
    };
    if field("grant_type") != "client_credentials" {
        return refuse(400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.");
    }
    if field("client_id") != erp.options.client_id || field("client_secret") != erp.options.client_secret {
        return refuse(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.");
    }
    let token = fresh(erp);
    let lifetime = erp.options.token_lifetime;
    lock(&erp.auth.tokens).insert(token.clone(), (field("client_id").to_string(), Instant::now() + lifetime));
    json_response(
        200,
        &json!({"token_type": "Bearer", "expires_in": lifetime.as_secs(), "ext_expires_in": lifetime.as_secs(),
                "access_token": token}),
    )
}

/// `POST /b1s/v1/Login` with `{"CompanyDB", "UserName", "Password"}`: the session id in the body and
/// as the `B1SESSION` cookie.
pub(super) fn login(erp: &Erp, body: &[u8]) -> Response {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let field = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or_default();
    if field("UserName") != erp.options.user || field("Password") != erp.options.password {
        return json_response(
            401,
            &json!({"error": {"code": 100_000_027, "message": {"lang": "en-us", "value": "Login failed"}}}),
        );
    }
    let session = fresh(erp);
    lock(&erp.auth.sessions).insert(session.clone(), field("UserName").to_string());
    let mut response = json_response(
        200,
        &json!({"odata.metadata": "/b1s/v1/$metadata#B1Sessions/@Element", "SessionId": session,
                "Version": "1000190", "SessionTimeout": 30}),
    );
    let cookie = format!("B1SESSION={session}; path=/b1s/v1; HttpOnly");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_static("ROUTEID=.node1; path=/b1s"));
    response
}

/// Who the request comes from — a token's client id or a session's user — or Business Central's 401.
pub(super) fn identify(erp: &Erp, headers: &HeaderMap) -> Result<String, ODataError> {
    let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok()).unwrap_or_default();
    if let Some(token) = text(header::AUTHORIZATION).strip_prefix("Bearer ") {
        let tokens = lock(&erp.auth.tokens);
        if let Some((client, expires)) = tokens.get(token.trim())
            && Instant::now() < *expires
        {
            return Ok(format!("client:{client}"));
        }
    }
    let session = text(header::COOKIE)
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == "B1SESSION")
        .map(|(_, v)| v.to_string());
    if let Some(user) = session.and_then(|s| lock(&erp.auth.sessions).get(&s).cloned()) {
        return Ok(format!("user:{user}"));
    }
    Err(ODataError::new(
        401,
        "Authentication_InvalidCredentials",
        "The server has rejected the client credentials. The token is missing, expired or revoked.",
    ))
}
