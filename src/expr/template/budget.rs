//! The byte budget of one render: every operation that can build a value bigger than its inputs
//! (`*`, `+`, `~`, the emitting of output, and the amplifying filters `join`, `indent`, `replace`,
//! `format`, `tojson`, `string`, `pprint`, `sum`, `batch`, `slice`) is charged against it *before* it
//! allocates, so `"x" * 100000000` or a doubling `s ~ s` fails the record instead of the machine.
//!
//! Fuel bounds how many instructions a render executes; it does not bound how much one instruction
//! allocates (minijinja itself caps a repeated string at 100 MB). The budget is per top-level render,
//! on the rendering thread, and counts bytes built (not bytes live): it is a ceiling on work, simple
//! to reason about, and a mapping that builds 64 MiB of text for one record is not a mapping.
//!
//! [`super::program`] swaps minijinja's `Add`, `Mul` and `StringConcat` instructions for the guarded
//! functions registered here (`operators`); the formatter and the filter wrappers are registered on
//! the environment.

use std::cell::Cell;
use std::fmt::Write as _;

use minijinja::value::{Kwargs, Rest, StringInput, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, filters};

mod operators;
use operators::{guarded_add, guarded_concat, guarded_mul};

/// Bytes one render may build. Fixed, like fuel; documented in `docs/configuration.md` ("Rules").
pub(super) const RENDER_BYTES: u64 = 64 * 1024 * 1024;

/// The guarded stand-ins for minijinja's own instructions (see [`super::program`]).
pub(super) const MUL_FUNCTION: &str = "__weir_mul";
pub(super) const ADD_FUNCTION: &str = "__weir_add";
pub(super) const CONCAT_FUNCTION: &str = "__weir_concat";

thread_local! {
    /// Bytes the current render may still build (`None` outside a render: tests, helpers).
    static REMAINING: Cell<Option<u64>> = const { Cell::new(None) };
    /// How many renders are nested on this thread (a structured template renders frame within frame).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Held while a render runs: the outermost one starts a fresh budget, nested ones share it.
pub(super) struct RenderBudget {
    _private: (),
}

impl RenderBudget {
    pub(super) fn enter(limit: u64) -> Self {
        DEPTH.with(|d| {
            if d.get() == 0 {
                REMAINING.with(|r| r.set(Some(limit)));
            }
            d.set(d.get() + 1);
        });
        Self { _private: () }
    }
}

impl Drop for RenderBudget {
    fn drop(&mut self) {
        DEPTH.with(|d| {
            d.set(d.get().saturating_sub(1));
            if d.get() == 0 {
                REMAINING.with(|r| r.set(None));
            }
        });
    }
}

/// Takes `bytes` from the budget, or fails when the render would exceed it.
fn charge(bytes: u64) -> Result<(), Error> {
    REMAINING.with(|r| match r.get() {
        None => Ok(()),
        Some(left) if bytes <= left => {
            r.set(Some(left - bytes));
            Ok(())
        }
        Some(_) => Err(too_large()),
    })
}

/// What the budget still allows (`u64::MAX` outside a render).
fn remaining() -> u64 {
    REMAINING.with(|r| r.get().unwrap_or(u64::MAX))
}

fn too_large() -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "the template builds more than {} MiB of text for one record (a value repeated or joined too often?)",
            RENDER_BYTES / (1024 * 1024)
        ),
    )
}

/// A `fmt::Write` that counts, and stops once more than `limit` bytes were written.
struct Counter {
    written: u64,
    limit: u64,
}

impl std::fmt::Write for Counter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.written = self.written.saturating_add(s.len() as u64);
        if self.written > self.limit { Err(std::fmt::Error) } else { Ok(()) }
    }
}

/// What `value` costs once built out: its length written out for a string, and for a list or map its
/// items plus 16 bytes each (a materialised item takes at least that much memory). `None` when that
/// exceeds `limit`; the walk stops there, so measuring costs at most the budget it guards.
fn measure(value: &Value, limit: u64) -> Option<u64> {
    let mut total = 0u64;
    walk(value, limit, &mut total, 0).then_some(total)
}

/// Adds the cost of `value` to `total`; false once `total` passes `limit`.
fn walk(value: &Value, limit: u64, total: &mut u64, depth: usize) -> bool {
    let add = |bytes: u64, total: &mut u64| {
        *total = total.saturating_add(bytes);
        *total <= limit
    };
    if let Some(s) = value.as_str() {
        return add(s.len() as u64, total);
    }
    if let Some(node) = value.downcast_object_ref::<super::object::JsonNode>() {
        let mut counter = Counter { written: 0, limit: limit.saturating_sub(*total) };
        let fits = serde_json::to_writer(FmtBridge(&mut counter), node.resolve()).is_ok();
        return fits && add(counter.written, total);
    }
    match value.kind() {
        ValueKind::Seq | ValueKind::Iterable | ValueKind::Map if depth < 128 => {
            let Ok(items) = value.try_iter() else { return add(16, total) };
            let is_map = value.kind() == ValueKind::Map;
            for item in items {
                if !add(16, total) || !walk(&item, limit, total, depth + 1) {
                    return false;
                }
                if is_map
                    && let Ok(v) = value.get_item(&item)
                    && !walk(&v, limit, total, depth + 1)
                {
                    return false;
                }
            }
            add(2, total)
        }
        _ => {
            let mut counter = Counter { written: 0, limit: limit.saturating_sub(*total) };
            write!(counter, "{value}").is_ok() && add(counter.written, total)
        }
    }
}

/// Lets serde_json write into a [`Counter`].
struct FmtBridge<'a>(&'a mut Counter);

impl std::io::Write for FmtBridge<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.written = self.0.written.saturating_add(buf.len() as u64);
        if self.0.written > self.0.limit { Err(std::io::ErrorKind::FileTooLarge.into()) } else { Ok(buf.len()) }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Charges the written-out length of `value` (fails when it alone exceeds what is left).
fn charge_measured(value: &Value, factor: u64) -> Result<(), Error> {
    let left = remaining();
    let bytes = measure(value, left / factor.max(1)).ok_or_else(too_large)?;
    charge(bytes.saturating_mul(factor))
}

/// Emitted output (`{{ … }}`, including `{% set %}` blocks) is charged as it is written.
fn formatter(out: &mut minijinja::Output<'_>, state: &State<'_, '_>, value: &Value) -> Result<(), Error> {
    charge_measured(value, 1)?;
    minijinja::escape_formatter(out, state, value)
}

/// Registers the guarded operators, the formatter and the guarded builtin filters on `env`.
pub(super) fn register(env: &mut Environment<'static>) {
    env.add_function(MUL_FUNCTION, guarded_mul);
    env.add_function(ADD_FUNCTION, guarded_add);
    env.add_function(CONCAT_FUNCTION, guarded_concat);
    env.set_formatter(formatter);
    env.add_filter("join", join);
    env.add_filter("indent", indent);
    env.add_filter("replace", replace);
    env.add_filter("format", |state: &State, format: &Value, args: Rest<Value>| {
        charge(format.as_str().map_or(0, printf_widths))?;
        charge_measured(format, 1)?;
        for arg in args.iter() {
            charge_measured(arg, 1)?;
        }
        filters::format(state, format, args)
    });
    env.add_filter("string", |state: &State, value: &Value| {
        charge_measured(value, 1)?;
        filters::string(state, value)
    });
    env.add_filter("pprint", |value: &Value| {
        // pprint indents nested values: at most a few times the flat size for data of sane depth.
        charge_measured(value, 4)?;
        Ok::<_, Error>(filters::pprint(value))
    });
    env.add_filter("sum", |state: &State, values: Value| {
        charge_measured(&values, 1)?;
        filters::sum(state, values)
    });
    env.add_filter("batch", |state: &State, value: Value, count: usize, fill: Option<Value>| {
        fill_bound(count, fill.as_ref())?;
        filters::batch(state, value, count, fill)
    });
    env.add_filter("slice", |state: &State, value: Value, count: usize, fill: Option<Value>| {
        fill_bound(count, fill.as_ref())?;
        filters::slice(state, value, count, fill)
    });
}

fn join(state: &State<'_, '_>, value: &Value, joiner: Option<StringInput<'_>>) -> Result<Value, Error> {
    let items = value.try_iter().map_or(1, |it| it.count() as u64);
    charge_measured(value, 1)?;
    charge((joiner.as_ref().map_or(0, |j| j.as_str().len()) as u64).saturating_mul(items))?;
    filters::join(state, value, joiner)
}

fn indent(
    value: StringInput<'_>,
    width: Option<usize>,
    first: Option<bool>,
    blank: Option<bool>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let text = value.as_str();
    let lines = text.matches('\n').count() as u64 + 1;
    let columns = match width {
        Some(w) => w,
        None => kwargs.peek::<Option<usize>>("width")?.unwrap_or(4),
    };
    charge((text.len() as u64).saturating_add(lines.saturating_mul(columns as u64)))?;
    filters::indent(value, width, first, blank, kwargs)
}

fn replace(
    state: &State<'_, '_>,
    value: StringInput<'_>,
    from: StringInput<'_>,
    to: StringInput<'_>,
) -> Result<Value, Error> {
    let (text, pattern) = (value.as_str(), from.as_str());
    let hits = if pattern.is_empty() { text.chars().count() + 1 } else { text.matches(pattern).count() };
    charge((text.len() as u64).saturating_add((hits as u64).saturating_mul(to.as_str().len() as u64)))?;
    filters::replace(state, value, from, to)
}

/// The `tojson` filter's charge (Weir's own filter, see `filters.rs`): the flat size, times the
/// indentation per level when it indents.
pub(super) fn charge_json(value: &Value, indent: Option<usize>) -> Result<(), Error> {
    charge_measured(value, 1 + indent.unwrap_or(0) as u64)
}

/// `batch`/`slice` with a fill value make up to `count` items out of nothing.
fn fill_bound(count: usize, fill: Option<&Value>) -> Result<(), Error> {
    match fill {
        Some(fill) => {
            let each = measure(fill, remaining()).ok_or_else(too_large)?.max(1);
            charge(each.saturating_mul(count as u64))
        }
        None => Ok(()),
    }
}

/// The sum of the widths and precisions written in a printf-style format (`%10s`, `%-8.3f`): output
/// that `format` makes out of nothing.
fn printf_widths(format: &str) -> u64 {
    let mut total = 0u64;
    let mut rest = format;
    while let Some(at) = rest.find('%') {
        rest = &rest[at + 1..];
        let spec = rest.trim_start_matches(['-', '+', ' ', '#', '0']);
        let mut numbers = spec.split(|c: char| !(c.is_ascii_digit() || c == '.'));
        if let Some(widths) = numbers.next() {
            for part in widths.split('.') {
                total = total.saturating_add(part.parse::<u64>().unwrap_or(0));
            }
        }
    }
    total
}

/// The size of the value a constant expression folds to, when it can be told without building it:
/// minijinja folds constant expressions (`Const`, lists, maps, unary and binary operations,
/// comparisons) while it compiles, so `"x" * 100000000` would be built at compile time. `None` when
/// the expression is not constant. An upper bound, saturating.
pub(super) fn folded_size(expr: &minijinja::machinery::ast::Expr<'_>) -> Option<u64> {
    use minijinja::machinery::ast::{BinOpKind, Expr};
    /// The value of a constant operand small enough to fold safely.
    fn small(e: &Expr<'_>) -> Option<Value> {
        (folded_size(e)? <= 64).then(|| e.as_const()).flatten()
    }
    let number = |v: &Option<Value>| v.as_ref().filter(|v| v.kind() == ValueKind::Number).cloned();
    fn sum<'a>(mut items: impl Iterator<Item = &'a Expr<'a>>) -> Option<u64> {
        items.try_fold(2u64, |total, e| Some(total.saturating_add(folded_size(e)?.saturating_add(2))))
    }
    match expr {
        Expr::Const(c) => Some(measure(&c.value, u64::MAX).unwrap_or(u64::MAX)),
        Expr::List(l) => sum(l.items.iter()),
        Expr::Map(m) => sum(m.keys.iter().chain(m.values.iter())),
        Expr::UnaryOp(u) => folded_size(&u.expr),
        Expr::Compare(c) => {
            folded_size(&c.expr)?;
            c.ops.iter().try_for_each(|op| folded_size(&op.expr).map(drop))?;
            Some(5)
        }
        Expr::BinOp(op) => {
            let (left, right) = (folded_size(&op.left)?, folded_size(&op.right)?);
            Some(match op.op {
                BinOpKind::Concat | BinOpKind::Add => left.saturating_add(right),
                BinOpKind::Mul => {
                    let (l, r) = (small(&op.left), small(&op.right));
                    match (number(&l), number(&r)) {
                        (Some(_), Some(_)) => 40,
                        (Some(n), None) => right.saturating_mul(n.as_usize().unwrap_or(0) as u64),
                        (None, Some(n)) => left.saturating_mul(n.as_usize().unwrap_or(0) as u64),
                        (None, None) => left.max(right),
                    }
                }
                _ => left.max(right),
            })
        }
        _ => None,
    }
}
