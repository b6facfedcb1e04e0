//! Adobe I/O Events deliveries: the `challenge` handshake, the two digital signatures and the recipient
//! check. Each request carries two RSA-SHA256 signatures of its raw body
//! (`x-adobe-digital-signature-1`, `-2`) and the paths of the two public keys that check them
//! (`x-adobe-public-key1-path`, `-2-path`); the event is authentic when either verifies. A key is
//! fetched only from the configured key host — a path that is not a plain path on it is refused, and
//! redirects are not followed — and kept in memory for `key_cache` (Adobe asks for at most 24 h). A
//! key the host says does not exist is remembered for a minute, so that forged paths do not turn
//! every request into a fetch.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use http::HeaderMap;
use serde_json::Value;

use super::rsa_key::RsaPublicKey;
use super::verdict::{Refusal, Verified, header_text};
use crate::kernel::build::BuildErrors;

/// Adobe's key host.
const DEFAULT_KEY_HOST: &str = "https://static.adobeioevents.com";
/// Default of `key_cache`.
const DEFAULT_KEY_CACHE: Duration = Duration::from_secs(24 * 3600);
/// How long a key the host does not have is not asked for again.
const MISSING_KEY_CACHE: Duration = Duration::from_secs(60);
/// Keys kept at once: Adobe rotates two at a time, so a few suffice.
const CACHED_KEYS: usize = 16;
/// Paths remembered as missing: apart from the keys, so that forged paths never push a key out.
const CACHED_MISSING: usize = 256;
/// The largest key file read.
const MAX_KEY_BYTES: usize = 16 * 1024;
/// Time limit of one key fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The signature and key-path headers, in the order they are tried.
const SIGNATURES: [(&str, &str); 2] = [
    ("x-adobe-digital-signature-1", "x-adobe-public-key1-path"),
    ("x-adobe-digital-signature-2", "x-adobe-public-key2-path"),
];

/// A compiled `adobe_io` auth.
#[derive(Debug)]
pub(crate) struct AdobeIo {
    /// The key host's origin.
    host: url::Url,
    client_id: Option<String>,
    key_cache: Duration,
    /// Keys fetched, by path, with when.
    keys: Mutex<lru::LruCache<String, (Arc<RsaPublicKey>, Instant)>>,
    /// Paths the key host has no key at, with when it said so.
    missing: Mutex<lru::LruCache<String, Instant>>,
    client: OnceLock<Result<reqwest::Client, String>>,
    /// Keys fetched so far (tests look at it to see the cache work).
    fetches: std::sync::atomic::AtomicU64,
}

impl AdobeIo {
    /// Checks the key host (an `https` origin; `http` only on loopback, for tests) and the client id.
    pub(super) fn build(
        key_host: Option<&str>,
        client_id: Option<&str>,
        key_cache: Option<Duration>,
        errors: &mut BuildErrors,
    ) -> Option<AdobeIo> {
        let field = ["auth", "key_host"];
        let text = key_host.unwrap_or(DEFAULT_KEY_HOST);
        let host = match url::Url::parse(text) {
            Ok(url) => url,
            Err(e) => {
                errors.push(&field, "bad-url", format!("`{text}` is not a URL ({e})"), None);
                return None;
            }
        };
        let loopback = match host.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        let problem = if host.scheme() != "https" && !(host.scheme() == "http" && loopback) {
            Some("the key host must be `https` (`http` only on loopback)")
        } else if !(host.path().is_empty() || host.path() == "/")
            || host.query().is_some()
            || host.fragment().is_some()
            || !host.username().is_empty()
            || host.password().is_some()
        {
            Some("the key host is an origin only, e.g. `https://static.adobeioevents.com`")
        } else {
            None
        };
        if let Some(problem) = problem {
            errors.push(&field, "bad-url", problem, None);
            return None;
        }
        if client_id.is_some_and(|c| c.trim().is_empty()) {
            errors.push(&["auth", "client_id"], "bad-value", "`client_id` is empty", None);
            return None;
        }
        let capacity = |n| std::num::NonZeroUsize::new(n).unwrap_or(std::num::NonZeroUsize::MIN);
        Some(AdobeIo {
            host,
            client_id: client_id.map(|c| c.trim().to_string()),
            key_cache: key_cache.unwrap_or(DEFAULT_KEY_CACHE),
            keys: Mutex::new(lru::LruCache::new(capacity(CACHED_KEYS))),
            missing: Mutex::new(lru::LruCache::new(capacity(CACHED_MISSING))),
            client: OnceLock::new(),
            fetches: Default::default(),
        })
    }

    /// The answer to the registration handshake, `GET …?challenge=…`: the challenge, as JSON.
    pub(super) fn challenge(query: Option<&str>) -> Option<String> {
        let query = query?;
        url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "challenge").map(|(_, v)| v.into_owned())
    }

    /// True for the body of Adobe's asynchronous validation (`{"validationUrl": …}`), sent when the
    /// challenge was not answered: it is not an event.
    pub(super) fn is_validation(body: &Value) -> Option<&str> {
        match body {
            Value::Object(map) if map.len() == 1 => map.get("validationUrl").and_then(Value::as_str),
            _ => None,
        }
    }

    /// Refuses an event addressed to another client, when `client_id` is set.
    pub(super) fn check_recipient(&self, body: &Value) -> Result<(), Refusal> {
        let Some(expected) = &self.client_id else { return Ok(()) };
        // `recipient_client_id` in Adobe's own format; CloudEvents extension names have no `_`.
        let recipient =
            ["recipient_client_id", "recipientclientid"].iter().find_map(|k| body.get(*k)).and_then(Value::as_str);
        match recipient {
            Some(r) if r == expected => Ok(()),
            Some(_) => Err(Refusal::Unauthorized("the event is for another client (`recipient_client_id`)".into())),
            None => Err(Refusal::Unauthorized("the event has no `recipient_client_id`".into())),
        }
    }

    /// Keys fetched from the key host so far.
    #[cfg(test)]
    pub(super) fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Checks the two signatures; authentic when either verifies.
    pub(super) async fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Verified, Refusal> {
        let mut refusal = None;
        let mut unavailable = None;
        for (signature_header, path_header) in SIGNATURES {
            let (Some(signature), Some(path)) =
                (header_text(headers, signature_header), header_text(headers, path_header))
            else {
                continue;
            };
            let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(signature) else {
                refusal = Some(format!("`{signature_header}` is not base64"));
                continue;
            };
            match self.key(path).await {
                Ok(key) if key.verify(body, &signature) => return Ok(Verified::default()),
                Ok(_) => refusal = Some("the signatures do not match the body".to_string()),
                Err(Refusal::Unauthorized(why)) => refusal = Some(why),
                Err(Refusal::Unavailable(why)) => unavailable = Some(why),
            }
        }
        // A key that could not be fetched might have verified: the sender should try again.
        match (unavailable, refusal) {
            (Some(why), _) => Err(Refusal::Unavailable(why)),
            (None, Some(why)) => Err(Refusal::Unauthorized(why)),
            (None, None) => Err(Refusal::Unauthorized(
                "no `x-adobe-digital-signature-1`/`-2` with its `x-adobe-public-key1-path`/`2-path`".into(),
            )),
        }
    }

    /// Where the key at `path` is: on the key host, or refused.
    fn key_url(&self, path: &str) -> Result<url::Url, Refusal> {
        let plain = path.len() <= 256
            && path.starts_with('/')
            && !path.starts_with("//")
            && path.ends_with(".pem")
            && path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b))
            && !path.split('/').any(|segment| segment == "." || segment == "..");
        let refused = || {
            let shown: String = path.chars().take(80).collect();
            Refusal::Unauthorized(format!("the public key path {shown:?} is not a key file on the key host"))
        };
        if !plain {
            return Err(refused());
        }
        let url = self.host.join(path).map_err(|_| refused())?;
        if url.origin() != self.host.origin() {
            return Err(refused());
        }
        Ok(url)
    }

    /// The key at `path`: cached, or fetched from the key host.
    async fn key(&self, path: &str) -> Result<Arc<RsaPublicKey>, Refusal> {
        let url = self.key_url(path)?;
        let cached = self.keys.lock().unwrap_or_else(|e| e.into_inner()).get(path).cloned();
        if let Some((key, _)) = cached.filter(|(_, at)| at.elapsed() < self.key_cache) {
            return Ok(key);
        }
        let missing = self.missing.lock().unwrap_or_else(|e| e.into_inner()).get(path).copied();
        if missing.is_some_and(|at| at.elapsed() < MISSING_KEY_CACHE) {
            return Err(Refusal::Unauthorized(format!("the key host has no key at {path:?}")));
        }
        let fetched = self.fetch(&url).await;
        match &fetched {
            Ok(key) => {
                self.keys
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .put(path.to_string(), (Arc::clone(key), Instant::now()));
            }
            Err(Refusal::Unauthorized(_)) => {
                self.missing.lock().unwrap_or_else(|e| e.into_inner()).put(path.to_string(), Instant::now());
            }
            Err(Refusal::Unavailable(_)) => {}
        }
        fetched
    }

    async fn fetch(&self, url: &url::Url) -> Result<Arc<RsaPublicKey>, Refusal> {
        let client = self.client.get_or_init(|| {
            // reqwest is built without a bundled crypto provider; use ring's (first caller wins).
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(FETCH_TIMEOUT)
                .user_agent(concat!("weir/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| format!("cannot create the HTTP client: {e}"))
        });
        let client = client.as_ref().map_err(|e| Refusal::Unavailable(e.clone()))?;
        self.fetches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let unavailable = |why: String| Refusal::Unavailable(format!("cannot fetch the public key {url}: {why}"));
        let mut response = client.get(url.clone()).send().await.map_err(|e| unavailable(e.to_string()))?;
        let status = response.status();
        if matches!(status.as_u16(), 403 | 404 | 410) {
            return Err(Refusal::Unauthorized(format!("the key host has no key at {} ({status})", url.path())));
        }
        if !status.is_success() {
            return Err(unavailable(format!("the key host answered {status}")));
        }
        let mut pem = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| unavailable(e.to_string()))? {
            if pem.len() + chunk.len() > MAX_KEY_BYTES {
                return Err(unavailable(format!("the key is larger than {MAX_KEY_BYTES} bytes")));
            }
            pem.extend_from_slice(&chunk);
        }
        let text = String::from_utf8_lossy(&pem);
        RsaPublicKey::from_pem(&text).map(Arc::new).map_err(unavailable)
    }
}
