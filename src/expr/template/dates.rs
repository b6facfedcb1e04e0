//! The date filters: `parse_date` (any of the formats Weir meets, or an explicit one) and `dateformat`
//! (ISO, Magento's, a bare date, Unix time, or a format description), with the parsed format
//! descriptions cached for every render.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use minijinja::Error;
use minijinja::value::{Kwargs, Value};
use time::format_description::OwnedFormatItem;
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use super::error::invalid;

/// Parsed time format descriptions, shared by every render (format strings are almost always literals).
#[derive(Clone, Default)]
pub(super) struct FormatCache(Arc<RwLock<HashMap<String, Arc<OwnedFormatItem>>>>);

impl FormatCache {
    fn get(&self, fmt: &str) -> Result<Arc<OwnedFormatItem>, Error> {
        if let Ok(m) = self.0.read()
            && let Some(f) = m.get(fmt)
        {
            return Ok(f.clone());
        }
        let parsed = time::format_description::parse_owned::<2>(fmt)
            .map_err(|e| invalid(format!("bad date format {fmt:?}: {e}")))?;
        let parsed = Arc::new(parsed);
        if let Ok(mut m) = self.0.write()
            && m.len() < 1024
        {
            m.insert(fmt.to_string(), parsed.clone());
        }
        Ok(parsed)
    }
}

const MAGENTO: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
const MAGENTO_FRAC: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]");
const DATE_ONLY: &[time::format_description::BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// Parses a date/time in any of the formats Weir meets: RFC 3339 / ISO 8601 (with or without offset),
/// Magento's `2023-02-28 07:55:06`, a bare date, or a unix timestamp (seconds). Times without an offset
/// are taken as UTC.
fn parse_auto(value: &Value) -> Result<OffsetDateTime, Error> {
    if let Some(s) = value.as_str() {
        let s = s.trim();
        if let Ok(dt) = OffsetDateTime::parse(s, &Rfc3339) {
            return Ok(dt);
        }
        if let Ok(dt) = OffsetDateTime::parse(s, &Iso8601::PARSING) {
            return Ok(dt);
        }
        for fmt in [MAGENTO, MAGENTO_FRAC] {
            if let Ok(dt) = PrimitiveDateTime::parse(s, fmt) {
                return Ok(dt.assume_utc());
            }
        }
        if let Ok(dt) = PrimitiveDateTime::parse(s, &Iso8601::PARSING) {
            return Ok(dt.assume_utc());
        }
        if let Ok(d) = Date::parse(s, DATE_ONLY) {
            return Ok(d.midnight().assume_utc());
        }
        return Err(invalid(format!("{s:?} is not a date (expected ISO 8601 or \"YYYY-MM-DD HH:MM:SS\")")));
    }
    if value.kind() == minijinja::value::ValueKind::Number {
        let secs = f64::try_from(value.clone())?;
        let nanos = (secs * 1e9) as i128;
        return OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .map_err(|_| invalid(format!("timestamp {secs} out of range")));
    }
    Err(invalid(format!("expected a date string or a unix timestamp, got {}", value.kind())))
}

/// Parses with an explicit time format description (v2 syntax, e.g. `[day].[month].[year]`), trying a
/// full date-time with offset, then a date-time (UTC), then a date (midnight UTC).
fn parse_with(cache: &FormatCache, value: &Value, fmt: &str) -> Result<OffsetDateTime, Error> {
    let s = value.as_str().ok_or_else(|| invalid(format!("expected a date string, got {}", value.kind())))?;
    let f = cache.get(fmt)?;
    let f = &*f;
    OffsetDateTime::parse(s, f)
        .or_else(|_| PrimitiveDateTime::parse(s, f).map(PrimitiveDateTime::assume_utc))
        .or_else(|_| Date::parse(s, f).map(|d| d.midnight().assume_utc()))
        .map_err(|e| invalid(format!("cannot parse {s:?} with format {fmt:?}: {e}")))
}

fn parse_input(cache: &FormatCache, value: &Value, input: Option<&str>) -> Result<OffsetDateTime, Error> {
    match input {
        Some(fmt) => parse_with(cache, value, fmt),
        None => parse_auto(value),
    }
}

/// `value | parse_date(format=None)` → an RFC 3339 string (UTC offset kept), chainable into `dateformat`.
pub(super) fn parse_date(
    cache: &FormatCache,
    value: Value,
    format: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let format = match format {
        Some(f) => Some(f),
        None => kwargs.get::<Option<String>>("format")?,
    };
    kwargs.assert_all_used()?;
    let dt = parse_input(cache, &value, format.as_deref())?;
    dt.format(&Rfc3339).map_err(|e| invalid(e.to_string()))
}

/// `value | dateformat(format='iso', input=None)`. `format` is `iso`/`rfc3339`, `magento`, `date`, `unix`
/// or a time format description (`[day].[month].[year]`); `input` is an explicit input format.
pub(super) fn dateformat(
    cache: &FormatCache,
    value: Value,
    format: Option<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let format = match format {
        Some(f) => Some(f),
        None => kwargs.get::<Option<String>>("format")?,
    };
    let input: Option<String> = kwargs.get("input")?;
    kwargs.assert_all_used()?;
    let dt = parse_input(cache, &value, input.as_deref())?;
    let err = |e: time::error::Format| invalid(e.to_string());
    let out = match format.as_deref().unwrap_or("iso") {
        "iso" | "rfc3339" => dt.format(&Rfc3339).map_err(err)?,
        "magento" => dt.format(MAGENTO).map_err(err)?,
        "date" => dt.format(DATE_ONLY).map_err(err)?,
        "unix" => return Ok(Value::from(dt.unix_timestamp())),
        other => dt.format(&*cache.get(other)?).map_err(err)?,
    };
    Ok(Value::from(out))
}
