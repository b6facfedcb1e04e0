//! Evaluates a compiled query tree over `serde_json::Value`, depth-first, without allocating paths.
//!
//! Nodes are pushed to a callback in RFC 9535 order; the callback can stop the walk early, which
//! is how `first()` and existence tests short-circuit.

use std::cmp::Ordering;
use std::ops::ControlFlow;

use serde_json::Value;

use super::ir::{CmpOp, Logical, Operand, Pattern, Query, RegexCall, Segment, Selector, Step};
use super::iregexp;

/// Pushes every node `segments` selects from `node` to `emit`, in order, until it breaks.
pub(super) fn walk<'a, F>(segments: &[Segment], node: &'a Value, root: &'a Value, emit: &mut F) -> ControlFlow<()>
where
    F: FnMut(&'a Value) -> ControlFlow<()>,
{
    let Some((segment, rest)) = segments.split_first() else {
        return emit(node);
    };
    match segment {
        Segment::Child(selectors) => {
            for selector in selectors {
                select(selector, node, root, &mut |child| walk(rest, child, root, emit))?;
            }
            ControlFlow::Continue(())
        }
        Segment::Descendant(selectors) => descend(selectors, rest, node, root, emit),
    }
}

/// Applies `selectors` to `node` and each of its descendants (pre-order, arrays in order).
fn descend<'a, F>(
    selectors: &[Selector],
    rest: &[Segment],
    node: &'a Value,
    root: &'a Value,
    emit: &mut F,
) -> ControlFlow<()>
where
    F: FnMut(&'a Value) -> ControlFlow<()>,
{
    for selector in selectors {
        select(selector, node, root, &mut |child| walk(rest, child, root, emit))?;
    }
    match node {
        Value::Array(items) => {
            for item in items {
                descend(selectors, rest, item, root, emit)?;
            }
        }
        Value::Object(members) => {
            for member in members.values() {
                descend(selectors, rest, member, root, emit)?;
            }
        }
        _ => {}
    }
    ControlFlow::Continue(())
}

/// Pushes the children `selector` picks from `node`.
fn select<'a>(
    selector: &Selector,
    node: &'a Value,
    root: &'a Value,
    emit: &mut dyn FnMut(&'a Value) -> ControlFlow<()>,
) -> ControlFlow<()> {
    match selector {
        Selector::Name(name) => {
            if let Some(child) = node.as_object().and_then(|m| crate::exact_json::member(m, name)) {
                emit(child)?;
            }
        }
        Selector::Index(index) => {
            if let Some(child) = node.as_array().and_then(|a| index_in(a, *index)) {
                emit(child)?;
            }
        }
        Selector::Wildcard => match node {
            Value::Array(items) => items.iter().try_for_each(emit)?,
            Value::Object(members) => members.values().try_for_each(emit)?,
            _ => {}
        },
        Selector::Slice { start, end, step } => {
            if let Value::Array(items) = node {
                slice(items, *start, *end, *step, emit)?;
            }
        }
        Selector::Filter(logical) => match node {
            Value::Array(items) => {
                for item in items {
                    if test(logical, item, root) {
                        emit(item)?;
                    }
                }
            }
            Value::Object(members) => {
                for member in members.values() {
                    if test(logical, member, root) {
                        emit(member)?;
                    }
                }
            }
            _ => {}
        },
    }
    ControlFlow::Continue(())
}

/// The element at `index` (negative counts from the end).
pub(super) fn index_in(items: &[Value], index: i64) -> Option<&Value> {
    items.get(normalize_index(items.len(), index)?)
}

/// The position `index` names in an array of `len` elements, if it is in range.
pub(super) fn normalize_index(len: usize, index: i64) -> Option<usize> {
    let position = if index < 0 { i64::try_from(len).ok()?.checked_add(index)? } else { index };
    usize::try_from(position).ok().filter(|&p| p < len)
}

/// RFC 9535 §2.3.4.2.2 slice semantics.
fn slice<'a>(
    items: &'a [Value],
    start: Option<i64>,
    end: Option<i64>,
    step: i64,
    emit: &mut dyn FnMut(&'a Value) -> ControlFlow<()>,
) -> ControlFlow<()> {
    if step == 0 {
        return ControlFlow::Continue(());
    }
    // Indices are bounded by ±(2^53 - 1) by the grammar, so i64 arithmetic cannot overflow.
    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let normalize = |i: i64| if i >= 0 { i } else { len + i };
    // `at` is only called with 0 <= i < len.
    let at = |i: i64| &items[usize::try_from(i).unwrap_or(usize::MAX)];
    if step > 0 {
        let lower = start.map_or(0, normalize).clamp(0, len);
        let upper = end.map_or(len, normalize).clamp(0, len);
        let mut i = lower;
        while i < upper {
            emit(at(i))?;
            i += step;
        }
    } else {
        let upper = start.map_or(len - 1, normalize).clamp(-1, len - 1);
        let lower = end.map_or(-1, normalize).clamp(-1, len - 1);
        let mut i = upper;
        while lower < i {
            emit(at(i))?;
            i += step;
        }
    }
    ControlFlow::Continue(())
}

/// Evaluates a filter expression for the current node `current`.
fn test(logical: &Logical, current: &Value, root: &Value) -> bool {
    match logical {
        Logical::Or(items) => items.iter().any(|item| test(item, current, root)),
        Logical::And(items) => items.iter().all(|item| test(item, current, root)),
        Logical::Not(inner) => !test(inner, current, root),
        Logical::Exists(query) => {
            let start = if query.absolute { root } else { current };
            walk(&query.segments, start, root, &mut |_| ControlFlow::Break(())).is_break()
        }
        Logical::Compare(op, left, right) => {
            compare(*op, &operand(left, current, root), &operand(right, current, root))
        }
        Logical::Regex(call) => regex_matches(call, current, root),
    }
}

/// The result of a value expression (RFC 9535 ValueType): a value or Nothing.
enum Val<'a> {
    Nothing,
    Node(&'a Value),
    Count(u64),
}

fn operand<'a>(op: &'a Operand, current: &'a Value, root: &'a Value) -> Val<'a> {
    match op {
        Operand::Literal(value) => Val::Node(value),
        Operand::Singular { absolute, steps } => {
            let start = if *absolute { root } else { current };
            follow(steps, start).map_or(Val::Nothing, Val::Node)
        }
        Operand::Length(arg) => match operand(arg, current, root) {
            Val::Node(Value::String(s)) => Val::Count(s.chars().count() as u64),
            Val::Node(Value::Array(items)) => Val::Count(items.len() as u64),
            Val::Node(Value::Object(members)) => Val::Count(members.len() as u64),
            _ => Val::Nothing,
        },
        Operand::Count(query) => {
            let mut count = 0u64;
            let start = if query.absolute { root } else { current };
            let _ = walk(&query.segments, start, root, &mut |_| {
                count += 1;
                ControlFlow::Continue(())
            });
            Val::Count(count)
        }
        Operand::Value(query) => {
            let mut found = None;
            let mut several = false;
            let start = if query.absolute { root } else { current };
            let _ = walk(&query.segments, start, root, &mut |node| {
                if found.is_some() {
                    several = true;
                    return ControlFlow::Break(());
                }
                found = Some(node);
                ControlFlow::Continue(())
            });
            match found {
                Some(node) if !several => Val::Node(node),
                _ => Val::Nothing,
            }
        }
    }
}

/// Follows a singular query's steps from `node`.
pub(super) fn follow<'a>(steps: &[Step], node: &'a Value) -> Option<&'a Value> {
    steps.iter().try_fold(node, |node, step| match step {
        Step::Name(name) => crate::exact_json::member(node.as_object()?, name),
        Step::Index(index) => index_in(node.as_array()?, *index),
    })
}

fn regex_matches(call: &RegexCall, current: &Value, root: &Value) -> bool {
    let Val::Node(Value::String(subject)) = operand(&call.subject, current, root) else {
        return false;
    };
    match &call.pattern {
        Pattern::Static(Some(regex)) => regex.is_match(subject),
        Pattern::Static(None) => false,
        Pattern::Dynamic(pattern) => match operand(pattern, current, root) {
            Val::Node(Value::String(p)) => iregexp::compile(p, call.anchored).is_some_and(|re| re.is_match(subject)),
            _ => false,
        },
    }
}

/// RFC 9535 §2.3.5.2.2 comparison.
fn compare(op: CmpOp, left: &Val<'_>, right: &Val<'_>) -> bool {
    match op {
        CmpOp::Eq => equal(left, right),
        CmpOp::Ne => !equal(left, right),
        CmpOp::Lt => less(left, right),
        CmpOp::Gt => less(right, left),
        CmpOp::Le => less(left, right) || equal(left, right),
        CmpOp::Ge => less(right, left) || equal(left, right),
    }
}

fn equal(left: &Val<'_>, right: &Val<'_>) -> bool {
    match (left, right) {
        (Val::Nothing, Val::Nothing) => true,
        (Val::Nothing, _) | (_, Val::Nothing) => false,
        (Val::Count(a), Val::Count(b)) => a == b,
        (Val::Count(c), Val::Node(Value::Number(n))) | (Val::Node(Value::Number(n)), Val::Count(c)) => {
            num_cmp(&Num::Int(i128::from(*c)), &Num::of(n)) == Some(Ordering::Equal)
        }
        (Val::Count(_), Val::Node(_)) | (Val::Node(_), Val::Count(_)) => false,
        (Val::Node(a), Val::Node(b)) => values_equal(a, b),
    }
}

fn less(left: &Val<'_>, right: &Val<'_>) -> bool {
    let num = |v: &Val<'_>| match v {
        Val::Count(c) => Some(Num::Int(i128::from(*c))),
        Val::Node(Value::Number(n)) => Some(Num::of(n)),
        _ => None,
    };
    if let (Some(a), Some(b)) = (num(left), num(right)) {
        return num_cmp(&a, &b) == Some(Ordering::Less);
    }
    match (left, right) {
        (Val::Node(Value::String(a)), Val::Node(Value::String(b))) => a < b,
        _ => false,
    }
}

/// Deep equality with numbers compared by value (`1 == 1.0`).
fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num_cmp(&Num::of(x), &Num::of(y)) == Some(Ordering::Equal),
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| values_equal(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len() && xs.iter().all(|(k, x)| ys.get(k).is_some_and(|y| values_equal(x, y)))
        }
        _ => a == b,
    }
}

/// A JSON number, exact when it is an integer.
enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    /// Numbers keep the text they were read with: integers that fit in 128 bits compare exactly, any
    /// other number by its nearest 64-bit float (`1e400` is infinity, greater than every finite number).
    fn of(n: &serde_json::Number) -> Self {
        match n.as_i128() {
            Some(i) => Num::Int(i),
            None => Num::Float(n.as_str().parse().unwrap_or(f64::NAN)),
        }
    }
}

#[allow(clippy::cast_precision_loss)] // comparing an integer with a float is approximate by nature
fn num_cmp(a: &Num, b: &Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(y)),
        (Num::Int(x), Num::Float(y)) => (*x as f64).partial_cmp(y),
        (Num::Float(x), Num::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(y),
    }
}

/// Helper for `JsonPath::query`/`first`: the start node of a top-level query.
pub(super) fn run<'a, F>(query: &Query, root: &'a Value, emit: &mut F) -> ControlFlow<()>
where
    F: FnMut(&'a Value) -> ControlFlow<()>,
{
    walk(&query.segments, root, root, emit)
}
