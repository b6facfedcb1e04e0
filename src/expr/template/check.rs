//! Compile-time checks on a template's AST (minijinja's `unstable_machinery`): unknown filters and tests,
//! and `lookup` calls naming a table (or a column) that does not exist.
//!
//! minijinja itself only notices an unknown filter when it is applied at render time; walking the AST
//! catches it (and literal table names) once, when the pipeline is built.

use minijinja::machinery::ast::{self, CallArg, Expr, Stmt};
use minijinja::{Environment, ErrorKind};

use super::TemplateError;
use crate::expr::reads::Reads;
use crate::tables::Tables;

/// Walks a parsed template or expression and reports the first problem found; while walking it also
/// collects which `record` fields are read (what the built step reports, see `Transform::reads`).
pub(crate) struct Checker<'a> {
    env: &'a Environment<'static>,
    tables: &'a Tables,
    error: Option<TemplateError>,
    reads: Reads,
}

/// The names of a `record.a.b['c']` chain, or `None` when `e` is not such a chain. An index or a
/// computed subscript ends the path (everything beneath is read).
fn record_path(e: &Expr<'_>) -> Option<Vec<String>> {
    record_path_exact(e).map(|(names, _)| names)
}

/// [`record_path`], and whether the chain holds member names only (no index or computed subscript).
pub(super) fn record_path_exact(e: &Expr<'_>) -> Option<(Vec<String>, bool)> {
    let mut names = Vec::new();
    let mut exact = true;
    let mut cur = e;
    loop {
        match cur {
            Expr::GetAttr(g) => {
                names.push(g.name.to_string());
                cur = &g.expr;
            }
            Expr::GetItem(g) => {
                match &g.subscript_expr {
                    Expr::Const(c) if c.value.as_str().is_some() => {
                        names.push(c.value.as_str().unwrap_or_default().to_string());
                    }
                    // `record.list[0]` or `record[key]`: everything beneath what came before.
                    _ => {
                        names.clear();
                        exact = false;
                    }
                }
                cur = &g.expr;
            }
            Expr::Var(v) if v.id == "record" => {
                names.reverse();
                return Some((names, exact));
            }
            _ => return None,
        }
    }
}

impl<'a> Checker<'a> {
    pub(crate) fn new(env: &'a Environment<'static>, tables: &'a Tables) -> Self {
        Self { env, tables, error: None, reads: Reads::none() }
    }

    /// Checks a whole template; the `record` fields it reads.
    pub(crate) fn check_stmt(mut self, s: &Stmt<'_>) -> Result<Reads, TemplateError> {
        self.stmt(s);
        self.error.map_or(Ok(self.reads), Err)
    }

    /// Checks a standalone expression; the `record` fields it reads.
    pub(crate) fn check_expr(mut self, e: &Expr<'_>) -> Result<Reads, TemplateError> {
        self.expr(e);
        self.error.map_or(Ok(self.reads), Err)
    }

    fn fail(&mut self, e: TemplateError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    fn body(&mut self, stmts: &[Stmt<'_>]) {
        for s in stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt<'_>) {
        if self.error.is_some() {
            return;
        }
        match s {
            Stmt::Template(t) => self.body(&t.children),
            Stmt::EmitExpr(e) => self.expr(&e.expr),
            Stmt::EmitRaw(_) => {}
            Stmt::ForLoop(f) => {
                self.expr(&f.target);
                self.expr(&f.iter);
                if let Some(e) = &f.filter_expr {
                    self.expr(e);
                }
                self.body(&f.body);
                self.body(&f.else_body);
            }
            Stmt::IfCond(c) => {
                self.expr(&c.expr);
                self.body(&c.true_body);
                self.body(&c.false_body);
            }
            Stmt::WithBlock(w) => {
                for (a, b) in &w.assignments {
                    self.expr(a);
                    self.expr(b);
                }
                self.body(&w.body);
            }
            Stmt::Set(s) => {
                self.expr(&s.target);
                self.expr(&s.expr);
            }
            Stmt::SetBlock(s) => {
                self.expr(&s.target);
                if let Some(f) = &s.filter {
                    self.expr(f);
                }
                self.body(&s.body);
            }
            Stmt::AutoEscape(a) => {
                self.expr(&a.enabled);
                self.body(&a.body);
            }
            Stmt::FilterBlock(f) => {
                self.expr(&f.filter);
                self.body(&f.body);
            }
            Stmt::Block(b) => self.body(&b.body),
            Stmt::Import(i) => {
                self.expr(&i.expr);
                self.expr(&i.name);
            }
            Stmt::FromImport(i) => self.expr(&i.expr),
            Stmt::Extends(e) => self.expr(&e.name),
            Stmt::Include(i) => self.expr(&i.name),
            Stmt::Macro(m) => self.macro_decl(m),
            Stmt::CallBlock(c) => {
                self.call(&c.call);
                self.macro_decl(&c.macro_decl);
            }
            Stmt::Do(d) => self.call(&d.call),
        }
    }

    fn macro_decl(&mut self, m: &ast::Macro<'_>) {
        for e in m.args.iter().chain(m.defaults.iter()) {
            self.expr(e);
        }
        self.body(&m.body);
    }

    fn call(&mut self, c: &ast::Call<'_>) {
        // `lookup('table', value, …)` is the function form of the `lookup` filter.
        if let Expr::Var(v) = &c.expr
            && v.id == "lookup"
        {
            self.lookup(&c.args);
        }
        self.expr(&c.expr);
        self.args(&c.args);
    }

    fn chain_subscripts(&mut self, e: &Expr<'_>) {
        match e {
            Expr::GetAttr(g) => self.chain_subscripts(&g.expr),
            Expr::GetItem(g) => {
                self.expr(&g.subscript_expr);
                self.chain_subscripts(&g.expr);
            }
            _ => {}
        }
    }

    fn args(&mut self, args: &[CallArg<'_>]) {
        for a in args {
            match a {
                CallArg::Pos(e) | CallArg::Kwarg(_, e) | CallArg::PosSplat(e) | CallArg::KwargSplat(e) => self.expr(e),
            }
        }
    }

    fn expr(&mut self, e: &Expr<'_>) {
        if self.error.is_some() {
            return;
        }
        if let Some(size) = super::budget::folded_size(e)
            && size > super::budget::RENDER_BYTES
        {
            self.fail(TemplateError::TooLarge { size });
            return;
        }
        if let (Expr::GetAttr(_) | Expr::GetItem(_), Some(path)) = (e, record_path(e)) {
            self.reads.add_path(path);
            // Subscripts inside the chain may read too (`record.a[record.i]`).
            self.chain_subscripts(e);
            return;
        }
        match e {
            Expr::Var(v) if v.id == "record" => self.reads = Reads::All,
            Expr::Var(_) | Expr::Const(_) => {}
            Expr::Slice(s) => {
                self.expr(&s.expr);
                for x in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                    self.expr(x);
                }
            }
            Expr::UnaryOp(u) => self.expr(&u.expr),
            Expr::BinOp(b) => {
                self.expr(&b.left);
                self.expr(&b.right);
            }
            Expr::Compare(c) => {
                self.expr(&c.expr);
                for op in &c.ops {
                    self.expr(&op.expr);
                }
            }
            Expr::IfExpr(i) => {
                self.expr(&i.test_expr);
                self.expr(&i.true_expr);
                if let Some(f) = &i.false_expr {
                    self.expr(f);
                }
            }
            Expr::Filter(f) => {
                self.filter(f.name);
                if f.name == "lookup" {
                    self.lookup(&f.args);
                }
                if let Some(x) = &f.expr {
                    self.expr(x);
                }
                self.args(&f.args);
            }
            Expr::Test(t) => {
                self.test(t.name);
                self.expr(&t.expr);
                self.args(&t.args);
            }
            Expr::GetAttr(g) => self.expr(&g.expr),
            Expr::GetItem(g) => {
                self.expr(&g.expr);
                self.expr(&g.subscript_expr);
            }
            Expr::Call(c) => self.call(c),
            Expr::List(l) => {
                for x in &l.items {
                    self.expr(x);
                }
            }
            Expr::Map(m) => {
                for x in m.keys.iter().chain(m.values.iter()) {
                    self.expr(x);
                }
            }
        }
    }

    /// A filter exists when applying it fails for any reason but "unknown filter" (our filters and the
    /// builtins are pure, so probing with no arguments has no effect).
    fn filter(&mut self, name: &str) {
        let state = self.env.empty_state();
        if let Err(e) = state.apply_filter(name, &[])
            && e.kind() == ErrorKind::UnknownFilter
        {
            self.fail(TemplateError::UnknownFilter { name: name.to_string() });
        }
    }

    fn test(&mut self, name: &str) {
        let state = self.env.empty_state();
        if let Err(e) = state.perform_test(name, &[])
            && e.kind() == ErrorKind::UnknownTest
        {
            self.fail(TemplateError::UnknownTest { name: name.to_string() });
        }
    }

    /// `lookup('table', column=..., key=...)` with literal names: the table and columns must exist.
    fn lookup(&mut self, args: &[CallArg<'_>]) {
        let Some(CallArg::Pos(Expr::Const(c))) = args.first() else {
            return;
        };
        let Some(name) = c.value.as_str() else {
            return;
        };
        let Some(table) = self.tables.get(name) else {
            self.fail(TemplateError::UnknownTable { name: name.to_string(), known: self.tables.names() });
            return;
        };
        for a in args {
            if let CallArg::Kwarg("column" | "key", Expr::Const(c)) = a
                && let Some(col) = c.value.as_str()
                && !table.has_column(col)
            {
                self.fail(TemplateError::UnknownColumn {
                    table: name.to_string(),
                    column: col.to_string(),
                    known: table.columns().to_vec(),
                });
            }
        }
    }
}
