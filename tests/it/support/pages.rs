//! A small paged JSON API on 127.0.0.1 for the `http` source's tests, built on std only: the same
//! dataset of [`RECORDS`] records (`{"id": N, "sku": "SKU-N"}`) served under each paging style, plus
//! the traps — Magento answering the last page again past the end, a cursor or link that loops, a
//! page that is not JSON, one without the records, a body over the size cap. Every request's target
//! is kept ([`Pages::requests`]) so tests assert on what really arrived.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// The `X-Api-Key` paths under `/secure` need (they serve what `/page` does).
pub(crate) const API_KEY: &str = "k-123";

/// Records in the dataset.
pub(crate) const RECORDS: usize = 95;

/// The running server.
pub(crate) struct Pages {
    base: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Pages {
    /// Starts the server on a free port.
    pub(crate) fn start() -> Pages {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (log, host) = (Arc::clone(&requests), base.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, host) = (Arc::clone(&log), host.clone());
                std::thread::spawn(move || serve(stream, &host, &log));
            }
        });
        Pages { base, requests }
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base
    }

    /// The path and query of every request received, in order.
    pub(crate) fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// The records from `start`, at most `n`.
fn slice(start: usize, n: usize) -> Vec<Value> {
    (start..RECORDS.min(start.saturating_add(n))).map(|i| json!({"id": i, "sku": format!("SKU-{i}")})).collect()
}

/// The target and headers of the next request on a kept-alive connection (bodies are not read: these
/// servers answer `GET`s); `None` when the client closed it.
pub(crate) fn read_head(reader: &mut impl BufRead) -> Option<(String, Vec<(String, String)>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    Some((line.split_whitespace().nth(1).unwrap_or("/").to_string(), headers))
}

fn serve(stream: TcpStream, host: &str, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    while let Some((target, headers)) = read_head(&mut reader) {
        let mut api_key = false;
        let mut range = None;
        for (name, value) in &headers {
            api_key |= name.eq_ignore_ascii_case("x-api-key") && value == API_KEY;
            if name.eq_ignore_ascii_case("range") {
                range = value.strip_prefix("items=").and_then(|r| {
                    let (a, b) = r.split_once('-')?;
                    Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?))
                });
            }
        }
        if let Ok(mut log) = log.lock() {
            log.push(target.clone());
        }
        let (status, extra, body) = if target.starts_with("/secure") && !api_key {
            ("401 Unauthorized", String::new(), b"{\"message\":\"no key\"}".to_vec())
        } else {
            answer(&target, host, range)
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n",
            body.len()
        );
        if writer.write_all(head.as_bytes()).and_then(|_| writer.write_all(&body)).is_err() {
            return;
        }
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Status line, extra header lines and body for `target` (`range`: its `Range: items=a-b`).
fn answer(target: &str, host: &str, range: Option<(usize, usize)>) -> (&'static str, String, Vec<u8>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params: HashMap<String, String> =
        query.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (decode(k), decode(v))).collect();
    let num = |name: &str, default: usize| params.get(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let ok = |body: Value| ("200 OK", String::new(), body.to_string().into_bytes());
    match path {
        "/magento" => {
            let size = num("searchCriteria[pageSize]", 20);
            let last = RECORDS.div_ceil(size);
            // Past the end, Magento answers the last page again.
            let page = num("searchCriteria[currentPage]", 1).clamp(1, last);
            ok(json!({"items": slice((page - 1) * size, size), "total_count": RECORDS}))
        }
        "/page" | "/secure" => {
            ok(json!({"items": slice((num("page", 1) - 1) * num("page_size", 20), num("page_size", 20))}))
        }
        "/offset" => ok(json!({"data": slice(num("offset", 0), num("limit", 20))})),
        "/cursor" => {
            let start = params.get("cursor").and_then(|c| c.strip_prefix("c-")).and_then(|n| n.parse().ok());
            let start = start.unwrap_or(0);
            let next = if start + 20 < RECORDS { json!(format!("c-{}", start + 20)) } else { Value::Null };
            ok(json!({"items": slice(start, 20), "meta": {"next": next}}))
        }
        "/cursor-loop" => ok(json!({"items": slice(0, 20), "meta": {"next": "same"}})),
        "/odata" => {
            let skip = num("$skip", 0);
            // The first link absolute, the others relative.
            let next = match skip {
                0 => json!(format!("{host}/odata?$skip=20")),
                s if s + 20 < RECORDS => json!(format!("odata?$skip={}", s + 20)),
                _ => Value::Null,
            };
            ok(json!({"value": slice(skip, 20), "@odata.nextLink": next}))
        }
        "/link" | "/link-loop" => {
            let page = num("page", 1);
            let next = if path == "/link-loop" { 2 } else { page + 1 };
            let mut extra = format!("Link: <{host}/link?page=1>; rel=\"first\"");
            if path == "/link-loop" || page * 20 < RECORDS {
                extra = format!("Link: <{path}?page={next}>; rel=\"next\", <{host}{path}?page=1>; rel=\"first\"");
            }
            ("200 OK", format!("{extra}\r\n"), json!(slice((page - 1) * 20, 20)).to_string().into_bytes())
        }
        // `Range: items=a-b` answered with `Content-Range: items a-b/95` (or `/*`), 416 past the end.
        "/range" | "/range-star" => match range {
            None => ok(json!(slice(0, RECORDS))),
            Some((start, _)) if start >= RECORDS => {
                ("416 Range Not Satisfiable", format!("Content-Range: items */{RECORDS}\r\n"), b"[]".to_vec())
            }
            Some((start, end)) => {
                let items = slice(start, end + 1 - start);
                let total = if path == "/range" { RECORDS.to_string() } else { "*".to_string() };
                let extra = format!("Content-Range: items {start}-{}/{total}\r\n", start + items.len() - 1);
                ("206 Partial Content", extra, json!(items).to_string().into_bytes())
            }
        },
        "/empty" => ok(json!({"items": []})),
        "/not-json" => ("200 OK", String::new(), b"<html><body>Log in</body></html>".to_vec()),
        "/no-records" => ok(json!({"results": slice(0, 3)})),
        "/huge" => ok(json!({"items": ["x".repeat(17 << 20)]})),
        _ => ("404 Not Found", String::new(), b"{\"message\":\"no such route\"}".to_vec()),
    }
}
