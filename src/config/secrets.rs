//! Secret values resolved from `${secret:NAME}` are registered here so that every rendered error, log
//! line, dead-letter entry and dry-run output can be scrubbed of them before it leaves the process.

use std::sync::RwLock;

/// What a secret is replaced with.
pub(crate) const MASK: &str = "***";

/// Secrets shorter than this many characters are refused when the config is loaded: masking them would
/// replace every occurrence of such common text (`t`, `abc`) in every log line and output.
pub(crate) const MIN_LEN: usize = 4;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remembers a secret value so that it is masked from now on, as written and as a JSON string holds
/// it (a JSON log line escapes its quotes, backslashes and control characters). Empty values are
/// ignored; the config loader refuses `${secret:…}` values shorter than [`MIN_LEN`] before they get
/// here.
pub(crate) fn register(value: &str) {
    if value.is_empty() {
        return;
    }
    let escaped = serde_json::to_string(value).unwrap_or_default();
    let escaped = escaped.get(1..escaped.len().saturating_sub(1)).unwrap_or_default();
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for form in [value, escaped] {
        if !form.is_empty() && !secrets.iter().any(|s| s == form) {
            secrets.push(form.to_string());
        }
    }
    // Longest first, so a secret that contains another is masked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with every registered secret replaced by [`MASK`].
pub(crate) fn redact(text: &str) -> String {
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_string();
    for s in secrets.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASK);
        }
    }
    out
}

/// True when at least one secret is registered (lets hot paths skip scrubbing).
pub(crate) fn any() -> bool {
    !SECRETS.read().unwrap_or_else(|e| e.into_inner()).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_registered_values_longest_first() {
        register("hunter2-long");
        register("hunter2");
        assert_eq!(redact("a hunter2-long b hunter2"), "a *** b ***");
        assert!(any());
        register("quo\"te\\d");
        let json = serde_json::to_string("x quo\"te\\d y").expect("a JSON string");
        assert_eq!(redact(&json), "\"x *** y\"", "masked as a JSON string holds it");
    }
}
