//! Walking a component's JSON Schema alongside its value: which sub-schema governs a nested value
//! (following `$ref`, properties, `additionalProperties`, `items` and the `anyOf` branch that admits
//! it). The parser uses it to find the accepted keys at the place an unknown key was written.

use serde_json::Value;

/// `schema` with `$ref`s into `root` followed.
pub(crate) fn resolve<'a>(root: &'a Value, mut schema: &'a Value) -> Option<&'a Value> {
    for _ in 0..32 {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => schema = root.pointer(r.strip_prefix('#')?)?,
            None => return Some(schema),
        }
    }
    None
}

/// Whether the JSON type(s) `schema` declares admit `value`.
pub(crate) fn type_matches(schema: &Value, value: &Value) -> bool {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let admits = |t: &Value| t.as_str().is_some_and(|t| t == kind || (t == "number" && kind == "integer"));
    match schema.get("type") {
        Some(Value::Array(types)) => types.iter().any(admits),
        Some(t) => admits(t),
        None => false,
    }
}

/// The schema of the value at JSON Pointer `rel` inside `value` (whose schema is `schema`), following
/// properties, `additionalProperties`, `items`, and the branch of an `anyOf` that admits the value.
pub(crate) fn sub_schema<'a>(root: &'a Value, schema: &'a Value, value: &Value, rel: &str) -> Option<&'a Value> {
    let mut schema = resolve(root, schema)?;
    let mut value = value;
    for seg in rel.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
            schema = branches.iter().filter_map(|b| resolve(root, b)).find(|b| type_matches(b, value))?;
        }
        let next = match value {
            Value::Array(items) => {
                value = items.get(seg.parse::<usize>().ok()?)?;
                schema.get("items")?
            }
            _ => {
                value = value.get(&seg)?;
                schema
                    .get("properties")
                    .and_then(|p| p.get(&seg))
                    .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()))?
            }
        };
        schema = resolve(root, next)?;
    }
    Some(schema)
}
