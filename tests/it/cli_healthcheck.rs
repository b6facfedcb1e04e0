//! `weir healthcheck`: what a container's `HEALTHCHECK` runs against `weir serve` — exit 0 on a 2xx
//! answer, 1 on any other answer or none, with the reason `/readyz` gave.

use serde_json::json;

use crate::support::cli::{command, outcome};
use crate::support::stub::Stub;

/// A `weir serve` stand-in: ready or not, as `/readyz` answers; every other path is unknown.
fn server(ready: bool) -> Stub {
    Stub::start(move |seen, _| match (seen.target.as_str(), ready) {
        ("/readyz", true) | ("/healthz", _) => (200, json!({ "status": "ready" })),
        ("/readyz", false) => (503, json!({ "status": "not ready", "reason": "state store unreachable" })),
        _ => (404, json!({})),
    })
}

/// `weir healthcheck ARGS` with `WEIR_LISTEN` set to `listen`.
fn healthcheck(args: &[&str], listen: &str) -> (Option<i32>, String, String) {
    let dir = std::env::temp_dir();
    let mut all = vec!["healthcheck"];
    all.extend_from_slice(args);
    outcome(command(&all, &dir).env("WEIR_LISTEN", listen).output().expect("the weir binary runs"))
}

fn listen_of(stub: &Stub) -> String {
    stub.base_url().trim_start_matches("http://").to_string()
}

#[test]
fn a_ready_server_is_healthy_and_asked_for_readyz_on_its_listen_address() {
    let stub = server(true);
    let (code, stdout, stderr) = healthcheck(&[], &listen_of(&stub));
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("200"), "{stdout}");
    let targets: Vec<String> =
        stub.requests().all().into_iter().map(|s| format!("{} {}", s.method, s.target)).collect();
    assert_eq!(targets, ["GET /readyz"]);
}

#[test]
fn an_unspecified_listen_address_is_asked_on_loopback() {
    let stub = server(true);
    let port = listen_of(&stub).rsplit(':').next().expect("a port").to_string();
    let (code, _, stderr) = healthcheck(&[], &format!("0.0.0.0:{port}"));
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn a_server_not_ready_is_unhealthy_with_its_reason() {
    let stub = server(false);
    let (code, stdout, stderr) = healthcheck(&[], &listen_of(&stub));
    assert_eq!(code, Some(1), "stdout: {stdout}");
    assert!(stderr.contains("503") && stderr.contains("state store unreachable"), "{stderr}");
    // `--path /healthz` asks only whether the process answers.
    let (code, _, stderr) = healthcheck(&["--path", "/healthz"], &listen_of(&stub));
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn a_url_given_is_asked_as_it_is() {
    let stub = server(true);
    let (code, _, stderr) = healthcheck(&[&format!("{}/elsewhere", stub.base_url())], "127.0.0.1:1");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("/elsewhere") && stderr.contains("404"), "{stderr}");
}

#[test]
fn nothing_listening_is_unhealthy() {
    // A port just freed: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let (code, _, stderr) = healthcheck(&["--timeout", "3s"], &format!("127.0.0.1:{port}"));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no answer from"), "{stderr}");
}
