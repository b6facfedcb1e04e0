//! How an HTTP connection proves who it is (`auth:` of a connection): static credentials (`bearer`,
//! `basic`, `header` — an API key), signed requests (`oauth1`, a Magento integration), and tokens
//! obtained by logging in (`magento_admin`, `oauth2_client_credentials`, `session`; see `token`).
//! Every value may come from `${secret:NAME}`; none is ever shown — `Debug` prints the kind only, and
//! secrets (and the tokens obtained) are masked wherever Weir prints.

use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use schemars::JsonSchema;
use serde::Deserialize;

use std::sync::Arc;

use super::oauth1::{self, Nonce, OAuth1Credentials};
use super::token::{MAGENTO_ADMIN_TOKEN_LIFETIME, SendAs, TokenAuth, TokenError, TokenKind};
use crate::config::duration::Duration;
use crate::config::secrets;
use crate::expr::jsonpath::JsonPath;
use crate::kernel::build::BuildErrors;

/// The `auth:` of an HTTP connection, by `type:`.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[schemars(transform = describe_kinds)]
pub(crate) enum AuthConfig {
    /// `Authorization: Bearer TOKEN` (an API token, e.g. an ERP's).
    Bearer {
        /// The token, e.g. `${secret:ERP_TOKEN}`.
        token: String,
    },
    /// `Authorization: Basic …` from a user name and password.
    Basic {
        /// The user name.
        username: String,
        /// The password, e.g. `${secret:ERP_PASSWORD}`.
        password: String,
    },
    /// An API key in a header of the API's choosing, e.g. `{ name: X-Api-Key, value: ${secret:KEY} }`.
    Header {
        /// The header's name.
        name: String,
        /// Its value.
        value: String,
    },
    /// Adobe Commerce (Magento) integration: every request signed with OAuth 1.0a, HMAC-SHA256 (since
    /// 2.4.4 the access token alone is no longer accepted as a bearer token by default). The four
    /// values are on the integration's page (System → Extensions → Integrations).
    Oauth1 {
        /// The integration's consumer key.
        consumer_key: String,
        /// The consumer secret, e.g. `${secret:COMMERCE_CONSUMER_SECRET}`.
        consumer_secret: String,
        /// The access token.
        token: String,
        /// The access token secret, e.g. `${secret:COMMERCE_TOKEN_SECRET}`.
        token_secret: String,
    },
    /// An Adobe Commerce admin user's token: `POST {base_url}/V1/integration/admin/token` with the user
    /// name and password (the connection's `base_url` ends at `/rest` or `/rest/<store code>`), sent as
    /// a bearer token, renewed before it expires and once when the API answers 401.
    MagentoAdmin {
        /// The admin user name.
        username: String,
        /// Its password, e.g. `${secret:COMMERCE_ADMIN_PASSWORD}`.
        password: String,
        /// How long the store keeps a token valid (default `4h`, Magento's default).
        #[serde(default)]
        lifetime: Option<Duration>,
    },
    /// OAuth2 client credentials (Business Central, Azure AD and most cloud ERPs): the token endpoint
    /// is asked for a token with the client's id and secret; it is sent as a bearer token and renewed
    /// before its `expires_in` runs out, and once when the API answers 401.
    Oauth2ClientCredentials {
        /// The token endpoint, e.g. `https://login.microsoftonline.com/TENANT/oauth2/v2.0/token`.
        token_url: String,
        /// The client (application) id.
        client_id: String,
        /// The client secret, e.g. `${secret:ERP_CLIENT_SECRET}`.
        client_secret: String,
        /// The scope asked for, e.g. `https://api.businesscentral.dynamics.com/.default`.
        #[serde(default)]
        scope: Option<String>,
    },
    /// A session login: `POST {base_url}{path}` with `body` (the credentials, JSON), the session id
    /// taken from the answer (the cookie named `cookie`, or the value `token` selects) and sent with
    /// every request — as that cookie, as the header `header`, or as a bearer token; logged in again
    /// when the API answers 401 or `lifetime` runs out. SAP Business One's Service Layer:
    /// `{ path: /Login, body: { CompanyDB: …, UserName: …, Password: … }, cookie: B1SESSION }`.
    Session {
        /// The login path below the connection's `base_url`, e.g. `/Login`.
        path: String,
        /// The credentials sent, as JSON (values may use `${secret:NAME}`).
        body: serde_json::Value,
        /// JSONPath selecting the session id in the answer (default `$.SessionId`).
        #[serde(default)]
        token: Option<String>,
        /// Send the session id as this cookie (and take it from the answer's cookie of that name).
        #[serde(default)]
        cookie: Option<String>,
        /// Send the session id in this header instead.
        #[serde(default)]
        header: Option<String>,
        /// How long a session lasts (default: until the API answers 401).
        #[serde(default)]
        lifetime: Option<Duration>,
    },
}

/// Gives each kind's `type` property a description (schemars leaves the tag undescribed).
fn describe_kinds(schema: &mut schemars::Schema) {
    let Some(serde_json::Value::Array(kinds)) = schema.get_mut("oneOf") else { return };
    for kind in kinds {
        if let Some(tag) = kind.pointer_mut("/properties/type").and_then(serde_json::Value::as_object_mut) {
            let name = tag.get("const").and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
            tag.insert("description".into(), format!("The kind of auth: `{name}`.").into());
        }
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthConfig::{}", self.kind())
    }
}

/// A checked `auth:`, ready to apply to requests.
#[derive(Clone)]
pub(crate) enum Auth {
    /// A header sent as it is with every request (`bearer`, `basic`, `header`).
    Static(HeaderName, HeaderValue),
    /// Each request signed (`oauth1`).
    OAuth1(OAuth1Credentials),
    /// A token obtained by logging in, shared by every request of the connection.
    Token(Arc<TokenAuth>),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Static(name, _) => write!(f, "Auth::Static({name})"),
            Auth::OAuth1(_) => f.write_str("Auth::OAuth1"),
            Auth::Token(_) => f.write_str("Auth::Token"),
        }
    }
}

impl AuthConfig {
    /// The kind, as written in `type:`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            AuthConfig::Bearer { .. } => "bearer",
            AuthConfig::Basic { .. } => "basic",
            AuthConfig::Header { .. } => "header",
            AuthConfig::Oauth1 { .. } => "oauth1",
            AuthConfig::MagentoAdmin { .. } => "magento_admin",
            AuthConfig::Oauth2ClientCredentials { .. } => "oauth2_client_credentials",
            AuthConfig::Session { .. } => "session",
        }
    }

    /// Checks the values (each fits in a header; none is empty; URLs and JSONPath compile), reporting
    /// under `auth`; `base_url` is the connection's, which login paths are joined to.
    pub(crate) fn build(&self, base_url: &str, errors: &mut BuildErrors) -> Option<Auth> {
        let empty: Vec<&str> = match self {
            AuthConfig::Bearer { token } => vec![("token", token)],
            AuthConfig::Basic { username, .. } => vec![("username", username)],
            AuthConfig::Header { name, value } => vec![("name", name), ("value", value)],
            AuthConfig::Oauth1 { consumer_key, consumer_secret, token, token_secret } => vec![
                ("consumer_key", consumer_key),
                ("consumer_secret", consumer_secret),
                ("token", token),
                ("token_secret", token_secret),
            ],
            AuthConfig::MagentoAdmin { username, password, .. } => vec![("username", username), ("password", password)],
            AuthConfig::Oauth2ClientCredentials { client_id, client_secret, .. } => {
                vec![("client_id", client_id), ("client_secret", client_secret)]
            }
            AuthConfig::Session { .. } => Vec::new(),
        }
        .into_iter()
        .filter(|(_, v)| v.trim().is_empty())
        .map(|(f, _)| f)
        .collect();
        for field in &empty {
            let hint = "an unset `${env:…}` or an empty secret gives an empty value".to_string();
            errors.push(&["auth", field], "bad-value", format!("`{field}` is empty"), Some(hint));
        }
        if !empty.is_empty() {
            return None;
        }
        let mut value = |field: &str, text: String| -> Option<HeaderValue> {
            match HeaderValue::from_str(&text) {
                Ok(mut v) => {
                    v.set_sensitive(true);
                    Some(v)
                }
                Err(_) => {
                    // The value is not shown: it is a secret.
                    let hint = "one line of visible characters and spaces".to_string();
                    errors.push(
                        &["auth", field],
                        "bad-value",
                        format!("`{field}` cannot be sent in a header"),
                        Some(hint),
                    );
                    None
                }
            }
        };
        // What authenticates is secret wherever it was written (a literal, `${env:…}`): masked in every
        // output from now on, with what is derived from it (the encoded basic pair).
        let values: Vec<&String> = match self {
            AuthConfig::Bearer { token } => vec![token],
            AuthConfig::Basic { password, .. } => vec![password],
            AuthConfig::Header { value, .. } => vec![value],
            AuthConfig::Oauth1 { consumer_secret, token_secret, .. } => vec![consumer_secret, token_secret],
            AuthConfig::MagentoAdmin { password, .. } => vec![password],
            AuthConfig::Oauth2ClientCredentials { client_secret, .. } => vec![client_secret],
            AuthConfig::Session { .. } => Vec::new(),
        };
        values.into_iter().filter(|s| s.len() >= secrets::MIN_LEN).for_each(|s| secrets::register(s));
        match self {
            AuthConfig::Bearer { token } => {
                Some(Auth::Static(AUTHORIZATION, value("token", format!("Bearer {token}"))?))
            }
            AuthConfig::Basic { username, password } => {
                let pair = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
                secrets::register(&pair);
                Some(Auth::Static(AUTHORIZATION, value("password", format!("Basic {pair}"))?))
            }
            AuthConfig::Header { name, value: v } => {
                let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
                    let hint = "a header name is letters, digits and `-`, e.g. `X-Api-Key`".to_string();
                    errors.push(
                        &["auth", "name"],
                        "bad-value",
                        format!("`{name}` is not a valid header name"),
                        Some(hint),
                    );
                    return None;
                };
                Some(Auth::Static(header, value("value", v.clone())?))
            }
            AuthConfig::Oauth1 { consumer_key, consumer_secret, token, token_secret } => {
                Some(Auth::OAuth1(OAuth1Credentials {
                    consumer_key: consumer_key.clone(),
                    consumer_secret: consumer_secret.clone(),
                    token: token.clone(),
                    token_secret: token_secret.clone(),
                }))
            }
            AuthConfig::MagentoAdmin { username, password, lifetime } => {
                let url = join(base_url, "/V1/integration/admin/token", "base_url", errors)?;
                let lifetime = lifetime.map_or(MAGENTO_ADMIN_TOKEN_LIFETIME, |d| d.0);
                let kind =
                    TokenKind::MagentoAdmin { url, username: username.clone(), password: password.clone(), lifetime };
                Some(Auth::Token(Arc::new(TokenAuth::new(kind))))
            }
            AuthConfig::Oauth2ClientCredentials { token_url, client_id, client_secret, scope } => {
                let url = join(token_url, "", "token_url", errors)?;
                let mut form = vec![
                    ("grant_type".to_string(), "client_credentials".to_string()),
                    ("client_id".to_string(), client_id.clone()),
                    ("client_secret".to_string(), client_secret.clone()),
                ];
                form.extend(scope.iter().map(|s| ("scope".to_string(), s.clone())));
                Some(Auth::Token(Arc::new(TokenAuth::new(TokenKind::ClientCredentials { url, form }))))
            }
            AuthConfig::Session { path, body, token, cookie, header, lifetime } => {
                register_strings(body);
                let url = join(base_url, path, "path", errors);
                let token = match JsonPath::compile(token.as_deref().unwrap_or("$.SessionId")) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        errors.push(&["auth", "token"], "bad-jsonpath", e.to_string(), None);
                        None
                    }
                };
                let send_as = match (cookie, header) {
                    (Some(c), None) => Some(SendAs::Cookie(c.clone())),
                    (None, Some(h)) => match HeaderName::from_bytes(h.as_bytes()) {
                        Ok(h) => Some(SendAs::Header(h)),
                        Err(_) => {
                            errors.push(
                                &["auth", "header"],
                                "bad-value",
                                format!("`{h}` is not a valid header name"),
                                None,
                            );
                            None
                        }
                    },
                    (None, None) => Some(SendAs::Bearer),
                    (Some(_), Some(_)) => {
                        let hint = "the session id travels one way: as a cookie or in a header".to_string();
                        errors.push(&["auth", "header"], "conflict", "give `cookie` or `header`, not both", Some(hint));
                        None
                    }
                };
                let kind = TokenKind::Session {
                    url: url?,
                    body: body.clone(),
                    token: token?,
                    send_as: send_as?,
                    lifetime: lifetime.map(|d| d.0),
                };
                Some(Auth::Token(Arc::new(TokenAuth::new(kind))))
            }
        }
    }
}

/// Every string in a session's credentials is treated as secret (a password among them).
fn register_strings(value: &serde_json::Value) {
    match value {
        serde_json::Value::String(s) if s.len() >= secrets::MIN_LEN => secrets::register(s),
        serde_json::Value::Array(items) => items.iter().for_each(register_strings),
        serde_json::Value::Object(map) => map.values().for_each(register_strings),
        _ => {}
    }
}

/// `base` + `path` as an absolute http(s) URL, or an error at `field`.
fn join(base: &str, path: &str, field: &str, errors: &mut BuildErrors) -> Option<url::Url> {
    let text = if path.is_empty() {
        base.to_string()
    } else {
        format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
    };
    match url::Url::parse(&text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Some(url),
        _ => {
            let shown =
                if field == "base_url" { "the connection's `base_url`".to_string() } else { format!("`{text}`") };
            errors.push(&["auth", field], "bad-url", format!("{shown} does not make an absolute http(s) URL"), None);
            None
        }
    }
}

impl Auth {
    /// The token source, when the credentials are a token that a 401 renews.
    pub(crate) fn token(&self) -> Option<&TokenAuth> {
        match self {
            Auth::Token(t) => Some(t),
            _ => None,
        }
    }

    /// The header that authenticates a `method` request to `url` (as sent: path and query encoded),
    /// logging in first with `client` when the credentials are a token not held yet.
    pub(crate) fn header(
        &self,
        method: &str,
        url: &url::Url,
        client: &reqwest::blocking::Client,
    ) -> Result<(HeaderName, HeaderValue), TokenError> {
        match self {
            Auth::Token(token) => token.header(client),
            Auth::Static(name, value) => Ok((name.clone(), value.clone())),
            Auth::OAuth1(credentials) => Ok(signed(credentials, method, url)),
        }
    }

    /// [`Auth::header`] without a login: `None` when the credentials are a token that is not held or
    /// is due for renewal (the caller then logs in with [`Auth::header`], off async code).
    pub(crate) fn header_now(
        &self,
        method: &str,
        url: &url::Url,
    ) -> Option<Result<(HeaderName, HeaderValue), TokenError>> {
        match self {
            Auth::Token(token) => token.header_held().map(Ok),
            Auth::Static(name, value) => Some(Ok((name.clone(), value.clone()))),
            Auth::OAuth1(credentials) => Some(Ok(signed(credentials, method, url))),
        }
    }
}

/// The OAuth 1.0a `Authorization` header of a `method` request to `url`.
fn signed(credentials: &OAuth1Credentials, method: &str, url: &url::Url) -> (HeaderName, HeaderValue) {
    let signed = oauth1::authorization(credentials, method, url, &[], &Nonce::fresh());
    // Every part is percent-encoded ASCII: always a valid header value.
    let mut value = HeaderValue::from_str(&signed).unwrap_or_else(|_| HeaderValue::from_static("OAuth"));
    value.set_sensitive(true);
    (AUTHORIZATION, value)
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
