//! The control endpoints, not part of Magento: `GET /__sim/requests` lists every request received
//! (credentials masked), `DELETE /__sim/requests` forgets them; `POST /__sim/faults` queues faults,
//! each served to one of the next requests in order, `DELETE /__sim/faults` clears the queue.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::respond::json_response;
use super::{Sim, lock};

/// One fault, served instead of (or before) the next request's answer.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Fault {
    /// Answer this status (e.g. 429, 500, 503) in Magento's error shape.
    #[serde(default)]
    status: Option<u16>,
    /// With `Retry-After: N` (seconds).
    #[serde(default)]
    retry_after: Option<u64>,
    /// Wait this long before answering.
    #[serde(default)]
    latency_ms: Option<u64>,
    /// Answer an HTML page (status 200 unless `status` says otherwise), as a proxy or a PHP fatal error does.
    #[serde(default)]
    html: bool,
    /// Answer only the first half of the real answer's body (JSON cut short).
    #[serde(default)]
    truncate: bool,
    /// "Created, but the response is lost": do the work, then wait `latency_ms` before answering, so a
    /// client with a shorter timeout never hears that it succeeded.
    #[serde(default)]
    lost: bool,
}

/// The request log and the fault queue.
#[derive(Default)]
pub(super) struct Control {
    requests: Mutex<Vec<Value>>,
    faults: Mutex<VecDeque<Fault>>,
}

impl Control {
    /// Records a request: `Authorization` keeps only its scheme, a password in the body is masked.
    pub(super) fn log(&self, method: &str, path: &str, query: &str, headers: &HeaderMap, body: &[u8]) {
        let mut logged = serde_json::Map::new();
        for (name, value) in headers {
            let text = value.to_str().unwrap_or_default();
            let text = if name == header::AUTHORIZATION {
                format!("{} ***", text.split_whitespace().next().unwrap_or_default())
            } else {
                text.to_string()
            };
            logged.insert(name.as_str().to_string(), Value::String(text));
        }
        let body = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(mut object)) => {
                if object.contains_key("password") {
                    object.insert("password".into(), Value::String("***".into()));
                }
                Value::Object(object).to_string()
            }
            _ => String::from_utf8_lossy(body).into_owned(),
        };
        lock(&self.requests).push(json!({
            "method": method, "path": path, "query": query, "headers": logged, "body": body,
        }));
    }

    /// The next queued fault, if any.
    pub(super) fn next_fault(&self) -> Option<Fault> {
        lock(&self.faults).pop_front()
    }
}

/// Serves a fault before the request is answered: waits its latency, then answers its status or
/// HTML page (`None`: answer the request, then [`after`]).
pub(super) async fn before(fault: &Fault) -> Option<Response> {
    if fault.lost || fault.truncate {
        return None;
    }
    if let Some(ms) = fault.latency_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut response = if fault.html {
        let mut r = Response::new(Body::from("<html><body><h1>503 Service Unavailable</h1></body></html>"));
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        *r.status_mut() = StatusCode::from_u16(fault.status.unwrap_or(200)).unwrap_or(StatusCode::OK);
        r
    } else {
        let status = fault.status?;
        json_response(status, &json!({"message": format!("Simulated fault: HTTP {status}.")}))
    };
    if let Some(seconds) = fault.retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    Some(response)
}

/// Serves a fault after the request was answered: the answer delayed (`lost`) or cut (`truncate`).
pub(super) async fn after(fault: &Fault, status: u16, answer: &Value) -> Response {
    if fault.lost {
        tokio::time::sleep(Duration::from_millis(fault.latency_ms.unwrap_or(0))).await;
    }
    if !fault.truncate {
        return json_response(status, answer);
    }
    let text = answer.to_string();
    let cut: String = text.chars().take(text.chars().count() / 2).collect();
    let mut response = json_response(status, &Value::Null);
    *response.body_mut() = Body::from(cut);
    response
}

/// Answers `/__sim/{rest}`.
pub(super) fn handle(sim: &Sim, method: &str, rest: &str, body: &[u8]) -> Response {
    let control = &sim.control;
    match (method, rest) {
        ("GET", "requests") => json_response(200, &Value::Array(lock(&control.requests).clone())),
        ("DELETE", "requests") => {
            lock(&control.requests).clear();
            json_response(200, &json!({"cleared": true}))
        }
        ("POST", "faults") => match serde_json::from_slice::<Vec<Fault>>(body) {
            Ok(faults) => {
                let mut queue = lock(&control.faults);
                queue.extend(faults);
                json_response(200, &json!({"queued": queue.len()}))
            }
            Err(e) => json_response(400, &json!({"message": format!("Bad faults: {e}")})),
        },
        ("DELETE", "faults") => {
            lock(&control.faults).clear();
            json_response(200, &json!({"cleared": true}))
        }
        _ => json_response(404, &json!({"message": "Request does not match any route."})),
    }
}
