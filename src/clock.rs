//! Wall-clock time as Weir writes it: RFC 3339, UTC (dead-letter entries, audit entries, run history).

/// Now, as RFC 3339 in UTC (`unknown` should formatting ever fail).
pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "unknown".into())
}
