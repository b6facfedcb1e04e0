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

use minijinja::machinery::ast::Stmt;
use minijinja::value::{Value as MjValue, ValueKind};
use minijinja::{Environment, State};
use serde_json::{Map, Value as Json};

use super::object::value_to_json;
use super::{RenderContext, Scope, TemplateEngine, TemplateError, eval_named};

const EACH_KEYS: [&str; 4] = ["$each", "$as", "$where", "$value"];

#[derive(Debug)]
enum Node {
    Literal(Json),
    /// A template string, rendered into frame variable `.0`.
    Text(String),
    /// A single expression evaluated into frame variable `.0`; `.1` is the expression (for errors).
    Typed(String, String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
    Each {
        /// Frame variable holding the list, and the list expression.
        list: (String, String),
        as_name: String,
        /// Own template evaluating `$where`, and the expression.
        filter: Option<(String, String)>,
        /// The per-element frame `value`'s templates live in.
        frame: Frame,
        value: Box<Node>,
    },
}

/// All templates of one level (the root, or one `$each` element) compiled into a single minijinja
/// template of `{% set %}` statements, so a record costs one render per level, not one per field.
#[derive(Debug, Default)]
struct Frame {
    /// Template name in the environment; `None` when the level has no template strings.
    name: Option<String>,
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
}

impl std::fmt::Debug for ValueTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ValueTemplate").field(&self.root).finish()
    }
}

fn var(state: Option<&State<'_, '_>>, name: &str) -> Option<MjValue> {
    state
        .and_then(|s| s.lookup(name))
        .filter(|v| !v.is_undefined())
}

impl ValueTemplate {
    /// Renders to a JSON value. Errors name the place in the template (`at $.a.b: ...`).
    pub fn render(&self, ctx: &RenderContext) -> Result<Json, TemplateError> {
        let scope = ctx.scope();
        let mut path = Vec::new();
        self.frame(
            &self.frame,
            &self.root,
            &scope,
            &scope.to_value(),
            &mut path,
        )
        .map_err(|e| match e {
            TemplateError::Render { reason } => TemplateError::Render {
                reason: format!("at {}: {reason}", path_string(&path)),
            },
            other => other,
        })
    }

    /// True when the template contains no template strings (it always renders to the same value).
    pub fn is_literal(&self) -> bool {
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
        let Some(name) = &frame.name else {
            return self.node(node, None, scope, path);
        };
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|e| super::render_error(&e, ""))?;
        let captured = tmpl
            .render_captured(ctx)
            .map_err(|e| frame_error(frame, &e, path))?;
        self.node(node, Some(captured.state()), scope, path)
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
            Node::Typed(name, expr) => {
                let v = var(state, name).ok_or_else(|| TemplateError::Render {
                    reason: format!("undefined value in `{expr}`"),
                })?;
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
            Node::Each {
                list,
                as_name,
                filter,
                frame,
                value,
            } => {
                path.push(Seg::Key("$each".into()));
                let items = var(state, &list.0).ok_or_else(|| TemplateError::Render {
                    reason: format!("undefined value in `{}`", list.1),
                })?;
                let not_list = || TemplateError::Render {
                    reason: format!("`{}` gave {}, not a list", list.1, items.kind()),
                };
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
                    if let Some((name, expr)) = filter {
                        path.push(Seg::Key("$where".into()));
                        let keep = eval_named(&self.env, name, expr, &inner_ctx)?.is_true();
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

/// Maps a frame's render error back to the field it came from (pushed onto `path`).
fn frame_error(frame: &Frame, e: &minijinja::Error, path: &mut Vec<Seg>) -> TemplateError {
    let line = e.line().unwrap_or(0);
    match frame
        .pieces
        .iter()
        .find(|p| p.first_line <= line && line <= p.last_line)
    {
        Some(p) => {
            path.extend(p.rel_path.iter().cloned());
            super::render_error_at(e, &p.source, Some(line - p.first_line + 1))
        }
        None => super::render_error(e, ""),
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

/// Compiles a structured template: every template string goes into one environment copy, one
/// minijinja template per frame.
pub(super) fn compile(
    engine: &TemplateEngine,
    template: &Json,
) -> Result<ValueTemplate, TemplateError> {
    let mut c = Compiler {
        engine,
        env: engine.base_env(),
        path: Vec::new(),
        count: 0,
        frame: FrameBuilder::default(),
    };
    let root = c.node(template)?;
    let builder = std::mem::take(&mut c.frame);
    let frame = c.finish_frame(builder)?;
    Ok(ValueTemplate {
        env: Arc::new(c.env),
        frame: Arc::new(frame),
        root: Arc::new(root),
    })
}

/// The frame being compiled: its source so far and its pieces.
#[derive(Default)]
struct FrameBuilder {
    src: String,
    pieces: Vec<Piece>,
    /// Length of the compiler's path at the frame's root.
    base: usize,
}

struct Compiler<'e> {
    engine: &'e TemplateEngine,
    env: Environment<'static>,
    path: Vec<Seg>,
    count: usize,
    frame: FrameBuilder,
}

impl Compiler<'_> {
    /// A unique name (template or frame variable).
    fn next_name(&mut self, prefix: &str) -> String {
        self.count += 1;
        format!("{prefix}{}", self.count)
    }

    fn invalid(&self, reason: impl Into<String>) -> TemplateError {
        TemplateError::InvalidStructure {
            path: path_string(&self.path),
            reason: reason.into(),
        }
    }

    /// Appends `{% set VAR ... %}` for one field to the current frame; returns VAR.
    fn add_piece(&mut self, source: &str, typed: bool) -> String {
        let var = self.next_name("__weir_f");
        let f = &mut self.frame;
        let first_line = 1 + f.src.matches('\n').count();
        if typed {
            f.src.push_str(&format!("{{% set {var} = ({source}) %}}\n"));
        } else {
            f.src
                .push_str(&format!("{{% set {var} %}}{source}{{% endset %}}\n"));
        }
        let rel_path = self.path.get(f.base..).unwrap_or_default().to_vec();
        f.pieces.push(Piece {
            first_line,
            last_line: first_line + source.matches('\n').count(),
            rel_path,
            source: source.to_string(),
        });
        var
    }

    fn finish_frame(&mut self, builder: FrameBuilder) -> Result<Frame, TemplateError> {
        if builder.pieces.is_empty() {
            return Ok(Frame::default());
        }
        let name = format!("{}#{}", path_string(&self.path), self.next_name(""));
        self.env
            .add_template_owned(name.clone(), builder.src.clone())
            .map_err(|e| super::syntax_error(&e, &builder.src))?;
        Ok(Frame {
            name: Some(name),
            pieces: builder.pieces,
        })
    }

    fn node(&mut self, v: &Json) -> Result<Node, TemplateError> {
        let node = match v {
            Json::String(s) => self.string(s)?,
            Json::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    self.path.push(Seg::Index(i));
                    out.push(self.node(item)?);
                    self.path.pop();
                }
                Node::Array(out)
            }
            Json::Object(m) if m.contains_key("$each") => self.each(m)?,
            Json::Object(m) => {
                let mut out = Vec::with_capacity(m.len());
                for (k, item) in m {
                    self.path.push(Seg::Key(k.clone()));
                    out.push((k.clone(), self.node(item)?));
                    self.path.pop();
                }
                Node::Object(out)
            }
            other => Node::Literal(other.clone()),
        };
        Ok(fold_literals(node))
    }

    fn string(&mut self, s: &str) -> Result<Node, TemplateError> {
        if !s.contains("{{") && !s.contains("{%") {
            return Ok(Node::Literal(Json::String(s.to_string())));
        }
        let ast = self.engine.parse(s)?;
        if let Some(expr) = single_expression(&ast, s) {
            return self.typed(expr);
        }
        super::Checker::new(&self.engine.env, &self.engine.tables).check_stmt(&ast)?;
        Ok(Node::Text(self.add_piece(s, false)))
    }

    fn typed(&mut self, expr: &str) -> Result<Node, TemplateError> {
        self.engine.check_expression(expr)?;
        Ok(Node::Typed(self.add_piece(expr, true), expr.to_string()))
    }

    /// An expression field of `$each`: a bare expression, or one `{{ expr }}`.
    fn expression_field(
        &mut self,
        key: &str,
        v: Option<&Json>,
    ) -> Result<Option<String>, TemplateError> {
        let Some(v) = v else { return Ok(None) };
        match v {
            Json::String(s) => {
                let expr = match self
                    .engine
                    .parse(s)
                    .ok()
                    .and_then(|ast| single_expression(&ast, s))
                {
                    Some(inner) if s.contains("{{") => inner.to_string(),
                    _ => s.clone(),
                };
                Ok(Some(expr))
            }
            _ => Err(self.invalid(format!("`{key}` must be an expression string"))),
        }
    }

    fn each(&mut self, m: &Map<String, Json>) -> Result<Node, TemplateError> {
        if let Some(k) = m.keys().find(|k| !EACH_KEYS.contains(&k.as_str())) {
            return Err(self.invalid(format!(
                "unexpected key `{k}` next to `$each` (allowed: {})",
                EACH_KEYS.join(", ")
            )));
        }
        let as_name = match m.get("$as") {
            None => "item".to_string(),
            Some(Json::String(s))
                if s.chars()
                    .next()
                    .is_some_and(|c| c.is_alphabetic() || c == '_')
                    && s.chars().all(|c| c.is_alphanumeric() || c == '_') =>
            {
                s.clone()
            }
            Some(other) => {
                return Err(self.invalid(format!("`$as` must be a variable name, got {other}")));
            }
        };
        let Some(value) = m.get("$value") else {
            return Err(self.invalid("`$each` needs a `$value` (the template for each element)"));
        };
        self.path.push(Seg::Key("$each".into()));
        let list_expr = self
            .expression_field("$each", m.get("$each"))?
            .ok_or_else(|| self.invalid("`$each` is empty"))?;
        let Node::Typed(list_var, _) = self.typed(&list_expr)? else {
            return Err(self.invalid("`$each` must be an expression"));
        };
        self.path.pop();
        self.path.push(Seg::Key("$where".into()));
        let filter = match self.expression_field("$where", m.get("$where"))? {
            Some(expr) => {
                let name = format!("{}#{}", path_string(&self.path), self.next_name(""));
                self.engine.add_expression(&mut self.env, &name, &expr)?;
                Some((name, expr))
            }
            None => None,
        };
        self.path.pop();
        self.path.push(Seg::Key("$value".into()));
        let inner = FrameBuilder {
            base: self.path.len(),
            ..FrameBuilder::default()
        };
        let outer = std::mem::replace(&mut self.frame, inner);
        let value = self.node(value);
        let inner = std::mem::replace(&mut self.frame, outer);
        let value = value?;
        let frame = self.finish_frame(inner)?;
        self.path.pop();
        Ok(Node::Each {
            list: (list_var, list_expr),
            as_name,
            filter,
            frame,
            value: Box::new(value),
        })
    }
}

/// An array or object whose children are all literal is itself literal.
fn fold_literals(node: Node) -> Node {
    match node {
        Node::Array(items) if items.iter().all(|n| matches!(n, Node::Literal(_))) => {
            Node::Literal(Json::Array(
                items
                    .into_iter()
                    .filter_map(|n| {
                        if let Node::Literal(v) = n {
                            Some(v)
                        } else {
                            None
                        }
                    })
                    .collect(),
            ))
        }
        Node::Object(fields) if fields.iter().all(|(_, n)| matches!(n, Node::Literal(_))) => {
            Node::Literal(Json::Object(
                fields
                    .into_iter()
                    .filter_map(|(k, n)| {
                        if let Node::Literal(v) = n {
                            Some((k, v))
                        } else {
                            None
                        }
                    })
                    .collect(),
            ))
        }
        other => other,
    }
}

/// If the template is exactly one `{{ expr }}` (plus surrounding whitespace), the expression's text.
fn single_expression<'s>(ast: &Stmt<'_>, source: &'s str) -> Option<&'s str> {
    let Stmt::Template(t) = ast else { return None };
    let mut emits = 0;
    for child in &t.children {
        match child {
            Stmt::EmitExpr(_) => emits += 1,
            Stmt::EmitRaw(r) if r.raw.trim().is_empty() => {}
            _ => return None,
        }
    }
    if emits != 1 {
        return None;
    }
    // The AST holds one expression and whitespace only, so the text between the first `{{` and the last
    // `}}` is that expression (with optional whitespace-control markers).
    let inner = source.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix(['-', '+']).unwrap_or(inner);
    let inner = inner.strip_suffix(['-', '+']).unwrap_or(inner);
    Some(inner.trim())
}
