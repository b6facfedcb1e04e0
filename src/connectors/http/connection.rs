//! An HTTP connection of the folder (`connections.yaml`, `type: http`): the base URL, headers and time
//! limit every HTTP component naming it shares. `build()` checks it once, up front, for every
//! component, and makes the [`HttpConnection`] the build context hands to the components that name it
//! (`BuildContext::connection`).

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::header::{HeaderName, HeaderValue};
use schemars::JsonSchema;
use serde::Deserialize;

use super::auth::{Auth, AuthConfig};
use super::retry::{RetryConfig, RetryConfigError, RetryPolicy, StatusAction};
use crate::config::duration::Duration;
use crate::connectors::ConnectionContext;
use crate::kernel::build::BuildErrors;
use crate::kernel::rate_limit::RateLimit;

/// The kind a connection of this config is (`type:`), as components ask for it and errors name it.
pub(crate) const KIND: &str = "http";

/// An HTTP API: the base URL every path is joined to, and the headers and time limit every request
/// to it gets.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpConnectionConfig {
    /// Base URL every path is joined to: absolute `http://` or `https://` with a host, e.g.
    /// `https://shop.example.com`.
    pub(crate) base_url: String,
    /// Headers sent with every request (values may use `${secret:NAME}`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Time limit for one request: connect, send, answer (e.g. `30s`; default: the component's, else
    /// `30s`).
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// Time limit for opening a connection (default `10s`, never more than `timeout`).
    #[serde(default)]
    pub connect_timeout: Option<Duration>,
    /// Follow redirects (at most 5). Off by default: a redirected `POST` is re-sent as a `GET` by
    /// HTTP's rules, and its answer would be taken for the create's — an API that redirects writes
    /// is a configuration error, reported with its `3xx` status.
    #[serde(default)]
    pub follow_redirects: bool,
    /// A PEM file of extra certificate authorities to trust (a company CA, a test server's), relative
    /// to the folder; the system's are trusted as well. Proxies come from the environment
    /// (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`).
    #[serde(default)]
    pub ca_bundle: Option<String>,
    /// Name of a rate limit from `rate_limits`.
    #[serde(default)]
    pub rate_limit: Option<String>,
    /// How requests prove who sends them: `{ type: bearer, token }`, `{ type: basic, username,
    /// password }`, `{ type: header, name, value }`, or `{ type: oauth1, consumer_key, consumer_secret,
    /// token, token_secret }` for an Adobe Commerce integration (values from `${secret:NAME}`).
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Retry bounds for every component using the connection, unless it sets its own: `{
    /// max_attempts, initial, max, max_elapsed }` (see the `http` sink's `retry`).
    #[serde(default)]
    pub retry: Option<RetryConfig>,
    /// What an answer means, by status code (`"409"`) or class (`"4xx"`), optionally followed by a text
    /// the answer's body must hold (`"400 already attached"`), for every component using
    /// the connection: `ok`, `retry`, `rate_limited`, `dead_letter`, `ignore` or `fail` (see the `http`
    /// sink's `on_status`). A component's own `on_status` entries take precedence, code by code.
    #[serde(default)]
    pub on_status: BTreeMap<String, StatusAction>,
}

/// A checked HTTP connection, as the components naming it receive it.
#[derive(Debug, Clone)]
pub(crate) struct HttpConnection {
    /// The base URL as written (an absolute http(s) URL with a host), without trailing `/`.
    pub(crate) base_url: String,
    /// Headers sent with every request: valid names, values valid in a header.
    pub(crate) headers: BTreeMap<String, String>,
    /// Time limit for one request, if the connection sets one (longer than zero).
    pub timeout: Option<std::time::Duration>,
    /// How the HTTP client is made: connect time limit, redirects, extra CAs.
    pub client: ClientOptions,
    /// The rate limit it names (an entry of `rate_limits`), shared with every other connection naming
    /// it.
    pub limit: Option<Arc<RateLimit>>,
    /// How its requests authenticate.
    pub auth: Option<Auth>,
    /// Its retry bounds, if it sets them.
    pub retry: Option<RetryConfig>,
    /// Its `on_status` entries (checked).
    pub on_status: BTreeMap<String, StatusAction>,
}

impl HttpConnection {
    /// The retry policy of a component using the connection: the component's `retry` (else the
    /// connection's, else `fallback`), and `on_status` of the connection overridden by the
    /// component's, code by code.
    pub(crate) fn policy(
        connection: Option<&HttpConnection>,
        retry: Option<&RetryConfig>,
        fallback: RetryConfig,
        on_status: &BTreeMap<String, StatusAction>,
    ) -> Result<RetryPolicy, RetryConfigError> {
        let retry = retry.or_else(|| connection.and_then(|c| c.retry.as_ref())).cloned().unwrap_or(fallback);
        let mut merged = connection.map(|c| c.on_status.clone()).unwrap_or_default();
        merged.extend(on_status.iter().map(|(k, v)| (k.clone(), *v)));
        RetryPolicy::build(&retry, &merged)
    }
}

impl HttpConnectionConfig {
    /// Checks everything a request will need (the base URL, each header, the time limit, the rate
    /// limit's name) and returns every problem at its field.
    pub(crate) fn build(&self, ctx: &ConnectionContext) -> Result<HttpConnection, BuildErrors> {
        let mut errors = BuildErrors::default();
        if !is_absolute_http_url(&self.base_url) {
            errors.push(
                &["base_url"],
                "bad-url",
                format!("`{}` is not an absolute http(s) URL", self.base_url),
                Some(
                    "write the scheme and host, e.g. `https://shop.example.com` or `http://localhost:8080/api`".into(),
                ),
            );
        }
        for (name, value) in &self.headers {
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                let hint = "a header name is letters, digits and `-`, e.g. `X-Api-Key`".to_string();
                errors.push(
                    &["headers", name],
                    "bad-value",
                    format!("`{name}` is not a valid header name"),
                    Some(hint),
                );
            } else if HeaderValue::from_str(value).is_err() {
                // The value is not shown: it is often a secret.
                let hint = "a header value is one line of visible characters and spaces".to_string();
                errors.push(
                    &["headers", name],
                    "bad-value",
                    format!("the value of header `{name}` is not a valid header value"),
                    Some(hint),
                );
            }
        }
        if self.timeout.is_some_and(|t| t.0.is_zero()) {
            errors.push(&["timeout"], "bad-value", "`timeout` must be longer than zero", None);
        }
        if let Some(limit) = &self.rate_limit
            && !ctx.rate_limits.contains(limit)
        {
            let hint = if ctx.rate_limits.is_empty() {
                "no rate limits are defined: add one under `rate_limits:`".to_string()
            } else {
                let known: Vec<&str> = ctx.rate_limits.iter().map(String::as_str).collect();
                crate::config::diagnostic::suggestion(limit, &known, "known rate limits")
            };
            errors.push(&["rate_limit"], "unknown-rate-limit", format!("unknown rate limit `{limit}`"), Some(hint));
        }
        if self.connect_timeout.is_some_and(|t| t.0.is_zero()) {
            errors.push(&["connect_timeout"], "bad-value", "`connect_timeout` must be longer than zero", None);
        }
        let mut ca_certificates = Vec::new();
        if let Some(bundle) = &self.ca_bundle {
            let path = ctx.base_dir.join(bundle);
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|pem| reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| e.to_string()))
            {
                Ok(certs) if !certs.is_empty() => ca_certificates = certs,
                Ok(_) => errors.push(&["ca_bundle"], "bad-value", format!("`{bundle}` holds no certificate"), None),
                Err(e) => {
                    let hint = "a PEM file of `-----BEGIN CERTIFICATE-----` blocks, relative to the folder".to_string();
                    errors.push(&["ca_bundle"], "bad-value", format!("cannot read `{bundle}`: {e}"), Some(hint));
                }
            }
        }
        let client = ClientOptions {
            connect_timeout: self.connect_timeout.map(|t| t.0),
            follow_redirects: self.follow_redirects,
            ca_certificates,
            hook: None,
            metrics: crate::telemetry::metrics::http(&ctx.name),
        };
        let auth = self.auth.as_ref().map(|a| a.build(self.base_url.trim_end_matches('/'), &mut errors));
        if let Err(e) = RetryPolicy::build(&self.retry.clone().unwrap_or_default(), &self.on_status) {
            let field = if matches!(e, RetryConfigError::NoAttempt) { "retry" } else { "on_status" };
            errors.push(&[field], "bad-value", e.to_string(), None);
        }
        errors.finish(|| {
            Some(HttpConnection {
                client,
                auth: auth.flatten(),
                limit: self.rate_limit.as_deref().and_then(|name| ctx.limits.get(name)),
                base_url: self.base_url.trim_end_matches('/').to_string(),
                headers: self.headers.clone(),
                timeout: self.timeout.map(|t| t.0),
                retry: self.retry.clone(),
                on_status: self.on_status.clone(),
            })
        })
    }
}

/// How the HTTP client of a component using the connection is made (the time limit of one request is
/// the component's to settle).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientOptions {
    /// Answers requests instead of the network, or records what the network answers (`weir test`): set
    /// from the build context, never from a connection.
    pub hook: Option<crate::kernel::mock::RequestHook>,
    /// Time limit for opening a connection (`None`: 10 s).
    pub connect_timeout: Option<std::time::Duration>,
    /// Follow up to 5 redirects.
    pub follow_redirects: bool,
    /// Certificate authorities trusted besides the system's.
    pub ca_certificates: Vec<reqwest::Certificate>,
    /// What its requests record: the connection's metrics (none named without a connection).
    pub metrics: crate::telemetry::metrics::HttpMetrics,
}

/// True for `http://HOST…` or `https://HOST…` (scheme in any case) with a non-empty host and no
/// whitespace, that also parses as a URL (so a bad port or a malformed host fails here rather than on
/// the first request). Both checks: the URL parser alone accepts `https:///api` (as host `api`).
fn is_absolute_http_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else { return false };
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
        || url.chars().any(char::is_whitespace)
    {
        return false;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        host_port.split_once(']').map_or("", |(h, _)| h.trim_start_matches('['))
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    !host.is_empty() && reqwest::Url::parse(url).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(yaml: &str, rate_limits: &[&str]) -> Vec<(String, &'static str, String)> {
        let config: HttpConnectionConfig = serde_yaml::from_str(yaml).expect("valid config");
        let ctx = ConnectionContext {
            rate_limits: rate_limits.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        match config.build(&ctx) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.into_iter().map(|e| (e.field.join("."), e.code, e.message)).collect(),
        }
    }

    #[test]
    fn a_components_policy_takes_the_connections_and_overrides_it_code_by_code() {
        use crate::connectors::http::retry::Verdict;
        let config: HttpConnectionConfig = serde_yaml::from_str(
            "base_url: https://erp.example.com\nretry: { max_attempts: 2 }\non_status: { \"422\": ignore, \"404\": fail }\n",
        )
        .expect("valid config");
        let connection = config.build(&ConnectionContext::default()).expect("builds");
        let component = BTreeMap::from([("404".to_string(), StatusAction::DeadLetter)]);
        let policy =
            HttpConnection::policy(Some(&connection), None, RetryConfig::default(), &component).expect("builds");
        let verdict = |status, attempt| policy.verdict(status, None, attempt, std::time::Duration::ZERO, None, 0.5);
        assert!(matches!(verdict(422, 1), Verdict::Settle(StatusAction::Ignore)), "the connection's entry");
        assert!(matches!(verdict(404, 1), Verdict::Settle(StatusAction::DeadLetter)), "the component's wins");
        assert!(matches!(verdict(503, 1), Verdict::Again { .. }));
        assert!(matches!(verdict(503, 2), Verdict::GiveUp(_)), "the connection's 2 attempts");
        let own = RetryConfig { max_attempts: 3, ..RetryConfig::default() };
        let policy =
            HttpConnection::policy(Some(&connection), Some(&own), RetryConfig::default(), &component).expect("builds");
        assert!(matches!(policy.verdict(503, None, 2, std::time::Duration::ZERO, None, 0.5), Verdict::Again { .. }));
        let bad: HttpConnectionConfig =
            serde_yaml::from_str("base_url: https://erp.example.com\non_status: { \"6xx\": ok }\n").expect("valid");
        assert!(bad.build(&ConnectionContext::default()).is_err());
    }

    #[test]
    fn absolute_http_urls() {
        for ok in [
            "https://shop.example.com",
            "http://localhost:8080/api",
            "HTTPS://x.y/z?q#f",
            "http://u:p@h",
            "http://[::1]:80/",
        ] {
            assert!(is_absolute_http_url(ok), "{ok}");
        }
        for bad in [
            "shop.example.com",
            "ftp://x",
            "https://",
            "https:///api",
            "http://:80/",
            "https://a b",
            "http://[]/",
            "",
            "http://shop.example.com:99999/",
        ] {
            assert!(!is_absolute_http_url(bad), "{bad}");
        }
    }

    #[test]
    fn build_checks_every_field_and_keeps_the_connection() {
        let bad = errors(
            "base_url: shop.example.com\nheaders: { \"X Key\": a, X-Ok: \"a\\nb\" }\ntimeout: 0s\nrate_limit: shop_apl\n",
            &["shop_api"],
        );
        let found: Vec<(&str, &str)> = bad.iter().map(|(f, c, _)| (f.as_str(), *c)).collect();
        assert_eq!(
            found,
            [
                ("base_url", "bad-url"),
                ("headers.X Key", "bad-value"),
                ("headers.X-Ok", "bad-value"),
                ("timeout", "bad-value"),
                ("rate_limit", "unknown-rate-limit"),
            ]
        );
        assert!(!bad[2].2.contains("a\nb"), "a header value (often a secret) is never shown: {bad:?}");

        let config: HttpConnectionConfig =
            serde_yaml::from_str("base_url: https://erp.example.com/api/\nheaders: { X-Api-Key: k }\ntimeout: 5s\n")
                .expect("valid config");
        let built = config.build(&ConnectionContext::default()).expect("a good connection builds");
        assert_eq!(built.base_url, "https://erp.example.com/api");
        assert_eq!(built.timeout, Some(std::time::Duration::from_secs(5)));
        assert_eq!(built.headers.get("X-Api-Key").map(String::as_str), Some("k"));
    }

    #[test]
    fn client_settings_are_checked_and_a_ca_bundle_is_loaded() {
        let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
        let good = format!(
            "base_url: https://shop.example.com\nca_bundle: {data}/ca-isrg-root-x1.pem\nfollow_redirects: true\n"
        );
        let config: HttpConnectionConfig = serde_yaml::from_str(&good).expect("valid config");
        let built = config.build(&ConnectionContext::default()).expect("builds");
        assert_eq!(built.client.ca_certificates.len(), 1, "the public ISRG root");
        assert!(built.client.follow_redirects);
        let bad = errors(
            &format!(
                "base_url: https://shop.example.com\nconnect_timeout: 0s\nca_bundle: {data}/sample-product.json\n"
            ),
            &[],
        );
        let fields: Vec<&str> = bad.iter().map(|(f, ..)| f.as_str()).collect();
        assert_eq!(fields, ["connect_timeout", "ca_bundle"], "{bad:?}");
        let missing = errors("base_url: https://shop.example.com\nca_bundle: no/such.pem\n", &[]);
        assert!(missing[0].2.contains("cannot read `no/such.pem`"), "{missing:?}");
    }
}
