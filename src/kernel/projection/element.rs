//! Testing an array element against `[?@.key == literal]` filters straight from its text, without
//! building it: only the tested members are looked at, and only their values are compared.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Whether an element is an object whose tested member equals a literal, read without building it.
pub(super) struct Matches<'a>(pub(super) &'a [(String, Value)]);

impl<'de> DeserializeSeed<'de> for Matches<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Matches<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut matched = false;
        // Keys and values are compared in place: nothing is allocated for an element that is skipped.
        while let Some(tested) = map.next_key_seed(TestedKey(self.0))? {
            match tested {
                Some(key) if !matched => matched = map.next_value_seed(EqualsAny { tests: self.0, key })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(matched)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// A member key: `Some(key)` when some test compares that member.
struct TestedKey<'a>(&'a [(String, Value)]);

impl<'de, 'a> DeserializeSeed<'de> for TestedKey<'a> {
    type Value = Option<&'a str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<&'a str>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'a> Visitor<'_> for TestedKey<'a> {
    type Value = Option<&'a str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, name: &str) -> Result<Option<&'a str>, E> {
        Ok(self.0.iter().find(|(k, _)| k == name).map(|(k, _)| k.as_str()))
    }
}

/// Whether a member's value equals the literal of any test on that member.
struct EqualsAny<'a> {
    tests: &'a [(String, Value)],
    key: &'a str,
}

impl EqualsAny<'_> {
    fn any(&self, equal: impl Fn(&Value) -> bool) -> bool {
        self.tests.iter().any(|(k, literal)| k == self.key && equal(literal))
    }
}

impl<'de> DeserializeSeed<'de> for EqualsAny<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EqualsAny<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(self.any(|l| l.as_str() == Some(v)))
    }

    fn visit_bool<E>(self, v: bool) -> Result<bool, E> {
        Ok(self.any(|l| l.as_bool() == Some(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<bool, E> {
        Ok(self.any(|l| literal_equals(l, &Value::from(v))))
    }

    fn visit_u64<E>(self, v: u64) -> Result<bool, E> {
        Ok(self.any(|l| literal_equals(l, &Value::from(v))))
    }

    fn visit_f64<E>(self, v: f64) -> Result<bool, E> {
        Ok(self.any(|l| l.as_f64() == Some(v)))
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

/// RFC 9535 `==` between a literal (string, number or boolean) and a member's value: numbers compare by
/// value (1 == 1.0), everything else by equality.
fn literal_equals(literal: &Value, value: &Value) -> bool {
    match (literal, value) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => literal == value,
    }
}
