//! The faults a simulator serves: queued ones (`POST /__sim/faults`, each served to one of the next
//! requests, in order) and rates (`--fault-5xx 0.1 --fault-429 0.05 …` or `POST /__sim/faults/rates`:
//! each request draws one at random from a seeded generator, so the same seed and the same requests
//! give the same faults). A fault answers instead of the simulated API (a status, an HTML page), before
//! it (latency), after it (the work done but the answer lost or cut short), or not at all (a connection
//! reset, a timeout).

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::respond::json_response;
use super::server::Connection;

/// How long a `timeout` holds a request before resetting its connection: longer than any client waits.
const TIMEOUT_HOLD: Duration = Duration::from_secs(600);

/// The error body of the simulated system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorShape {
    /// Adobe Commerce: `{"message": …}`.
    Magento,
    /// OData v4 (Business Central): `{"error": {"code": …, "message": …}}`.
    OData,
}

impl ErrorShape {
    /// An error answer of this shape.
    pub(crate) fn error(self, status: u16, code: &str, message: &str) -> Response {
        match self {
            ErrorShape::Magento => json_response(status, &json!({"message": message})),
            ErrorShape::OData => json_response(status, &json!({"error": {"code": code, "message": message}})),
        }
    }
}

/// One fault, served instead of (or before, or after) a request's answer.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Fault {
    /// Answer this status (e.g. 429, 500, 503) in the simulator's error shape.
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
    /// Close the connection with a TCP reset instead of answering (the work is not done).
    #[serde(default)]
    reset: bool,
    /// Never answer (the work is not done): the client waits until its own timeout.
    #[serde(default)]
    timeout: bool,
}

impl Fault {
    /// What the request log says this request got: `reset`, `timeout`, `lost`, `truncate`, `html`,
    /// the status (`"429"`), `latency`, or `none` (an empty fault: answered normally).
    pub(crate) fn name(&self) -> String {
        let flags = [
            (self.reset, "reset"),
            (self.timeout, "timeout"),
            (self.lost, "lost"),
            (self.truncate, "truncate"),
            (self.html, "html"),
        ];
        match (flags.iter().find(|(on, _)| *on), self.status) {
            (Some((_, name)), _) => (*name).to_string(),
            (None, Some(status)) => status.to_string(),
            (None, None) if self.latency_ms.is_some() => "latency".to_string(),
            (None, None) => "none".to_string(),
        }
    }

    /// Serves the fault before the request is answered: waits its latency, then resets, holds, or
    /// answers its status or HTML page (`None`: answer the request, then [`Fault::after`]).
    pub(crate) async fn before(&self, shape: ErrorShape, connection: Option<&Connection>) -> Option<Response> {
        if self.lost || self.truncate {
            return None;
        }
        if let Some(ms) = self.latency_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if self.timeout {
            tokio::time::sleep(TIMEOUT_HOLD).await;
        }
        if self.reset || self.timeout {
            return Some(match connection {
                Some(connection) => {
                    connection.reset();
                    Response::new(Body::empty())
                }
                None => shape.error(500, "InternalServerError", "Simulated fault: the connection cannot be reset."),
            });
        }
        let mut response = if self.html {
            let mut r = Response::new(Body::from("<html><body><h1>503 Service Unavailable</h1></body></html>"));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            *r.status_mut() = StatusCode::from_u16(self.status.unwrap_or(200)).unwrap_or(StatusCode::OK);
            r
        } else {
            let status = self.status?;
            let code = if status == 429 { "Application_TooManyRequests" } else { "InternalServerError" };
            shape.error(status, code, &format!("Simulated fault: HTTP {status}."))
        };
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        Some(response)
    }

    /// Serves the fault after the request was answered: the answer delayed (`lost`) or cut (`truncate`).
    pub(crate) async fn after(&self, response: Response) -> Response {
        if self.lost {
            tokio::time::sleep(Duration::from_millis(self.latency_ms.unwrap_or(0))).await;
        }
        if !self.truncate {
            return response;
        }
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let cut: String = text.chars().take(text.chars().count() / 2).collect();
        let mut parts = parts;
        parts.headers.remove(header::CONTENT_LENGTH);
        Response::from_parts(parts, Body::from(cut))
    }
}

fn one() -> u64 {
    1
}

fn lost_ms_default() -> u64 {
    5_000
}

/// Faults drawn at random, per request, with a seed: each a probability from 0 to 1, together at most 1.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rates {
    /// The share of requests answered 500, 502 or 503 (the work not done).
    #[serde(default, rename = "5xx")]
    pub server_error: f64,
    /// The share answered 429 with `Retry-After: retry_after`.
    #[serde(default, rename = "429")]
    pub too_many: f64,
    /// The share "created, but the answer is lost": the work done, the answer sent after `lost_ms`.
    #[serde(default)]
    pub lost: f64,
    /// The share whose connection is reset without an answer (the work not done).
    #[serde(default)]
    pub reset: f64,
    /// The share never answered (the work not done).
    #[serde(default)]
    pub timeout: f64,
    /// Seeds the draws: the same seed and the same sequence of requests give the same faults.
    #[serde(default)]
    pub seed: u64,
    /// The `Retry-After` of a drawn 429, in seconds.
    #[serde(default = "one")]
    pub retry_after: u64,
    /// How long a lost answer is held, in milliseconds (longer than the client's timeout).
    #[serde(default = "lost_ms_default")]
    pub lost_ms: u64,
}

impl Rates {
    /// Rates that draw no fault.
    pub(crate) fn none() -> Self {
        Rates { retry_after: one(), lost_ms: lost_ms_default(), ..Rates::default() }
    }

    fn shares(&self) -> [f64; 5] {
        [self.server_error, self.too_many, self.lost, self.reset, self.timeout]
    }

    /// Each share within 0..=1 and their sum at most 1.
    pub(crate) fn check(&self) -> Result<(), String> {
        let shares = self.shares();
        if shares.iter().any(|s| !(0.0..=1.0).contains(s)) {
            return Err("each rate is a share of requests, from 0 to 1".into());
        }
        let sum: f64 = shares.iter().sum();
        if sum > 1.0 + 1e-9 {
            return Err(format!("the rates add up to {sum}, more than 1"));
        }
        Ok(())
    }

    /// Draws the fault of one request (`None`: answered normally).
    pub(crate) fn draw(&self, rng: &mut fastrand::Rng) -> Option<Fault> {
        let roll = rng.f64();
        let mut bound = 0.0;
        let mut pick = None;
        for (i, share) in self.shares().iter().enumerate() {
            bound += share;
            if roll < bound {
                pick = Some(i);
                break;
            }
        }
        Some(match pick? {
            0 => Fault { status: Some([500, 502, 503][rng.usize(0..3)]), ..Fault::default() },
            1 => Fault { status: Some(429), retry_after: Some(self.retry_after), ..Fault::default() },
            2 => Fault { lost: true, latency_ms: Some(self.lost_ms), ..Fault::default() },
            3 => Fault { reset: true, ..Fault::default() },
            _ => Fault { timeout: true, ..Fault::default() },
        })
    }
}

/// The rates in force and their generator.
pub(crate) struct Drawn {
    /// The rates.
    pub rates: Rates,
    /// Seeded from `rates.seed`.
    pub rng: fastrand::Rng,
}

impl Drawn {
    /// Draws from `rates`, starting from their seed.
    pub(crate) fn new(rates: Rates) -> Self {
        let rng = fastrand::Rng::with_seed(rates.seed);
        Drawn { rates, rng }
    }

    /// The rates as the control endpoint shows them.
    pub(crate) fn describe(&self) -> Value {
        serde_json::to_value(&self.rates).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_checked_and_draw_the_same_faults_from_the_same_seed() {
        let rates = Rates { server_error: 0.1, too_many: 0.05, lost: 0.02, seed: 9, ..Rates::none() };
        assert!(rates.check().is_ok());
        assert!(Rates { server_error: 0.7, too_many: 0.4, ..Rates::none() }.check().is_err());
        assert!(Rates { reset: -0.1, ..Rates::none() }.check().is_err());
        let draw = |rates: &Rates| {
            let mut drawn = Drawn::new(rates.clone());
            (0..2_000).map(|_| drawn.rates.draw(&mut drawn.rng).map(|f| f.name())).collect::<Vec<_>>()
        };
        let faults = draw(&rates);
        assert_eq!(faults, draw(&rates));
        assert_ne!(faults, draw(&Rates { seed: 10, ..rates.clone() }));
        let share = |f: &dyn Fn(&str) -> bool| faults.iter().flatten().filter(|n| f(n)).count() as f64 / 2_000.0;
        assert!((share(&|n| n.starts_with('5')) - 0.1).abs() < 0.03);
        assert!((share(&|n| n == "429") - 0.05).abs() < 0.02);
        assert!((share(&|n| n == "lost") - 0.02).abs() < 0.015);
        assert!(draw(&Rates::none()).iter().all(Option::is_none));
    }

    #[test]
    fn a_fault_is_named_by_what_it_does() {
        let name = |json: &str| serde_json::from_str::<Fault>(json).expect("a fault").name();
        assert_eq!(name(r#"{"status": 503, "retry_after": 2}"#), "503");
        assert_eq!(name(r#"{"lost": true, "latency_ms": 10}"#), "lost");
        assert_eq!(name(r#"{"reset": true}"#), "reset");
        assert_eq!(name(r#"{"latency_ms": 10}"#), "latency");
        assert_eq!(name("{}"), "none");
        assert!(serde_json::from_str::<Fault>(r#"{"rset": true}"#).is_err());
    }
}
