//! Lowers jsonpath-rust's parsed AST into Weir's evaluator tree, enforcing the RFC 9535 rules the
//! parser does not (function names, argument and result types).

use jsonpath_rust::parser::model as ast;
use serde_json::Value;

use super::ir::{CmpOp, Logical, Operand, Pattern, Query, RegexCall, Segment, Selector, Step};
use super::iregexp;

/// Why a parsed query is not valid RFC 9535.
pub(super) type Invalid = String;

pub(super) fn query(q: &ast::JpQuery) -> Result<Query, Invalid> {
    Ok(Query { absolute: true, segments: segments(&q.segments)? })
}

fn segments(segments: &[ast::Segment]) -> Result<Vec<Segment>, Invalid> {
    segments.iter().map(segment).collect()
}

fn segment(s: &ast::Segment) -> Result<Segment, Invalid> {
    Ok(match s {
        ast::Segment::Selector(sel) => Segment::Child(vec![selector(sel)?]),
        ast::Segment::Selectors(sels) => Segment::Child(sels.iter().map(selector).collect::<Result<_, _>>()?),
        ast::Segment::Descendant(inner) => match segment(inner)? {
            Segment::Child(sels) => Segment::Descendant(sels),
            Segment::Descendant(_) => return Err("nested descendant segment".into()),
        },
    })
}

fn selector(s: &ast::Selector) -> Result<Selector, Invalid> {
    Ok(match s {
        ast::Selector::Name(name) => Selector::Name(name.clone()),
        ast::Selector::Index(index) => Selector::Index(*index),
        ast::Selector::Wildcard => Selector::Wildcard,
        ast::Selector::Slice(start, end, step) => Selector::Slice { start: *start, end: *end, step: step.unwrap_or(1) },
        ast::Selector::Filter(f) => Selector::Filter(Box::new(filter(f)?)),
    })
}

fn filter(f: &ast::Filter) -> Result<Logical, Invalid> {
    Ok(match f {
        ast::Filter::Or(items) => Logical::Or(items.iter().map(filter).collect::<Result<_, _>>()?),
        ast::Filter::And(items) => Logical::And(items.iter().map(filter).collect::<Result<_, _>>()?),
        ast::Filter::Atom(atom) => filter_atom(atom)?,
    })
}

fn negate(logical: Logical, not: bool) -> Logical {
    if not { Logical::Not(Box::new(logical)) } else { logical }
}

fn filter_atom(atom: &ast::FilterAtom) -> Result<Logical, Invalid> {
    Ok(match atom {
        ast::FilterAtom::Filter { expr, not } => negate(filter(expr)?, *not),
        ast::FilterAtom::Test { expr, not } => negate(test_expr(expr)?, *not),
        ast::FilterAtom::Comparison(cmp) => comparison(cmp)?,
    })
}

/// A test expression: an existence test or a function returning LogicalType.
fn test_expr(test: &ast::Test) -> Result<Logical, Invalid> {
    Ok(match test {
        ast::Test::RelQuery(segs) => Logical::Exists(Query { absolute: false, segments: segments(segs)? }),
        ast::Test::AbsQuery(q) => Logical::Exists(query(q)?),
        ast::Test::Function(func) => match func.as_ref() {
            ast::TestFunction::Match(subject, pattern) => regex_call(true, subject, pattern)?,
            ast::TestFunction::Search(subject, pattern) => regex_call(false, subject, pattern)?,
            ast::TestFunction::Custom(name, _) => return Err(unknown_function(name)),
            other => {
                return Err(format!(
                    "`{}()` returns a value, not a logical result, so it cannot be used as a test \
                     (compare it instead)",
                    function_name(other)
                ));
            }
        },
    })
}

fn comparison(cmp: &ast::Comparison) -> Result<Logical, Invalid> {
    let (op, (left, right)) = match cmp {
        ast::Comparison::Eq(..) => (CmpOp::Eq, cmp.vals()),
        ast::Comparison::Ne(..) => (CmpOp::Ne, cmp.vals()),
        ast::Comparison::Lt(..) => (CmpOp::Lt, cmp.vals()),
        ast::Comparison::Lte(..) => (CmpOp::Le, cmp.vals()),
        ast::Comparison::Gt(..) => (CmpOp::Gt, cmp.vals()),
        ast::Comparison::Gte(..) => (CmpOp::Ge, cmp.vals()),
    };
    Ok(Logical::Compare(op, comparable(left)?, comparable(right)?))
}

fn comparable(c: &ast::Comparable) -> Result<Operand, Invalid> {
    match c {
        ast::Comparable::Literal(lit) => Ok(Operand::Literal(literal(lit)?)),
        ast::Comparable::SingularQuery(q) => Ok(singular_query(q)),
        ast::Comparable::Function(func) => value_function(func),
    }
}

fn singular_query(q: &ast::SingularQuery) -> Operand {
    let (absolute, segs) = match q {
        ast::SingularQuery::Current(segs) => (false, segs),
        ast::SingularQuery::Root(segs) => (true, segs),
    };
    let steps = segs
        .iter()
        .map(|s| match s {
            ast::SingularQuerySegment::Name(name) => Step::Name(name.clone()),
            ast::SingularQuerySegment::Index(index) => Step::Index(*index),
        })
        .collect();
    Operand::Singular { absolute, steps }
}

fn literal(lit: &ast::Literal) -> Result<Value, Invalid> {
    Ok(match lit {
        ast::Literal::Int(i) => Value::from(*i),
        // 1e400 parses to infinity, which has no JSON value.
        ast::Literal::Float(f) => Value::Number(
            serde_json::Number::from_f64(*f).ok_or_else(|| format!("number literal {f} is out of range"))?,
        ),
        ast::Literal::String(s) => Value::String(s.clone()),
        ast::Literal::Bool(b) => Value::Bool(*b),
        ast::Literal::Null => Value::Null,
    })
}

/// A function used where a value is expected: `length`, `count` or `value`.
fn value_function(func: &ast::TestFunction) -> Result<Operand, Invalid> {
    match func {
        ast::TestFunction::Length(arg) => Ok(Operand::Length(Box::new(value_arg("length", arg)?))),
        ast::TestFunction::Count(arg) => Ok(Operand::Count(nodes_arg("count", arg)?)),
        ast::TestFunction::Value(arg) => Ok(Operand::Value(nodes_arg("value", arg)?)),
        ast::TestFunction::Custom(name, _) => Err(unknown_function(name)),
        other => Err(format!("`{}()` returns a logical result and cannot be compared", function_name(other))),
    }
}

fn regex_call(anchored: bool, subject: &ast::FnArg, pattern: &ast::FnArg) -> Result<Logical, Invalid> {
    let name = if anchored { "match" } else { "search" };
    let subject = value_arg(name, subject)?;
    let pattern = match value_arg(name, pattern)? {
        Operand::Literal(Value::String(p)) => Pattern::Static(iregexp::compile(&p, anchored)),
        // A literal that is not a string never matches.
        Operand::Literal(_) => Pattern::Static(None),
        other => Pattern::Dynamic(other),
    };
    Ok(Logical::Regex(Box::new(RegexCall { anchored, subject, pattern })))
}

/// An argument of a ValueType parameter: a literal, a singular query or a value function.
fn value_arg(func: &str, arg: &ast::FnArg) -> Result<Operand, Invalid> {
    match arg {
        ast::FnArg::Literal(lit) => Ok(Operand::Literal(literal(lit)?)),
        ast::FnArg::Test(test) => match test.as_ref() {
            ast::Test::RelQuery(segs) => singular_arg(func, false, segs),
            ast::Test::AbsQuery(q) => singular_arg(func, true, &q.segments),
            ast::Test::Function(inner) => value_function(inner),
        },
        ast::FnArg::Filter(_) => Err(format!("`{func}()` takes a value, not a logical expression")),
    }
}

fn singular_arg(func: &str, absolute: bool, segs: &[ast::Segment]) -> Result<Operand, Invalid> {
    let query = Query { absolute, segments: segments(segs)? };
    match query.singular_steps() {
        Some(steps) => Ok(Operand::Singular { absolute, steps }),
        None => Err(format!(
            "`{func}()` takes a value, so its query argument must be singular (only name and \
             index selectors)"
        )),
    }
}

/// An argument of a NodesType parameter: a query.
fn nodes_arg(func: &str, arg: &ast::FnArg) -> Result<Query, Invalid> {
    match arg {
        ast::FnArg::Test(test) => match test.as_ref() {
            ast::Test::RelQuery(segs) => Ok(Query { absolute: false, segments: segments(segs)? }),
            ast::Test::AbsQuery(q) => query(q),
            ast::Test::Function(_) => Err(format!("`{func}()` takes a query, not a function")),
        },
        ast::FnArg::Literal(_) => Err(format!("`{func}()` takes a query, not a literal")),
        ast::FnArg::Filter(_) => Err(format!("`{func}()` takes a query, not a logical expression")),
    }
}

fn unknown_function(name: &str) -> Invalid {
    format!("unknown function `{name}()` (RFC 9535 defines length, count, value, match, search)")
}

fn function_name(func: &ast::TestFunction) -> &str {
    match func {
        ast::TestFunction::Custom(name, _) => name,
        ast::TestFunction::Length(_) => "length",
        ast::TestFunction::Value(_) => "value",
        ast::TestFunction::Count(_) => "count",
        ast::TestFunction::Search(..) => "search",
        ast::TestFunction::Match(..) => "match",
    }
}

/// Rejects whitespace the RFC 9535 grammar forbids but jsonpath-rust's parser skips (its grammar
/// inherits pest's implicit whitespace): inside a member-name shorthand (`$.a b` would read member
/// `"a b"`) and right after a `.` (`@. a` in a comparison).
pub(super) fn check_shorthand_whitespace(expr: &str) -> Result<(), Invalid> {
    let chars: Vec<char> = expr.chars().collect();
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    let name_first = |c: char| c.is_ascii_alphabetic() || c == '_' || c >= '\u{80}';
    let name_char = |c: char| name_first(c) || c.is_ascii_digit();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            quote @ ('\'' | '"') => {
                // Skip the string literal, escapes included.
                i += 1;
                while i < chars.len() && chars[i] != quote {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            '.' => {
                let mut j = i + 1;
                if chars.get(j) == Some(&'.') {
                    j += 1;
                }
                if chars.get(j).is_some_and(|&c| is_space(c)) {
                    return Err("whitespace is not allowed after `.`".into());
                }
                let start = j;
                while chars.get(j).is_some_and(|&c| name_char(c)) {
                    j += 1;
                }
                if j > start && name_first(chars[start]) {
                    let mut k = j;
                    while chars.get(k).is_some_and(|&c| is_space(c)) {
                        k += 1;
                    }
                    if k > j && chars.get(k).is_some_and(|&c| name_char(c)) {
                        let name: String = chars[start..k].iter().collect();
                        return Err(format!(
                            "whitespace inside member name `{}`; quote names with spaces: \
                             ['{}']",
                            name.escape_debug(),
                            name.escape_debug()
                        ));
                    }
                }
                i = j.max(i + 1);
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Rejects whitespace inside the brackets of a singular query used as a comparison operand
/// (`@[ 'a' ] == 1`): RFC 9535 name and index segments there are `[name]`/`[index]` with no
/// whitespace, but jsonpath-rust's parser skips it.
pub(super) fn check_comparison_brackets(expr: &str) -> Result<(), Invalid> {
    let chars: Vec<char> = expr.chars().collect();
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    let is_cmp = |c: char| matches!(c, '=' | '<' | '>');
    let skip_string = |mut i: usize| {
        let quote = chars[i];
        i += 1;
        while i < chars.len() && chars[i] != quote {
            i += if chars[i] == '\\' { 2 } else { 1 };
        }
        i + 1
    };
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\'' | '"' => i = skip_string(i),
            '@' | '$' => {
                let start = i;
                let preceded_by_cmp = chars[..start].iter().rev().find(|&&c| !is_space(c)).is_some_and(|&c| is_cmp(c));
                // Read a singular-query tail leniently, noting whitespace inside brackets.
                let mut j = i + 1;
                let mut spaced_bracket = false;
                loop {
                    let mut k = j;
                    while chars.get(k).is_some_and(|&c| is_space(c)) {
                        k += 1;
                    }
                    match chars.get(k) {
                        Some('.') if chars.get(k + 1) != Some(&'.') => {
                            k += 1;
                            while chars.get(k).is_some_and(|&c| c.is_alphanumeric() || c == '_' || c >= '\u{80}') {
                                k += 1;
                            }
                        }
                        Some('[') => {
                            k += 1;
                            let inner_start = k;
                            while chars.get(k).is_some_and(|&c| is_space(c)) {
                                k += 1;
                            }
                            let leading = k > inner_start;
                            match chars.get(k) {
                                Some('\'' | '"') => k = skip_string(k),
                                Some(c) if c.is_ascii_digit() || *c == '-' => {
                                    while chars.get(k).is_some_and(|&c| c.is_ascii_digit() || c == '-') {
                                        k += 1;
                                    }
                                }
                                _ => break,
                            }
                            let inner_end = k;
                            while chars.get(k).is_some_and(|&c| is_space(c)) {
                                k += 1;
                            }
                            if chars.get(k) != Some(&']') {
                                break;
                            }
                            spaced_bracket |= leading || k > inner_end;
                            k += 1;
                        }
                        _ => break,
                    }
                    j = k;
                }
                let followed_by_cmp =
                    chars[j..].iter().find(|&&c| !is_space(c)).is_some_and(|&c| is_cmp(c) || c == '!');
                if spaced_bracket && (preceded_by_cmp || followed_by_cmp) {
                    let operand: String = chars[start..j].iter().collect();
                    return Err(format!(
                        "whitespace inside the brackets of `{}`, a singular query compared with \
                         `==`/`<`/…, is not allowed",
                        operand.trim_end()
                    ));
                }
                i = j.max(i + 1);
            }
            _ => i += 1,
        }
    }
    Ok(())
}
