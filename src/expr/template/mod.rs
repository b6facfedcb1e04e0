//! minijinja templates compiled at build time: string templates, typed expressions and structured value
//! templates, rendered against a record without converting it (see [`object`]).
//!
//! The [`TemplateEngine`] owns one configured minijinja environment (strict undefined, fuel limit, byte
//! budget, Weir's filters and minijinja-contrib's), shared by every template it compiles. Each template
//! is a [`Program`] of its own, so compiled templates are `Send + Sync + 'static` and render without
//! locks.

mod budget;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod budget_tests;
mod check;
mod dates;
mod error;
mod filters;
mod ids;
mod object;
mod program;
mod structured;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::machinery::{self, WhitespaceConfig};
use minijinja::value::Value as MjValue;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value as Json;

pub(crate) use error::TemplateError;
pub(crate) use ids::IdsSlot;
pub(crate) use structured::ValueTemplate;

use crate::expr::reads::Reads;
use crate::tables::Tables;
use check::Checker;
use error::{render_error, syntax_error};
use object::{JsonNode, json_to_value};
use program::Program;

/// Name of the variable a typed expression is evaluated into.
const RESULT_VAR: &str = "__weir_result";

/// Engine settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateOptions {
    /// Maximum minijinja instructions per render (`None`: unlimited). Default 50,000.
    pub fuel: Option<u64>,
}

impl Default for TemplateOptions {
    fn default() -> Self {
        Self { fuel: Some(50_000) }
    }
}

/// What a template can see: `record`, `parent` (when set), any extra top-level `vars`, and — for
/// templates that mention them — `ids` (the id map of `key`) and `ids_for(key)`.
#[derive(Debug, Clone)]
pub struct RenderContext {
    /// The record being processed, exposed as `record` without being copied.
    pub(crate) record: Arc<Json>,
    /// The enclosing record (for nested steps), exposed as `parent`.
    pub(crate) parent: Option<Arc<Json>>,
    /// Extra top-level names. `record` and `parent` take precedence over a var of the same name.
    pub(crate) vars: BTreeMap<String, Json>,
    /// The record's key, whose ids `ids` reads.
    pub(crate) key: Option<Arc<str>>,
}

impl RenderContext {
    /// A context with only `record`.
    pub fn new(record: Arc<Json>) -> Self {
        Self { record, parent: None, vars: BTreeMap::new(), key: None }
    }

    /// Sets the record's key (read by `ids`).
    pub(crate) fn with_key(mut self, key: Option<Arc<str>>) -> Self {
        self.key = key;
        self
    }

    /// Sets `parent`.
    #[cfg(test)]
    pub(crate) fn with_parent(mut self, parent: Arc<Json>) -> Self {
        self.parent = Some(parent);
        self
    }

    /// Adds a top-level variable.
    pub fn with_var(mut self, name: impl Into<String>, value: Json) -> Self {
        self.vars.insert(name.into(), value);
        self
    }

    /// The top-level names as minijinja (key, value) pairs; `ids` / `ids_for` when `ids` is given.
    fn scope(&self, ids: Option<&IdsSlot>) -> Scope {
        let mut pairs = Vec::with_capacity(self.vars.len() + 4);
        for (k, v) in &self.vars {
            pairs.push((MjValue::from(k.as_str()), json_to_value(v)));
        }
        if let Some(ids) = ids {
            pairs.extend(ids.scope_pairs(self.key.as_ref()));
        }
        pairs.push((MjValue::from("record"), JsonNode::root_value(self.record.clone())));
        if let Some(p) = &self.parent {
            pairs.push((MjValue::from("parent"), JsonNode::root_value(p.clone())));
        }
        Scope { pairs }
    }
}

/// Top-level names for one render, extendable (for `$each` items) without touching the record.
#[derive(Clone)]
pub(crate) struct Scope {
    pairs: Vec<(MjValue, MjValue)>,
}

impl Scope {
    fn with(&self, extra: impl IntoIterator<Item = (MjValue, MjValue)>) -> Scope {
        let mut pairs = self.pairs.clone();
        pairs.extend(extra);
        Scope { pairs }
    }

    /// The minijinja context value (later pairs shadow earlier ones).
    fn to_value(&self) -> MjValue {
        self.pairs.iter().cloned().collect()
    }
}

/// Compiles templates against one configured environment and the pipeline's tables. Cheap to clone.
#[derive(Clone)]
pub struct TemplateEngine {
    env: Arc<Environment<'static>>,
    tables: Arc<Tables>,
    ids: IdsSlot,
}

impl std::fmt::Debug for TemplateEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateEngine").field("tables", &self.tables.names()).finish_non_exhaustive()
    }
}

impl TemplateEngine {
    /// Builds the environment: minijinja builtins (with json/urlencode), minijinja-contrib (datetime),
    /// Weir's filters, strict undefined, no auto-escaping, trailing newlines kept, and the fuel limit.
    pub fn new(tables: Arc<Tables>, options: TemplateOptions) -> Self {
        let mut env = Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        filters::register(&mut env, tables.clone());
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_keep_trailing_newline(true);
        env.set_fuel(options.fuel);
        budget::register(&mut env);
        Self { env: Arc::new(env), tables, ids: IdsSlot::default() }
    }

    /// Where the templates of this engine find the id map; the runtime fills it when a run starts.
    pub(crate) fn ids(&self) -> &IdsSlot {
        &self.ids
    }

    /// The id slot for a template whose source is `source`: `None` when it cannot read `ids`.
    fn ids_for_source(&self, source: &str) -> Option<IdsSlot> {
        ids::mentions_ids(source).then(|| self.ids.clone())
    }

    /// Compiles a string template (`"{{ record.name }} ({{ size | upper }})"`).
    pub fn compile_string(&self, source: &str) -> Result<StringTemplate, TemplateError> {
        let reads = self.check_template(source)?;
        let program = Program::compile(STRING_NAME, source.to_string()).map_err(|e| syntax_error(&e, source))?;
        let ids = self.ids_for_source(source);
        Ok(StringTemplate { env: self.env.clone(), program, source: source.into(), ids, reads })
    }

    /// Compiles a structured template (see [`ValueTemplate`]).
    pub fn compile_value(&self, template: &Json) -> Result<ValueTemplate, TemplateError> {
        structured::compile(self, template)
    }

    /// Compiles a bare expression (no `{{ }}`), e.g. a `when:` condition, evaluated to a typed value.
    pub(crate) fn compile_expression(&self, expr: &str) -> Result<ExprTemplate, TemplateError> {
        let (program, reads) = self.expression_program(EXPR_NAME, expr)?;
        Ok(ExprTemplate { env: self.env.clone(), program, source: expr.into(), ids: self.ids_for_source(expr), reads })
    }

    /// Parses `source` as a template and runs the AST checks.
    fn check_template(&self, source: &str) -> Result<Reads, TemplateError> {
        let ast = self.parse(source)?;
        Checker::new(&self.env, &self.tables).check_stmt(&ast)
    }

    fn parse<'s>(&self, source: &'s str) -> Result<machinery::ast::Stmt<'s>, TemplateError> {
        let ws = WhitespaceConfig { keep_trailing_newline: true, lstrip_blocks: false, trim_blocks: false };
        machinery::parse(source, "<template>", minijinja::syntax::SyntaxConfig, ws)
            .map_err(|e| syntax_error(&e, source))
    }

    fn check_expression(&self, expr: &str) -> Result<Reads, TemplateError> {
        let ast = machinery::parse_expr(expr).map_err(|e| syntax_error(&e, expr))?;
        Checker::new(&self.env, &self.tables).check_expr(&ast)
    }

    /// Checks `expr` and compiles it, named `name`, as a program that evaluates it into [`RESULT_VAR`];
    /// with the `record` fields it reads.
    fn expression_program(&self, name: &str, expr: &str) -> Result<(Program, Reads), TemplateError> {
        let reads = self.check_expression(expr)?;
        // `expr` parsed as exactly one expression, so it cannot close the block early.
        let wrapped = format!("{{% set {RESULT_VAR} = ({expr}) %}}");
        Ok((Program::compile(name, wrapped).map_err(|e| syntax_error(&e, expr))?, reads))
    }
}

const STRING_NAME: &str = "template";
const EXPR_NAME: &str = "expression";

/// A compiled string template.
#[derive(Clone)]
pub struct StringTemplate {
    env: Arc<Environment<'static>>,
    program: Program,
    source: Arc<str>,
    ids: Option<IdsSlot>,
    reads: Reads,
}

impl std::fmt::Debug for StringTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StringTemplate").field(&self.source).finish()
    }
}

impl StringTemplate {
    /// Renders against `ctx`.
    pub fn render(&self, ctx: &RenderContext) -> Result<String, TemplateError> {
        render_program(&self.env, &self.program, &self.source, ctx.scope(self.ids.as_ref()).to_value())
    }

    /// The `record` fields the template reads (found when it was compiled).
    pub(crate) fn reads(&self) -> &Reads {
        &self.reads
    }
}

/// A compiled bare expression, evaluated to a typed value.
#[derive(Clone)]
pub(crate) struct ExprTemplate {
    env: Arc<Environment<'static>>,
    program: Program,
    source: Arc<str>,
    ids: Option<IdsSlot>,
    reads: Reads,
}

impl std::fmt::Debug for ExprTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ExprTemplate").field(&self.source).finish()
    }
}

impl ExprTemplate {
    /// The expression's value as JSON (`none` → `null`). An undefined result is an error.
    #[cfg(test)]
    pub(crate) fn eval(&self, ctx: &RenderContext) -> Result<Json, TemplateError> {
        let v = eval_program(&self.env, &self.program, &self.source, ctx.scope(self.ids.as_ref()).to_value())?;
        object::value_to_json(&v).map_err(|reason| TemplateError::Render { reason })
    }

    /// Whether the expression is truthy (Jinja truthiness: empty strings/lists/maps, 0, none are false).
    pub(crate) fn is_true(&self, ctx: &RenderContext) -> Result<bool, TemplateError> {
        Ok(eval_program(&self.env, &self.program, &self.source, ctx.scope(self.ids.as_ref()).to_value())?.is_true())
    }

    /// The `record` fields the expression reads (found when it was compiled).
    pub(crate) fn reads(&self) -> &Reads {
        &self.reads
    }
}

/// Renders `program` to a string.
fn render_program(
    env: &Environment<'static>,
    program: &Program,
    source: &str,
    ctx: MjValue,
) -> Result<String, TemplateError> {
    program.run(env, ctx, |_| ()).map(|(output, ())| output).map_err(|e| render_error(&e, source))
}

/// Evaluates an expression program (see [`TemplateEngine::expression_program`]).
fn eval_program(
    env: &Environment<'static>,
    program: &Program,
    expr: &str,
    ctx: MjValue,
) -> Result<MjValue, TemplateError> {
    let (_, result) = program.run(env, ctx, |state| state.lookup(RESULT_VAR)).map_err(|e| render_error(&e, expr))?;
    match result {
        Some(v) if !v.is_undefined() => Ok(v),
        _ => Err(TemplateError::Render { reason: format!("undefined value in `{expr}`") }),
    }
}
