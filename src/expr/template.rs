//! minijinja templates compiled at build time: string templates and structured value templates.
//! (Provisional minimal version; replaced by the full implementation.)

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::tables::Tables;

/// Template compile and render errors.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template does not parse.
    #[error("template syntax error: {reason}")]
    Syntax {
        /// What is wrong.
        reason: String,
        /// 1-based line inside the template.
        line: usize,
        /// 1-based column inside the template.
        col: usize,
    },
    /// `lookup` names a table that does not exist.
    #[error("unknown table `{name}`")]
    UnknownTable {
        /// The name used.
        name: String,
        /// Tables that exist.
        known: Vec<String>,
    },
    /// Rendering failed for this record.
    #[error("{reason}")]
    Render {
        /// What went wrong.
        reason: String,
    },
}

/// Engine options.
#[derive(Debug, Clone)]
pub struct TemplateOptions {
    /// Fuel limit per render.
    pub fuel: Option<u64>,
}

impl Default for TemplateOptions {
    fn default() -> Self {
        Self { fuel: Some(50_000) }
    }
}

/// What a template can see.
#[derive(Debug, Clone, Default)]
pub struct RenderContext {
    /// The current record.
    pub record: Arc<Value>,
    /// The parent record, after explode.
    pub parent: Option<Arc<Value>>,
    /// Extra top-level names.
    pub vars: BTreeMap<String, Value>,
}

/// The compiled-template factory.
#[derive(Clone)]
pub struct TemplateEngine {
    env: Arc<minijinja::Environment<'static>>,
    tables: Arc<Tables>,
}

impl std::fmt::Debug for TemplateEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TemplateEngine")
    }
}

fn syntax(e: &minijinja::Error) -> TemplateError {
    TemplateError::Syntax { reason: e.detail().unwrap_or("syntax error").to_string(), line: e.line().unwrap_or(1), col: 1 }
}

fn ctx_value(ctx: &RenderContext) -> minijinja::Value {
    let mut m: BTreeMap<String, minijinja::Value> = BTreeMap::new();
    m.insert("record".into(), minijinja::Value::from_serialize(&*ctx.record));
    if let Some(p) = &ctx.parent {
        m.insert("parent".into(), minijinja::Value::from_serialize(&**p));
    }
    for (k, v) in &ctx.vars {
        m.insert(k.clone(), minijinja::Value::from_serialize(v));
    }
    minijinja::Value::from(m)
}

impl TemplateEngine {
    /// A new engine over `tables`.
    pub fn new(tables: Arc<Tables>, options: TemplateOptions) -> Self {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.set_fuel(options.fuel);
        Self { env: Arc::new(env), tables }
    }

    /// Compiles a string template.
    pub fn compile_string(&self, source: &str) -> Result<StringTemplate, TemplateError> {
        self.env.template_from_str(source).map_err(|e| syntax(&e))?;
        if let Some(rest) = source.split("lookup('").nth(1) {
            let name = rest.split('\'').next().unwrap_or("");
            if self.tables.get(name).is_none() {
                return Err(TemplateError::UnknownTable { name: name.into(), known: self.tables.names().map(str::to_string).collect() });
            }
        }
        Ok(StringTemplate { env: Arc::clone(&self.env), source: source.to_string() })
    }

    /// Compiles a structured template.
    pub fn compile_value(&self, template: &Value) -> Result<ValueTemplate, TemplateError> {
        fn walk(e: &TemplateEngine, v: &Value) -> Result<(), TemplateError> {
            match v {
                Value::String(s) if s.contains("{{") || s.contains("{%") => e.compile_string(s).map(|_| ()),
                Value::Array(a) => a.iter().try_for_each(|x| walk(e, x)),
                Value::Object(o) => o.values().try_for_each(|x| walk(e, x)),
                _ => Ok(()),
            }
        }
        walk(self, template)?;
        Ok(ValueTemplate { env: Arc::clone(&self.env), template: template.clone() })
    }

    /// Compiles an expression.
    pub fn compile_expression(&self, expr: &str) -> Result<ExprTemplate, TemplateError> {
        self.env.compile_expression(expr).map_err(|e| syntax(&e))?;
        Ok(ExprTemplate { env: Arc::clone(&self.env), source: expr.to_string() })
    }
}

/// A compiled string template.
#[derive(Debug, Clone)]
pub struct StringTemplate {
    env: Arc<minijinja::Environment<'static>>,
    source: String,
}

impl StringTemplate {
    /// Renders to a string.
    pub fn render(&self, ctx: &RenderContext) -> Result<String, TemplateError> {
        let t = self.env.template_from_str(&self.source).map_err(|e| TemplateError::Render { reason: e.to_string() })?;
        t.render(ctx_value(ctx)).map_err(|e| TemplateError::Render { reason: e.to_string() })
    }
}

/// A compiled structured template.
#[derive(Debug, Clone)]
pub struct ValueTemplate {
    env: Arc<minijinja::Environment<'static>>,
    template: Value,
}

impl ValueTemplate {
    /// Renders to a JSON value.
    pub fn render(&self, ctx: &RenderContext) -> Result<Value, TemplateError> {
        fn walk(env: &minijinja::Environment<'static>, v: &Value, ctx: &RenderContext) -> Result<Value, TemplateError> {
            Ok(match v {
                Value::String(s) if s.contains("{{") || s.contains("{%") => {
                    let t = env.template_from_str(s).map_err(|e| TemplateError::Render { reason: e.to_string() })?;
                    let out = t.render(ctx_value(ctx)).map_err(|e| TemplateError::Render { reason: e.to_string() })?;
                    serde_json::from_str::<Value>(&out).ok().filter(|v| !v.is_string()).unwrap_or(Value::String(out))
                }
                Value::Array(a) => Value::Array(a.iter().map(|x| walk(env, x, ctx)).collect::<Result<_, _>>()?),
                Value::Object(o) => Value::Object(
                    o.iter().map(|(k, x)| Ok((k.clone(), walk(env, x, ctx)?))).collect::<Result<_, TemplateError>>()?,
                ),
                other => other.clone(),
            })
        }
        walk(&self.env, &self.template, ctx)
    }
}

/// A compiled expression.
#[derive(Debug, Clone)]
pub struct ExprTemplate {
    env: Arc<minijinja::Environment<'static>>,
    source: String,
}

impl ExprTemplate {
    /// Evaluates to a JSON value.
    pub fn eval(&self, ctx: &RenderContext) -> Result<Value, TemplateError> {
        let e = self.env.compile_expression(&self.source).map_err(|e| TemplateError::Render { reason: e.to_string() })?;
        let v = e.eval(ctx_value(ctx)).map_err(|e| TemplateError::Render { reason: e.to_string() })?;
        serde_json::to_value(&v).map_err(|e| TemplateError::Render { reason: e.to_string() })
    }

    /// Evaluates to a boolean (truthiness).
    pub fn is_true(&self, ctx: &RenderContext) -> Result<bool, TemplateError> {
        let e = self.env.compile_expression(&self.source).map_err(|e| TemplateError::Render { reason: e.to_string() })?;
        Ok(e.eval(ctx_value(ctx)).map_err(|e| TemplateError::Render { reason: e.to_string() })?.is_true())
    }
}
