//! What every simulator does around its API: each request is read, logged (credentials masked, with
//! the fault it got) and served its fault; and the shared control endpoints, not part of any real
//! API: `GET|DELETE /__sim/requests` (the log; `?from=N` its entries from the N-th on, 0-based, so a
//! test can follow it cheaply), `POST|DELETE /__sim/faults` (the queue),
//! `GET|POST|DELETE /__sim/faults/rates` (faults drawn at random with a seed). Other `/__sim/…` paths
//! are the simulator's own, answered without logging or faults.

use std::collections::VecDeque;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::faults::{Drawn, ErrorShape, Fault, Rates};
use super::lock;
use super::respond::json_response;
use super::server::Connection;

/// The largest request body read (16 MiB).
const BODY_LIMIT: usize = 16 << 20;

/// A request as it arrived: the path and query still percent-encoded, the body read whole.
#[derive(Debug)]
pub(crate) struct Incoming {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path as sent.
    pub path: String,
    /// The query as sent (without `?`).
    pub query: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// The request log, the fault queue and the fault rates of one simulator.
pub(crate) struct Control {
    shape: ErrorShape,
    requests: Mutex<Vec<Value>>,
    faults: Mutex<VecDeque<Fault>>,
    rates: Mutex<Drawn>,
}

impl Control {
    /// A control answering errors in `shape`, drawing faults at `rates`.
    pub(crate) fn new(shape: ErrorShape, rates: Rates) -> Self {
        Control { shape, requests: Mutex::default(), faults: Mutex::default(), rates: Mutex::new(Drawn::new(rates)) }
    }

    /// Serves one request: control endpoints first; then the request is logged, its fault (queued,
    /// else drawn) served, and `answer` — the simulated API, also given the simulator's own `/__sim/…`
    /// paths — called unless the fault answers instead.
    pub(crate) async fn serve(&self, request: Request, answer: impl FnOnce(&Incoming) -> Response) -> Response {
        let connection = request.extensions().get::<ConnectInfo<Connection>>().map(|c| c.0.clone());
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
        let incoming = Incoming {
            method: parts.method.as_str().to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or_default().to_string(),
            headers: parts.headers,
            body,
        };
        if let Some(rest) = incoming.path.strip_prefix("/__sim/") {
            return self
                .handle(&incoming.method, rest, &incoming.query, &incoming.body)
                .unwrap_or_else(|| answer(&incoming));
        }
        let fault = self.next_fault();
        self.log(&incoming, fault.as_ref());
        if let Some(fault) = &fault
            && let Some(response) = fault.before(self.shape, connection.as_ref()).await
        {
            return response;
        }
        let response = answer(&incoming);
        match &fault {
            Some(fault) => fault.after(response).await,
            None => response,
        }
    }

    /// Records a request: `Authorization` keeps only its scheme, `Cookie` values and a password in the
    /// body are masked; `fault` says what it got (`null`: nothing); `at` is when it arrived (UTC, RFC
    /// 3339 with milliseconds), so that a test can tell how long a client waited between two requests.
    fn log(&self, request: &Incoming, fault: Option<&Fault>) {
        let mut logged = serde_json::Map::new();
        for (name, value) in &request.headers {
            let text = value.to_str().unwrap_or_default();
            let text = if name == header::AUTHORIZATION {
                format!("{} ***", text.split_whitespace().next().unwrap_or_default())
            } else if name == header::COOKIE {
                text.split(';')
                    .map(|c| format!("{}=***", c.split('=').next().unwrap_or_default().trim()))
                    .collect::<Vec<_>>()
                    .join("; ")
            } else {
                text.to_string()
            };
            logged.insert(name.as_str().to_string(), Value::String(text));
        }
        let body = match serde_json::from_slice::<Value>(&request.body) {
            Ok(Value::Object(mut object)) => {
                for key in ["password", "Password"] {
                    if object.contains_key(key) {
                        object.insert(key.into(), Value::String("***".into()));
                    }
                }
                Value::Object(object).to_string()
            }
            _ => mask_form(&String::from_utf8_lossy(&request.body)),
        };
        lock(&self.requests).push(json!({
            "method": request.method, "path": request.path, "query": request.query, "headers": logged,
            "body": body, "fault": fault.map(Fault::name), "at": arrived_at(),
        }));
    }

    /// The next queued fault, else one drawn at the rates.
    fn next_fault(&self) -> Option<Fault> {
        if let Some(fault) = lock(&self.faults).pop_front() {
            return Some(fault);
        }
        let mut drawn = lock(&self.rates);
        let Drawn { rates, rng } = &mut *drawn;
        rates.draw(rng)
    }

    /// Answers the shared `/__sim/{rest}` endpoints (`None`: not one of them).
    fn handle(&self, method: &str, rest: &str, query: &str, body: &[u8]) -> Option<Response> {
        let cleared = || json_response(200, &json!({"cleared": true}));
        Some(match (method, rest) {
            ("GET", "requests") => {
                let from = url::form_urlencoded::parse(query.as_bytes())
                    .find(|(k, _)| k == "from")
                    .and_then(|(_, v)| v.parse::<usize>().ok())
                    .unwrap_or(0);
                let log = lock(&self.requests);
                json_response(200, &Value::Array(log.get(from..).unwrap_or_default().to_vec()))
            }
            ("DELETE", "requests") => {
                lock(&self.requests).clear();
                cleared()
            }
            ("POST", "faults") => match serde_json::from_slice::<Vec<Fault>>(body) {
                Ok(faults) => {
                    let mut queue = lock(&self.faults);
                    queue.extend(faults);
                    json_response(200, &json!({"queued": queue.len()}))
                }
                Err(e) => self.shape.error(400, "BadRequest", &format!("Bad faults: {e}")),
            },
            ("DELETE", "faults") => {
                lock(&self.faults).clear();
                cleared()
            }
            ("GET", "faults/rates") => json_response(200, &lock(&self.rates).describe()),
            ("POST", "faults/rates") => {
                match serde_json::from_slice::<Rates>(body)
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.check().map(|()| r))
                {
                    Ok(rates) => {
                        let drawn = Drawn::new(rates);
                        let shown = drawn.describe();
                        *lock(&self.rates) = drawn;
                        json_response(200, &shown)
                    }
                    Err(e) => self.shape.error(400, "BadRequest", &format!("Bad rates: {e}")),
                }
            }
            ("DELETE", "faults/rates") => {
                *lock(&self.rates) = Drawn::new(Rates::none());
                cleared()
            }
            _ => return None,
        })
    }
}

/// Now, as the request log writes it: `2026-05-01T12:00:00.123Z`.
fn arrived_at() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    now.format(&format).unwrap_or_default()
}

/// A form body (`client_secret=…&password=…`) with its secrets masked; any other text as it is.
fn mask_form(text: &str) -> String {
    if !text.contains('=') || text.contains(' ') || text.contains('{') {
        return text.to_string();
    }
    url::form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| {
            let secret = matches!(k.as_ref(), "client_secret" | "password" | "client_assertion");
            let v = if secret { "***".into() } else { v.into_owned() };
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("&")
}
