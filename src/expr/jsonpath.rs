//! JSONPath (RFC 9535) queries compiled once at build time and evaluated on records.
//!
//! Placeholder implementation delegating to jsonpath-rust; replaced by a compiled evaluator.

use serde_json::Value;

/// Why a JSONPath expression was rejected at build time.
#[derive(Debug, thiserror::Error)]
#[error("invalid JSONPath `{expr}`: {reason}")]
pub struct JsonPathError {
    /// The expression as written.
    pub expr: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A compiled JSONPath query.
#[derive(Debug, Clone)]
pub struct JsonPath {
    source: String,
}

impl JsonPath {
    /// Parses and checks `expr`.
    pub fn compile(expr: &str) -> Result<Self, JsonPathError> {
        jsonpath_rust::parser::parse_json_path(expr).map_err(|e| JsonPathError {
            expr: expr.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Self { source: expr.to_string() })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Every node the query selects, in document order.
    pub fn query<'a>(&self, value: &'a Value) -> Vec<&'a Value> {
        jsonpath_rust::query::js_path_vals(&self.source, value).unwrap_or_default()
    }

    /// The first node the query selects.
    pub fn first<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        self.query(value).into_iter().next()
    }
}
