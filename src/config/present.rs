//! Serde helpers for optional config values where an explicit `null` means something: serde maps a
//! `null` to `None` for an `Option` field, which would make `default: null` look like "not given".

use serde::{Deserialize, Deserializer};

/// Deserializes a field that is present in the document as `Some(value)`, even when the value is `null`
/// (for `T = serde_json::Value` that is `Some(Value::Null)`). Use with `#[serde(default, deserialize_with
/// = "…")]` so that an absent field is still `None`; the schema is unchanged (schemars describes the
/// field's own type, `Option<T>`, which allows `null`).
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::{Value, json};

    #[derive(Debug, Deserialize)]
    struct S {
        #[serde(default, deserialize_with = "super::present")]
        default: Option<Value>,
    }

    #[test]
    fn a_present_null_is_some_and_an_absent_field_none() {
        let s: S = serde_json::from_value(json!({"default": null})).expect("valid");
        assert_eq!(s.default, Some(Value::Null));
        let s: S = serde_json::from_value(json!({})).expect("valid");
        assert_eq!(s.default, None);
        let s: S = serde_json::from_value(json!({"default": 0})).expect("valid");
        assert_eq!(s.default, Some(json!(0)));
    }
}
