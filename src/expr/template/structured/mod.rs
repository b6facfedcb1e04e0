//! Structured templates: a JSON/YAML value whose strings may be templates, rendered to a JSON value.
//!
//! - A string without `{{`/`{%` and every non-string are literals; map keys are always literal.
//! - A string that is exactly one `{{ expr }}` (surrounding whitespace allowed) yields the expression's
//!   typed value: numbers stay numbers, lists lists, maps maps, `none` is `null`.
//! - Any other template string renders to a string.
//! - A map with `$each` is a list comprehension:
//!   `{"$each": "<list expr>", "$as": "item", "$where": "<bool expr>", "$value": <structured template>}`
//!   renders `$value` once per element (kept by `$where`), with the element as `item` (or the `$as`
//!   name) and its 0-based position in the source list as `loop_index`.

use std::sync::Arc;

use minijinja::value::{Value as MjValue, ValueKind};
use minijinja::{Environment, State};
use serde_json::{Map, Value as Json};

use super::object::{JsonNode, value_to_json};
use super::program::Program;
use super::{RenderContext, Scope, TemplateError, eval_program};

mod compile;
mod direct;

pub(super) use compile::compile;

const EACH_KEYS: [&str; 4] = ["$each", "$as", "$where", "$value"];

#[derive(Debug)]
enum Node {
    Literal(Json),
    /// A template string, rendered into frame variable `.0`.
    Text(String),
    /// A single expression evaluated into frame variable `.0`; `.1` is the expression (for errors);
    /// `.2` the member path when the expression is only `record.a.b` (a number there is copied exactly).
    Typed(String, String, Option<Vec<String>>),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
    Each {
        /// Frame variable holding the list, and the list expression.
        list: (String, String),
        as_name: String,
        /// Own template evaluating `$where`, and the expression.
        filter: Option<(Program, String)>,
        /// The per-element frame `value`'s templates live in.
        frame: Frame,
        value: Box<Node>,
    },
}

/// All templates of one level (the root, or one `$each` element) compiled into a single minijinja
/// template of `{% set %}` statements, so a record costs one render per level, not one per field.
#[derive(Debug, Default)]
struct Frame {
    /// The level's program; `None` when the level has no template strings.
    program: Option<Program>,
    pieces: Vec<Piece>,
}

/// Where one field's template sits in its frame (for error messages).
#[derive(Debug)]
struct Piece {
    first_line: usize,
    last_line: usize,
    /// Path of the field below the frame's root.
    rel_path: Vec<Seg>,
    source: String,
}

/// A compiled structured template.
#[derive(Clone)]
pub struct ValueTemplate {
    env: Arc<Environment<'static>>,
    frame: Arc<Frame>,
    root: Arc<Node>,
    /// Set when a template string may read `ids`.
    ids: Option<super::IdsSlot>,
    /// The same template evaluated without minijinja, when it is simple enough (see [`direct`]).
    direct: Option<Arc<direct::Direct>>,
    /// The `record` fields its templates read.
    reads: crate::expr::reads::Reads,
}

impl std::fmt::Debug for ValueTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ValueTemplate").field(&self.root).finish()
    }
}

fn var(state: Option<&State<'_, '_>>, name: &str) -> Option<MjValue> {
    state.and_then(|s| s.lookup(name)).filter(|v| !v.is_undefined())
}

impl ValueTemplate {
    /// Renders to a JSON value. Errors name the place in the template (`at $.a.b: ...`).
    pub fn render(&self, ctx: &RenderContext) -> Result<Json, TemplateError> {
        if let Some(v) = self.direct.as_ref().and_then(|d| d.render(&ctx.record)) {
            return Ok(v);
        }
        let scope = ctx.scope(self.ids.as_ref());
        let mut path = Vec::new();
        self.frame(&self.frame, &self.root, &scope, &scope.to_value(), &mut path).map_err(|e| match e {
            TemplateError::Render { reason } => {
                TemplateError::Render { reason: format!("at {}: {reason}", path_string(&path)) }
            }
            other => other,
        })
    }

    /// Writes the compact JSON text of what [`ValueTemplate::render`] gives for `record` to `out`,
    /// without building the value, when the shortcut renders this template and this record; otherwise
    /// false and `out` unchanged. (Only the record is read: templates the shortcut takes read nothing
    /// else.)
    pub(crate) fn write_json(&self, record: &Json, out: &mut Vec<u8>) -> bool {
        let Some(direct) = &self.direct else { return false };
        let start = out.len();
        let written = direct.write_json(record, out);
        if !written {
            out.truncate(start);
        }
        written
    }

    /// True when the template is rendered without minijinja (for the records the shortcut handles).
    #[cfg(test)]
    pub(crate) fn has_shortcut(&self) -> bool {
        self.direct.is_some()
    }

    /// [`ValueTemplate::render`] without the shortcut.
    #[cfg(test)]
    pub(crate) fn render_with_minijinja(&self, ctx: &RenderContext) -> Result<Json, TemplateError> {
        Self { direct: None, ..self.clone() }.render(ctx)
    }

    /// The `record` fields the template's strings and expressions read (found when it was compiled).
    pub(crate) fn reads(&self) -> &crate::expr::reads::Reads {
        &self.reads
    }

    /// True when the template contains no template strings (it always renders to the same value).
    #[cfg(test)]
    pub(crate) fn is_literal(&self) -> bool {
        matches!(*self.root, Node::Literal(_))
    }

    fn frame(
        &self,
        frame: &Frame,
        node: &Node,
        scope: &Scope,
        ctx: &MjValue,
        path: &mut Vec<Seg>,
    ) -> Result<Json, TemplateError> {
        let Some(program) = &frame.program else {
            return self.node(node, None, scope, path);
        };
        match program.run(&self.env, ctx.clone(), |state| self.node(node, Some(state), scope, path)) {
            Ok((_, rendered)) => rendered,
            Err(e) => Err(frame_error(frame, &e, path)),
        }
    }

    fn node(
        &self,
        node: &Node,
        state: Option<&State<'_, '_>>,
        scope: &Scope,
        path: &mut Vec<Seg>,
    ) -> Result<Json, TemplateError> {
        match node {
            Node::Literal(v) => Ok(v.clone()),
            Node::Text(name) => {
                let v = var(state, name).unwrap_or_default();
                Ok(Json::String(match v.as_str() {
                    Some(s) => s.to_string(),
                    None => v.to_string(),
                }))
            }
            Node::Typed(name, expr, exact) => {
                let v = var(state, name)
                    .ok_or_else(|| TemplateError::Render { reason: format!("undefined value in `{expr}`") })?;
                if v.kind() == ValueKind::Number
                    && let Some(number) = exact.as_deref().and_then(|path| record_number(state, path))
                {
                    return Ok(number);
                }
                value_to_json(&v).map_err(|reason| TemplateError::Render { reason })
            }
            Node::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, n) in items.iter().enumerate() {
                    path.push(Seg::Index(i));
                    out.push(self.node(n, state, scope, path)?);
                    path.pop();
                }
                Ok(Json::Array(out))
            }
            Node::Object(fields) => {
                let mut out = Map::new();
                for (k, n) in fields {
                    path.push(Seg::Key(k.clone()));
                    out.insert(k.clone(), self.node(n, state, scope, path)?);
                    path.pop();
                }
                Ok(Json::Object(out))
            }
            Node::Each { list, as_name, filter, frame, value } => {
                path.push(Seg::Key("$each".into()));
                let items = var(state, &list.0)
                    .ok_or_else(|| TemplateError::Render { reason: format!("undefined value in `{}`", list.1) })?;
                let not_list =
                    || TemplateError::Render { reason: format!("`{}` gave {}, not a list", list.1, items.kind()) };
                if !matches!(items.kind(), ValueKind::Seq | ValueKind::Iterable) {
                    return Err(not_list());
                }
                let iter = items.try_iter().map_err(|_| not_list())?;
                path.pop();
                let mut out = Vec::new();
                for (i, item) in iter.enumerate() {
                    path.push(Seg::Index(i));
                    let inner = scope.with([
                        (MjValue::from(as_name.as_str()), item),
                        (MjValue::from("loop_index"), MjValue::from(i)),
                    ]);
                    let inner_ctx = inner.to_value();
                    if let Some((program, expr)) = filter {
                        path.push(Seg::Key("$where".into()));
                        let keep = eval_program(&self.env, program, expr, inner_ctx.clone())?.is_true();
                        path.pop();
                        if !keep {
                            path.pop();
                            continue;
                        }
                    }
                    out.push(self.frame(frame, value, &inner, &inner_ctx, path)?);
                    path.pop();
                }
                Ok(Json::Array(out))
            }
        }
    }
}

/// The number at `path` in the record, as it was read.
fn record_number(state: Option<&State<'_, '_>>, path: &[String]) -> Option<Json> {
    let record = var(state, "record")?;
    let root = record.downcast_object_ref::<JsonNode>()?.resolve();
    let found = path.iter().try_fold(root, |node, name| node.as_object()?.get(name))?;
    found.is_number().then(|| found.clone())
}

/// Maps a frame's render error back to the field it came from (pushed onto `path`).
fn frame_error(frame: &Frame, e: &minijinja::Error, path: &mut Vec<Seg>) -> TemplateError {
    let line = e.line().unwrap_or(0);
    match frame.pieces.iter().find(|p| p.first_line <= line && line <= p.last_line) {
        Some(p) => {
            path.extend(p.rel_path.iter().cloned());
            super::error::render_error_at(e, &p.source, Some(line - p.first_line + 1))
        }
        None => super::error::render_error(e, ""),
    }
}

#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn path_string(path: &[Seg]) -> String {
    let mut s = String::from("$");
    for seg in path {
        match seg {
            Seg::Key(k) if !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                s.push('.');
                s.push_str(k);
            }
            Seg::Key(k) => s.push_str(&format!("[{k:?}]")),
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}
