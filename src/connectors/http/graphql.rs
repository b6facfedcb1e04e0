//! GraphQL over HTTP: the request body (`{"query", "variables"}`, POSTed as JSON) and the answer's
//! `data`. A GraphQL server answers HTTP 200 with `errors` for a query that failed: those answers are
//! failures with the servers' messages, not data — partial data beside `errors` too, unless allowed.

use serde_json::{Value, json};

use super::client::excerpt;

/// The body of a GraphQL request.
pub(crate) fn body(query: &str, variables: Value) -> Value {
    json!({ "query": query, "variables": variables })
}

/// The `data` of a GraphQL answer, or why it failed: its `errors` (their messages and paths, secrets
/// masked), or no `data` at all. With `allow_partial`, `data` that is not null is taken despite
/// `errors` (a warning is logged).
pub(crate) fn data(mut answer: Value, allow_partial: bool) -> Result<Value, String> {
    let errors = match answer.get("errors") {
        Some(Value::Array(errors)) if !errors.is_empty() => Some(describe_errors(errors)),
        Some(Value::Null | Value::Array(_)) | None => None,
        Some(other) => Some(excerpt(&other.to_string(), 300)),
    };
    let data = answer.get_mut("data").map(Value::take).unwrap_or(Value::Null);
    match errors {
        Some(errors) if allow_partial && !data.is_null() => {
            tracing::warn!(%errors, "GraphQL answered partial data with errors (`allow_partial`)");
            Ok(data)
        }
        Some(errors) => Err(format!("GraphQL errors: {errors}")),
        None if data.is_null() => {
            Err(format!("the GraphQL answer holds no `data`: {}", excerpt(&answer.to_string(), 200)))
        }
        None => Ok(data),
    }
}

/// `message (at path a.b.0); …` for each error, at most 5, secrets masked.
fn describe_errors(errors: &[Value]) -> String {
    let mut parts: Vec<String> = errors
        .iter()
        .take(5)
        .map(|e| {
            let message = e.get("message").and_then(Value::as_str).map_or_else(|| e.to_string(), str::to_string);
            let path = e.get("path").and_then(Value::as_array).map(|p| {
                p.iter().map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_string)).collect::<Vec<_>>().join(".")
            });
            match path {
                Some(path) if !path.is_empty() => format!("{} (at `{path}`)", excerpt(&message, 200)),
                _ => excerpt(&message, 200),
            }
        })
        .collect();
    if errors.len() > 5 {
        parts.push(format!("and {} more", errors.len() - 5));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_with_data_are_failures_unless_partial_data_is_allowed() {
        let answer = json!({
            "data": {"customer": null},
            "errors": [{"message": "Customer not authorized", "path": ["customer", 0]}, {"message": "second"}]
        });
        let e = data(answer.clone(), false).expect_err("errors fail");
        assert_eq!(e, "GraphQL errors: Customer not authorized (at `customer.0`); second");
        assert_eq!(data(answer, true).expect("partial data"), json!({"customer": null}));
        assert!(data(json!({"data": null, "errors": [{"message": "x"}]}), true).is_err(), "no data at all");
        assert_eq!(data(json!({"data": {"a": 1}, "errors": []}), false).expect("no errors"), json!({"a": 1}));
        assert!(data(json!({"message": "not graphql"}), false).expect_err("no data").contains("holds no `data`"));
    }
}
