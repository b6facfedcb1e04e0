//! How the ERP stamps its records: GUIDs in Business Central's form, and RFC 3339 timestamps with
//! milliseconds.

/// A GUID in BC's lower-case hyphenated form, from the seed and a number.
pub(super) fn guid(rng: &mut fastrand::Rng) -> String {
    let a = rng.u64(..);
    let b = rng.u64(..);
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// An RFC 3339 timestamp with milliseconds, as BC writes `lastModifiedDateTime`.
pub(super) fn timestamp(millis: i128) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}
