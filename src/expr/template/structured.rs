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

use minijinja::Environment;
use minijinja::machinery::ast::Stmt;
use minijinja::value::{Value as MjValue, ValueKind};
use serde_json::{Map, Value as Json};

use super::object::value_to_json;
use super::{RenderContext, Scope, TemplateEngine, TemplateError, eval_named, render_named};

const EACH_KEYS: [&str; 4] = ["$each", "$as", "$where", "$value"];

#[derive(Debug)]
enum Node {
    Literal(Json),
    /// Template rendering to a string: (template name, source).
    Text(String, String),
    /// Single expression yielding a typed value: (template name, expression).
    Typed(String, String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
    Each {
        list: (String, String),
        as_name: String,
        filter: Option<(String, String)>,
        value: Box<Node>,
    },
}

/// A compiled structured template.
#[derive(Clone)]
pub struct ValueTemplate {
    env: Arc<Environment<'static>>,
    root: Arc<Node>,
}

impl std::fmt::Debug for ValueTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ValueTemplate").field(&self.root).finish()
    }
}

impl ValueTemplate {
    /// Renders to a JSON value. Errors name the place in the template (`at $.a.b: ...`).
    pub fn render(&self, ctx: &RenderContext) -> Result<Json, TemplateError> {
        let scope = ctx.scope();
        let mut path = Vec::new();
        self.node(&self.root, &scope, &scope.to_value(), &mut path)
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

    fn node(
        &self,
        node: &Node,
        scope: &Scope,
        ctx: &MjValue,
        path: &mut Vec<Seg>,
    ) -> Result<Json, TemplateError> {
        match node {
            Node::Literal(v) => Ok(v.clone()),
            Node::Text(name, src) => render_named(&self.env, name, src, ctx).map(Json::String),
            Node::Typed(name, expr) => {
                let v = eval_named(&self.env, name, expr, ctx)?;
                value_to_json(&v).map_err(|reason| TemplateError::Render { reason })
            }
            Node::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, n) in items.iter().enumerate() {
                    path.push(Seg::Index(i));
                    out.push(self.node(n, scope, ctx, path)?);
                    path.pop();
                }
                Ok(Json::Array(out))
            }
            Node::Object(fields) => {
                let mut out = Map::new();
                for (k, n) in fields {
                    path.push(Seg::Key(k.clone()));
                    out.insert(k.clone(), self.node(n, scope, ctx, path)?);
                    path.pop();
                }
                Ok(Json::Object(out))
            }
            Node::Each {
                list,
                as_name,
                filter,
                value,
            } => {
                path.push(Seg::Key("$each".into()));
                let items = eval_named(&self.env, &list.0, &list.1, ctx)?;
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
                    out.push(self.node(value, &inner, &inner_ctx, path)?);
                    path.pop();
                }
                Ok(Json::Array(out))
            }
        }
    }
}

#[derive(Debug)]
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

/// Compiles a structured template: every template string goes into one environment copy.
pub(super) fn compile(
    engine: &TemplateEngine,
    template: &Json,
) -> Result<ValueTemplate, TemplateError> {
    let mut c = Compiler {
        engine,
        env: engine.base_env(),
        path: Vec::new(),
        count: 0,
    };
    let root = c.node(template)?;
    Ok(ValueTemplate {
        env: Arc::new(c.env),
        root: Arc::new(root),
    })
}

struct Compiler<'e> {
    engine: &'e TemplateEngine,
    env: Environment<'static>,
    path: Vec<Seg>,
    count: usize,
}

impl Compiler<'_> {
    /// A unique template name that also tells where the template sits (shown in minijinja errors).
    fn next_name(&mut self) -> String {
        self.count += 1;
        format!("{}#{}", path_string(&self.path), self.count)
    }

    fn invalid(&self, reason: impl Into<String>) -> TemplateError {
        TemplateError::InvalidStructure {
            path: path_string(&self.path),
            reason: reason.into(),
        }
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
        let name = self.next_name();
        self.env
            .add_template_owned(name.clone(), s.to_string())
            .map_err(|e| super::syntax_error(&e, s))?;
        Ok(Node::Text(name, s.to_string()))
    }

    fn typed(&mut self, expr: &str) -> Result<Node, TemplateError> {
        let name = self.next_name();
        self.engine.add_expression(&mut self.env, &name, expr)?;
        Ok(Node::Typed(name, expr.to_string()))
    }

    /// An expression field of `$each`: a bare expression, or one `{{ expr }}`.
    fn expression_field(
        &mut self,
        key: &str,
        v: Option<&Json>,
    ) -> Result<Option<(String, String)>, TemplateError> {
        let Some(v) = v else { return Ok(None) };
        self.path.push(Seg::Key(key.to_string()));
        let result = match v {
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
                self.typed(&expr).map(|n| match n {
                    Node::Typed(name, e) => Some((name, e)),
                    _ => None,
                })
            }
            _ => Err(self.invalid(format!("`{key}` must be an expression string"))),
        };
        self.path.pop();
        result
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
        let list = self
            .expression_field("$each", m.get("$each"))?
            .ok_or_else(|| self.invalid("`$each` is empty"))?;
        let filter = self.expression_field("$where", m.get("$where"))?;
        self.path.push(Seg::Key("$value".into()));
        let value = self.node(value)?;
        self.path.pop();
        Ok(Node::Each {
            list,
            as_name,
            filter,
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
