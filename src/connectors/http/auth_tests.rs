//! Auth kinds: the header each makes, signing afresh, config errors that show no secret.

use super::*;

fn build(yaml: &str) -> Result<Auth, Vec<(String, String)>> {
    let config: AuthConfig = serde_yaml::from_str(yaml).expect("parses");
    let mut errors = BuildErrors::default();
    let auth = config.build("https://shop.example.com/rest", &mut errors);
    match auth {
        Some(a) if errors.0.is_empty() => Ok(a),
        _ => Err(errors.0.into_iter().map(|e| (e.field.join("."), e.message)).collect()),
    }
}

fn header_of(yaml: &str) -> (String, String) {
    let url = url::Url::parse("https://shop.example.com/rest/V1/orders?searchCriteria%5BpageSize%5D=1").expect("url");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::new();
    let (name, value) = build(yaml).expect("builds").header("GET", &url, &client).expect("no login needed");
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
    let errors = build("{ type: oauth1, consumer_key: ck, consumer_secret: '', token: ' ', token_secret: ts }").err();
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
    let config: AuthConfig = serde_yaml::from_str("{ type: basic, username: u, password: hunter2 }").expect("parses");
    assert_eq!(format!("{config:?}"), "AuthConfig::basic");
    let auth = build("{ type: bearer, token: hunter2 }").expect("builds");
    assert!(!format!("{auth:?}").contains("hunter2"));
}

#[test]
fn unknown_kinds_and_keys_are_refused() {
    assert!(serde_yaml::from_str::<AuthConfig>("{ type: kerberos }").is_err());
    assert!(serde_yaml::from_str::<AuthConfig>("{ type: bearer, token: t, tokn: t }").is_err());
}
