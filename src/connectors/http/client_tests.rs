//! The client against a scripted API on 127.0.0.1 (std only): how often a request the API keeps
//! refusing with 401 is sent, and which answers count as the token accepted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::credentials::{MAX_RESENDS, proves_accepted};
use super::*;
use crate::connectors::http::token::{SendAs, TokenAuth, TokenKind};
use crate::expr::jsonpath::JsonPath;

/// What the API saw: logins, and requests to anything else.
#[derive(Default)]
struct Seen {
    logins: AtomicU64,
    requests: AtomicU64,
}

/// Reads one request (line, headers, body); `None` at the end of the connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end().to_ascii_lowercase();
        if header.is_empty() {
            break;
        }
        if let Some(value) = header.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    reader.read_exact(&mut vec![0; length]).ok()?;
    Some(line.split_whitespace().nth(1)?.to_string())
}

/// An API on `listener`: `POST /login` gives token number N; any other request is answered the status
/// `status(n)` gives for the n-th such request (from 1).
fn serve(listener: TcpListener, seen: Arc<Seen>, status: impl Fn(u64) -> u16 + Send + Sync + 'static) {
    let status = Arc::new(status);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let (seen, status) = (Arc::clone(&seen), Arc::clone(&status));
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                while let Some(path) = read_request(&mut reader) {
                    let (code, body) = if path == "/login" {
                        let n = seen.logins.fetch_add(1, Ordering::SeqCst) + 1;
                        (200, format!("{{\"SessionId\": \"session-{n}-tok3n\"}}"))
                    } else {
                        (status(seen.requests.fetch_add(1, Ordering::SeqCst) + 1), "{}".to_string())
                    };
                    let answer = format!("HTTP/1.1 {code} X\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                    if stream.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
}

/// A listener, the session token source logging in there, and a client sending with it.
fn session() -> (TcpListener, Arc<TokenAuth>, Client, Prepared) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let kind = TokenKind::Session {
        url: format!("{base}/login").parse().expect("url"),
        body: serde_json::json!({}),
        token: JsonPath::compile("$.SessionId").expect("path"),
        send_as: SendAs::Bearer,
        lifetime: None,
    };
    let token = Arc::new(TokenAuth::new(kind));
    let auth = Auth::Token(Arc::clone(&token));
    let client = Client::new(Duration::from_secs(10), &ClientOptions::default(), Some(auth), None).expect("client");
    let url: reqwest::Url = format!("{base}/orders").parse().expect("url");
    let request = Prepared {
        method: reqwest::Method::GET,
        url: url.clone(),
        headers: HeaderMap::new(),
        body: None,
        target: format!("GET {url}"),
    };
    (listener, token, client, request)
}

/// Sends `request` with the blocking client, or from async code.
fn send(client: &Client, request: &Prepared, asynchronous: bool) -> Result<Answer, ClientError> {
    if asynchronous {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(client.send_async(request))
    } else {
        client.send(request)
    }
}

#[test]
fn a_request_the_api_keeps_refusing_is_sent_a_bounded_number_of_times() {
    for asynchronous in [false, true] {
        // Each 401 comes after another request (played by the API) was accepted with the token held:
        // every refusal looks like an expiry. After 50 requests the API gives in, so that the test
        // ends even where nothing bounds the resends.
        let (listener, token, client, request) = session();
        let seen = Arc::new(Seen::default());
        let other = Arc::clone(&token);
        serve(listener, Arc::clone(&seen), move |n| {
            if let Some((_, held)) = other.header_held() {
                other.in_use(held).accepted();
            }
            if n > 50 { 200 } else { 401 }
        });
        let error = send(&client, &request, asynchronous).expect_err("the 401 stands");
        assert!(error.message.contains("HTTP 401"), "{error}");
        let requests = seen.requests.load(Ordering::SeqCst);
        assert_eq!(requests, 1 + u64::from(MAX_RESENDS), "async: {asynchronous}");
    }
}

#[test]
fn only_an_answer_that_proves_it_marks_a_token_accepted() {
    assert!(proves_accepted(200) && proves_accepted(204) && proves_accepted(404) && proves_accepted(422));
    assert!(!proves_accepted(401) && !proves_accepted(403) && !proves_accepted(407));
    assert!(!proves_accepted(500) && !proves_accepted(503) && !proves_accepted(302));
    for asynchronous in [false, true] {
        // A 500 proves nothing about the token: when the API then refuses it, it was never accepted,
        // and the credentials get one renewal, not one per expiry.
        let (listener, _, client, request) = session();
        let seen = Arc::new(Seen::default());
        serve(listener, Arc::clone(&seen), |n| if n == 1 { 500 } else { 401 });
        let answer = send(&client, &request, asynchronous).expect("an answer");
        assert_eq!(answer.status(), Some(500));
        let error = send(&client, &request, asynchronous).expect_err("refused");
        assert!(error.message.contains("HTTP 401 (after logging in again)"), "{error}");
        assert_eq!(seen.logins.load(Ordering::SeqCst), 2, "async: {asynchronous}");
    }
}

#[test]
fn both_clients_bound_each_read_of_a_body_not_the_whole_body() {
    // The body arrives a byte at a time, each within the time limit, all of it after the limit.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url: reqwest::Url = format!("http://{}/slow", listener.local_addr().expect("addr")).parse().expect("url");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                while read_request(&mut reader).is_some() {
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n");
                    for byte in b"\"sl0wly\"" {
                        std::thread::sleep(Duration::from_millis(150));
                        let _ = stream.write_all(&[*byte]);
                    }
                }
            });
        }
    });
    let client = Client::new(Duration::from_millis(600), &ClientOptions::default(), None, None).expect("client");
    let request = Prepared {
        method: reqwest::Method::GET,
        url: url.clone(),
        headers: HeaderMap::new(),
        body: None,
        target: format!("GET {url}"),
    };
    for asynchronous in [false, true] {
        let answer = send(&client, &request, asynchronous).expect("an answer");
        assert_eq!(answer.describe(), "HTTP 200: sl0wly", "async: {asynchronous}");
    }
}
