//! Recorded HTTP ("cassettes"): a test that names `cassette:` has the requests of its HTTP components
//! without mocks answered from a file of exchanges recorded once against the API (`weir test
//! --record`). This module holds the file's format — in order, each exchange's component, request
//! (method, path, query, JSON body) and response (status, the headers that matter, body) — reading it
//! (errors at their position), writing it (pretty, stable JSON), and the masking that keeps secrets and
//! hosts out of it. `record` keeps a run's exchanges, `replay` answers a run from them.

mod record;
mod replay;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) use record::Recording;
pub(crate) use replay::Replaying;

use super::components::Context;
use super::fixture::{at, reason};
use crate::assemble::parse::Parser;
use crate::config::diagnostic::Diagnostic;
use crate::config::file::Anchor;
use crate::config::secrets;
use crate::kernel::mock::{MockReply, MockRequest};

/// The format's version, written in every cassette.
const VERSION: u32 = 1;

/// Response headers kept in a cassette: those that change what a component does. Every other header
/// (cookies, server names, request ids) is left out.
const KEPT_HEADERS: &[&str] = &["content-type", "retry-after", "etag", "link", "location", "content-range"];

/// A cassette file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Cassette {
    /// The format's version (1).
    pub(crate) weir_cassette: u32,
    /// Every exchange of the recorded run, in the order the answers came.
    pub(crate) exchanges: Vec<Exchange>,
}

/// One request and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Exchange {
    /// The component (by id) that sent the request.
    pub(crate) component: String,
    /// The request.
    pub(crate) request: Request,
    /// What came back.
    pub(crate) response: Response,
}

/// A request as recorded: no scheme, host or header; secrets masked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Request {
    /// `GET`, `POST`, …
    pub(crate) method: String,
    /// The URL's path as sent (percent-encoded; the connection's base path included).
    pub(crate) path: String,
    /// The query parameters, decoded, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) query: Vec<(String, String)>,
    /// The JSON body (absent without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) body: Option<Value>,
}

/// A response as recorded, or `timeout: true` when none came.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Response {
    /// The status (absent with `timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<u16>,
    /// The headers of [`KEPT_HEADERS`] it had.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) headers: BTreeMap<String, String>,
    /// The body, when it is JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) body: Option<Value>,
    /// The body as text, when it is not JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<String>,
    /// No response came (a timeout, a dropped connection).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) timeout: bool,
}

/// A test's cassette: where it is, and what it holds (`None` when it is being recorded).
#[derive(Debug, Clone)]
pub(crate) struct CassetteUse {
    /// The file.
    pub(crate) path: PathBuf,
    /// How the test file names it, for messages.
    pub(crate) shown: String,
    /// Its exchanges; `None` under `--record`.
    pub(crate) exchanges: Option<Vec<Exchange>>,
    /// The components it answers: those that make requests and that the test does not mock.
    pub(crate) components: Vec<String>,
}

/// The cassette `name` of a test (its `cassette:` at `pointer`), read unless recording; a cassette that
/// is missing or unreadable is reported at `pointer`.
pub(crate) fn prepare(
    parser: &mut Parser<'_>,
    cx: &Context<'_>,
    name: &str,
    components: Vec<String>,
    pointer: &str,
    dir: &Path,
) -> Option<CassetteUse> {
    let path = dir.join(name);
    let exchanges = if cx.record {
        None
    } else {
        match read(&path, name) {
            Ok(exchanges) => Some(exchanges),
            Err(d) => {
                let d = if d.location.is_none() { d.at(cx.file.locate(pointer, Anchor::Value)) } else { *d };
                parser.diagnostics.push(d);
                return None;
            }
        }
    };
    Some(CassetteUse { path, shown: name.to_string(), exchanges, components })
}

/// `text` with every registered secret masked.
fn masked(text: &str) -> String {
    if secrets::any() { secrets::redact(text) } else { text.to_string() }
}

/// `value` with every registered secret masked in its strings and keys.
fn masked_value(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(masked(s)),
        Value::Array(items) => Value::Array(items.iter().map(masked_value).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (masked(k), masked_value(v))).collect()),
        other => other.clone(),
    }
}

/// A body's bytes as JSON (`None` when empty), else as text.
fn body_of(bytes: &[u8]) -> (Option<Value>, Option<String>) {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return (None, None);
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(json) => (Some(masked_value(&json)), None),
        Err(_) => (None, Some(masked(&String::from_utf8_lossy(bytes)))),
    }
}

impl Request {
    /// `request` as it is recorded and compared: secrets masked, the body as JSON.
    pub(crate) fn of(request: &MockRequest) -> Self {
        let (json, text) = body_of(&request.body);
        Self {
            method: request.method.clone(),
            path: masked(&request.path),
            query: request.query.iter().map(|(k, v)| (masked(k), masked(v))).collect(),
            body: json.or(text.map(Value::String)),
        }
    }

    /// `POST /V1/orders?a=1 with body {…}`, for messages.
    pub(crate) fn shown(&self) -> String {
        let mut s = format!("{} {}", self.method, self.path);
        for (i, (k, v)) in self.query.iter().enumerate() {
            s.push(if i == 0 { '?' } else { '&' });
            s.push_str(&format!("{k}={v}"));
        }
        match &self.body {
            Some(body) => format!("{s} with body {}", serde_json::to_string(body).unwrap_or_default()),
            None => format!("{s} without body"),
        }
    }
}

impl Response {
    /// `reply` as it is recorded: the headers that matter, secrets masked.
    pub(crate) fn of(reply: &MockReply) -> Self {
        match reply {
            MockReply::Response { status, headers: all, body } => {
                let mut headers: BTreeMap<String, String> = BTreeMap::new();
                for (name, value) in all {
                    let name = name.to_ascii_lowercase();
                    if KEPT_HEADERS.contains(&name.as_str()) {
                        let value = masked(value);
                        headers.entry(name).and_modify(|v| *v = format!("{v}, {value}")).or_insert(value);
                    }
                }
                let (body, text) = body_of(body);
                Self { status: Some(*status), headers, body, text, timeout: false }
            }
            MockReply::NoResponse | MockReply::Unmatched => Self { timeout: true, ..Self::default() },
        }
    }

    /// The reply this recorded response makes.
    pub(crate) fn reply(&self) -> MockReply {
        if self.timeout {
            return MockReply::NoResponse;
        }
        let headers = self.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let body = match (&self.body, &self.text) {
            (Some(json), _) => serde_json::to_vec(json).unwrap_or_default(),
            (None, Some(text)) => text.clone().into_bytes(),
            (None, None) => Vec::new(),
        };
        MockReply::Response { status: self.status.unwrap_or(200), headers, body }
    }
}

/// Reads the cassette at `path` (named `shown` in the test file).
pub(crate) fn read(path: &Path, shown: &str) -> Result<Vec<Exchange>, Box<Diagnostic>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| {
            let message = if e.kind() == std::io::ErrorKind::NotFound {
                format!("cassette `{shown}` does not exist")
            } else {
                format!("cannot read cassette `{shown}`: {e}")
            };
            Box::new(Diagnostic::new("missing-cassette", message).with_hint(
                "run `weir test --record` to record it against the API (the path is relative to the test file)",
            ))
        })?;
    let file = path.display().to_string();
    let cassette: Cassette = serde_json::from_str(&text).map_err(|e| {
        Box::new(
            Diagnostic::new("bad-cassette", format!("cassette `{shown}` cannot be read: {}", reason(&e)))
                .at(at(&file, &text, e.line(), e.column()))
                .with_hint("a cassette is written by `weir test --record`; record it again rather than edit it"),
        )
    })?;
    if cassette.weir_cassette != VERSION {
        let message = format!("cassette `{shown}` has format version {}, not {VERSION}", cassette.weir_cassette);
        return Err(Box::new(
            Diagnostic::new("bad-cassette", message).with_hint("record it again with `weir test --record`"),
        ));
    }
    Ok(cassette.exchanges)
}

/// Writes `exchanges` as the cassette at `path` (its folder made when missing): pretty JSON, the
/// exchanges in the order they were recorded.
pub(crate) fn write(path: &Path, exchanges: &[Exchange]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let cassette = Cassette { weir_cassette: VERSION, exchanges: exchanges.to_vec() };
    let mut text = serde_json::to_string_pretty(&cassette).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_are_masked_and_only_headers_that_matter_are_kept() {
        let secret = "cassette-unit-s3cret";
        secrets::register(secret);
        let request = MockRequest {
            method: "POST".into(),
            path: format!("/keys/{secret}"),
            query: vec![("token".into(), secret.into())],
            body: json!({ "password": secret, "n": 1.50 }).to_string().into_bytes(),
        };
        let recorded = Request::of(&request);
        let text = serde_json::to_string(&recorded).expect("json");
        assert!(!text.contains(secret), "{text}");
        assert_eq!(recorded.path, "/keys/***");
        assert_eq!(recorded.body, Some(json!({ "password": "***", "n": 1.50 })));
        let reply = MockReply::Response {
            status: 429,
            headers: vec![
                ("Retry-After".into(), "2".into()),
                ("Set-Cookie".into(), format!("session={secret}")),
                ("Link".into(), "<a>; rel=next".into()),
                ("link".into(), "<b>; rel=last".into()),
            ],
            body: format!("echo {secret}").into_bytes(),
        };
        let response = Response::of(&reply);
        assert_eq!(response.status, Some(429));
        let headers: Vec<(&str, &str)> = response.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(headers, [("link", "<a>; rel=next, <b>; rel=last"), ("retry-after", "2")]);
        assert_eq!((response.body.as_ref(), response.text.as_deref()), (None, Some("echo ***")));
        assert!(matches!(Response::of(&MockReply::NoResponse).reply(), MockReply::NoResponse));
    }
}
