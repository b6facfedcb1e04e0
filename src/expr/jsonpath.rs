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

/// Placeholder singular-path support (names and indexes only); replaced by the compiled evaluator.
fn singular_segments(expr: &str) -> Option<Vec<Result<String, usize>>> {
    let mut rest = expr.strip_prefix('$')?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("['") {
            let end = r.find("']")?;
            out.push(Ok(r[..end].replace("\\'", "'")));
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            out.push(Err(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            if name.is_empty() || name == "*" || name.starts_with('.') {
                return None;
            }
            out.push(Ok(name.to_string()));
            rest = &r[end..];
        } else {
            return None;
        }
    }
    Some(out)
}

impl JsonPath {
    /// True for a query that selects at most one node by names and indexes only.
    pub fn is_singular(&self) -> bool {
        singular_segments(&self.source).is_some()
    }

    /// Writes `new` at this singular path, creating missing objects on the way.
    pub fn set(&self, target: &mut Value, new: Value) -> Result<(), JsonPathError> {
        let err = |reason: &str| JsonPathError { expr: self.source.clone(), reason: reason.to_string() };
        let segs = singular_segments(&self.source).ok_or_else(|| err("not a singular path"))?;
        let mut cur = target;
        for seg in segs {
            cur = match seg {
                Ok(name) => {
                    if cur.is_null() {
                        *cur = Value::Object(serde_json::Map::new());
                    }
                    cur.as_object_mut().ok_or_else(|| err("an intermediate value is not an object"))?.entry(name).or_insert(Value::Null)
                }
                Err(i) => cur.get_mut(i).ok_or_else(|| err("index out of range"))?,
            };
        }
        *cur = new;
        Ok(())
    }

    /// Removes and returns the node at this singular path.
    pub fn remove(&self, target: &mut Value) -> Option<Value> {
        let mut segs = singular_segments(&self.source)?;
        let last = segs.pop()?;
        let mut cur = target;
        for seg in segs {
            cur = match seg {
                Ok(name) => cur.get_mut(name.as_str())?,
                Err(i) => cur.get_mut(i)?,
            };
        }
        match last {
            Ok(name) => cur.as_object_mut()?.remove(&name),
            Err(i) => {
                let a = cur.as_array_mut()?;
                (i < a.len()).then(|| a.remove(i))
            }
        }
    }
}
