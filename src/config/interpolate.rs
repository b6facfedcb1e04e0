//! `${env:NAME}`, `${env:NAME:-default}` and `${secret:NAME}` in string values, resolved after parsing
//! (so positions and YAML quoting stay intact). `$${` writes a literal `${`.

use super::secrets;

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InterpolationError {
    /// `${env:NAME}` without default and NAME is not set.
    #[error("environment variable `{0}` is not set")]
    UnsetEnv(String),
    /// `${secret:NAME}` and NAME is not set.
    #[error("secret `{0}` is not set (secrets are read from the environment variable of that name)")]
    UnsetSecret(String),
    /// `${secret:NAME}` and NAME's value is shorter than [`secrets::MIN_LEN`] characters: masking it
    /// would replace that text everywhere in logs and outputs.
    #[error(
        "secret `{0}` is shorter than {min} characters, too short to be masked reliably",
        min = secrets::MIN_LEN
    )]
    ShortSecret(String),
    /// `${…}` with a provider other than `env` or `secret`.
    #[error("unknown interpolation `${{{0}}}`")]
    UnknownProvider(String),
    /// `${` without a closing `}`.
    #[error("unterminated `${{` in value")]
    Unterminated,
}

/// The result of interpolating one string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Interpolated {
    /// The string with every reference replaced.
    pub(crate) text: String,
    /// True when the whole string was a single reference (so a plain YAML scalar may be re-typed).
    pub(crate) whole: bool,
    /// True when a secret was substituted.
    pub(crate) has_secret: bool,
}

/// Resolves every reference in `input` using `lookup` for variables.
pub(crate) fn interpolate(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, InterpolationError> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    let mut refs = 0;
    let mut has_secret = false;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(escaped) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = escaped;
            continue;
        }
        if !after.starts_with("${") {
            out.push('$');
            rest = &after[1..];
            continue;
        }
        let end = after.find('}').ok_or(InterpolationError::Unterminated)?;
        let inner = &after[2..end];
        refs += 1;
        let (provider, spec) = inner.split_once(':').unwrap_or((inner, ""));
        match provider {
            "env" => {
                let (name, default) = match spec.split_once(":-") {
                    Some((n, d)) => (n, Some(d)),
                    None => (spec, None),
                };
                match (lookup(name), default) {
                    (Some(v), _) => out.push_str(&v),
                    (None, Some(d)) => out.push_str(d),
                    (None, None) => return Err(InterpolationError::UnsetEnv(name.to_string())),
                }
            }
            "secret" => {
                let value = lookup(spec).ok_or_else(|| InterpolationError::UnsetSecret(spec.to_string()))?;
                if value.chars().count() < secrets::MIN_LEN {
                    return Err(InterpolationError::ShortSecret(spec.to_string()));
                }
                secrets::register(&value);
                has_secret = true;
                out.push_str(&value);
            }
            _ => return Err(InterpolationError::UnknownProvider(inner.to_string())),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    let whole = refs == 1 && input.starts_with("${") && input.ends_with('}') && input.matches("${").count() == 1;
    Ok(Interpolated { text: out, whole, has_secret })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("erp.local".into()),
            "TOKEN" => Some("s3cr3t-token".into()),
            "SHORT" => Some("t".into()),
            _ => None,
        }
    }

    #[test]
    fn env_default_and_escape() {
        let r = interpolate("https://${env:HOST}:${env:PORT:-8080}/$${x}", &env).expect("ok");
        assert_eq!(r.text, "https://erp.local:8080/${x}");
        assert!(!r.whole);
        assert!(interpolate("${env:HOST}", &env).expect("ok").whole);
    }

    #[test]
    fn errors() {
        assert_eq!(interpolate("${env:NOPE}", &env), Err(InterpolationError::UnsetEnv("NOPE".into())));
        assert_eq!(interpolate("${vault:x}", &env), Err(InterpolationError::UnknownProvider("vault:x".into())));
        assert_eq!(interpolate("${env:X", &env), Err(InterpolationError::Unterminated));
        assert_eq!(interpolate("a ${secret:SHORT}", &env), Err(InterpolationError::ShortSecret("SHORT".into())));
        // A short environment variable is fine: it is not masked.
        assert_eq!(interpolate("${env:SHORT}", &env).expect("ok").text, "t");
    }

    #[test]
    fn secrets_are_registered_for_masking() {
        let r = interpolate("Bearer ${secret:TOKEN}", &env).expect("ok");
        assert!(r.has_secret);
        assert_eq!(secrets::redact(&r.text), "Bearer ***");
    }
}
