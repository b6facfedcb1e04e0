//! Incremental sync of the `http` source: the watermark (the last `updated_at` delivered), the
//! look-back window below it, and the versions already delivered inside that window, so that a run
//! reads only what changed since the last one — without losing a record committed late or updated
//! during the sync, and without sending one twice when several share a timestamp at a page boundary.
//! The watermark is saved with the source's checkpoint, so it only moves over records that are
//! acknowledged (delivered, filtered or dead-lettered).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use crate::clock::{TimeFormat, parse_change_time};
use crate::config::duration::Duration;
use crate::expr::jsonpath::JsonPath;
use crate::kernel::build::BuildErrors;
use crate::kernel::checkpoint::{Acknowledged, Resumable};

/// `incremental:` — read only what changed since the last run.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IncrementalConfig {
    /// JSONPath to each record's change time (or change number), e.g. `$.updated_at` (Magento) or
    /// `$.lastModifiedDateTime` (Business Central). Timestamps are RFC 3339 (`2026-03-01T10:00:00Z`),
    /// `YYYY-MM-DD hh:mm:ss` (Magento's, read as UTC) or `YYYY-MM-DDThh:mm:ss`; numbers compare as
    /// numbers. The API must answer records in ascending order of it.
    pub(crate) field: String,
    /// JSONPath to what identifies a record, e.g. `$.entity_id`: a version of a record already
    /// delivered (same key, same or older `field`) is skipped.
    pub(crate) key: String,
    /// The watermark of the first run, in the format of `field`, e.g. `"2026-01-01 00:00:00"`.
    pub(crate) start: String,
    /// How far below the watermark each run reads again (default `0s`), for records committed after
    /// a sync with a change time before its end (long transactions, clocks apart). Versions already
    /// delivered inside the window are skipped. Timestamps only.
    #[serde(default)]
    pub(crate) look_back: Option<Duration>,
}

/// A change time or number, comparable.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub(crate) enum Mark {
    Time(OffsetDateTime, TimeFormat),
    Number(f64),
}

impl Mark {
    /// Reads a change time from a record's value.
    pub(crate) fn read(value: &Value) -> Result<Self, String> {
        match value {
            Value::Number(n) => n.as_f64().map(Mark::Number).ok_or_else(|| format!("{n} is not a number")),
            Value::String(s) => Self::parse(s),
            other => Err(format!("{other} is neither a timestamp nor a number")),
        }
    }

    /// Reads a change time from text.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some((t, format)) = parse_change_time(text) {
            return Ok(Mark::Time(t, format));
        }
        if let Ok(n) = text.parse::<f64>()
            && n.is_finite()
        {
            return Ok(Mark::Number(n));
        }
        Err(format!(
            "`{text}` is not a timestamp (RFC 3339, `YYYY-MM-DD hh:mm:ss` or `YYYY-MM-DDThh:mm:ss`) or a number"
        ))
    }

    /// Whether `self` comes after `other`; `None` when one is a time and the other a number.
    fn cmp_to(&self, other: &Mark) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Mark::Time(a, _), Mark::Time(b, _)) => Some(a.cmp(b)),
            (Mark::Number(a), Mark::Number(b)) => a.partial_cmp(b),
            _ => None,
        }
    }

    fn le(&self, other: &Mark) -> bool {
        self.cmp_to(other).is_some_and(std::cmp::Ordering::is_le)
    }

    /// Whether `self` comes strictly before `other` (false when they cannot be compared).
    pub(crate) fn before(&self, other: &Mark) -> bool {
        self.cmp_to(other).is_some_and(std::cmp::Ordering::is_lt)
    }

    /// Whether both are times or both numbers.
    pub(crate) fn comparable(&self, other: &Mark) -> bool {
        self.cmp_to(other).is_some()
    }

    /// `self` minus the look-back window.
    fn minus(self, window: std::time::Duration) -> Self {
        match self {
            Mark::Time(t, f) => Mark::Time(t - window, f),
            number => number,
        }
    }

    /// The text saved in checkpoints: in the values' format, with the fraction of a second when
    /// there is one, so that it reads back the same.
    fn render_exact(&self) -> String {
        match self {
            Mark::Time(t, TimeFormat::Space) if t.nanosecond() != 0 => t
                .format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]"))
                .unwrap_or_default(),
            Mark::Time(t, TimeFormat::LocalT) if t.nanosecond() != 0 => t
                .format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]"))
                .unwrap_or_default(),
            _ => self.render(),
        }
    }

    /// The text the API's filter compares with, in the format the values were read in.
    pub(crate) fn render(&self) -> String {
        match self {
            // Whole numbers as integers: `1700000000`, not `1700000000.0`.
            Mark::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => format!("{}", *n as i64),
            Mark::Number(n) => n.to_string(),
            Mark::Time(t, TimeFormat::Rfc3339) => t.format(&Rfc3339).unwrap_or_default(),
            Mark::Time(t, TimeFormat::Space) => {
                t.format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).unwrap_or_default()
            }
            Mark::Time(t, TimeFormat::LocalT) => {
                t.format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]")).unwrap_or_default()
            }
        }
    }
}

/// The compiled `incremental:` settings.
#[derive(Debug, Clone)]
pub(crate) struct Incremental {
    pub(crate) field: JsonPath,
    pub(crate) key: JsonPath,
    start: Mark,
    look_back: std::time::Duration,
}

impl Incremental {
    /// Where a run without a saved watermark starts: `start`, nothing delivered.
    pub(crate) fn initial(&self) -> Delivered {
        Delivered { mark: self.start, versions: HashMap::new(), look_back: self.look_back }
    }
}

impl IncrementalConfig {
    /// Compiles the paths and reads `start`, recording problems under `incremental`.
    pub(crate) fn build(&self, errors: &mut BuildErrors) -> Option<Incremental> {
        let field = errors.jsonpath(&["incremental", "field"], &self.field);
        let key = errors.jsonpath(&["incremental", "key"], &self.key);
        let start = match Mark::parse(&self.start) {
            Ok(m) => Some(m),
            Err(e) => {
                let hint = Some("e.g. `start: \"2026-01-01 00:00:00\"` or `\"2026-01-01T00:00:00Z\"`".to_string());
                errors.push(&["incremental", "start"], "bad-value", e, hint);
                None
            }
        };
        let look_back = self.look_back.map(|d| d.0).unwrap_or_default();
        if matches!(start, Some(Mark::Number(_))) && !look_back.is_zero() {
            let message = "`look_back` is a time window: it needs a timestamp watermark, not a number";
            errors.push(&["incremental", "look_back"], "bad-value", message, None);
        }
        Some(Incremental { field: field?, key: key?, start: start?, look_back })
    }
}

/// Where a run starts and what it already delivered: the saved watermark and the versions delivered
/// in the look-back window, by key.
#[derive(Debug, Clone)]
pub(crate) struct Delivered {
    pub(crate) mark: Mark,
    pub(crate) versions: HashMap<String, Mark>,
    look_back: std::time::Duration,
}

impl Delivered {
    /// The lowest change time this run asks for: the watermark minus the look-back window.
    pub(crate) fn floor(&self) -> Mark {
        self.mark.minus(self.look_back)
    }

    /// True when the version `mark` of `key` is not new: older than the window, or delivered.
    pub(crate) fn has(&self, key: &str, mark: &Mark) -> bool {
        mark.before(&self.floor()) || self.versions.get(key).is_some_and(|seen| mark.le(seen))
    }

    /// Notes that this version of `key` is delivered (or on its way).
    pub(crate) fn note(&mut self, key: &str, mark: Mark) {
        self.versions.insert(key.to_string(), mark);
    }
}

/// One input the source emitted: its change time and key (`None`: it went to the dead-letter queue
/// without one).
type Emitted = Option<(String, Mark)>;

/// The watermark position saved with the checkpoint: the restored one, moved over the emitted inputs
/// as they are acknowledged, in order.
#[derive(Debug)]
pub(crate) struct WatermarkPosition {
    state: Mutex<Folded>,
}

#[derive(Debug)]
struct Folded {
    saved: bool,
    delivered: Delivered,
    /// Inputs emitted and not yet folded into `delivered`, from input `first` on.
    pending: Vec<Emitted>,
    first: u64,
}

impl WatermarkPosition {
    /// The position the last run saved (`watermark`, `delivered`), or the start.
    pub(crate) fn restore(incremental: &Incremental, saved: &Map<String, Value>) -> Result<Self, String> {
        let mark = match saved.get("watermark") {
            None => incremental.start,
            Some(Value::String(text)) => Mark::parse(text).map_err(|e| format!("its watermark: {e}"))?,
            Some(other) => Mark::read(other).map_err(|e| format!("its watermark: {e}"))?,
        };
        let mut versions = HashMap::new();
        if let Some(Value::Object(seen)) = saved.get("delivered") {
            for (key, value) in seen {
                versions.insert(key.clone(), Mark::read(value).map_err(|e| format!("delivered `{key}`: {e}"))?);
            }
        }
        let delivered = Delivered { mark, versions, look_back: incremental.look_back };
        let saved = saved.contains_key("watermark");
        Ok(Self { state: Mutex::new(Folded { saved, delivered, pending: Vec::new(), first: 0 }) })
    }

    /// What the run starts from.
    pub(crate) fn delivered(&self) -> Delivered {
        self.lock().delivered.clone()
    }

    /// Records the next input emitted.
    pub(crate) fn emitted(&self, input: Emitted) {
        self.lock().pending.push(input);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Folded> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Resumable for WatermarkPosition {
    fn resumes(&self) -> bool {
        self.lock().saved
    }

    fn position(&self, acknowledged: &Acknowledged) -> Map<String, Value> {
        let mut state = self.lock();
        let (count, _) = acknowledged.stream(0);
        let done = usize::try_from(count.saturating_sub(state.first)).unwrap_or(usize::MAX).min(state.pending.len());
        let folded: Vec<Emitted> = state.pending.drain(..done).collect();
        state.first += done as u64;
        for (key, mark) in folded.into_iter().flatten() {
            if state.delivered.mark.before(&mark) {
                state.delivered.mark = mark;
            }
            state.delivered.note(&key, mark);
        }
        let floor = state.delivered.floor();
        state.delivered.versions.retain(|_, mark| !mark.before(&floor));
        let mut fields = Map::new();
        fields.insert("watermark".into(), Value::String(state.delivered.mark.render_exact()));
        let versions: BTreeMap<&String, Value> =
            state.delivered.versions.iter().map(|(k, m)| (k, Value::String(m.render_exact()))).collect();
        fields.insert("delivered".into(), serde_json::to_value(versions).unwrap_or_default());
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_and_render_in_their_own_format() {
        for text in ["2026-03-01 10:00:05", "2026-03-01T10:00:05Z", "2026-03-01T10:00:05", "1700000000"] {
            assert_eq!(Mark::parse(text).expect("parses").render(), text);
        }
        let magento = Mark::parse("2026-03-01 10:00:05").expect("parses");
        let iso = Mark::parse("2026-03-01T10:00:05+00:00").expect("parses");
        assert_eq!(magento.cmp_to(&iso), Some(std::cmp::Ordering::Equal));
        assert!(Mark::parse("yesterday").is_err());
        assert_eq!(magento.cmp_to(&Mark::Number(1.0)), None);
        let back = magento.minus(std::time::Duration::from_secs(300));
        assert_eq!(back.render(), "2026-03-01 09:55:05");
    }

    #[test]
    fn saved_watermarks_read_back_in_their_format() {
        for text in ["2026-03-01 10:00:05.25", "2026-03-01T10:00:05.5Z", "2026-03-01T10:00:05", "17.5"] {
            let mark = Mark::parse(text).expect("parses");
            assert_eq!(Mark::parse(&mark.render_exact()).expect("parses"), mark, "{text}");
        }
    }

    #[test]
    fn delivered_versions_are_skipped_and_newer_ones_are_not() {
        let mark = Mark::parse("2026-03-01 10:00:00").expect("parses");
        let mut d = Delivered { mark, versions: HashMap::new(), look_back: std::time::Duration::from_secs(60) };
        d.note("7", mark);
        assert!(d.has("7", &mark), "the same version again");
        assert!(!d.has("8", &mark), "another record with the same time");
        assert!(!d.has("7", &Mark::parse("2026-03-01 10:00:01").expect("parses")), "a newer version");
        assert!(!d.has("9", &Mark::parse("2026-03-01 09:59:30").expect("parses")), "inside the window, not delivered");
        assert!(d.has("9", &Mark::parse("2026-03-01 09:58:59").expect("parses")), "below the window");
    }
}
