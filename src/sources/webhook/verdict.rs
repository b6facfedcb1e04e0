//! What a check of a webhook request concludes ([`Refusal`], [`Verified`]), and reading the names and
//! values of headers: shared by every kind of check and by where ids and times are read.

use http::{HeaderMap, HeaderName};

use crate::kernel::build::BuildErrors;

/// Why a request is not taken as coming from its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refusal {
    /// Missing or wrong credentials (401): the request is not processed.
    Unauthorized(String),
    /// The check could not be made now (a public key could not be fetched): 503, the sender retries.
    Unavailable(String),
}

/// What a successful check learned.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Verified {
    /// The signed time of the request (Unix milliseconds), when the scheme signs one.
    pub(super) signed_at_ms: Option<i64>,
}

/// A header name written in the config, or `None` with the error recorded.
pub(super) fn header_name(name: &str, field: &[&str], errors: &mut BuildErrors) -> Option<HeaderName> {
    match HeaderName::from_bytes(name.trim().as_bytes()) {
        Ok(h) => Some(h),
        Err(_) => {
            let hint = "a header name is letters, digits and `-`, e.g. `x-signature`".to_string();
            errors.push(field, "bad-value", format!("`{name}` is not a valid header name"), Some(hint));
            None
        }
    }
}

/// A header's value as text, `None` when absent or not visible ASCII.
pub(super) fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}
