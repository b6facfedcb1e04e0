//! Wall-clock time as Weir writes it — RFC 3339, UTC (dead-letter entries, audit entries, run history)
//! — and the change times it reads from records (an incremental source's watermark, the metrics'
//! watermark lag).

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Now, as RFC 3339 in UTC (`unknown` should formatting ever fail).
pub(crate) fn now_rfc3339() -> String {
    OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_else(|_| "unknown".into())
}

/// How a change time was written, to write it back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd)]
pub(crate) enum TimeFormat {
    Rfc3339,
    /// `YYYY-MM-DD hh:mm:ss`, UTC.
    Space,
    /// `YYYY-MM-DDThh:mm:ss`, UTC.
    LocalT,
}

/// A change time as APIs write them: RFC 3339, `YYYY-MM-DD hh:mm:ss` (Magento's) or
/// `YYYY-MM-DDThh:mm:ss` (both read as UTC, optionally with a fraction of a second); `None` for any
/// other text.
pub(crate) fn parse_change_time(text: &str) -> Option<(OffsetDateTime, TimeFormat)> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some((t, TimeFormat::Rfc3339));
    }
    let space =
        format_description!(version = 2, "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]");
    if let Ok(t) = PrimitiveDateTime::parse(text, space) {
        return Some((t.assume_utc(), TimeFormat::Space));
    }
    let local =
        format_description!(version = 2, "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]");
    PrimitiveDateTime::parse(text, local).ok().map(|t| (t.assume_utc(), TimeFormat::LocalT))
}
