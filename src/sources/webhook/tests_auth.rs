//! Each signature check against real keys and secrets: what passes, and every way a request fails.

use base64::Engine as _;
use hmac::Mac as _;
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::LineEnding;

use super::auth::Verifier;
use super::rsa_key::RsaPublicKey;
use super::test_support::{KeyHost, KeyPair, build_errors, headers, settings};
use super::verdict::{Refusal, Verified};

const BODY: &[u8] = br#"{"id":"evt-1","data":{"sku":"MH01"}}"#;

fn commerce(key: &KeyPair) -> Verifier {
    let yaml = format!("auth: {{ type: adobe_commerce, public_key: {:?} }}", key.public_pem);
    settings(&yaml).verifier
}

fn base64_of(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(body)
}

fn unauthorized(result: Result<Verified, Refusal>) -> String {
    match result {
        Err(Refusal::Unauthorized(why)) => why,
        other => panic!("expected a 401 refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn adobe_commerce_checks_the_signature_of_the_base64_body() {
    let key = KeyPair::new();
    let verifier = commerce(&key);
    let signed = headers(&[("x-adobe-commerce-webhook-signature", &key.sign(base64_of(BODY).as_bytes()))]);
    assert!(verifier.verify(&signed, BODY).await.is_ok());
    let tampered = br#"{"id":"evt-1","data":{"sku":"MH02"}}"#;
    assert!(unauthorized(verifier.verify(&signed, tampered).await).contains("does not match"));
    // A signature of the raw body (not what Commerce signs) does not pass.
    let raw = headers(&[("x-adobe-commerce-webhook-signature", &key.sign(BODY))]);
    unauthorized(verifier.verify(&raw, BODY).await);
    let other = KeyPair::new();
    let forged = headers(&[("x-adobe-commerce-webhook-signature", &other.sign(base64_of(BODY).as_bytes()))]);
    unauthorized(verifier.verify(&forged, BODY).await);
    assert!(
        unauthorized(verifier.verify(&headers(&[]), BODY).await).contains("no `x-adobe-commerce-webhook-signature`")
    );
    let garbage = headers(&[("x-adobe-commerce-webhook-signature", "!!not base64!!")]);
    assert!(unauthorized(verifier.verify(&garbage, BODY).await).contains("not base64"));
}

#[test]
fn public_keys_are_read_in_every_form_and_bad_ones_refused_when_built() {
    let key = KeyPair::new();
    assert!(RsaPublicKey::from_pem(&key.public_pem).is_ok(), "SubjectPublicKeyInfo");
    let pkcs1 = key.public.to_pkcs1_pem(LineEnding::LF).expect("PKCS#1");
    assert!(RsaPublicKey::from_pem(&pkcs1).is_ok(), "RSA PUBLIC KEY");
    assert!(RsaPublicKey::from_pem(&key.public_pem.replace('\n', "\\n")).is_ok(), "one line with \\n");
    let small = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).expect("key").to_public_key();
    let small = rsa::pkcs8::EncodePublicKey::to_public_key_pem(&small, LineEnding::LF).expect("PEM");
    assert!(RsaPublicKey::from_pem(&small).expect_err("too small").contains("1024 bits"));
    assert!(RsaPublicKey::from_pem("").expect_err("empty").contains("empty"));
    assert!(RsaPublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_err());
    let errors = build_errors("auth: { type: adobe_commerce, public_key: not a key }");
    assert!(errors.starts_with("auth.public_key: the public key is not PEM"), "{errors}");
}

fn hmac_hex(secret: &str, message: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(message);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn hmac_checks_hex_or_base64_with_a_prefix_in_constant_time() {
    let secret = "s3cret-for-hmac-tests";
    let plain = settings(&format!("auth: {{ type: hmac, secret: {secret} }}")).verifier;
    let good = hmac_hex(secret, BODY);
    assert!(plain.verify(&headers(&[("x-signature", &good)]), BODY).await.is_ok());
    assert!(plain.verify(&headers(&[("x-signature", &good.to_uppercase())]), BODY).await.is_ok());
    assert!(unauthorized(plain.verify(&headers(&[("x-signature", &good)]), b"{}").await).contains("does not match"));
    let wrong = hmac_hex("another-secret", BODY);
    unauthorized(plain.verify(&headers(&[("x-signature", &wrong)]), BODY).await);
    assert!(unauthorized(plain.verify(&headers(&[]), BODY).await).contains("no `x-signature`"));
    assert!(unauthorized(plain.verify(&headers(&[("x-signature", "zz")]), BODY).await).contains("hexadecimal"));
    let github =
        settings(&format!("auth: {{ type: hmac, secret: {secret}, header: X-Hub-Signature-256, prefix: 'sha256=' }}"))
            .verifier;
    let prefixed = format!("sha256={good}");
    assert!(github.verify(&headers(&[("x-hub-signature-256", &prefixed)]), BODY).await.is_ok());
    assert!(unauthorized(github.verify(&headers(&[("x-hub-signature-256", &good)]), BODY).await).contains("sha256="));
    let shopify =
        settings(&format!("auth: {{ type: hmac, secret: {secret}, header: x-shopify-hmac-sha256, encoding: base64 }}"))
            .verifier;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(BODY);
    let b64 = base64_of(&mac.finalize().into_bytes());
    assert!(shopify.verify(&headers(&[("x-shopify-hmac-sha256", &b64)]), BODY).await.is_ok());
}

#[tokio::test]
async fn hmac_with_a_timestamp_signs_it_and_reports_it() {
    let secret = "s3cret-for-hmac-tests";
    let verifier =
        settings(&format!("auth: {{ type: hmac, secret: {secret}, timestamp_header: x-timestamp }}")).verifier;
    let at = "1767225600";
    let signed = hmac_hex(secret, format!("{at}.{}", std::str::from_utf8(BODY).expect("utf-8")).as_bytes());
    let verified = verifier.verify(&headers(&[("x-signature", &signed), ("x-timestamp", at)]), BODY).await;
    assert_eq!(verified.expect("valid").signed_at_ms, Some(1_767_225_600_000));
    // Another timestamp with the same signature: refused (the timestamp is signed).
    unauthorized(verifier.verify(&headers(&[("x-signature", &signed), ("x-timestamp", "1767225601")]), BODY).await);
    assert!(unauthorized(verifier.verify(&headers(&[("x-signature", &signed)]), BODY).await).contains("x-timestamp"));
}

#[test]
fn the_hmac_secret_is_never_shown() {
    let secret = "hunter2-webhook-secret";
    let config =
        super::test_support::config(&format!("auth: {{ type: hmac, secret: {secret}, header: 'bad header' }}"));
    assert!(!format!("{config:?}").contains(secret));
    let errors = build_errors(&format!("auth: {{ type: hmac, secret: {secret}, header: 'bad header' }}"));
    assert!(errors.contains("not a valid header name") && !errors.contains(secret), "{errors}");
    let built = settings(&format!("auth: {{ type: hmac, secret: {secret} }}"));
    assert!(!format!("{built:?}").contains(secret), "{built:?}");
    assert_eq!(crate::config::secrets::redact(&format!("x {secret} y")), "x *** y");
    assert!(build_errors("auth: { type: hmac, secret: '  ' }").contains("`secret` is empty"));
}

fn adobe_io(host: &str, extra: &str) -> Verifier {
    settings(&format!("auth: {{ type: adobe_io, key_host: '{host}'{extra} }}")).verifier
}

fn signed_by(pairs: [(&KeyPair, &str); 2], body: &[u8]) -> http::HeaderMap {
    let (one, two) = (pairs[0].0.sign(body), pairs[1].0.sign(body));
    headers(&[
        ("x-adobe-digital-signature-1", &one),
        ("x-adobe-digital-signature-2", &two),
        ("x-adobe-public-key1-path", pairs[0].1),
        ("x-adobe-public-key2-path", pairs[1].1),
    ])
}

#[tokio::test]
async fn adobe_io_is_authentic_when_either_signature_verifies_and_keys_are_cached() {
    let host = KeyHost::start().await;
    let (one, two, stranger) = (KeyPair::new(), KeyPair::new(), KeyPair::new());
    host.put("/prod/keys/pub-key-1.pem", &one.public_pem);
    host.put("/prod/keys/pub-key-2.pem", &two.public_pem);
    let verifier = adobe_io(&host.url, "");
    let both = signed_by([(&one, "/prod/keys/pub-key-1.pem"), (&two, "/prod/keys/pub-key-2.pem")], BODY);
    assert!(verifier.verify(&both, BODY).await.is_ok());
    // The first signature is wrong (a rotated key): the second one is enough.
    let second_only = signed_by([(&stranger, "/prod/keys/pub-key-1.pem"), (&two, "/prod/keys/pub-key-2.pem")], BODY);
    assert!(verifier.verify(&second_only, BODY).await.is_ok());
    let neither = signed_by([(&stranger, "/prod/keys/pub-key-1.pem"), (&stranger, "/prod/keys/pub-key-2.pem")], BODY);
    unauthorized(verifier.verify(&neither, BODY).await);
    unauthorized(verifier.verify(&both, b"{\"id\":\"evt-2\"}").await);
    assert_eq!(host.requests(), 2, "each key fetched once, then taken from the cache");
    let Verifier::AdobeIo(adobe) = &verifier else { panic!("adobe_io") };
    assert_eq!(adobe.fetches(), 2);
    assert!(unauthorized(verifier.verify(&headers(&[]), BODY).await).contains("x-adobe-digital-signature-1"));
}

#[tokio::test]
async fn adobe_io_fetches_keys_from_the_key_host_only() {
    let host = KeyHost::start().await;
    let key = KeyPair::new();
    host.put("/prod/keys/pub-key-1.pem", &key.public_pem);
    let verifier = adobe_io(&host.url, "");
    for path in [
        "//evil.example/prod/keys/pub-key-1.pem",
        "/prod/keys/../../pub-key-1.pem",
        "/prod/keys/pub-key-1.pem?host=evil",
        "https://evil.example/pub-key-1.pem",
        "/prod/keys/pub-key-1.pem@evil.example",
        "\\\\evil.example\\pub-key-1.pem",
        "/prod/keys/%2e%2e/pub-key-1.pem",
        "prod/keys/pub-key-1.pem",
        "/prod/keys/pub-key-1.txt",
    ] {
        let signed = signed_by([(&key, path), (&key, path)], BODY);
        let why = unauthorized(verifier.verify(&signed, BODY).await);
        assert!(why.contains("not a key file on the key host"), "{path}: {why}");
    }
    assert_eq!(host.requests(), 0, "no refused path was fetched");
    // A path the host has no key at: 401, remembered (not fetched again at once).
    let unknown = signed_by([(&key, "/prod/keys/none.pem"), (&key, "/prod/keys/none.pem")], BODY);
    assert!(unauthorized(verifier.verify(&unknown, BODY).await).contains("no key"));
    unauthorized(verifier.verify(&unknown, BODY).await);
    assert_eq!(host.requests(), 1);
    assert!(build_errors("auth: { type: adobe_io, key_host: 'http://keys.example.com' }").contains("https"));
    assert!(build_errors("auth: { type: adobe_io, key_host: 'https://keys.example.com/base' }").contains("origin"));
}

#[tokio::test]
async fn adobe_io_answers_503_when_a_key_cannot_be_fetched() {
    // A port nothing listens on: the key host is unreachable, which is not the sender's fault.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    drop(listener);
    let key = KeyPair::new();
    let verifier = adobe_io(&url, "");
    let signed = signed_by([(&key, "/prod/keys/k.pem"), (&key, "/prod/keys/k.pem")], BODY);
    assert!(matches!(verifier.verify(&signed, BODY).await, Err(Refusal::Unavailable(_))));
}

#[test]
fn adobe_io_checks_the_recipient_and_reads_the_challenge() {
    let verifier = adobe_io("https://static.adobeioevents.com", ", client_id: my-client");
    let adobe = verifier.adobe_io().expect("adobe_io");
    assert!(adobe.check_recipient(&serde_json::json!({ "recipient_client_id": "my-client" })).is_ok());
    assert!(adobe.check_recipient(&serde_json::json!({ "recipientclientid": "my-client" })).is_ok());
    assert!(adobe.check_recipient(&serde_json::json!({ "recipient_client_id": "other" })).is_err());
    assert!(adobe.check_recipient(&serde_json::json!({})).is_err());
    let unchecked = adobe_io("https://static.adobeioevents.com", "");
    assert!(unchecked.adobe_io().expect("adobe_io").check_recipient(&serde_json::json!({})).is_ok());
    assert_eq!(super::adobe_io::AdobeIo::challenge(Some("a=1&challenge=8ec8%2Dd7")), Some("8ec8-d7".into()));
    assert_eq!(super::adobe_io::AdobeIo::challenge(Some("a=1")), None);
}
