//! Where an event's id and time are (`event_id`, `event_time`): a header, or a JSONPath into the body,
//! with a default per kind of auth. Without an id, the SHA-256 of the body stands for it, so the same
//! body sent twice is one event.

use http::{HeaderMap, HeaderName};
use serde_json::Value;

use super::auth::WebhookAuthConfig;
use super::verdict::{header_name, header_text};
use crate::expr::jsonpath::JsonPath;
use crate::kernel::build::BuildErrors;

/// The longest event id kept.
const MAX_ID_CHARS: usize = 256;

/// A place in a request: a header, or a JSONPath into the body.
#[derive(Debug)]
pub(super) enum Locator {
    Header(HeaderName),
    Path(JsonPath),
}

impl Locator {
    /// `$…` is a JSONPath; anything else a header name.
    fn compile(text: &str, field: &str, errors: &mut BuildErrors) -> Option<Locator> {
        if text.trim_start().starts_with('$') {
            errors.jsonpath(&[field], text.trim()).map(Locator::Path)
        } else {
            header_name(text, &[field], errors).map(Locator::Header)
        }
    }

    fn describe(&self) -> String {
        match self {
            Locator::Header(h) => format!("header `{h}`"),
            Locator::Path(p) => format!("`{}`", p.as_str()),
        }
    }

    /// The value found there, as JSON (a header as a string).
    fn find(&self, headers: &HeaderMap, body: &Value) -> Option<Value> {
        match self {
            Locator::Header(h) => header_text(headers, h.as_str()).map(|t| Value::String(t.to_string())),
            Locator::Path(p) => p.first(body).filter(|v| !v.is_null()).cloned(),
        }
    }
}

/// Where event ids come from.
#[derive(Debug)]
pub(super) enum EventIds {
    /// Written in `event_id`: an event without one there is malformed.
    Configured(Locator),
    /// A kind's default places, tried in order; the body's hash when none has one.
    Defaults(Vec<Locator>),
}

impl EventIds {
    pub(super) fn compile(text: Option<&str>, auth: &WebhookAuthConfig, errors: &mut BuildErrors) -> Option<EventIds> {
        match text {
            Some(text) => Locator::compile(text, "event_id", errors).map(EventIds::Configured),
            None => {
                let paths: &[&str] = match auth {
                    WebhookAuthConfig::AdobeIo { .. } => &["$.event_id", "$.id"],
                    _ => &[],
                };
                Some(EventIds::Defaults(
                    paths.iter().filter_map(|p| JsonPath::compile(p).ok()).map(Locator::Path).collect(),
                ))
            }
        }
    }

    /// The event's id, or why it has none (`Configured` only).
    pub(super) fn id(&self, headers: &HeaderMap, body: &Value, raw: &[u8]) -> Result<String, String> {
        match self {
            EventIds::Configured(at) => match at.find(headers, body) {
                Some(value) => id_text(&value).ok_or_else(|| {
                    format!(
                        "the event id at {} is not a string or an integer of at most {MAX_ID_CHARS} characters",
                        at.describe()
                    )
                }),
                None => Err(format!("the event has no id at {}", at.describe())),
            },
            EventIds::Defaults(places) => Ok(places
                .iter()
                .find_map(|at| at.find(headers, body).as_ref().and_then(id_text))
                .unwrap_or_else(|| body_hash(raw))),
        }
    }
}

/// An id as text: a non-empty string without control characters, or an integer.
fn id_text(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        _ => return None,
    };
    let fits = !text.is_empty() && text.chars().count() <= MAX_ID_CHARS && !text.chars().any(char::is_control);
    fits.then_some(text)
}

/// `sha256:` and the hex SHA-256 of a body: the id of an event that names none.
pub(super) fn body_hash(raw: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(raw);
    let mut id = String::with_capacity(7 + 64);
    id.push_str("sha256:");
    for b in digest {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// Where event times come from.
#[derive(Debug)]
pub(super) enum EventTimes {
    /// Written in `event_time`: an event without one there is malformed.
    Configured(Locator),
    /// A kind's default place, read when present.
    Optional(Locator),
    /// None.
    Unknown,
}

impl EventTimes {
    pub(super) fn compile(
        text: Option<&str>,
        auth: &WebhookAuthConfig,
        errors: &mut BuildErrors,
    ) -> Option<EventTimes> {
        match (text, auth) {
            (Some(text), _) => Locator::compile(text, "event_time", errors).map(EventTimes::Configured),
            (None, WebhookAuthConfig::AdobeIo { .. }) => Some(
                JsonPath::compile("$.time").map_or(EventTimes::Unknown, |p| EventTimes::Optional(Locator::Path(p))),
            ),
            (None, _) => Some(EventTimes::Unknown),
        }
    }

    /// The event's time (Unix milliseconds) when it has one, or why it cannot be read.
    pub(super) fn time_ms(&self, headers: &HeaderMap, body: &Value) -> Result<Option<i64>, String> {
        let (at, required) = match self {
            EventTimes::Configured(at) => (at, true),
            EventTimes::Optional(at) => (at, false),
            EventTimes::Unknown => return Ok(None),
        };
        match at.find(headers, body) {
            Some(value) => parse_time_ms(&value)
                .map(Some)
                .ok_or_else(|| format!("the event time at {} is not RFC 3339 nor Unix seconds", at.describe())),
            None if required => Err(format!("the event has no time at {}", at.describe())),
            None => Ok(None),
        }
    }
}

/// RFC 3339 text, or Unix seconds (a number, or digits in a string), as Unix milliseconds.
pub(super) fn parse_time_ms(value: &Value) -> Option<i64> {
    let seconds = |s: f64| (s.is_finite() && s.abs() < 1e13).then_some((s * 1000.0) as i64);
    match value {
        Value::Number(n) => n.as_f64().and_then(seconds),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(n) = s.parse::<f64>() {
                return seconds(n);
            }
            let parsed = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
            i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).ok()
        }
        _ => None,
    }
}
