//! Golden signatures: each expected value was computed by Python's `oauthlib` 3.2.2 (`Client.sign`,
//! HMAC-SHA256, the same nonce and timestamp; script in the doc comment of `GOLDEN`), an independent
//! implementation of RFC 5849. The cases are the traps of Magento's REST API.

use super::*;

/// `(method, URL as sent, form body, oauthlib's oauth_signature as it appears in its header)`.
///
/// ```python
/// from oauthlib.oauth1 import Client, SIGNATURE_HMAC_SHA256
/// c = Client("ck_1234", client_secret="cs+/=secret", resource_owner_key="tok_5678",
///            resource_owner_secret="ts&secret%", signature_method=SIGNATURE_HMAC_SHA256,
///            nonce="abc123nonce", timestamp="1767225600")
/// c.sign(url, http_method=method, body=body, headers=form_content_type_if_body)
/// ```
const GOLDEN: &[(&str, &str, &str, &str)] = &[
    (
        // Bracketed searchCriteria keys, a value with a space and colons.
        "GET",
        "http://shop.example.com/rest/V1/orders?searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bfield%5D=updated_at&searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bvalue%5D=2026-01-01%2000%3A00%3A00&searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bcondition_type%5D=gt&searchCriteria%5BpageSize%5D=100&searchCriteria%5BcurrentPage%5D=1",
        "",
        "Tn%2By9Utfl6mxxdgv2%2FMDamFrVZTEATLJezcKZk3%2FXJE%3D",
    ),
    (
        // A SKU with `/`, `+`, `%` and a space in the path: signed as sent, `%2F` stays encoded.
        "PUT",
        "https://shop.example.com/rest/default/V1/products/MH01%2FXS%2BBlack%25%20A",
        "",
        "%2BY%2BeurcKHk9K6bJminhc1izVpg%2B0d%2FAC0j%2BSLO8t%2BR8%3D",
    ),
    (
        // The same SKU as a query value; a host in capitals and a port that is not the default.
        "GET",
        "https://Shop.Example.com:8443/rest/V1/products?searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bvalue%5D=MH01%2FXS%2BBlack%25%20A&searchCriteria%5Bfilter_groups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bfield%5D=sku",
        "",
        "g7rbUf%2FRZ9xei5HLKiQwNaJROVtUh%2F7kFsYtJshdEjU%3D",
    ),
    (
        // A default port written out, repeated and unsorted query keys, a form body with `+`.
        "POST",
        "http://erp.example.com:80/api/login?b=2&a=1&a=0",
        "z=last&a=first+word",
        "u0bQcHgpkIZvy6gevYy6QxOJMlh5GdyqB9ZL%2BCva7RU%3D",
    ),
];

fn credentials() -> OAuth1Credentials {
    OAuth1Credentials {
        consumer_key: "ck_1234".into(),
        consumer_secret: "cs+/=secret".into(),
        token: "tok_5678".into(),
        token_secret: "ts&secret%".into(),
    }
}

fn nonce() -> Nonce {
    Nonce { nonce: "abc123nonce".into(), timestamp: 1_767_225_600 }
}

/// The `oauth_signature` value of a header, as written in it (encoded).
fn signature_of(header: &str) -> &str {
    let start = header.find("oauth_signature=\"").map_or(0, |i| i + "oauth_signature=\"".len());
    let rest = &header[start..];
    &rest[..rest.find('"').unwrap_or(rest.len())]
}

#[test]
fn signatures_match_oauthlib_on_magentos_traps() {
    for (method, url, form, expected) in GOLDEN {
        let url = url::Url::parse(url).expect("a URL");
        let form: Vec<(String, String)> = url::form_urlencoded::parse(form.as_bytes()).into_owned().collect();
        let header = authorization(&credentials(), method, &url, &form, &nonce());
        assert_eq!(signature_of(&header), *expected, "{method} {url}\n{header}");
    }
}

#[test]
fn the_header_names_every_oauth_parameter_and_no_secret() {
    let url = url::Url::parse("https://shop.example.com/rest/V1/orders").expect("a URL");
    let header = authorization(&credentials(), "GET", &url, &[], &nonce());
    for part in [
        "oauth_consumer_key=\"ck_1234\"",
        "oauth_nonce=\"abc123nonce\"",
        "oauth_signature_method=\"HMAC-SHA256\"",
        "oauth_timestamp=\"1767225600\"",
        "oauth_token=\"tok_5678\"",
        "oauth_version=\"1.0\"",
    ] {
        assert!(header.contains(part), "{part} in {header}");
    }
    assert!(header.starts_with("OAuth "), "{header}");
    assert!(!header.contains("secret"), "{header}");
    assert!(!format!("{:?}", credentials()).contains("secret"), "Debug shows no secret");
}

#[test]
fn the_base_string_encodes_brackets_and_sorts_by_name_then_value() {
    let url = url::Url::parse("http://h.example/p?b=2&a%5B0%5D=x%20y&a%5B0%5D=x+w").expect("a URL");
    let base = signature_base("get", &url, &[], &[("oauth_token", "t")]);
    assert_eq!(
        base,
        "GET&http%3A%2F%2Fh.example%2Fp&a%255B0%255D%3Dx%2520w%26a%255B0%255D%3Dx%2520y%26b%3D2%26oauth_token%3Dt"
    );
}

#[test]
fn fresh_nonces_differ() {
    assert_ne!(Nonce::fresh().nonce, Nonce::fresh().nonce);
}
