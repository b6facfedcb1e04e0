//! TLS failures get a clear error and lose nothing: the `http` source (the blocking client) and the
//! `http` sink (the async one) against a TLS server on 127.0.0.1 whose certificate comes from a CA of its own
//! (made here with `rcgen`). Without that CA the poll or the write fails naming the URL and the
//! certificate problem; with the connection's `ca_bundle` every record goes through; an `https://` URL
//! to a server that speaks plain HTTP fails naming the handshake.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use crate::support::cli::weir;

/// A TLS server answering every request with two records; returns its port and the CA's PEM.
fn tls_server() -> (u16, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca_key = rcgen::KeyPair::generate().expect("a key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("the CA");
    let ca_issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().expect("a key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
    let cert = params.signed_by(&key, &ca_issuer).expect("the server's certificate");
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("a key");
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key_der)
        .expect("a server config");
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let Ok(connection) = rustls::ServerConnection::new(config) else { return };
                let mut tls = rustls::StreamOwned::new(connection, stream);
                let mut reader = BufReader::new(&mut tls);
                let (mut line, mut length) = (String::new(), 0);
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                // The body is read too: closing with unread bytes would reset the connection.
                let mut body = vec![0; length];
                let _ = std::io::Read::read_exact(&mut reader, &mut body);
                let body = r#"{"items": [{"id": 1}, {"id": 2}]}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes());
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    (port, ca.pem())
}

fn run(dir: &Path, url: &str, ca_bundle: Option<&str>) -> (Option<i32>, String, String) {
    let bundle = ca_bundle.map(|b| format!("    ca_bundle: {b}\n")).unwrap_or_default();
    let connections = format!("connections:\n  api:\n    type: http\n    base_url: \"{url}\"\n{bundle}");
    std::fs::write(dir.join("connections.yaml"), connections).expect("connections");
    let pipeline = "name: poll\nsource: { id: api, type: http, connection: api, path: /items, records: \"$.items[*]\" }\n\
                    sinks:\n  - { id: out, type: file, path: out.ndjson }\n";
    std::fs::write(dir.join("poll.yaml"), pipeline).expect("pipeline");
    let _ = std::fs::remove_file(dir.join("out.ndjson"));
    let output = weir(&["run", "poll.yaml"], dir);
    let out = std::fs::read_to_string(dir.join("out.ndjson")).unwrap_or_default();
    (output.status.code(), out, String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn an_unknown_certificate_authority_fails_clearly_and_a_ca_bundle_fixes_it() {
    let (port, ca) = tls_server();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("https://127.0.0.1:{port}");
    let (code, out, stderr) = run(dir.path(), &url, None);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&format!("GET {url}/items")), "names the URL: {stderr}");
    assert!(stderr.contains("certificate is not accepted (UnknownIssuer)"), "says why: {stderr}");
    assert!(stderr.contains("`ca_bundle`"), "and what to do: {stderr}");
    assert!(!stderr.contains("attempts"), "a certificate problem is not retried: {stderr}");
    assert!(out.is_empty());

    std::fs::write(dir.path().join("ca.pem"), ca).expect("ca");
    let (code, out, stderr) = run(dir.path(), &url, Some("ca.pem"));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn https_to_a_plain_http_server_fails_naming_the_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, stderr) = run(dir.path(), &format!("https://127.0.0.1:{port}"), None);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}/items")), "{stderr}");
    assert!(
        stderr.to_lowercase().contains("tls")
            || stderr.contains("handshake")
            || stderr.contains("InvalidContentType")
            || stderr.contains("corrupt"),
        "{stderr}"
    );
}

#[test]
fn the_sink_fails_clearly_on_an_unknown_certificate_authority_and_a_ca_bundle_fixes_it() {
    let (port, ca) = tls_server();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("https://127.0.0.1:{port}");
    std::fs::write(dir.path().join("in.ndjson"), "{\"id\": 1}\n{\"id\": 2}\n{\"id\": 3}\n").expect("input");
    std::fs::write(dir.path().join("ca.pem"), ca).expect("ca");
    // One request at a time and several in flight.
    for (in_flight, bundle) in [(1, None), (4, None), (1, Some("ca.pem")), (4, Some("ca.pem"))] {
        let bundle_line = bundle.map(|b| format!("    ca_bundle: {b}\n")).unwrap_or_default();
        let connections = format!("connections:\n  api:\n    type: http\n    base_url: \"{url}\"\n{bundle_line}");
        std::fs::write(dir.path().join("connections.yaml"), connections).expect("connections");
        let pipeline = format!(
            "name: push\nsource: {{ id: in, type: file, path: in.ndjson }}\n\
             sinks:\n  - {{ id: api, type: http, connection: api, path: /items, max_in_flight: {in_flight} }}\n"
        );
        std::fs::write(dir.path().join("push.yaml"), pipeline).expect("pipeline");
        let output = weir(&["run", "--from-start", "push.yaml"], dir.path());
        let stderr = String::from_utf8_lossy(&output.stderr);
        let case = format!("{in_flight} in flight, ca_bundle {bundle:?}");
        if bundle.is_some() {
            assert_eq!(output.status.code(), Some(0), "{case}: {stderr}");
            continue;
        }
        assert_eq!(output.status.code(), Some(1), "{case}: {stderr}");
        assert!(stderr.contains(&format!("POST {url}/items")), "{case}: names the URL: {stderr}");
        assert!(stderr.contains("certificate is not accepted (UnknownIssuer)"), "{case}: says why: {stderr}");
        assert!(stderr.contains("`ca_bundle`") && !stderr.contains("attempts"), "{case}: not retried: {stderr}");
    }
}
