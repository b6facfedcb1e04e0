//! The token cache: what a refusal means, given the requests in flight with the token.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::*;

/// A source holding `token`, as if a login had given it.
fn holding(token: &str) -> (TokenAuth, HeaderValue) {
    let kind = TokenKind::ClientCredentials { url: "http://127.0.0.1:1/token".parse().expect("url"), form: vec![] };
    let auth = TokenAuth::new(kind);
    let header = auth.to_header(token).expect("header");
    auth.lock().cached = Some(Cached { header: header.clone(), renew_at: None, served: false, in_flight: 0 });
    (auth, header.1)
}

/// A request sent with `sent` was refused, no other request in flight with the token.
fn refuse(auth: &TokenAuth, sent: &HeaderValue) -> Refusal {
    auth.in_use(sent.clone()).refused(Duration::ZERO)
}

/// A request sent with `sent` was accepted.
fn accept(auth: &TokenAuth, sent: &HeaderValue) {
    auth.in_use(sent.clone()).accepted();
}

/// The requests in flight with the token held.
fn in_flight(auth: &TokenAuth) -> usize {
    auth.lock().cached.as_ref().map_or(0, |held| held.in_flight)
}

#[test]
fn a_refusal_forgets_only_the_token_it_was_sent_with_and_says_whether_it_had_served() {
    // Never accepted: the credentials may be wrong (the caller allows one such renewal).
    let (auth, t1) = holding("t1");
    assert_eq!(refuse(&auth, &t1), Refusal::Unused);
    assert!(auth.header_held().is_none(), "forgotten: the next request logs in");
    // Another request refused with the same token meanwhile: it only sends again.
    assert_eq!(refuse(&auth, &t1), Refusal::Replaced);
    // Accepted once, refused later: it expired.
    let (auth, t1) = holding("t1");
    accept(&auth, &t1);
    assert_eq!(refuse(&auth, &t1), Refusal::Expired);
    // A refusal of an older token leaves the one held alone.
    let (auth, t2) = holding("t2");
    let (_, t1) = holding("t1");
    assert_eq!(refuse(&auth, &t1), Refusal::Replaced);
    assert_eq!(auth.header_held().map(|h| h.1), Some(t2));
}

#[test]
fn the_token_of_the_login_after_an_unused_refusal_refused_too_refuses_the_credentials_for_all() {
    let (auth, t1) = holding("t1");
    let hold = |token: &str| {
        let header = auth.to_header(token).expect("header");
        auth.lock().cached = Some(Cached { header: header.clone(), renew_at: None, served: false, in_flight: 0 });
        header.1
    };
    assert_eq!(refuse(&auth, &t1), Refusal::Unused);
    // Accepted: the refusal before it was a passing one.
    let t2 = hold("t2");
    accept(&auth, &t2);
    assert_eq!(refuse(&auth, &t2), Refusal::Expired);
    let t3 = hold("t3");
    assert_eq!(refuse(&auth, &t3), Refusal::Unused);
    let t4 = hold("t4");
    assert_eq!(refuse(&auth, &t4), Refusal::Final);
    // No further login, whichever request asks (this endpoint would not answer anyway).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let error = auth.header(&reqwest::blocking::Client::new()).expect_err("refused for good");
    assert!(error.message.contains("HTTP 401 (after logging in again)") && !error.retryable, "{error}");
    assert!(error.message.contains("refuses the connection's credentials"), "{error}");
}

/// Polls `refusal` once, as the task of an async caller would when woken.
fn poll(refusal: Pin<&mut impl Future<Output = Refusal>>) -> Poll<Refusal> {
    refusal.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn a_refusal_waits_for_the_requests_in_flight_with_the_token_and_one_accepted_means_it_expired() {
    // The API lets a token serve 3 requests. B, C and D used it up; A, sent after them, was refused,
    // and its answer is processed before theirs: the token served, it is not the credentials.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let _entered = runtime.enter();
    let (auth, t2) = holding("t2");
    let (a, b) = (auth.in_use(t2.clone()), auth.in_use(t2.clone()));
    let mut refusal = std::pin::pin!(a.refused_async(Duration::from_secs(3600)));
    assert!(poll(refusal.as_mut()).is_pending(), "waits for the answer of the other request");
    b.accepted();
    assert_eq!(poll(refusal.as_mut()), Poll::Ready(Refusal::Expired));
    assert!(auth.header_held().is_none(), "forgotten: the next request logs in");

    // The same with a blocking caller, B's answer processed on another thread after A's refusal.
    let (auth, t2) = holding("t2");
    let (a, b) = (auth.in_use(t2.clone()), auth.in_use(t2.clone()));
    std::thread::scope(|scope| {
        let refusal = scope.spawn(|| a.refused(Duration::from_secs(3600)));
        // A has given its use back: its refusal is being judged.
        let mut state = auth.lock();
        while state.cached.as_ref().is_some_and(|held| held.in_flight > 1) {
            state = auth.given_back.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        drop(state);
        b.accepted();
        assert_eq!(refusal.join().expect("the refusal"), Refusal::Expired);
    });
}

#[test]
fn a_token_refused_by_every_request_in_flight_is_refused_unused_once() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let _entered = runtime.enter();
    // Every request with it refused: the last answer judges, the others send again with the next token.
    let (auth, t1) = holding("t1");
    let (a, b) = (auth.in_use(t1.clone()), auth.in_use(t1.clone()));
    assert_eq!(in_flight(&auth), 2);
    let mut refusal = std::pin::pin!(a.refused_async(Duration::from_secs(3600)));
    assert!(poll(refusal.as_mut()).is_pending());
    assert_eq!(b.refused(Duration::from_secs(3600)), Refusal::Unused);
    assert_eq!(poll(refusal.as_mut()), Poll::Ready(Refusal::Replaced));
    // A request that got no answer proves nothing: dropped, it no longer holds the refusal back.
    let (auth, t1) = holding("t1");
    let (a, b) = (auth.in_use(t1.clone()), auth.in_use(t1.clone()));
    let mut refusal = std::pin::pin!(a.refused_async(Duration::from_secs(3600)));
    assert!(poll(refusal.as_mut()).is_pending());
    drop(b);
    assert_eq!(poll(refusal.as_mut()), Poll::Ready(Refusal::Unused));
    // The wait is bounded: past it, a token not known to have served is refused unused.
    let (auth, t1) = holding("t1");
    let (a, _b) = (auth.in_use(t1.clone()), auth.in_use(t1.clone()));
    assert_eq!(a.refused(Duration::ZERO), Refusal::Unused);
    // Every use is given back, whatever its answer.
    let (auth, t1) = holding("t1");
    accept(&auth, &t1);
    drop(auth.in_use(t1.clone()));
    assert_eq!((in_flight(&auth), refuse(&auth, &t1)), (0, Refusal::Expired));
}
