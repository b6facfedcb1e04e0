//! OAuth 1.0a request signing (RFC 5849), as Adobe Commerce integrations need it: since 2.4.4 an
//! integration's access token is no longer accepted as a bearer token by default, so every request is
//! signed with the consumer and token secrets, HMAC-SHA256. The signature covers the method, the URL
//! without its query, and every query parameter together with the `oauth_*` ones — which is where
//! requests go wrong: Magento's bracketed `searchCriteria[filter_groups][0][filters][0][field]` keys,
//! and SKUs holding `/`, `%`, `+` or spaces in the path or in query values. The rules here follow the
//! RFC to the letter; `oauth1_tests.rs` checks them against signatures computed by Python's
//! `oauthlib`.

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::Sha256;

/// What RFC 5849 §3.6 leaves unencoded: ALPHA, DIGIT, `-`, `.`, `_`, `~`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The credentials of a Magento integration (System → Extensions → Integrations): the consumer key
/// and secret, the access token and its secret.
#[derive(Clone)]
pub(crate) struct OAuth1Credentials {
    /// `oauth_consumer_key`.
    pub consumer_key: String,
    /// Signs with the token secret; never sent.
    pub consumer_secret: String,
    /// `oauth_token`: the access token.
    pub token: String,
    /// Signs with the consumer secret; never sent.
    pub token_secret: String,
}

impl std::fmt::Debug for OAuth1Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys identify, the secrets sign: only the keys are shown.
        f.debug_struct("OAuth1Credentials")
            .field("consumer_key", &self.consumer_key)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// What makes one signature unique: the nonce and the time it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Nonce {
    /// `oauth_nonce`: unique per request (with the timestamp).
    pub nonce: String,
    /// `oauth_timestamp`: seconds since the Unix epoch.
    pub timestamp: u64,
}

impl Nonce {
    /// A fresh nonce (32 random hex digits) at the current time.
    pub(crate) fn fresh() -> Self {
        let nonce = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Self { nonce, timestamp }
    }
}

/// Percent-encodes as RFC 5849 §3.6 demands (RFC 3986's unreserved set, uppercase hex).
pub(crate) fn encode(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

/// The `Authorization` header value for a request: `method` and `url` as they go on the wire (the
/// URL's path and query already percent-encoded), `form` the body's parameters when the body is
/// `application/x-www-form-urlencoded` (JSON bodies are not signed: pass none).
pub(crate) fn authorization(
    credentials: &OAuth1Credentials,
    method: &str,
    url: &url::Url,
    form: &[(String, String)],
    nonce: &Nonce,
) -> String {
    let timestamp = nonce.timestamp.to_string();
    let oauth: [(&str, &str); 6] = [
        ("oauth_consumer_key", &credentials.consumer_key),
        ("oauth_nonce", &nonce.nonce),
        ("oauth_signature_method", "HMAC-SHA256"),
        ("oauth_timestamp", &timestamp),
        ("oauth_token", &credentials.token),
        ("oauth_version", "1.0"),
    ];
    let base = signature_base(method, url, form, &oauth);
    let signature = signature(&base, &credentials.consumer_secret, &credentials.token_secret);
    let mut header = String::from("OAuth ");
    for (i, (k, v)) in oauth.iter().map(|(k, v)| (*k, *v)).chain([("oauth_signature", signature.as_str())]).enumerate()
    {
        if i > 0 {
            header.push_str(", ");
        }
        header.push_str(&format!("{k}=\"{}\"", encode(v)));
    }
    header
}

/// The signature base string (RFC 5849 §3.4.1): the method, the base URI and the normalized
/// parameters, each encoded, joined by `&`.
pub(crate) fn signature_base(
    method: &str,
    url: &url::Url,
    form: &[(String, String)],
    oauth: &[(&str, &str)],
) -> String {
    // Query parameters are decoded as a form (`+` is a space, as the server will read it), then all
    // parameters are encoded again, sorted by name and value.
    let mut params: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (encode(&k), encode(&v))).collect();
    params.extend(form.iter().map(|(k, v)| (encode(k), encode(v))));
    params.extend(oauth.iter().map(|(k, v)| (encode(k), encode(v))));
    params.sort();
    let normalized: Vec<String> = params.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{}&{}&{}", method.to_ascii_uppercase(), encode(&base_uri(url)), encode(&normalized.join("&")))
}

/// The base string URI (RFC 5849 §3.4.1.2): scheme and host lowercase, the port only when it is not
/// the scheme's default, the path exactly as sent (still percent-encoded: `%2F` in a SKU stays
/// `%2F`), no query, no fragment.
fn base_uri(url: &url::Url) -> String {
    let scheme = url.scheme().to_ascii_lowercase();
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    // `url` drops a port that is the scheme's default when it parses.
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{scheme}://{host}{port}{}", url.path())
}

/// HMAC-SHA256 of `base`, keyed by the two encoded secrets (RFC 5849 §3.4.2), base64.
pub(crate) fn signature(base: &str, consumer_secret: &str, token_secret: &str) -> String {
    use base64::Engine as _;
    let key = format!("{}&{}", encode(consumer_secret), encode(token_secret));
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(base.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
#[path = "oauth1_tests.rs"]
mod tests;
