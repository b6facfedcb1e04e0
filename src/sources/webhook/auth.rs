//! How a webhook request proves it comes from its sender (`auth:` of a `webhook` source), and the
//! checks themselves: Adobe Commerce's RSA signature, Adobe I/O Events' two signatures (see
//! [`super::adobe_io`]), an HMAC-SHA256 of the body with a shared secret (compared in constant time),
//! or nothing at all when `type: none` is written. The secret is masked in every output and never
//! shown by `Debug`.

use base64::Engine as _;
use hmac::Mac as _;
use http::{HeaderMap, HeaderName};
use schemars::JsonSchema;
use serde::Deserialize;

use super::adobe_io::AdobeIo;
use super::rsa_key::RsaPublicKey;
use super::verdict::{Refusal, Verified, header_name, header_text};
use crate::config::duration::Duration;
use crate::config::secrets;
use crate::kernel::build::BuildErrors;

/// The header Adobe Commerce signs its webhook requests in.
pub(super) const COMMERCE_SIGNATURE: &str = "x-adobe-commerce-webhook-signature";

fn default_hmac_header() -> String {
    "x-signature".into()
}

/// How an HMAC signature is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum HmacEncoding {
    /// Hexadecimal digits, either case (GitHub, most senders).
    #[default]
    Hex,
    /// Standard base64 (Shopify).
    Base64,
}

/// The `auth:` of a `webhook` source, by `type:`.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[schemars(transform = describe_kinds)]
pub(crate) enum WebhookAuthConfig {
    /// Adobe Commerce webhooks: `x-adobe-commerce-webhook-signature` holds the base64 RSA-SHA256
    /// (PKCS#1 v1.5) signature Commerce makes of the base64 of the body, checked with the public key
    /// shown in Commerce (Stores > Configuration > Adobe Services > Webhooks).
    AdobeCommerce {
        /// The public key, PEM (`-----BEGIN PUBLIC KEY-----` …), e.g. `${env:COMMERCE_WEBHOOKS_PUBLIC_KEY}`.
        public_key: String,
    },
    /// Adobe I/O Events: answers the `challenge` handshake, and checks `x-adobe-digital-signature-1`
    /// and `-2` (either one valid is enough) with the public keys at the paths
    /// `x-adobe-public-key1-path` and `-2-path`, fetched from `key_host` only and cached.
    AdobeIo {
        /// Where public keys are fetched from, an origin without a path (default:
        /// `https://static.adobeioevents.com`). A key path that would lead anywhere else is refused.
        #[serde(default)]
        key_host: Option<String>,
        /// Your project's client id (API key): an event whose `recipient_client_id` differs is refused
        /// (default: not checked).
        #[serde(default)]
        client_id: Option<String>,
        /// How long a fetched public key is used before it is fetched again (default: `24h`, the most
        /// Adobe allows).
        #[serde(default)]
        key_cache: Option<Duration>,
    },
    /// An HMAC-SHA256 of the body with a shared secret, in a header of the sender's choosing.
    Hmac {
        /// The shared secret, e.g. `${secret:WEBHOOK_SECRET}`.
        secret: String,
        /// The header holding the signature (default: `x-signature`).
        #[serde(default = "default_hmac_header")]
        header: String,
        /// Text before the signature in the header, e.g. `sha256=` (GitHub); a header without it is
        /// refused.
        #[serde(default)]
        prefix: Option<String>,
        /// `hex` (default) or `base64`.
        #[serde(default)]
        encoding: HmacEncoding,
        /// A header holding the Unix time of signing (Stripe-like): the signature is then of
        /// `{timestamp}.{body}`, and a timestamp outside `replay_window` is refused.
        #[serde(default)]
        timestamp_header: Option<String>,
    },
    /// No check at all: anyone who can reach the URL can send events. Only for a server listening on
    /// loopback, or tests.
    None,
}

/// Gives each kind's `type` property a description (schemars leaves the tag undescribed).
fn describe_kinds(schema: &mut schemars::Schema) {
    let Some(serde_json::Value::Array(kinds)) = schema.get_mut("oneOf") else { return };
    for kind in kinds {
        if let Some(tag) = kind.pointer_mut("/properties/type").and_then(serde_json::Value::as_object_mut) {
            let name = tag.get("const").and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
            tag.insert("description".into(), format!("The kind of webhook auth: `{name}`.").into());
        }
    }
}

impl std::fmt::Debug for WebhookAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookAuthConfig::{}", self.kind())
    }
}

impl WebhookAuthConfig {
    /// The kind, as written in `type:`.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            WebhookAuthConfig::AdobeCommerce { .. } => "adobe_commerce",
            WebhookAuthConfig::AdobeIo { .. } => "adobe_io",
            WebhookAuthConfig::Hmac { .. } => "hmac",
            WebhookAuthConfig::None => "none",
        }
    }

    /// Checks and compiles the auth, reporting under `auth`.
    pub(super) fn build(&self, errors: &mut BuildErrors) -> Option<Verifier> {
        match self {
            WebhookAuthConfig::AdobeCommerce { public_key } => match RsaPublicKey::from_pem(public_key) {
                Ok(key) => Some(Verifier::AdobeCommerce(key)),
                Err(e) => {
                    let hint =
                        "paste the key Commerce shows, `-----BEGIN PUBLIC KEY-----` to `-----END PUBLIC KEY-----`";
                    errors.push(&["auth", "public_key"], "bad-value", e, Some(hint.into()));
                    None
                }
            },
            WebhookAuthConfig::AdobeIo { key_host, client_id, key_cache } => {
                AdobeIo::build(key_host.as_deref(), client_id.as_deref(), key_cache.map(|d| d.0), errors)
                    .map(|a| Verifier::AdobeIo(Box::new(a)))
            }
            WebhookAuthConfig::Hmac { secret, header, prefix, encoding, timestamp_header } => {
                // Secret wherever it was written (a literal, `${env:…}`): masked in every output (one too
                // short to mask is refused below).
                if secret.len() >= secrets::MIN_LEN {
                    secrets::register(secret);
                }
                let header = header_name(header, &["auth", "header"], errors);
                let timestamp_header = match timestamp_header {
                    Some(h) => Some(header_name(h, &["auth", "timestamp_header"], errors)?),
                    None => None,
                };
                if secret.trim().is_empty() {
                    let hint = "an unset `${env:…}` or an empty secret gives an empty value".to_string();
                    errors.push(&["auth", "secret"], "bad-value", "`secret` is empty", Some(hint));
                    return None;
                }
                if secret.len() < secrets::MIN_LEN {
                    let message = format!("`secret` is shorter than {} characters", secrets::MIN_LEN);
                    errors.push(&["auth", "secret"], "bad-value", message, Some("use a long random secret".into()));
                    return None;
                }
                Some(Verifier::Hmac(HmacCheck {
                    secret: Secret(secret.as_bytes().to_vec()),
                    header: header?,
                    prefix: prefix.clone().filter(|p| !p.is_empty()),
                    encoding: *encoding,
                    timestamp_header,
                }))
            }
            WebhookAuthConfig::None => Some(Verifier::None),
        }
    }
}

/// A shared secret: never printed.
pub(super) struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A compiled `hmac` check.
#[derive(Debug)]
pub(super) struct HmacCheck {
    secret: Secret,
    header: HeaderName,
    prefix: Option<String>,
    encoding: HmacEncoding,
    timestamp_header: Option<HeaderName>,
}

/// A compiled `auth:`.
#[derive(Debug)]
pub(super) enum Verifier {
    AdobeCommerce(RsaPublicKey),
    AdobeIo(Box<AdobeIo>),
    Hmac(HmacCheck),
    None,
}

impl Verifier {
    /// Checks that `body` with `headers` comes from the configured sender.
    pub(super) async fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Verified, Refusal> {
        match self {
            Verifier::AdobeCommerce(key) => {
                let Some(signature) = header_text(headers, COMMERCE_SIGNATURE) else {
                    return Err(Refusal::Unauthorized(format!("no `{COMMERCE_SIGNATURE}` header")));
                };
                let signature = base64::engine::general_purpose::STANDARD
                    .decode(signature)
                    .map_err(|_| Refusal::Unauthorized(format!("`{COMMERCE_SIGNATURE}` is not base64")))?;
                // Commerce signs the base64 of the body, not the body (its documentation and starter kits).
                let signed = base64::engine::general_purpose::STANDARD.encode(body);
                if key.verify(signed.as_bytes(), &signature) {
                    Ok(Verified::default())
                } else {
                    Err(Refusal::Unauthorized("the signature does not match the body".into()))
                }
            }
            Verifier::AdobeIo(adobe) => adobe.verify(headers, body).await,
            Verifier::Hmac(check) => check.verify(headers, body),
            Verifier::None => Ok(Verified::default()),
        }
    }

    /// The Adobe I/O check, for what only it does (the challenge, the recipient).
    pub(super) fn adobe_io(&self) -> Option<&AdobeIo> {
        match self {
            Verifier::AdobeIo(a) => Some(a),
            _ => None,
        }
    }
}

impl HmacCheck {
    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Verified, Refusal> {
        let unauthorized = |why: String| Refusal::Unauthorized(why);
        let header = self.header.as_str();
        let value = header_text(headers, header).ok_or_else(|| unauthorized(format!("no `{header}` header")))?;
        let encoded = match &self.prefix {
            Some(prefix) => value
                .strip_prefix(prefix.as_str())
                .ok_or_else(|| unauthorized(format!("`{header}` does not start with `{prefix}`")))?,
            None => value,
        };
        let signature = match self.encoding {
            HmacEncoding::Hex => decode_hex(encoded),
            HmacEncoding::Base64 => base64::engine::general_purpose::STANDARD.decode(encoded).ok(),
        }
        .ok_or_else(|| unauthorized(format!("`{header}` is not {}", encoding_name(self.encoding))))?;
        let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.secret.0) else {
            // HMAC takes keys of any length; kept as a refusal rather than a panic.
            return Err(unauthorized("the secret cannot key an HMAC".into()));
        };
        let mut signed_at_ms = None;
        if let Some(name) = &self.timestamp_header {
            let text = header_text(headers, name.as_str())
                .ok_or_else(|| unauthorized(format!("no `{}` header", name.as_str())))?;
            let seconds: i64 =
                text.parse().map_err(|_| unauthorized(format!("`{}` is not a Unix time in seconds", name.as_str())))?;
            signed_at_ms = Some(seconds.saturating_mul(1000));
            mac.update(text.as_bytes());
            mac.update(b".");
        }
        mac.update(body);
        // `verify_slice` compares in constant time.
        mac.verify_slice(&signature).map_err(|_| unauthorized("the signature does not match the body".into()))?;
        Ok(Verified { signed_at_ms })
    }
}

fn encoding_name(encoding: HmacEncoding) -> &'static str {
    match encoding {
        HmacEncoding::Hex => "hexadecimal",
        HmacEncoding::Base64 => "base64",
    }
}

/// Hexadecimal digits (either case) as bytes; `None` for odd lengths or other characters.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    let value = |d: u8| (d as char).to_digit(16).map(|v| v as u8);
    digits.chunks(2).map(|pair| Some(value(pair[0])? << 4 | value(pair[1])?)).collect()
}
