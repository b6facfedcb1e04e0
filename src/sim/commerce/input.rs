//! Reading what a request sends, as Magento's web API does: the JSON body, required fields, ids in
//! paths, and the input limits on lists — each refusal in Magento's error shape.

use serde_json::{Value, json};

use super::MagentoError;

/// An endpoint's answer: a status and a JSON body, or Magento's error.
pub(super) type Answer = Result<(u16, Value), MagentoError>;

/// Magento's list limit for synchronous requests when input limits are on.
pub(super) const LIST_LIMIT: usize = 20;
/// Magento's limit on the operations of one asynchronous request when input limits are on.
pub(super) const ASYNC_LIMIT: usize = 5_000;

/// The request body as JSON.
pub(super) fn json_body(body: &[u8]) -> Result<Value, MagentoError> {
    serde_json::from_slice(body)
        .map_err(|_| MagentoError::new(400, "Decoding error: the request body is not valid JSON."))
}

/// `"%fieldName" is required. Enter and try again.`
pub(super) fn missing(name: &str) -> MagentoError {
    MagentoError::new(400, "\"%fieldName\" is required. Enter and try again.").with(json!({"fieldName": name}))
}

/// The field `name` of `value`, which must be there.
pub(super) fn required<'a>(value: &'a Value, name: &str) -> Result<&'a Value, MagentoError> {
    value.get(name).filter(|v| !v.is_null()).ok_or_else(|| missing(name))
}

/// The list `name` of `value`: it must be there, and hold at most `limit` items when one is given.
pub(super) fn list<'a>(
    value: &'a Value,
    name: &str,
    limit: Option<usize>,
    kind: &str,
) -> Result<&'a Vec<Value>, MagentoError> {
    let items = required(value, name)?.as_array().ok_or_else(|| missing(name))?;
    check_limit(items.len(), limit, kind)?;
    Ok(items)
}

/// `Maximum items of type "%type" is %max` when `count` passes the limit.
pub(super) fn check_limit(count: usize, limit: Option<usize>, kind: &str) -> Result<(), MagentoError> {
    match limit {
        Some(max) if count > max => {
            Err(MagentoError::new(400, "Maximum items of type \"%type\" is %max")
                .with(json!({"type": kind, "max": max})))
        }
        _ => Ok(()),
    }
}

/// A number or a numeric string.
pub(super) fn number(value: &Value) -> Option<f64> {
    value.as_f64().or_else(|| value.as_str()?.trim().parse().ok())
}

/// A value as the text Magento's validation messages quote.
pub(super) fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A numeric path segment (`/V1/orders/{id}`).
pub(super) fn id(segment: &str) -> Option<u64> {
    segment.parse().ok()
}

/// Magento's 404 for an entity that does not exist.
pub(super) fn no_entity() -> MagentoError {
    MagentoError::new(404, "The entity that was requested doesn't exist. Verify the entity and try again.")
}

/// Merges an object's fields into another, the given ones winning, except the `kept` ones.
pub(super) fn merge(target: &mut Value, fields: &Value, kept: &[&str]) {
    if let (Some(target), Some(fields)) = (target.as_object_mut(), fields.as_object()) {
        for (key, value) in fields.iter().filter(|(key, _)| !kept.contains(&key.as_str())) {
            target.insert(key.clone(), value.clone());
        }
    }
}
