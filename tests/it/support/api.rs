//! A small JSON and GraphQL API on 127.0.0.1 for the `http` step's and the `graphql` source's tests,
//! built on std only. Every request is logged ([`Api::requests`]: method, path and query, body) so
//! tests count what really arrived.
//!
//! - `GET /customers?email=E`: `{"items": [{"id": 7, "email": E}]}` for [`KNOWN_EMAIL`], else
//!   `{"items": []}`.
//! - `GET /products/SKU` (percent-decoded): `{"sku", "price"}` for the SKUs of [`PRODUCTS`], else 404.
//! - `GET /flaky/NAME`: `503` to the first two requests for NAME, then `{"ok": NAME}`.
//! - `GET /busy`: `429` with `Retry-After: 1` to the first request, then `{"ok": true}`.
//! - `GET /html`: `200` with an HTML login page. `GET /refuse`: `422` echoing the `Authorization`
//!   header. `GET /unauthorized`: `401`.
//! - `POST /graphql` with `{"query", "variables"}`: a query mentioning `products` pages through
//!   [`PRODUCTS`] three at a time (`products(after: $after)`, cursors `c3`, `c6`; `pageInfo
//!   { hasNextPage endCursor }`); `loop` always answers the same cursor; `broken` answers HTTP 200 with
//!   `errors` and no data; `echo` answers an error quoting the `Authorization` header; `product(`
//!   answers the product `variables.sku` with its `children`, `null` when unknown, and partial data
//!   with an error for `PARTIAL`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// The e-mail `/customers` knows.
pub(crate) const KNOWN_EMAIL: &str = "ann@example.com";

/// The SKUs `/products/…` and GraphQL know, in order.
pub(crate) const PRODUCTS: [&str; 7] = ["MH01", "MH02", "WT/09 Blue", "GIFT+CARD 50", "MJ01", "MJ02", "MS01"];

/// One request as it arrived.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// Path and query, as sent.
    pub(crate) target: String,
    pub(crate) body: Value,
    /// When it arrived.
    pub(crate) at: std::time::Instant,
}

/// The running server.
pub(crate) struct Api {
    base: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Api {
    /// Starts the server on a free port.
    pub(crate) fn start() -> Api {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                std::thread::spawn(move || serve(stream, &log));
            }
        });
        Api { base, requests }
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base
    }

    /// Every request received, in order.
    pub(crate) fn requests(&self) -> Vec<Request> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// How many requests had a target starting with `prefix`.
    pub(crate) fn count(&self, prefix: &str) -> usize {
        self.requests().iter().filter(|r| r.target.starts_with(prefix)).count()
    }
}

/// `text` percent-decoded (`+` as a space, as in a query).
fn decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("v={text}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

fn serve(stream: TcpStream, log: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = HashMap::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.trim().split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
            }
        }
        let length = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0usize);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("GET").to_string();
        let target = parts.next().unwrap_or("/").to_string();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let request = Request { method, target, body, at: std::time::Instant::now() };
        let earlier = {
            let mut log = log.lock().expect("log");
            let earlier = log.iter().filter(|r| r.target == request.target).count();
            log.push(request.clone());
            earlier
        };
        let auth = headers.get("authorization").cloned().unwrap_or_default();
        let (status, extra, body) = answer(&request, earlier, &auth);
        let kind = if extra.is_empty() && body.starts_with('<') { "text/html" } else { "application/json" };
        let head =
            format!("HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n{extra}\r\n", body.len());
        if writer.write_all(head.as_bytes()).and_then(|_| writer.write_all(body.as_bytes())).is_err() {
            return;
        }
    }
}

/// Status line, extra header lines and body; `earlier` requests had the same target.
fn answer(request: &Request, earlier: usize, auth: &str) -> (&'static str, String, String) {
    let ok = |v: Value| ("200 OK", String::new(), v.to_string());
    let (path, query) = request.target.split_once('?').unwrap_or((&request.target, ""));
    let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    if path == "/customers" {
        let email = params.get("email").cloned().unwrap_or_default();
        let items = if email == KNOWN_EMAIL { json!([{"id": 7, "email": email}]) } else { json!([]) };
        return ok(json!({ "items": items }));
    }
    if let Some(sku) = path.strip_prefix("/products/") {
        let sku = decode(sku);
        return match PRODUCTS.iter().position(|p| *p == sku) {
            Some(i) => ok(json!({"sku": sku, "price": 10 + i})),
            None => ("404 Not Found", String::new(), json!({"message": "no such product"}).to_string()),
        };
    }
    if let Some(name) = path.strip_prefix("/flaky/") {
        return if earlier < 2 {
            ("503 Service Unavailable", String::new(), json!({"message": "try later"}).to_string())
        } else {
            ok(json!({ "ok": name }))
        };
    }
    match path {
        "/busy" if earlier == 0 => ("429 Too Many Requests", "Retry-After: 1\r\n".into(), "{}".into()),
        "/busy" => ok(json!({"ok": true})),
        "/html" => ("200 OK", String::new(), "<html><body>Please log in</body></html>".into()),
        "/refuse" => ("422 Unprocessable Entity", String::new(), json!({"message": format!("bad {auth}")}).to_string()),
        "/unauthorized" => ("401 Unauthorized", String::new(), json!({"message": "who are you"}).to_string()),
        "/graphql" => ok(graphql(&request.body, auth)),
        _ => ("404 Not Found", String::new(), "{}".into()),
    }
}

fn product(i: usize) -> Value {
    json!({"sku": PRODUCTS[i], "name": format!("Product {i}")})
}

fn graphql(body: &Value, auth: &str) -> Value {
    let query = body["query"].as_str().unwrap_or_default();
    let variables = &body["variables"];
    if query.contains("broken") {
        return json!({"data": null, "errors": [{"message": "Cannot query field \"broken\" on type \"Query\"."}]});
    }
    if query.contains("echo") {
        return json!({"data": null, "errors": [{"message": format!("not allowed with {auth}")}]});
    }
    if query.contains("loop") {
        let items: Vec<Value> = (0..3).map(product).collect();
        return json!({"data": {"products": {"items": items, "pageInfo": {"hasNextPage": true, "endCursor": "same"}}}});
    }
    if query.contains("products") {
        let start = match variables["after"].as_str() {
            Some(cursor) => cursor.trim_start_matches('c').parse().unwrap_or(0),
            None => 0,
        };
        let end = (start + 3).min(PRODUCTS.len());
        let items: Vec<Value> = (start..end).map(product).collect();
        let info = json!({"hasNextPage": end < PRODUCTS.len(), "endCursor": format!("c{end}")});
        return json!({"data": {"products": {"items": items, "pageInfo": info}}});
    }
    if query.contains("product(") {
        let sku = variables["sku"].as_str().unwrap_or_default();
        if sku == "PARTIAL" {
            return json!({
                "data": {"product": {"sku": sku, "children": null}},
                "errors": [{"message": "children are unavailable", "path": ["product", "children"]}]
            });
        }
        let found = PRODUCTS.contains(&sku);
        let value =
            if found { json!({"sku": sku, "children": [format!("{sku}-S"), format!("{sku}-M")]}) } else { Value::Null };
        return json!({"data": {"product": value}});
    }
    json!({"errors": [{"message": "unknown query"}]})
}
