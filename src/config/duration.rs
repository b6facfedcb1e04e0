//! Durations in config are written the human way (`500ms`, `30s`, `5m`, `1h 30m`) and parsed once, at
//! load time.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer};

/// A duration read from config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Duration(pub(crate) std::time::Duration);

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as `500ms`, `30s`, `5m` or `1h`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                humantime::parse_duration(v).map(Duration).map_err(|e| {
                    E::custom(format!("invalid duration `{v}`: {e}; write e.g. `500ms`, `30s`, `5m`, `1h`"))
                })
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A duration: a number and a unit (`ms`, `s`, `m`, `h`, `d`), e.g. `500ms`, `30s`, `5m`, `1h 30m`.",
            "pattern": "^\\s*[0-9]+\\s*[a-zµ]+(\\s*[0-9]+\\s*[a-zµ]+)*\\s*$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_human_durations_and_rejects_bare_numbers() {
        let d: Duration = serde_json::from_str("\"1m 30s\"").expect("valid");
        assert_eq!(d.0.as_secs(), 90);
        let e = serde_json::from_str::<Duration>("\"5 minutes please\"").expect_err("invalid");
        assert!(e.to_string().contains("invalid duration"), "{e}");
        assert!(serde_json::from_str::<Duration>("5").is_err());
    }
}
