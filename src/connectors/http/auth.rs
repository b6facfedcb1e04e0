//! How an HTTP connection proves who it is (`auth:` of a connection), for the kinds that need no
//! token exchange: `bearer`, `basic`, `header` (an API key) and `oauth1` (a Magento integration's
//! signed requests). Every value may come from `${secret:NAME}`; none is ever shown — `Debug` prints
//! the kind only, and secrets are masked wherever Weir prints.

use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use schemars::JsonSchema;
use serde::Deserialize;

use super::oauth1::{self, Nonce, OAuth1Credentials};
use crate::config::secrets;
use crate::kernel::build::BuildErrors;

/// The `auth:` of an HTTP connection, by `type:`.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthConfig {
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
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthConfig::{}", self.kind())
    }
}

/// A checked `auth:`, ready to apply to requests.
#[derive(Clone)]
pub enum Auth {
    /// A header sent as it is with every request (`bearer`, `basic`, `header`).
    Static(HeaderName, HeaderValue),
    /// Each request signed (`oauth1`).
    OAuth1(OAuth1Credentials),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Static(name, _) => write!(f, "Auth::Static({name})"),
            Auth::OAuth1(_) => f.write_str("Auth::OAuth1"),
        }
    }
}

impl AuthConfig {
    /// The kind, as written in `type:`.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthConfig::Bearer { .. } => "bearer",
            AuthConfig::Basic { .. } => "basic",
            AuthConfig::Header { .. } => "header",
            AuthConfig::Oauth1 { .. } => "oauth1",
        }
    }

    /// Checks the values (each fits in a header; none is empty), reporting under `auth`.
    pub fn build(&self, errors: &mut BuildErrors) -> Option<Auth> {
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
        }
    }
}

impl Auth {
    /// The header that authenticates a `method` request to `url` (as sent: path and query encoded).
    pub fn header(&self, method: &str, url: &url::Url) -> (HeaderName, HeaderValue) {
        match self {
            Auth::Static(name, value) => (name.clone(), value.clone()),
            Auth::OAuth1(credentials) => {
                let signed = oauth1::authorization(credentials, method, url, &[], &Nonce::fresh());
                // Every part is percent-encoded ASCII: always a valid header value.
                let mut value = HeaderValue::from_str(&signed).unwrap_or_else(|_| HeaderValue::from_static("OAuth"));
                value.set_sensitive(true);
                (AUTHORIZATION, value)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(yaml: &str) -> Result<Auth, Vec<(String, String)>> {
        let config: AuthConfig = serde_yaml::from_str(yaml).expect("parses");
        let mut errors = BuildErrors::default();
        let auth = config.build(&mut errors);
        match auth {
            Some(a) if errors.0.is_empty() => Ok(a),
            _ => Err(errors.0.into_iter().map(|e| (e.field.join("."), e.message)).collect()),
        }
    }

    fn header_of(yaml: &str) -> (String, String) {
        let url =
            url::Url::parse("https://shop.example.com/rest/V1/orders?searchCriteria%5BpageSize%5D=1").expect("url");
        let (name, value) = build(yaml).expect("builds").header("GET", &url);
        (name.to_string(), value.to_str().unwrap_or_default().to_string())
    }

    #[test]
    fn static_kinds_make_their_header() {
        assert_eq!(header_of("{ type: bearer, token: t0k }"), ("authorization".into(), "Bearer t0k".into()));
        // RFC 7617's example.
        assert_eq!(
            header_of("{ type: basic, username: Aladdin, password: open sesame }"),
            ("authorization".into(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".into())
        );
        assert_eq!(header_of("{ type: header, name: X-Api-Key, value: k3y }"), ("x-api-key".into(), "k3y".into()));
    }

    #[test]
    fn oauth1_signs_each_request_afresh() {
        let yaml = "{ type: oauth1, consumer_key: ck, consumer_secret: cs, token: t, token_secret: ts }";
        let (name, first) = header_of(yaml);
        let (_, second) = header_of(yaml);
        assert_eq!(name, "authorization");
        assert!(first.starts_with("OAuth ") && first.contains("oauth_signature_method=\"HMAC-SHA256\""), "{first}");
        assert_ne!(first, second, "a new nonce for every request");
    }

    #[test]
    fn empty_and_unsendable_values_are_config_errors_that_show_no_secret() {
        let errors =
            build("{ type: oauth1, consumer_key: ck, consumer_secret: '', token: ' ', token_secret: ts }").err();
        assert_eq!(
            errors.map(|e| e.into_iter().map(|(f, _)| f).collect::<Vec<_>>()),
            Some(vec!["auth.consumer_secret".to_string(), "auth.token".to_string()])
        );
        let errors = build("{ type: bearer, token: \"s3cret\\nline\" }").expect_err("a line break cannot be sent");
        assert!(errors.iter().all(|(_, m)| !m.contains("s3cret")), "{errors:?}");
        let errors = build("{ type: header, name: 'X Key', value: v }").expect_err("a bad header name");
        assert_eq!(errors[0].0, "auth.name");
    }

    #[test]
    fn debug_never_shows_a_value() {
        let config: AuthConfig =
            serde_yaml::from_str("{ type: basic, username: u, password: hunter2 }").expect("parses");
        assert_eq!(format!("{config:?}"), "AuthConfig::basic");
        let auth = build("{ type: bearer, token: hunter2 }").expect("builds");
        assert!(!format!("{auth:?}").contains("hunter2"));
    }

    #[test]
    fn unknown_kinds_and_keys_are_refused() {
        assert!(serde_yaml::from_str::<AuthConfig>("{ type: kerberos }").is_err());
        assert!(serde_yaml::from_str::<AuthConfig>("{ type: bearer, token: t, tokn: t }").is_err());
    }
}
