//! The ingress against a real SQLite store: what is stored, what is answered, and that no input makes
//! it panic.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{Method, StatusCode};
use serde_json::json;

use super::ingress::{AnswerKind, WebhookRequest};
use super::test_support::{body_of, headers, ingress, post, post_at, store};
use crate::state::{EventInbox, EventOutcome, OutcomeKind, Settlement};

const OPEN: &str = "auth: { type: none }";

#[tokio::test]
async fn an_event_is_stored_once_and_a_replay_is_a_duplicate() {
    let (_dir, store) = store();
    let hook = ingress(&format!("{OPEN}\nevent_id: $.id"), &store);
    let body = br#"{"id":"evt-1","qty":3}"#;
    let first = post(&hook, &headers(&[]), body).await;
    assert_eq!((first.status, first.kind), (StatusCode::OK, AnswerKind::Accepted));
    assert_eq!(body_of(&first), json!({ "status": "accepted", "event_id": "evt-1" }));
    let again = post(&hook, &headers(&[]), body).await;
    assert_eq!((again.status, again.kind), (StatusCode::OK, AnswerKind::Duplicate));
    assert_eq!(body_of(&again)["status"], "duplicate");
    let events = store.inbox_events("p", 0, None, 10).expect("events");
    assert_eq!(events.len(), 1, "stored once");
    assert_eq!(events[0].body, body);
    let counts = hook.counts();
    assert_eq!((counts.accepted, counts.duplicates), (1, 1));
}

#[tokio::test]
async fn without_an_id_the_same_body_is_the_same_event() {
    let (_dir, store) = store();
    let hook = ingress(OPEN, &store);
    post(&hook, &headers(&[]), b"{\"a\":1}").await;
    assert_eq!(post(&hook, &headers(&[]), b"{\"a\":1}").await.kind, AnswerKind::Duplicate);
    assert_eq!(post(&hook, &headers(&[]), b"{\"a\":2}").await.kind, AnswerKind::Accepted);
    let ids: Vec<String> =
        store.inbox_events("p", 0, None, 10).expect("events").into_iter().map(|e| e.event_id).collect();
    assert!(ids.iter().all(|id| id.starts_with("sha256:") && id.len() == 7 + 64), "{ids:?}");
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413_and_not_stored() {
    let (_dir, store) = store();
    let hook = ingress(&format!("{OPEN}\nmax_body_bytes: 16"), &store);
    let answer = post(&hook, &headers(&[]), br#"{"padding":"0123456789"}"#).await;
    assert_eq!((answer.status, answer.kind), (StatusCode::PAYLOAD_TOO_LARGE, AnswerKind::TooLarge));
    assert_eq!(hook.body_too_large().status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(hook.counts().too_large, 2);
    assert_eq!(hook.max_body(), 16);
    assert!(store.inbox_events("p", 0, None, 10).expect("events").is_empty());
}

#[tokio::test]
async fn a_malformed_body_is_rejected_with_the_reason() {
    let (_dir, store) = store();
    let hook = ingress(&format!("{OPEN}\nevent_id: $.id"), &store);
    let not_json = post(&hook, &headers(&[]), b"{\"id\": ").await;
    assert_eq!((not_json.status, not_json.kind), (StatusCode::BAD_REQUEST, AnswerKind::Malformed));
    assert!(body_of(&not_json)["error"].as_str().expect("reason").starts_with("the body is not JSON"));
    let no_id = post(&hook, &headers(&[]), b"{\"qty\":1}").await;
    assert_eq!(body_of(&no_id)["error"], "the event has no id at `$.id`");
    let bad_id = post(&hook, &headers(&[]), b"{\"id\":{\"nested\":true}}").await;
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST);
    assert!(store.inbox_events("p", 0, None, 10).expect("events").is_empty());
}

#[tokio::test]
async fn a_malformed_body_can_be_kept_for_the_dead_letter_queue() {
    let (_dir, store) = store();
    let hook = ingress(&format!("{OPEN}\non_malformed: dead_letter"), &store);
    let answer = post(&hook, &headers(&[]), b"not json at all").await;
    assert_eq!((answer.status, answer.kind), (StatusCode::OK, AnswerKind::AcceptedMalformed));
    assert!(body_of(&answer)["dead_letter"].as_str().expect("reason").starts_with("the body is not JSON"));
    let events = store.inbox_events("p", 0, None, 10).expect("events");
    assert_eq!(events.len(), 1);
    assert!(events[0].malformed.as_deref().expect("kept with its reason").starts_with("the body is not JSON"));
}

#[tokio::test]
async fn events_outside_the_replay_window_are_refused() {
    let (_dir, store) = store();
    let hook = ingress(&format!("{OPEN}\nevent_time: $.time\nreplay_window: 5m"), &store);
    let now = SystemTime::now();
    let at = |ago: Duration| {
        let t = time::OffsetDateTime::from(now - ago);
        t.format(&time::format_description::well_known::Rfc3339).expect("format")
    };
    let recent = json!({ "time": at(Duration::from_secs(60)) }).to_string();
    assert_eq!(post_at(&hook, &headers(&[]), recent.as_bytes(), now).await.kind, AnswerKind::Accepted);
    let old = json!({ "time": at(Duration::from_secs(600)) }).to_string();
    let refused = post_at(&hook, &headers(&[]), old.as_bytes(), now).await;
    assert_eq!((refused.status, refused.kind), (StatusCode::UNAUTHORIZED, AnswerKind::Unauthorized));
    let unix = json!({ "time": (now - Duration::from_secs(3600)).duration_since(SystemTime::UNIX_EPOCH).expect("epoch").as_secs() });
    assert_eq!(post_at(&hook, &headers(&[]), unix.to_string().as_bytes(), now).await.kind, AnswerKind::Unauthorized);
    let no_time = post_at(&hook, &headers(&[]), b"{}", now).await;
    assert_eq!(body_of(&no_time)["error"], "the event has no time at `$.time`");
    assert_eq!(store.inbox_events("p", 0, None, 10).expect("events").len(), 1);
}

#[tokio::test]
async fn a_stale_signed_timestamp_is_refused() {
    use hmac::Mac as _;
    let (_dir, store) = store();
    let secret = "s3cret-for-hmac-tests";
    let hook = ingress(
        &format!("auth: {{ type: hmac, secret: {secret}, timestamp_header: x-ts }}\nreplay_window: 5m"),
        &store,
    );
    let sign = |ts: &str| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("{ts}.{{}}").as_bytes());
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let now = SystemTime::now();
    let secs = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).expect("epoch").as_secs().to_string();
    let fresh = secs(now);
    let answer = post_at(&hook, &headers(&[("x-ts", &fresh), ("x-signature", &sign(&fresh))]), b"{}", now).await;
    assert_eq!(answer.kind, AnswerKind::Accepted);
    let old = secs(now - Duration::from_secs(3600));
    let answer = post_at(&hook, &headers(&[("x-ts", &old), ("x-signature", &sign(&old))]), b"{}", now).await;
    assert_eq!(
        (answer.status, body_of(&answer)["error"].clone()),
        (StatusCode::UNAUTHORIZED, json!("the signed timestamp is outside the replay window"))
    );
    assert_eq!(hook.counts().unauthorized, 1);
}

#[tokio::test]
async fn other_methods_are_answered_405_and_the_challenge_200() {
    let (_dir, store) = store();
    let hook = ingress(OPEN, &store);
    let none = headers(&[]);
    let request = |method: &'static Method, query| WebhookRequest {
        method,
        query,
        headers: &none,
        body: b"",
        received_at: SystemTime::now(),
    };
    let put = hook.accept(request(&Method::PUT, None)).await;
    assert_eq!((put.status, put.headers["allow"].to_str().ok()), (StatusCode::METHOD_NOT_ALLOWED, Some("POST")));
    let get = hook.accept(request(&Method::GET, Some("challenge=abc"))).await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED, "only adobe_io answers challenges");
    let adobe = ingress("auth: { type: adobe_io }", &store);
    let challenge = adobe.accept(request(&Method::GET, Some("challenge=8ec8d794-e0ab"))).await;
    assert_eq!((challenge.status, challenge.kind), (StatusCode::OK, AnswerKind::Challenge));
    assert_eq!(body_of(&challenge), json!({ "challenge": "8ec8d794-e0ab" }));
    assert_eq!(challenge.headers["content-type"], "application/json");
    let validation = post(&adobe, &headers(&[]), br#"{"validationUrl":"https://csm.adobe.io/validate?id=1"}"#).await;
    assert_eq!(validation.kind, AnswerKind::Challenge);
    assert!(store.inbox_events("p", 0, None, 10).expect("events").is_empty());
    // Unsigned events are refused by adobe_io.
    assert_eq!(post(&adobe, &headers(&[]), b"{\"id\":\"x\"}").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sync_replies_wait_for_the_outcome() {
    let (_dir, store) = store();
    let hook = Arc::new(ingress(&format!("{OPEN}\nevent_id: $.id\nreply: sync\nsync_timeout: 20s"), &store));
    let settle = |id: &'static str, kind| {
        let store = Arc::clone(&store);
        move || {
            // Settled once the ingress has stored it, as the source would.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while store.inbox_status("p", id).expect("status") == crate::state::EventStatus::Unknown {
                assert!(std::time::Instant::now() < deadline, "the ingress never stored `{id}`");
                std::thread::yield_now();
            }
            store.inbox_settle("p", &[Settlement { event_id: id, kind, reason: None }]).expect("settle");
            super::signal::notify("p");
        }
    };
    let settler = std::thread::spawn(settle("ok", OutcomeKind::Delivered));
    let answer = post(&hook, &headers(&[]), br#"{"id":"ok"}"#).await;
    settler.join().expect("settled");
    assert_eq!(body_of(&answer), json!({ "op": "success" }));
    let settler = std::thread::spawn(settle("bad", OutcomeKind::DeadLettered));
    let answer = post(&hook, &headers(&[]), br#"{"id":"bad"}"#).await;
    settler.join().expect("settled");
    assert_eq!(body_of(&answer), json!({ "op": "exception", "message": "the event could not be processed" }));
    // A duplicate of a settled event is answered with its outcome at once.
    assert_eq!(body_of(&post(&hook, &headers(&[]), br#"{"id":"ok"}"#).await), json!({ "op": "success" }));
    let reason = EventOutcome { kind: OutcomeKind::DeadLettered, reason: Some("postcode not allowed".into()) };
    assert_eq!(hook.sync_reply(Some(&reason)), json!({ "op": "exception", "message": "postcode not allowed" }));
    assert_eq!(
        hook.sync_reply(None),
        json!({ "op": "exception", "message": "the event was not processed within 20s" })
    );
}

#[tokio::test]
async fn a_sync_reply_not_settled_in_time_says_so() {
    let (_dir, store) = store();
    let hook = ingress(&format!("{OPEN}\nreply: sync\nsync_timeout: 10ms\nsync_on_timeout: success"), &store);
    assert_eq!(body_of(&post(&hook, &headers(&[]), b"{}").await), json!({ "op": "success" }));
    let strict = ingress(&format!("{OPEN}\nreply: sync\nsync_timeout: 10ms\non_malformed: dead_letter"), &store);
    let answer = post(&strict, &headers(&[]), b"{\"a\":2}").await;
    assert_eq!(body_of(&answer)["op"], "exception");
    let malformed = post(&strict, &headers(&[]), b"][").await;
    assert!(body_of(&malformed)["message"].as_str().expect("message").starts_with("the body is not JSON"));
    assert!(super::test_support::build_errors(&format!("{OPEN}\nsync_timeout: 1s")).contains("reply: sync"));
}

#[tokio::test]
async fn a_full_state_store_answers_503_to_try_again() {
    let (_dir, store) = store();
    let hook = ingress(OPEN, &store);
    post(&hook, &headers(&[]), b"{\"warm\":1}").await;
    store.set_size_limit(Some(1)).expect("limit");
    let big = json!({ "padding": "x".repeat(64 * 1024) }).to_string();
    let answer = post(&hook, &headers(&[]), big.as_bytes()).await;
    assert_eq!((answer.status, answer.kind), (StatusCode::SERVICE_UNAVAILABLE, AnswerKind::Unavailable));
    assert!(answer.retryable());
    assert_eq!(answer.headers["retry-after"], "5");
    store.set_size_limit(None).expect("limit lifted");
    assert_eq!(post(&hook, &headers(&[]), big.as_bytes()).await.kind, AnswerKind::Accepted);
}

#[tokio::test]
async fn no_input_makes_the_ingress_panic() {
    let (_dir, store) = store();
    let secret = "s3cret-for-hmac-tests";
    let hooks = [
        ingress(
            &format!("auth: {{ type: hmac, secret: {secret}, timestamp_header: x-ts }}\nevent_time: x-time"),
            &store,
        ),
        ingress("auth: { type: adobe_io, client_id: me }", &store),
        ingress(&format!("{OPEN}\nevent_id: x-id\nevent_time: $.t\non_malformed: dead_letter"), &store),
    ];
    let mut rng = fastrand::Rng::with_seed(7);
    let samples: Vec<Vec<u8>> = (0..200)
        .map(|i| match i % 4 {
            0 => (0..rng.usize(0..64)).map(|_| rng.u8(..)).collect(),
            1 => format!("{{\"t\":{},\"id\":{}}}", rng.i64(..), rng.f64()).into_bytes(),
            2 => b"{\"t\":\"2026-13-45T99:99:99Z\",\"recipient_client_id\":7}".to_vec(),
            _ => "\u{feff}[1,2,{\"deep\":[[[[]]]]}]".as_bytes().to_vec(),
        })
        .collect();
    let odd_headers = headers(&[
        ("x-ts", "-99999999999999999999"),
        ("x-signature", "zz"),
        ("x-time", "NaN"),
        ("x-id", "a\tb"),
        ("x-adobe-digital-signature-1", "===="),
        ("x-adobe-public-key1-path", "/../../etc/passwd.pem"),
    ]);
    for hook in &hooks {
        for body in &samples {
            let answer = post(hook, &odd_headers, body).await;
            assert!(answer.status.is_client_error() || answer.status.is_success(), "{:?}", answer.status);
        }
    }
}
