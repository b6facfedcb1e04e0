//! The retry policy: status rules (codes over classes, defaults), full-jitter backoff within its caps,
//! `Retry-After` in both forms, and the bounds on tries and on time.

use super::*;

fn policy(retry: &str, on_status: &str) -> Result<RetryPolicy, RetryConfigError> {
    let retry: RetryConfig = serde_yaml::from_str(retry).expect("retry parses");
    let on_status: BTreeMap<String, StatusAction> = serde_yaml::from_str(on_status).expect("on_status parses");
    RetryPolicy::build(&retry, &on_status)
}

#[test]
fn codes_win_over_classes_and_the_defaults_fill_the_rest() {
    let p = policy("{}", r#"{ "409": ignore, "4xx": fail, "503": dead_letter }"#).expect("valid");
    let actions: Vec<(u16, StatusAction)> =
        [200, 204, 301, 400, 404, 408, 409, 429, 500, 503, 599, 100].map(|s| (s, p.action(s))).to_vec();
    assert_eq!(
        actions,
        vec![
            (200, StatusAction::Ok),
            (204, StatusAction::Ok),
            (301, StatusAction::DeadLetter),
            (400, StatusAction::Fail),
            (404, StatusAction::Fail),
            (408, StatusAction::Retry),
            (409, StatusAction::Ignore),
            (429, StatusAction::RateLimited),
            (500, StatusAction::Retry),
            (503, StatusAction::DeadLetter),
            (599, StatusAction::Retry),
            (100, StatusAction::Fail),
        ]
    );
    assert_eq!(policy("{}", "{}").expect("valid").action(404), StatusAction::DeadLetter, "the default for 4xx");
}

#[test]
fn a_status_with_a_text_matches_only_answers_whose_body_holds_it() {
    let on_status = r#"{ "400 Already Attached": ignore, "4xx has this option": ok, "400": fail }"#;
    let p = policy("{}", on_status).expect("valid");
    let magento = |message: &str| serde_json::json!({ "message": message, "parameters": [] });
    let attached = magento("The product is already attached.");
    assert_eq!(p.action_for(400, Some(&attached)), StatusAction::Ignore, "any case, inside the message");
    assert_eq!(p.action_for(400, Some(&magento("Option label is not specified."))), StatusAction::Fail);
    assert_eq!(p.action_for(400, None), StatusAction::Fail, "no body, no text");
    let option = magento("Product already has this option");
    assert_eq!(p.action_for(400, Some(&option)), StatusAction::Ok, "a rule with a text wins over one without");
    assert_eq!(p.action_for(422, Some(&option)), StatusAction::Ok);
    assert_eq!(p.action_for(422, Some(&attached)), StatusAction::DeadLetter, "the default for 4xx");
    let text = serde_json::Value::String("<html>The product is already attached.</html>".into());
    assert_eq!(p.action_for(400, Some(&text)), StatusAction::Ignore, "a body that is not JSON is its text");
    let nested = serde_json::json!({ "errors": [{ "message": "the product is ALREADY attached" }] });
    assert_eq!(p.action_for(400, Some(&nested)), StatusAction::Ignore, "strings at any depth");
    assert_eq!(p.verdict(400, Some(&attached), 1, StdDuration::ZERO, None, 1.0), Verdict::Settle(StatusAction::Ignore));
}

#[test]
fn bad_status_keys_and_zero_attempts_are_refused() {
    for key in ["600", "6xx", "40", "4x", "abc", "0xx", "099", "4000 x", "x 400"] {
        let error = policy("{}", &format!("{{ \"{key}\": retry }}")).expect_err(key);
        assert_eq!(error, RetryConfigError::BadStatus(key.into()));
    }
    assert_eq!(policy("{ max_attempts: 0 }", "{}").err(), Some(RetryConfigError::NoAttempt));
}

#[test]
fn backoff_doubles_with_full_jitter_and_stops_at_max() {
    let p = policy("{ initial: 100ms, max: 1s }", "{}").expect("valid");
    let ms = |d: StdDuration| d.as_millis();
    assert_eq!([1, 2, 3, 4, 5, 40].map(|a| ms(p.backoff(a, 1.0))), [100, 200, 400, 800, 1000, 1000]);
    assert_eq!(ms(p.backoff(3, 0.5)), 200, "a share of the interval");
    assert_eq!(ms(p.backoff(3, 0.0)), 0, "full jitter may not wait at all");
    assert_eq!(ms(p.backoff(u32::MAX, 1.0)), 1000, "no overflow");
}

#[test]
fn verdicts_respect_retry_after_and_every_bound() {
    let p = policy("{ max_attempts: 3, initial: 100ms, max: 10s, max_elapsed: 20s }", "{}").expect("valid");
    let s = StdDuration::from_secs;
    assert_eq!(p.verdict(201, None, 1, s(0), None, 1.0), Verdict::Settle(StatusAction::Ok));
    assert_eq!(p.verdict(422, None, 1, s(0), None, 1.0), Verdict::Settle(StatusAction::DeadLetter));
    assert_eq!(
        p.verdict(503, None, 1, s(0), None, 1.0),
        Verdict::Again { wait: StdDuration::from_millis(100), pause_limit: false }
    );
    // A 429 pauses the limit for what the server asks, when that is longer than the backoff…
    assert_eq!(p.verdict(429, None, 1, s(0), Some(s(4)), 1.0), Verdict::Again { wait: s(4), pause_limit: true });
    // …but never for longer than `max`.
    assert_eq!(p.verdict(429, None, 1, s(0), Some(s(3600)), 1.0), Verdict::Again { wait: s(10), pause_limit: true });
    // Out of tries, or the wait would pass the time budget.
    assert_eq!(p.verdict(503, None, 3, s(0), None, 1.0), Verdict::GiveUp(StatusAction::Retry));
    assert_eq!(p.verdict(429, None, 2, s(15), Some(s(6)), 1.0), Verdict::GiveUp(StatusAction::RateLimited));
}

#[test]
fn retry_after_in_seconds_and_as_an_http_date() {
    let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").expect("a date");
    let s = StdDuration::from_secs;
    assert_eq!(parse_retry_after("120", now), Some(s(120)));
    assert_eq!(parse_retry_after(" 0 ", now), Some(s(0)));
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now), Some(s(120)));
    assert_eq!(parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", now), Some(s(60)), "RFC 850 form");
    assert_eq!(parse_retry_after("Wed Oct 21 07:28:30 2015", now), Some(s(30)), "asctime form");
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(s(0)), "in the past: no wait");
    for bad in ["", "-5", "1.5", "soon", "99999999999999999999999"] {
        assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
    }
}
