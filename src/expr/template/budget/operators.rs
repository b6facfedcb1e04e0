//! The guarded stand-ins for minijinja's `*`, `+` and `~` instructions: numbers are computed at once
//! (they build nothing), strings and lists are charged against the render's budget before minijinja's
//! own operator, run by an environment whose instructions are not swapped, builds them.

use std::fmt::Write as _;
use std::sync::LazyLock;

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Expression, UndefinedBehavior};

use super::{charge, charge_measured, measure, remaining, too_large};

fn undefined_check(values: &[&Value]) -> Result<(), Error> {
    if values.iter().any(|v| v.is_undefined()) { Err(Error::from(ErrorKind::UndefinedError)) } else { Ok(()) }
}

/// minijinja's own `a * b` and `a + b`, evaluated by an environment whose instructions are not
/// swapped, once the guard has charged the result.
static PLAIN: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
});
static PLAIN_MUL: LazyLock<Option<Expression<'static, 'static>>> =
    LazyLock::new(|| PLAIN.compile_expression("a * b").ok());
static PLAIN_ADD: LazyLock<Option<Expression<'static, 'static>>> =
    LazyLock::new(|| PLAIN.compile_expression("a + b").ok());

fn plain(expr: &LazyLock<Option<Expression<'static, 'static>>>, a: Value, b: Value) -> Result<Value, Error> {
    let expr = expr.as_ref().ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "operator unavailable"))?;
    expr.eval(minijinja::context! { a => a, b => b })
}

/// `a + b` or `a * b` on two numbers as minijinja computes it, when that is simple: integers in 128
/// bits (a result that fits 64 bits is a 64-bit integer), a float on either side makes both floats.
/// `None` (minijinja decides, e.g. on overflow) otherwise. Numbers build nothing, and arithmetic in
/// mappings is common enough that a call through minijinja per operation would show.
fn arithmetic(a: &Value, b: &Value, mul: bool) -> Option<Value> {
    if a.kind() != ValueKind::Number || b.kind() != ValueKind::Number {
        return None;
    }
    if a.is_integer() && b.is_integer() {
        let (x, y) = (i128::try_from(a.clone()).ok()?, i128::try_from(b.clone()).ok()?);
        let r = if mul { x.checked_mul(y)? } else { x.checked_add(y)? };
        return Some(i64::try_from(r).map_or_else(|_| Value::from(r), Value::from));
    }
    let (x, y) = (f64::try_from(a.clone()).ok()?, f64::try_from(b.clone()).ok()?);
    Some(Value::from(if mul { x * y } else { x + y }))
}

/// `a * b`: a string or list repeated `n` times is charged `n` times its size first.
pub(super) fn guarded_mul(a: Value, b: Value) -> Result<Value, Error> {
    if let Some(product) = arithmetic(&a, &b, true) {
        return Ok(product);
    }
    undefined_check(&[&a, &b])?;
    let repeated = match (a.kind(), b.kind()) {
        (ValueKind::String | ValueKind::Seq | ValueKind::Iterable, ValueKind::Number) => Some((&a, &b)),
        (ValueKind::Number, ValueKind::String | ValueKind::Seq | ValueKind::Iterable) => Some((&b, &a)),
        _ => None,
    };
    if let Some((item, times)) = repeated
        && let Some(n) = times.as_usize()
    {
        let n = n as u64;
        let each = measure(item, remaining() / n.max(1)).ok_or_else(too_large)?;
        charge(each.saturating_mul(n))?;
    }
    plain(&PLAIN_MUL, a, b)
}

/// `a + b`: strings and lists are charged the size of the result.
pub(super) fn guarded_add(a: Value, b: Value) -> Result<Value, Error> {
    if let Some(sum) = arithmetic(&a, &b, false) {
        return Ok(sum);
    }
    undefined_check(&[&a, &b])?;
    if a.kind() != ValueKind::Number || b.kind() != ValueKind::Number {
        charge_measured(&a, 1)?;
        charge_measured(&b, 1)?;
    }
    plain(&PLAIN_ADD, a, b)
}

/// `a ~ b`: both written out into a string no longer than the budget allows.
pub(super) fn guarded_concat(a: Value, b: Value) -> Result<Value, Error> {
    undefined_check(&[&a, &b])?;
    let mut text = Capped { text: String::new(), limit: remaining() };
    write!(text, "{a}{b}").map_err(|_| too_large())?;
    charge(text.text.len() as u64)?;
    Ok(Value::from(text.text))
}

/// A string that refuses to grow past `limit` bytes.
struct Capped {
    text: String,
    limit: u64,
}

impl std::fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if (self.text.len() + s.len()) as u64 > self.limit {
            return Err(std::fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}
