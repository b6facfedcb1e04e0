//! A small HTTP/1.1 order API on 127.0.0.1 for the `http` sink's tests, built on std only.
//!
//! - `POST /orders` with a JSON body holding `reference` creates an order with a new id and answers
//!   `201 {"id": N, "reference": …}`. It does **not** deduplicate (a naive API: sending twice creates
//!   twice, which is what the tests count), unless `conflict_on_duplicate` is set (then `409`).
//!   After committing, it drops the connection without answering for a seeded random fraction of
//!   creates (`drop_fraction`): the lost response.
//! - `GET /orders?reference=R` answers `200 [{"id": N, "reference": R}]` or `200 []`.
//! - `GET /orders/N` answers the order or `404`.
//! - Magic references: `reject-…` → `422` (echoing the `Authorization` header, to test that secrets are
//!   masked), `down-…` → `503`, `slow-…` → answers after `slow` (the order is created first),
//!   `redirect-…` → `303 See Other` (the order is created first: post/redirect/get), `busy-…` → `429`
//!   with `Retry-After: 1` the first time, created the next.
//!   `late-…` → committed only after `slow` (a target whose commit outlasts the client's timeout),
//!   then answered.
//! - `Idempotency-Key`: a create repeating the key of one still in progress answers `409`, one
//!   repeating a committed one answers that order again (`200`), as Stripe-like APIs do; every key
//!   received is kept.
//! - Lookups of `html-…` references answer `200` with an HTML page (a proxy's or a login page), not JSON.
//! - A body given as a JSON string is sent as that text, `text/html`.
//! - Logins: `POST /V1/integration/admin/token` (Magento admin: `{"username", "password"}` → the token
//!   as a JSON string), `POST /oauth2/token` (client credentials form → `{"access_token",
//!   "expires_in"}`), `POST /Login` (a session: `{"UserName", "Password"}` → `{"SessionId"}` and the
//!   cookie `B1SESSION`). The right password or secret is [`PASSWORD`]; tokens are numbered.
//!   With `require_token`, `/orders` answers `401` unless the request carries an issued token (as a
//!   bearer token or the `B1SESSION` cookie) that has served fewer than `token_uses` requests.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// The password, client secret or session password the login endpoints accept.
pub(crate) const PASSWORD: &str = "pass-w0rd-1234";

/// How the receiver behaves.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Seed of the generator that picks which creates lose their response.
    pub(crate) seed: u64,
    /// Fraction of creates (0.0–1.0) whose response is dropped after the order is committed.
    pub(crate) drop_fraction: f64,
    /// Answer `409` to a second create of the same reference instead of creating it again.
    pub(crate) conflict_on_duplicate: bool,
    /// How long `slow-…` references wait before answering.
    pub(crate) slow: Duration,
    /// `/orders` needs a token from one of the login endpoints.
    pub(crate) require_token: bool,
    /// Requests one token serves before it is refused (`401`): an expired token.
    pub(crate) token_uses: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            seed: 1,
            drop_fraction: 0.0,
            conflict_on_duplicate: false,
            slow: Duration::from_secs(2),
            require_token: false,
            token_uses: u64::MAX,
        }
    }
}

/// What the receiver has seen.
#[derive(Debug, Default, Clone)]
pub(crate) struct Stats {
    /// Orders created, per reference (more than 1: a duplicate).
    pub(crate) creates: HashMap<String, u32>,
    /// Every order created: id → body.
    pub(crate) orders: HashMap<u64, Value>,
    /// Creates in total.
    pub(crate) total_creates: u64,
    /// Creates whose response was dropped.
    pub(crate) dropped: u64,
    /// Lookups that found an order.
    pub(crate) lookups_found: u64,
    /// Lookups that found nothing.
    pub(crate) lookups_missed: u64,
    /// Connections being served now.
    pub(crate) open_connections: u64,
    /// `Authorization` headers seen.
    pub(crate) authorizations: Vec<String>,
    /// When each create arrived.
    pub(crate) create_times: Vec<std::time::Instant>,
    /// `busy-…` references answered `429` already.
    busy_answered: std::collections::HashSet<String>,
    /// Successful logins, per endpoint path.
    pub(crate) logins: HashMap<String, u64>,
    /// Requests refused for want of a valid token.
    pub(crate) unauthorized: u64,
    /// Issued tokens and how many requests each has served.
    tokens: HashMap<String, u64>,
    /// Order ids per reference.
    by_reference: HashMap<String, Vec<u64>>,
    /// Every `Idempotency-Key` received on a create, in order.
    pub(crate) idempotency_keys: Vec<String>,
    /// Committed order per idempotency key (`None`: in progress).
    by_idempotency_key: HashMap<String, Option<u64>>,
    /// Hold the answer to the create that makes `total_creates` reach this (see [`Receiver::pause_at`]).
    pause_at: Option<u64>,
    /// The reference whose create is committed and whose answer is being held.
    pub(crate) paused: Option<String>,
}

struct Shared {
    config: Config,
    stats: Mutex<(Stats, u64)>,
    changed: Condvar,
    stop: AtomicBool,
}

/// A running receiver; stops accepting when dropped.
pub(crate) struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

/// One step of a xorshift64 generator (the state must not be 0).
pub(crate) fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

impl Receiver {
    /// Starts listening on a free port of 127.0.0.1.
    pub(crate) fn start(config: Config) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let seed = config.seed.max(1);
        let shared = Arc::new(Shared {
            config,
            stats: Mutex::new((Stats::default(), seed)),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                accept_shared.update(|s| s.open_connections += 1);
                let shared = Arc::clone(&accept_shared);
                std::thread::spawn(move || {
                    serve(&shared, stream);
                    shared.update(|s| s.open_connections -= 1);
                });
            }
        });
        Receiver { addr, shared }
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A copy of the counters.
    pub(crate) fn stats(&self) -> Stats {
        self.shared.stats.lock().expect("stats").0.clone()
    }

    /// Holds the answer to the `n`-th create (counted over the receiver's life) after committing it,
    /// until [`Receiver::release`]: the client sees a create in flight that has in fact happened.
    pub(crate) fn pause_at(&self, n: u64) {
        self.shared.update(|s| s.pause_at = Some(n));
    }

    /// Lets a held answer go (to a client that may be gone) and cancels a pending pause.
    pub(crate) fn release(&self) {
        self.shared.update(|s| {
            s.pause_at = None;
            s.paused = None;
        });
    }

    /// Waits until `done(stats)` holds or `timeout` passes; returns whether it holds.
    pub(crate) fn wait_until(&self, timeout: Duration, done: impl Fn(&Stats) -> bool) -> bool {
        let guard = self.shared.stats.lock().expect("stats");
        let (guard, _) =
            self.shared.changed.wait_timeout_while(guard, timeout, |(s, _)| !done(s)).expect("wait on stats");
        done(&guard.0)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

impl Shared {
    fn update<T>(&self, f: impl FnOnce(&mut Stats) -> T) -> T {
        let mut guard = self.stats.lock().expect("stats");
        let out = f(&mut guard.0);
        drop(guard);
        self.changed.notify_all();
        out
    }
}

struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request { method, path, headers, body })
}

fn respond(stream: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let (text, content_type) = match body {
        Value::String(page) => (page.clone(), "text/html"),
        json => (json.to_string(), "application/json"),
    };
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        201 => "Created",
        303 => "See Other",
        404 => "Not Found",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Other",
    };
    let mut extra = String::new();
    if status == 429 {
        extra.push_str("Retry-After: 1\r\n");
    }
    if let Some(session) = body.get("SessionId").and_then(Value::as_str) {
        extra.push_str(&format!("Set-Cookie: B1SESSION={session}; path=/; HttpOnly\r\n"));
    }
    // One write: several small ones would meet Nagle's algorithm and the client's delayed ACK (40ms each).
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\n{extra}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{text}",
        text.len()
    );
    stream.write_all(response.as_bytes())?;
    stream.flush()
}

/// Serves one connection (keep-alive) until the client closes it or a response is dropped.
fn serve(shared: &Shared, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut stream = stream;
    while let Some(request) = read_request(&mut reader) {
        let answer = handle(shared, &request);
        match answer {
            Some((status, body, delay)) => {
                if !delay.is_zero() {
                    std::thread::sleep(delay);
                }
                if respond(&mut stream, status, &body).is_err() {
                    return;
                }
            }
            // Drop the response: close without answering.
            None => return,
        }
    }
}

/// The login endpoints' answers; `None` for any other request.
fn login(shared: &Shared, request: &Request, path: &str) -> Option<(u16, Value, Duration)> {
    if request.method != "POST" {
        return None;
    }
    let json: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let form: HashMap<String, String> = String::from_utf8_lossy(&request.body)
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace('+', " ")))
        .collect();
    let (accepted, prefix) = match path {
        "/V1/integration/admin/token" => (json["password"] == PASSWORD && json["username"].is_string(), "adm"),
        "/oauth2/token" => {
            let ok = form.get("grant_type").map(String::as_str) == Some("client_credentials")
                && form.get("client_secret").map(String::as_str) == Some(PASSWORD);
            (ok, "oa")
        }
        "/Login" => (json["Password"] == PASSWORD, "sess"),
        _ => return None,
    };
    if !accepted {
        return Some((401, json!({"message": "The account sign-in was incorrect."}), Duration::ZERO));
    }
    let mut guard = shared.stats.lock().expect("stats");
    let stats = &mut guard.0;
    let n = stats.logins.entry(path.to_string()).or_default();
    *n += 1;
    let token = format!("{prefix}-{n}-t0ken");
    stats.tokens.insert(token.clone(), 0);
    Some(match path {
        // Magento answers the bare token as a JSON string.
        "/V1/integration/admin/token" => (200, Value::String(format!("\"{token}\"")), Duration::ZERO),
        "/oauth2/token" => {
            (200, json!({"access_token": token, "expires_in": 3600, "token_type": "Bearer"}), Duration::ZERO)
        }
        _ => (200, json!({"SessionId": token, "SessionTimeout": 30}), Duration::ZERO),
    })
}

/// True when the request carries an issued token (bearer or `B1SESSION` cookie) that has served fewer
/// than `token_uses` requests; counts the use.
fn token_valid(shared: &Shared, request: &Request) -> bool {
    let bearer = request.headers.get("authorization").and_then(|a| a.strip_prefix("Bearer ")).map(str::to_string);
    let cookie = request
        .headers
        .get("cookie")
        .and_then(|c| c.split(';').find_map(|p| p.trim().strip_prefix("B1SESSION=").map(str::to_string)));
    let Some(token) = bearer.or(cookie) else { return false };
    let mut guard = shared.stats.lock().expect("stats");
    match guard.0.tokens.get_mut(&token) {
        Some(uses) if *uses < shared.config.token_uses => {
            *uses += 1;
            true
        }
        _ => false,
    }
}

/// The answer to one request: status, body and a delay; `None` drops the connection.
fn handle(shared: &Shared, request: &Request) -> Option<(u16, Value, Duration)> {
    let (path, query) = request.path.split_once('?').unwrap_or((&request.path, ""));
    if let Some(auth) = request.headers.get("authorization") {
        let auth = auth.clone();
        shared.update(|s| s.authorizations.push(auth));
    }
    if let Some(answer) = login(shared, request, path) {
        return Some(answer);
    }
    if shared.config.require_token && path.starts_with("/orders") && !token_valid(shared, request) {
        shared.update(|s| s.unauthorized += 1);
        return Some((401, json!({"message": "The consumer isn't authorized to access %resources."}), Duration::ZERO));
    }
    match (request.method.as_str(), path) {
        ("POST", "/orders") => {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            let reference = body["reference"].as_str().unwrap_or_default().to_string();
            if reference.starts_with("reject-") {
                let auth = request.headers.get("authorization").cloned().unwrap_or_default();
                return Some((422, json!({"error": "customer unknown", "seen_authorization": auth}), Duration::ZERO));
            }
            if reference.starts_with("down-") {
                return Some((503, json!({"error": "maintenance"}), Duration::ZERO));
            }
            if reference.starts_with("busy-") {
                let mut guard = shared.stats.lock().expect("stats");
                if guard.0.busy_answered.insert(reference.to_string()) {
                    guard.0.create_times.push(std::time::Instant::now());
                    return Some((429, json!({"error": "slow down"}), Duration::ZERO));
                }
            }
            let idempotency_key = request.headers.get("idempotency-key").cloned();
            if let Some(key) = &idempotency_key {
                let mut guard = shared.stats.lock().expect("stats");
                guard.0.idempotency_keys.push(key.clone());
                match guard.0.by_idempotency_key.get(key) {
                    Some(None) => {
                        return Some((409, json!({"error": "a request with this key is in progress"}), Duration::ZERO));
                    }
                    Some(Some(id)) => return Some((200, json!({"id": id, "reference": reference}), Duration::ZERO)),
                    None => guard.0.by_idempotency_key.insert(key.clone(), None),
                };
            }
            if reference.starts_with("late-") {
                // The commit outlasts the client's patience: it happens after `slow`, whoever waits.
                std::thread::sleep(shared.config.slow);
            }
            let mut guard = shared.stats.lock().expect("stats");
            let (stats, rng) = &mut *guard;
            if shared.config.conflict_on_duplicate && stats.creates.contains_key(&reference) {
                return Some((409, json!({"error": "exists"}), Duration::ZERO));
            }
            let id = stats.orders.len() as u64 + 1;
            stats.orders.insert(id, body);
            stats.by_reference.entry(reference.clone()).or_default().push(id);
            if let Some(key) = idempotency_key {
                stats.by_idempotency_key.insert(key, Some(id));
            }
            *stats.creates.entry(reference.clone()).or_default() += 1;
            stats.total_creates += 1;
            stats.create_times.push(std::time::Instant::now());
            let drop_it = (xorshift(rng) % 1_000_000) as f64 / 1_000_000.0 < shared.config.drop_fraction;
            if drop_it {
                stats.dropped += 1;
            }
            if stats.pause_at == Some(stats.total_creates) {
                stats.paused = Some(reference.clone());
                shared.changed.notify_all();
                guard = shared.changed.wait_while(guard, |(s, _)| s.paused.is_some()).expect("wait for release");
            }
            drop(guard);
            shared.changed.notify_all();
            let delay = if reference.starts_with("slow-") { shared.config.slow } else { Duration::ZERO };
            let status = if reference.starts_with("redirect-") { 303 } else { 201 };
            (!drop_it).then(|| (status, json!({"id": id, "reference": reference}), delay))
        }
        ("GET", "/orders") => {
            let reference = query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == "reference")
                .map(|(_, v)| percent_decode(v))
                .unwrap_or_default();
            if reference.starts_with("html-") {
                return Some((200, json!("<html><body>Please sign in</body></html>"), Duration::ZERO));
            }
            shared.update(|s| {
                let found: Vec<Value> = s
                    .by_reference
                    .get(&reference)
                    .map(|ids| ids.iter().map(|id| json!({"id": id, "reference": reference})).collect())
                    .unwrap_or_default();
                if found.is_empty() {
                    s.lookups_missed += 1;
                } else {
                    s.lookups_found += 1;
                }
                Some((200, Value::Array(found), Duration::ZERO))
            })
        }
        ("GET", p) if p.starts_with("/orders/") => {
            let id: u64 = p.trim_start_matches("/orders/").parse().unwrap_or(0);
            shared.update(|s| match s.orders.get(&id) {
                Some(o) => {
                    s.lookups_found += 1;
                    Some((200, json!({"id": id, "reference": o["reference"]}), Duration::ZERO))
                }
                None => {
                    s.lookups_missed += 1;
                    Some((404, json!({"error": "no such order"}), Duration::ZERO))
                }
            })
        }
        _ => Some((404, json!({"error": "no route"}), Duration::ZERO)),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
