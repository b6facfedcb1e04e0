//! Compiling structured templates: walking the JSON value, typing template strings, and packing each
//! frame's templates into one minijinja template.

use minijinja::machinery::ast::Stmt;
use serde_json::{Map, Value as Json};

use super::direct::Direct;
use super::{EACH_KEYS, Frame, Node, Piece, Seg, ValueTemplate, path_string};
use crate::expr::reads::Reads;
use crate::expr::template::check::record_path_exact;
use crate::expr::template::program::Program;
use crate::expr::template::{TemplateEngine, TemplateError};
use std::sync::Arc;

/// Compiles a structured template: every template string goes into one environment copy, one
/// minijinja template per frame.
pub(in crate::expr::template) fn compile(
    engine: &TemplateEngine,
    template: &Json,
) -> Result<ValueTemplate, TemplateError> {
    let mut c = Compiler {
        engine,
        path: Vec::new(),
        count: 0,
        frame: FrameBuilder::default(),
        texts: Vec::new(),
        reads: Reads::none(),
    };
    let root = c.node(template)?;
    let builder = std::mem::take(&mut c.frame);
    let frame = c.finish_frame(builder)?;
    let ids = engine.ids_for_source(&template.to_string());
    let text_source = |var: &str| c.texts.iter().find(|(v, _)| v == var).map(|(_, s)| s.as_str());
    let direct = Direct::plan(&root, &text_source).map(Arc::new);
    let reads = std::mem::take(&mut c.reads);
    Ok(ValueTemplate { reads, env: engine.env.clone(), frame: Arc::new(frame), root: Arc::new(root), ids, direct })
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
    path: Vec<Seg>,
    count: usize,
    frame: FrameBuilder,
    /// The source of each `Node::Text` frame variable.
    texts: Vec<(String, String)>,
    /// The `record` fields the templates read so far.
    reads: Reads,
}

impl Compiler<'_> {
    /// A unique name (template or frame variable).
    fn next_name(&mut self, prefix: &str) -> String {
        self.count += 1;
        format!("{prefix}{}", self.count)
    }

    fn invalid(&self, reason: impl Into<String>) -> TemplateError {
        TemplateError::InvalidStructure { path: path_string(&self.path), reason: reason.into() }
    }

    /// Appends `{% set VAR ... %}` for one field to the current frame; returns VAR.
    fn add_piece(&mut self, source: &str, typed: bool) -> String {
        let var = self.next_name("__weir_f");
        let f = &mut self.frame;
        let first_line = 1 + f.src.matches('\n').count();
        if typed {
            f.src.push_str(&format!("{{% set {var} = ({source}) %}}\n"));
        } else {
            f.src.push_str(&format!("{{% set {var} %}}{source}{{% endset %}}\n"));
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
        let program = Program::compile(&name, builder.src.clone())
            .map_err(|e| crate::expr::template::error::syntax_error(&e, &builder.src))?;
        Ok(Frame { program: Some(program), pieces: builder.pieces })
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
        let reads = crate::expr::template::Checker::new(&self.engine.env, &self.engine.tables).check_stmt(&ast)?;
        self.reads.merge(reads);
        let var = self.add_piece(s, false);
        self.texts.push((var.clone(), s.to_string()));
        Ok(Node::Text(var))
    }

    fn typed(&mut self, expr: &str) -> Result<Node, TemplateError> {
        let reads = self.engine.check_expression(expr)?;
        self.reads.merge(reads);
        // `record.a.b` alone: a number there is copied as written, not as the template computed it.
        let exact = minijinja::machinery::parse_expr(expr).ok().and_then(|e| match record_path_exact(&e) {
            Some((path, true)) if !path.is_empty() => Some(path),
            _ => None,
        });
        Ok(Node::Typed(self.add_piece(expr, true), expr.to_string(), exact))
    }

    /// An expression field of `$each`: a bare expression, or one `{{ expr }}`.
    fn expression_field(&mut self, key: &str, v: Option<&Json>) -> Result<Option<String>, TemplateError> {
        let Some(v) = v else { return Ok(None) };
        match v {
            Json::String(s) => {
                let expr = match self.engine.parse(s).ok().and_then(|ast| single_expression(&ast, s)) {
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
            return Err(
                self.invalid(format!("unexpected key `{k}` next to `$each` (allowed: {})", EACH_KEYS.join(", ")))
            );
        }
        let as_name = match m.get("$as") {
            None => "item".to_string(),
            Some(Json::String(s))
                if s.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
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
        let list_expr =
            self.expression_field("$each", m.get("$each"))?.ok_or_else(|| self.invalid("`$each` is empty"))?;
        let Node::Typed(list_var, _, _) = self.typed(&list_expr)? else {
            return Err(self.invalid("`$each` must be an expression"));
        };
        self.path.pop();
        self.path.push(Seg::Key("$where".into()));
        let filter = match self.expression_field("$where", m.get("$where"))? {
            Some(expr) => {
                let name = format!("{}#{}", path_string(&self.path), self.next_name(""));
                let (program, reads) = self.engine.expression_program(&name, &expr)?;
                self.reads.merge(reads);
                Some((program, expr))
            }
            None => None,
        };
        self.path.pop();
        self.path.push(Seg::Key("$value".into()));
        let inner = FrameBuilder { base: self.path.len(), ..FrameBuilder::default() };
        let outer = std::mem::replace(&mut self.frame, inner);
        let value = self.node(value);
        let inner = std::mem::replace(&mut self.frame, outer);
        let value = value?;
        let frame = self.finish_frame(inner)?;
        self.path.pop();
        Ok(Node::Each { list: (list_var, list_expr), as_name, filter, frame, value: Box::new(value) })
    }
}

/// An array or object whose children are all literal is itself literal.
fn fold_literals(node: Node) -> Node {
    match node {
        Node::Array(items) if items.iter().all(|n| matches!(n, Node::Literal(_))) => Node::Literal(Json::Array(
            items.into_iter().filter_map(|n| if let Node::Literal(v) = n { Some(v) } else { None }).collect(),
        )),
        Node::Object(fields) if fields.iter().all(|(_, n)| matches!(n, Node::Literal(_))) => {
            Node::Literal(Json::Object(
                fields
                    .into_iter()
                    .filter_map(|(k, n)| if let Node::Literal(v) = n { Some((k, v)) } else { None })
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
