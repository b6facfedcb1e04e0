//! Structured templates evaluated without minijinja, for the common simple case: every template string
//! is text and `{{ record.a.b }}` lookups, optionally through `upper`, `lower` or `round(n)`. Rendering
//! such a template through minijinja costs a render pass, a context and a converted value per lookup;
//! reading the record directly costs a few map lookups.
//!
//! This is only a shortcut: whenever a record holds something the shortcut does not render exactly as
//! minijinja would (a missing member, a float printed in text, a list, a `null` through a filter, ...),
//! [`Direct::render`] gives up and the template is rendered by minijinja as before, so the results
//! (and errors) are the same either way.

use std::borrow::Cow;

use minijinja::machinery::ast::{CallArg, Expr as Ast, Stmt};
use serde_json::{Map, Value as Json};

use super::Node;
use crate::expr::template::check::record_path_exact;
use crate::expr::template::filters::round_value;
use crate::expr::template::object::{exact_integer, number_to_value, value_to_json};

/// A structured template in the form the shortcut evaluates.
#[derive(Debug)]
pub(super) enum Direct {
    Literal(Json),
    /// A template string: literal text and lookups, rendered to a string.
    Text(Vec<Part>),
    /// A single `{{ expression }}`, keeping its type.
    Typed(Lookup),
    Array(Vec<Direct>),
    Object(Vec<(String, Direct)>),
}

#[derive(Debug)]
pub(super) enum Part {
    Raw(String),
    Lookup(Lookup),
}

/// `record.a.b | filter | ...`
#[derive(Debug)]
pub(super) struct Lookup {
    path: Vec<String>,
    filters: Vec<Filter>,
}

#[derive(Debug)]
enum Filter {
    Upper,
    Lower,
    Round(u32),
}

impl Direct {
    /// The shortcut for a compiled template, when every part of it has one. `text_source` gives the
    /// source of a `Node::Text` frame variable.
    pub(super) fn plan<'a>(node: &Node, text_source: &impl Fn(&str) -> Option<&'a str>) -> Option<Direct> {
        Some(match node {
            Node::Literal(v) => Direct::Literal(v.clone()),
            Node::Text(var) => Direct::Text(parts(text_source(var)?)?),
            Node::Typed(_, expr, _) => Direct::Typed(lookup(&minijinja::machinery::parse_expr(expr).ok()?)?),
            Node::Array(items) => {
                Direct::Array(items.iter().map(|n| Direct::plan(n, text_source)).collect::<Option<_>>()?)
            }
            Node::Object(fields) => Direct::Object(
                fields.iter().map(|(k, n)| Some((k.clone(), Direct::plan(n, text_source)?))).collect::<Option<_>>()?,
            ),
            Node::Each { .. } => return None,
        })
    }

    /// The rendered value, or `None` when this record needs minijinja.
    pub(super) fn render(&self, record: &Json) -> Option<Json> {
        Some(match self {
            Direct::Literal(v) => v.clone(),
            Direct::Text(parts) => Json::String(text(parts, record)?),
            Direct::Typed(l) => match l.eval(record)? {
                Cow::Borrowed(v) if !v.is_array() && !v.is_object() => v.clone(),
                Cow::Owned(v) if !v.is_array() && !v.is_object() => v,
                _ => return None,
            },
            Direct::Array(items) => Json::Array(items.iter().map(|d| d.render(record)).collect::<Option<_>>()?),
            Direct::Object(fields) => {
                let mut out = Map::with_capacity(fields.len());
                for (k, d) in fields {
                    out.insert(k.clone(), d.render(record)?);
                }
                Json::Object(out)
            }
        })
    }

    /// Writes the compact JSON text of [`Direct::render`]'s value to `out` without building the value;
    /// false (with part of it written) when this record needs minijinja.
    pub(super) fn write_json(&self, record: &Json, out: &mut Vec<u8>) -> bool {
        match self {
            Direct::Literal(v) => serde_json::to_writer(&mut *out, v).is_ok(),
            Direct::Text(parts) => text(parts, record).is_some_and(|s| serde_json::to_writer(&mut *out, &s).is_ok()),
            Direct::Typed(l) => match l.eval(record) {
                Some(v) if !v.is_array() && !v.is_object() => serde_json::to_writer(&mut *out, &*v).is_ok(),
                _ => false,
            },
            Direct::Array(items) => {
                out.push(b'[');
                for (i, d) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    if !d.write_json(record, out) {
                        return false;
                    }
                }
                out.push(b']');
                true
            }
            Direct::Object(fields) => {
                out.push(b'{');
                for (i, (k, d)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    if serde_json::to_writer(&mut *out, k).is_err() {
                        return false;
                    }
                    out.push(b':');
                    if !d.write_json(record, out) {
                        return false;
                    }
                }
                out.push(b'}');
                true
            }
        }
    }
}

/// A template string's text, or `None` when a lookup gives what minijinja prints differently.
fn text(parts: &[Part], record: &Json) -> Option<String> {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Raw(s) => out.push_str(s),
            Part::Lookup(l) => match &*l.eval(record)? {
                Json::String(s) => out.push_str(s),
                // Integers a template holds exactly print as written; floats, booleans and `none` print
                // differently in minijinja.
                Json::Number(n) if exact_integer(n) => out.push_str(n.as_str()),
                _ => return None,
            },
        }
    }
    Some(out)
}

impl Lookup {
    fn eval<'r>(&self, record: &'r Json) -> Option<Cow<'r, Json>> {
        let mut v = Cow::Borrowed(
            self.path.iter().try_fold(record, |node, name| crate::exact_json::member(node.as_object()?, name))?,
        );
        for f in &self.filters {
            v = match (f, &*v) {
                (Filter::Upper, Json::String(s)) => Cow::Owned(Json::String(s.to_uppercase())),
                (Filter::Lower, Json::String(s)) => Cow::Owned(Json::String(s.to_lowercase())),
                (Filter::Round(_), Json::Number(n)) if exact_integer(n) => v,
                (Filter::Round(places), Json::Number(n)) => {
                    let rounded = round_value(number_to_value(n), *places).ok()?;
                    Cow::Owned(value_to_json(&rounded).ok()?)
                }
                _ => return None,
            };
        }
        Some(v)
    }
}

/// A template string as text and lookups; `None` when it holds anything else.
fn parts(source: &str) -> Option<Vec<Part>> {
    // Whitespace control, blocks, comments and a trailing newline are left to minijinja.
    if ["{{-", "-}}", "{{+", "+}}", "{%", "{#"].iter().any(|m| source.contains(m)) || source.ends_with('\n') {
        return None;
    }
    let ws = minijinja::machinery::WhitespaceConfig { keep_trailing_newline: true, ..Default::default() };
    let ast = minijinja::machinery::parse(source, "<template>", minijinja::syntax::SyntaxConfig, ws).ok()?;
    let Stmt::Template(t) = ast else { return None };
    t.children
        .iter()
        .map(|child| match child {
            Stmt::EmitRaw(r) => Some(Part::Raw(r.raw.to_string())),
            Stmt::EmitExpr(e) => Some(Part::Lookup(lookup(&e.expr)?)),
            _ => None,
        })
        .collect()
}

/// `record.a.b` through the supported filters.
fn lookup(e: &Ast<'_>) -> Option<Lookup> {
    match e {
        Ast::Filter(f) => {
            let mut inner = lookup(f.expr.as_ref()?)?;
            let filter = match (f.name, f.args.as_slice()) {
                ("upper", []) => Filter::Upper,
                ("lower", []) => Filter::Lower,
                ("round", [CallArg::Pos(Ast::Const(c))]) => {
                    Filter::Round(u32::try_from(c.value.as_i64()?).ok().filter(|&n| n <= 28)?)
                }
                _ => return None,
            };
            inner.filters.push(filter);
            Some(inner)
        }
        _ => match record_path_exact(e)? {
            (path, true) if !path.is_empty() => Some(Lookup { path, filters: Vec::new() }),
            _ => None,
        },
    }
}
