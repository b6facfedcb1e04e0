//! Zero-copy bridge between `serde_json::Value` and minijinja values: a lazy [`JsonNode`] object over an
//! `Arc`'d record, plus conversions both ways.
//!
//! A record is exposed to templates as a [`JsonNode`]: the shared root and a path into it. Scalars are
//! converted only when a template reads them; arrays and objects become further `JsonNode`s, so rendering
//! `{{ record.name }}` never converts the rest of the record.

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value as MjValue, ValueKind};
use serde_json::Value as Json;

/// One step of a path from the root of a record to a node inside it.
#[derive(Debug, Clone)]
enum Step {
    Key(Arc<str>),
    Index(usize),
}

/// A node inside a shared JSON document, exposed to minijinja as a map or a sequence.
#[derive(Debug)]
pub(crate) struct JsonNode {
    root: Arc<Json>,
    path: Vec<Step>,
}

impl JsonNode {
    /// The root of `doc`, as a minijinja value (scalars are converted directly).
    pub(crate) fn root_value(doc: Arc<Json>) -> MjValue {
        match &*doc {
            Json::Array(_) | Json::Object(_) => MjValue::from_object(JsonNode { root: doc, path: Vec::new() }),
            scalar => scalar_to_value(scalar),
        }
    }

    /// The JSON node this object stands for.
    pub(crate) fn resolve(&self) -> &Json {
        let mut node = &*self.root;
        for step in &self.path {
            let next = match (step, node) {
                (Step::Key(k), Json::Object(m)) => m.get(&**k),
                (Step::Index(i), Json::Array(a)) => a.get(*i),
                _ => None,
            };
            // Paths are only built from nodes that exist, and the root is immutable.
            match next {
                Some(n) => node = n,
                None => return &Json::Null,
            }
        }
        node
    }

    /// `node` (found at `step` below this one) as a value; `step` is only built for containers.
    fn child(&self, step: impl FnOnce() -> Step, node: &Json) -> MjValue {
        match node {
            Json::Array(_) | Json::Object(_) => {
                let mut path = Vec::with_capacity(self.path.len() + 1);
                path.extend(self.path.iter().cloned());
                path.push(step());
                MjValue::from_object(JsonNode { root: self.root.clone(), path })
            }
            scalar => scalar_to_value(scalar),
        }
    }

    fn get_str(&self, key: &str) -> Option<MjValue> {
        match self.resolve() {
            Json::Object(m) => {
                let (k, v) = m.get_key_value(key)?;
                Some(self.child(|| Step::Key(Arc::from(k.as_str())), v))
            }
            _ => None,
        }
    }
}

impl Object for JsonNode {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        match self.resolve() {
            Json::Array(_) => ObjectRepr::Seq,
            _ => ObjectRepr::Map,
        }
    }

    fn get_value(self: &Arc<Self>, key: &MjValue) -> Option<MjValue> {
        match self.resolve() {
            Json::Object(_) => self.get_str(key.as_str()?),
            Json::Array(a) => {
                let i = key.as_i64()?;
                let i = if i < 0 { i.checked_add(i64::try_from(a.len()).ok()?)? } else { i };
                let i = usize::try_from(i).ok()?;
                Some(self.child(|| Step::Index(i), a.get(i)?))
            }
            _ => None,
        }
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<MjValue> {
        self.get_str(key)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.resolve() {
            Json::Array(a) => Enumerator::Seq(a.len()),
            Json::Object(m) => Enumerator::Values(m.keys().map(|k| MjValue::from(k.as_str())).collect()),
            _ => Enumerator::Empty,
        }
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        match self.resolve() {
            Json::Array(a) => Some(a.len()),
            Json::Object(m) => Some(m.len()),
            _ => Some(0),
        }
    }
}

/// A JSON scalar as a minijinja value; arrays and objects are converted eagerly (use
/// [`JsonNode::root_value`] for the lazy form).
pub(crate) fn scalar_to_value(v: &Json) -> MjValue {
    match v {
        Json::Null => MjValue::from(()),
        Json::Bool(b) => MjValue::from(*b),
        Json::Number(n) => number_to_value(n),
        Json::String(s) => MjValue::from(s.as_str()),
        Json::Array(a) => a.iter().map(scalar_to_value).collect(),
        Json::Object(m) => m.iter().map(|(k, v)| (MjValue::from(k.as_str()), scalar_to_value(v))).collect(),
    }
}

/// A JSON number as a template number. Numbers keep the text they were read with (serde_json's
/// `arbitrary_precision`); templates compute on them as integers when the text is an integer that fits
/// in 128 bits, exactly, and otherwise as the nearest 64-bit float (`-0` reads as `0`, `1e400` as
/// infinity, which no output can hold). A template that only copies a number keeps its text: see
/// [`exact_integer`] and the structured templates' exact lookups.
pub(crate) fn number_to_value(n: &serde_json::Number) -> MjValue {
    let text = n.as_str();
    if is_integer_text(text) {
        if let Ok(i) = text.parse::<i64>() {
            return MjValue::from(i);
        }
        if let Ok(i) = text.parse::<i128>() {
            return MjValue::from(i);
        }
        if let Ok(u) = text.parse::<u128>() {
            return MjValue::from(u);
        }
    }
    MjValue::from(text.parse::<f64>().unwrap_or(f64::NAN))
}

/// Whether `n` is an integer that a template holds exactly and prints as it was written (every integer
/// of up to 128 bits but `-0`).
pub(crate) fn exact_integer(n: &serde_json::Number) -> bool {
    let text = n.as_str();
    text != "-0" && is_integer_text(text) && (text.parse::<i128>().is_ok() || text.parse::<u128>().is_ok())
}

/// `-?[0-9]+`: no fraction, no exponent.
fn is_integer_text(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A template number as a JSON number: integers exactly (up to 128 bits), floats in their shortest
/// form; infinity and NaN have none.
pub(crate) fn value_to_number(v: &MjValue) -> Result<serde_json::Number, String> {
    if v.is_integer() {
        if let Some(i) = v.as_i64() {
            return Ok(i.into());
        }
        if let Some(n) = i128::try_from(v.clone()).ok().and_then(serde_json::Number::from_i128) {
            return Ok(n);
        }
        if let Some(n) = u128::try_from(v.clone()).ok().and_then(serde_json::Number::from_u128) {
            return Ok(n);
        }
    }
    let f = f64::try_from(v.clone()).map_err(|e| e.to_string())?;
    serde_json::Number::from_f64(f).ok_or_else(|| format!("{f} is not a valid JSON number"))
}

/// A JSON value (owned) as a minijinja value: scalars directly, containers as a lazy [`JsonNode`].
pub(crate) fn json_to_value(v: &Json) -> MjValue {
    match v {
        Json::Array(_) | Json::Object(_) => JsonNode::root_value(Arc::new(v.clone())),
        scalar => scalar_to_value(scalar),
    }
}

/// Converts a template result back to JSON. `JsonNode`s are cloned from the underlying document without
/// going through minijinja; `none`/undefined become `null`.
pub(crate) fn value_to_json(v: &MjValue) -> Result<Json, String> {
    if let Some(node) = v.downcast_object_ref::<JsonNode>() {
        return Ok(node.resolve().clone());
    }
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => Ok(Json::Null),
        ValueKind::Bool => Ok(Json::Bool(v.is_true())),
        ValueKind::String => Ok(Json::String(v.as_str().unwrap_or_default().to_string())),
        ValueKind::Number => value_to_number(v).map(Json::Number),
        ValueKind::Seq | ValueKind::Iterable => {
            let iter = v.try_iter().map_err(|e| e.to_string())?;
            iter.map(|x| value_to_json(&x)).collect::<Result<Vec<_>, _>>().map(Json::Array)
        }
        ValueKind::Map => {
            let mut out = serde_json::Map::new();
            let iter = v.try_iter().map_err(|e| e.to_string())?;
            for k in iter {
                let item = v.get_item(&k).map_err(|e| e.to_string())?;
                let key = match k.as_str() {
                    Some(s) => s.to_string(),
                    None => k.to_string(),
                };
                out.insert(key, value_to_json(&item)?);
            }
            Ok(Json::Object(out))
        }
        // Bytes, plain objects, and whatever kinds minijinja adds later: go through serde.
        _ => serde_json::to_value(v).map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lazy_node_access() {
        let doc = Arc::new(json!({"a": {"b": [1, 2.5, "x", null, true]}, "s": "str"}));
        let v = JsonNode::root_value(doc.clone());
        let b = v.get_attr("a").unwrap().get_attr("b").unwrap();
        assert_eq!(b.len(), Some(5));
        assert_eq!(b.get_item(&MjValue::from(0)).unwrap(), MjValue::from(1));
        assert_eq!(b.get_item(&MjValue::from(-1)).unwrap(), MjValue::from(true));
        assert!(b.get_item(&MjValue::from(9)).unwrap().is_undefined());
        assert_eq!(v.get_attr("s").unwrap().as_str(), Some("str"));
        assert!(v.get_attr("nope").unwrap().is_undefined());
        assert_eq!(value_to_json(&b).unwrap(), json!([1, 2.5, "x", null, true]));
        assert_eq!(value_to_json(&v).unwrap(), *doc);
    }

    #[test]
    fn back_to_json() {
        let v: MjValue = vec![MjValue::from(1), MjValue::from("a"), MjValue::from(())].into();
        assert_eq!(value_to_json(&v).unwrap(), json!([1, "a", null]));
        let m: MjValue = [("k", MjValue::from(1.5))].into_iter().collect();
        assert_eq!(value_to_json(&m).unwrap(), json!({"k": 1.5}));
    }
}
