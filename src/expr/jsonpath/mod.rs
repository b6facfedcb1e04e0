//! JSONPath (RFC 9535) queries: parsed once by jsonpath-rust's parser, compiled into Weir's own
//! evaluator tree, and evaluated on records without re-parsing or allocating paths.

mod compile;
mod eval;
mod ir;
mod iregexp;
#[cfg(test)]
mod tests;

use std::ops::ControlFlow;
use std::sync::Arc;

use serde_json::{Map, Value};

use ir::{Query, Step};

/// Why a JSONPath expression was rejected at build time.
#[derive(Debug, thiserror::Error)]
#[error("invalid JSONPath `{expr}`: {reason}")]
pub struct JsonPathError {
    /// The expression as written.
    pub(crate) expr: String,
    /// What is wrong with it.
    pub(crate) reason: String,
    /// 1-based column (in characters) within the expression where it goes wrong, when known.
    pub(crate) column: Option<usize>,
}

/// A compiled JSONPath query.
#[derive(Debug, Clone)]
pub struct JsonPath {
    source: String,
    query: Arc<Query>,
    /// The steps when the query is singular (only name and index selectors).
    singular: Option<Arc<[Step]>>,
}

impl JsonPath {
    /// Parses and checks `expr`.
    pub fn compile(expr: &str) -> Result<Self, JsonPathError> {
        let error = |reason: String| JsonPathError { expr: expr.to_string(), reason, column: None };
        let ast = jsonpath_rust::parser::parse_json_path(expr).map_err(|e| {
            let (reason, column) = tidy_parse_error(&e.to_string());
            JsonPathError { column, ..error(reason) }
        })?;
        compile::check_shorthand_whitespace(expr).map_err(error)?;
        compile::check_comparison_brackets(expr).map_err(error)?;
        let query = compile::query(&ast).map_err(error)?;
        let singular = query.singular_steps().map(Arc::from);
        Ok(Self { source: expr.to_string(), query: Arc::new(query), singular })
    }

    /// The expression as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.source
    }

    /// Every node the query selects, in RFC 9535 order.
    pub fn query<'a>(&self, value: &'a Value) -> Vec<&'a Value> {
        if let Some(steps) = &self.singular {
            return eval::follow(steps, value).into_iter().collect();
        }
        let mut out = Vec::new();
        let _ = eval::run(&self.query, value, &mut |node| {
            out.push(node);
            ControlFlow::Continue(())
        });
        out
    }

    /// The first node the query selects; stops walking as soon as it is found.
    pub fn first<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        if let Some(steps) = &self.singular {
            return eval::follow(steps, value);
        }
        let mut found = None;
        let _ = eval::run(&self.query, value, &mut |node| {
            found = Some(node);
            ControlFlow::Break(())
        });
        found
    }

    /// Whether this is an RFC 9535 singular query (only name and index selectors), which selects
    /// at most one node and can be used with [`set`](Self::set) and [`remove`](Self::remove).
    pub(crate) fn is_singular(&self) -> bool {
        self.singular.is_some()
    }

    /// Writes `new` at this singular path in `target`, creating missing intermediate objects
    /// (an intermediate `null` counts as missing). `$` replaces `target` itself.
    ///
    /// Fails, leaving `target` unchanged, when the path is not singular, when an intermediate
    /// value is neither an object nor null where a name is needed, or is not an array holding the
    /// index where an index is needed.
    pub(crate) fn set(&self, target: &mut Value, new: Value) -> Result<(), JsonPathError> {
        let error = |reason: String| JsonPathError { expr: self.source.clone(), reason, column: None };
        let steps = self
            .singular
            .as_deref()
            .ok_or_else(|| error("only singular paths (names and indexes) can be set".into()))?;
        let Some((last, parents)) = steps.split_last() else {
            *target = new;
            return Ok(());
        };
        // Check the whole path first so a failure leaves `target` untouched.
        check_settable(steps, target).map_err(error)?;
        let mut node = target;
        for step in parents {
            node = match step {
                Step::Name(name) => {
                    if node.is_null() {
                        *node = Value::Object(Map::new());
                    }
                    let Value::Object(members) = node else {
                        return Err(error(format!("cannot set member `{name}` of a non-object")));
                    };
                    let child = members.entry(name.clone()).or_insert(Value::Null);
                    if child.is_null() {
                        *child = Value::Object(Map::new());
                    }
                    child
                }
                Step::Index(index) => index_mut(node, *index)
                    .ok_or_else(|| error(format!("index {index} is not in an array at this path")))?,
            };
        }
        match last {
            Step::Name(name) => {
                if node.is_null() {
                    *node = Value::Object(Map::new());
                }
                match node {
                    Value::Object(members) => {
                        members.insert(name.clone(), new);
                        Ok(())
                    }
                    _ => Err(error(format!("cannot set member `{name}` of a non-object"))),
                }
            }
            Step::Index(index) => {
                let slot = index_mut(node, *index)
                    .ok_or_else(|| error(format!("index {index} is not in an array at this path")))?;
                *slot = new;
                Ok(())
            }
        }
    }

    /// Removes and returns the value at this singular path, if there is one (array elements
    /// after it shift down). `$` takes the whole value, leaving `null`. Non-singular paths remove
    /// nothing and return `None`.
    pub(crate) fn remove(&self, target: &mut Value) -> Option<Value> {
        let steps = self.singular.as_deref()?;
        let Some((last, parents)) = steps.split_last() else {
            return Some(std::mem::take(target));
        };
        let mut node = target;
        for step in parents {
            node = match step {
                Step::Name(name) => node.as_object_mut()?.get_mut(name)?,
                Step::Index(index) => index_mut(node, *index)?,
            };
        }
        match last {
            Step::Name(name) => remove_member(node.as_object_mut()?, name),
            Step::Index(index) => {
                let items = node.as_array_mut()?;
                let position = eval::normalize_index(items.len(), *index)?;
                Some(items.remove(position))
            }
        }
    }

    /// Renames the member this singular path names to the last name of `to`, keeping its place among
    /// the others, when both name members of the same object and `to`'s does not exist yet; false
    /// (and `target` unchanged) otherwise.
    pub(crate) fn rename_in_place(&self, to: &JsonPath, target: &mut Value) -> bool {
        let (Some(from), Some(to)) = (self.singular.as_deref(), to.singular.as_deref()) else { return false };
        let (Some((Step::Name(old), parents)), Some((Step::Name(new), to_parents))) =
            (from.split_last(), to.split_last())
        else {
            return false;
        };
        if parents != to_parents {
            return false;
        }
        let mut node = target;
        for step in parents {
            let next = match step {
                Step::Name(name) => node.as_object_mut().and_then(|m| m.get_mut(name)),
                Step::Index(index) => index_mut(node, *index),
            };
            let Some(next) = next else { return false };
            node = next;
        }
        let Some(members) = node.as_object_mut() else { return false };
        if !members.contains_key(old) || members.contains_key(new) {
            return false;
        }
        *members = std::mem::take(members)
            .into_iter()
            .map(|(k, v)| if k == *old { (new.clone(), v) } else { (k, v) })
            .collect();
        true
    }

    /// For `$.a.b[?@.key == literal]…` (names, then one equality filter on a member of the elements,
    /// then anything): the array, the member and the literal. A source may then build only matching
    /// elements of that array. `None` for any other shape.
    pub(crate) fn element_filter(&self) -> Option<ElementFilter> {
        let q = &self.query;
        if !q.absolute {
            return None;
        }
        let mut path = Vec::new();
        for segment in &q.segments {
            let ir::Segment::Child(selectors) = segment else { return None };
            match selectors.as_slice() {
                [ir::Selector::Name(name)] => path.push(name.clone()),
                [ir::Selector::Filter(logical)] => {
                    let ir::Logical::Compare(ir::CmpOp::Eq, left, right) = logical.as_ref() else { return None };
                    let (key, literal) = match (left, right) {
                        (ir::Operand::Singular { absolute: false, steps }, ir::Operand::Literal(v))
                        | (ir::Operand::Literal(v), ir::Operand::Singular { absolute: false, steps }) => (steps, v),
                        _ => return None,
                    };
                    let [ir::Step::Name(key)] = key.as_slice() else { return None };
                    if path.is_empty() || !(literal.is_string() || literal.is_number() || literal.is_boolean()) {
                        return None;
                    }
                    return Some(ElementFilter { array: path, key: key.clone(), literal: literal.clone() });
                }
                _ => return None,
            }
        }
        None
    }

    /// The record fields this query reads (`Reads::All` when it may read anything).
    pub(crate) fn reads(&self) -> crate::expr::reads::Reads {
        match self.field_paths() {
            Some(paths) => {
                let mut reads = crate::expr::reads::Reads::none();
                paths.into_iter().for_each(|p| reads.add_path(p));
                reads
            }
            None => crate::expr::reads::Reads::All,
        }
    }

    /// The object-member name paths from the root this query can read, e.g. `$.a.b[*].c` reads
    /// only under `["a", "b"]`; absolute queries inside filters add their own paths. `None` when
    /// the query may read anything (`$`, `$..x`, `$[*]`, `$[0]`).
    pub(crate) fn field_paths(&self) -> Option<Vec<Vec<String>>> {
        let mut paths = Vec::new();
        if !self.query.collect_field_paths(&mut paths) {
            return None;
        }
        paths.sort();
        paths.dedup();
        // A path under another one adds nothing: reading `a` reads `a.b`.
        let mut minimal: Vec<Vec<String>> = Vec::with_capacity(paths.len());
        for path in paths {
            if !minimal.iter().any(|p| path.starts_with(p)) {
                minimal.push(path);
            }
        }
        Some(minimal)
    }
}

/// A query of the form `$.a.b[?@.key == literal]…`: it reads only the elements of the array at
/// `$.a.b` whose member `key` equals `literal`, so a source may skip building the others.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ElementFilter {
    /// Member names leading to the array.
    pub(crate) array: Vec<String>,
    /// The element member compared.
    pub(crate) key: String,
    /// The value it is compared with (a string, number or boolean).
    pub(crate) literal: Value,
}

/// Removes `name` from `members`, keeping the order of the others whether or not serde_json's
/// `preserve_order` feature is on (its `remove` would then swap the last member into the gap).
fn remove_member(members: &mut Map<String, Value>, name: &str) -> Option<Value> {
    if !members.contains_key(name) {
        return None;
    }
    let mut removed = None;
    members.retain(|key, value| {
        if key == name {
            removed = Some(std::mem::take(value));
            false
        } else {
            true
        }
    });
    removed
}

/// The array element `index` names in `node`, if `node` is an array holding it.
fn index_mut(node: &mut Value, index: i64) -> Option<&mut Value> {
    let items = node.as_array_mut()?;
    let position = eval::normalize_index(items.len(), index)?;
    items.get_mut(position)
}

/// Checks that `set` can write along `steps` in `target` without changing anything.
fn check_settable(steps: &[Step], target: &Value) -> Result<(), String> {
    let mut node = Some(target);
    for step in steps {
        // `None`/null: the rest of the path will be created as objects.
        let current = node.filter(|n| !n.is_null());
        node = match (step, current) {
            (Step::Name(_), None) => None,
            (Step::Name(name), Some(Value::Object(members))) => crate::exact_json::member(members, name),
            (Step::Name(name), Some(other)) => {
                return Err(format!("cannot set member `{name}` of a {}", type_name(other)));
            }
            (Step::Index(index), Some(Value::Array(items))) => match eval::normalize_index(items.len(), *index) {
                Some(position) => items.get(position),
                None => {
                    return Err(format!("index {index} is out of range for an array of {} elements", items.len()));
                }
            },
            (Step::Index(index), other) => {
                return Err(format!("cannot set index {index} of a {}", other.map_or("missing value", type_name)));
            }
        };
    }
    Ok(())
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// jsonpath-rust reports syntax errors as pest's multi-line rendering (` --> 1:19`, a snippet, and
/// `= expected comparable`); Weir shows its own snippet, so keep the column and the expectation only.
fn tidy_parse_error(message: &str) -> (String, Option<usize>) {
    let column = message
        .split(" --> ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| c.is_whitespace()).next())
        .and_then(|pos| pos.split(':').nth(1))
        .and_then(|col| col.parse().ok());
    let expected = message.lines().map(str::trim).find_map(|l| l.strip_prefix("= ")).map(str::to_string);
    match (expected, column) {
        (Some(what), Some(col)) => (format!("syntax error at column {col}: {what}"), Some(col)),
        (Some(what), None) => (format!("syntax error: {what}"), None),
        _ => (message.lines().next().unwrap_or(message).trim().to_string(), column),
    }
}
