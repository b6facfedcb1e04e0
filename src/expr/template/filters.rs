//! Weir's own template filters: `lookup` (tables), decimal-exact `round`, `decimal`, `money`, date
//! parsing/formatting (`parse_date`, `dateformat`, in `dates`), a `tojson` that serializes records directly, and
//! two ways to dead-letter a record with a reason of the pipeline's own: the `required` filter (a
//! missing value) and the `fail(reason)` function.

use std::str::FromStr;
use std::sync::Arc;

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error};
use rust_decimal::{Decimal, RoundingStrategy};

use super::dates;
use super::error::invalid;
use super::object::{JsonNode, scalar_to_value};
use crate::tables::Tables;

/// Registers every Weir filter on `env` (after minijinja's builtins and minijinja-contrib's, so ours
/// win where names clash: `round`, `tojson`, `dateformat`).
pub(crate) fn register(env: &mut Environment<'static>, tables: Arc<Tables>) {
    let function_tables = Arc::clone(&tables);
    env.add_filter("lookup", move |value: Value, table: String, kwargs: Kwargs| lookup(&tables, value, &table, kwargs));
    // The same as a function: `lookup('table', value, column=…)`.
    env.add_function("lookup", move |table: String, value: Value, kwargs: Kwargs| {
        lookup(&function_tables, value, &table, kwargs)
    });
    env.add_filter("round", round);
    env.add_filter("decimal", decimal);
    env.add_filter("money", money);
    let formats = dates::FormatCache::default();
    let f2 = formats.clone();
    env.add_filter("parse_date", move |value: Value, format: Option<String>, kwargs: Kwargs| {
        dates::parse_date(&formats, value, format, kwargs)
    });
    env.add_filter("dateformat", move |value: Value, format: Option<String>, kwargs: Kwargs| {
        dates::dateformat(&f2, value, format, kwargs)
    });
    env.add_filter("tojson", tojson);
    env.add_filter("parse_kv", parse_kv);
    env.add_filter("path_segment", path_segment);
    env.add_filter("base64url", base64url);
    env.add_filter("required", required);
    env.add_function("fail", fail);
}

/// `{{ ids_for(k).variant_id | required('the ERP has no variant ' ~ code) }}`: the value, unless it is
/// undefined, none or an empty string — then the render fails with `message` (the record is
/// dead-lettered with it), so a missing mapping is never sent on as an empty field.
fn required(value: Value, message: Option<String>) -> Result<Value, Error> {
    let missing = value.is_undefined() || value.is_none() || value.as_str().is_some_and(|s| s.trim().is_empty());
    if missing {
        return Err(invalid(message.unwrap_or_else(|| "a required value is missing".to_string())));
    }
    Ok(value)
}

/// `{{ record.email or fail('the customer has no e-mail address') }}`: rejects the record with this
/// reason, so that a record a pipeline cannot use is dead-lettered saying why in the terms of the
/// business, not as the undefined value or failed filter it would otherwise come to.
fn fail(reason: String) -> Result<Value, Error> {
    Err(invalid(reason))
}

/// `{{ [["reference", "=", record.increment_id]] | tojson | base64url }}`: the text in URL-safe base64
/// (RFC 4648 §5, `-` and `_`, padded with `=`), as in the query parameters of Tryton's REST API (its
/// `d` domain and `o` order) and its `X-Tryton-Context` header.
fn base64url(value: &Value) -> Result<String, Error> {
    use base64::Engine as _;
    let text = value.as_str().ok_or_else(|| {
        invalid(format!("base64url expects a string (use `tojson` first for a list or a map), got {}", value.kind()))
    })?;
    Ok(base64::engine::general_purpose::URL_SAFE.encode(text.as_bytes()))
}

/// Characters a path segment keeps as they are (RFC 3986 "unreserved"); everything else is
/// percent-encoded — `/` included, which `urlencode` keeps.
const SEGMENT_KEEPS: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `{{ record.sku | path_segment }}`: the value as one URL path segment — `MH01/XS Black+1%` →
/// `MH01%2FXS%20Black%2B1%25`. `urlencode` leaves `/` alone (it is meant for query strings and whole
/// paths), so a SKU holding one would split the path and name another resource. `.` and `..` are
/// refused: left as they are, they would name the current or the parent resource.
fn path_segment(value: &Value) -> Result<String, Error> {
    let text = match value.as_str() {
        Some(text) => text.to_string(),
        None if value.is_number() || value.kind() == minijinja::value::ValueKind::Bool => value.to_string(),
        None => return Err(invalid(format!("path_segment expects a string or a number, got {}", value.kind()))),
    };
    if text == "." || text == ".." {
        return Err(invalid("a path segment cannot be '.' or '..'".to_string()));
    }
    Ok(percent_encoding::utf8_percent_encode(&text, SEGMENT_KEEPS).to_string())
}

/// `"a=1,b=2" | parse_kv(pair_sep=',', kv_sep='=')` → `{"a": "1", "b": "2"}`: key/value lists such as
/// Magento's `additional_attributes` and `configurable_variations` columns. Values stay strings; a part
/// without `kv_sep` is an error (the input is not what the mapping expects).
fn parse_kv(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let pair_sep: Option<String> = kwargs.get("pair_sep")?;
    let kv_sep: Option<String> = kwargs.get("kv_sep")?;
    kwargs.assert_all_used()?;
    let text = value.as_str().ok_or_else(|| invalid(format!("parse_kv expects a string, got {}", value.kind())))?;
    let pair_sep = pair_sep.as_deref().unwrap_or(",");
    let kv_sep = kv_sep.as_deref().unwrap_or("=");
    if pair_sep.is_empty() || kv_sep.is_empty() {
        return Err(invalid("parse_kv separators must not be empty"));
    }
    // In the order the pairs are written (a repeated key keeps its first place and its last value).
    let mut pairs: Vec<(String, Value)> = Vec::new();
    for part in text.split(pair_sep).filter(|p| !p.trim().is_empty()) {
        let (k, v) = part.split_once(kv_sep).ok_or_else(|| invalid(format!("parse_kv: `{part}` has no `{kv_sep}`")))?;
        let (k, v) = (k.trim(), Value::from(v.trim()));
        match pairs.iter_mut().find(|(name, _)| name == k) {
            Some(pair) => pair.1 = v,
            None => pairs.push((k.to_string(), v)),
        }
    }
    Ok(Value::from_iter(pairs))
}

/// The string a looked-up value is matched against: strings as is, numbers and bools spelled as in JSON.
fn key_of(value: &Value) -> Option<String> {
    if let Some(s) = value.as_str() {
        return Some(s.to_string());
    }
    match value.kind() {
        minijinja::value::ValueKind::Number | minijinja::value::ValueKind::Bool => Some(value.to_string()),
        _ => None,
    }
}

/// `value | lookup('table', column=None, key=None, default=...)`.
fn lookup(tables: &Tables, value: Value, table_name: &str, kwargs: Kwargs) -> Result<Value, Error> {
    let column: Option<String> = kwargs.get("column")?;
    let key_column: Option<String> = kwargs.get("key")?;
    let default: Option<Value> = if kwargs.has("default") { Some(kwargs.get("default")?) } else { None };
    kwargs.assert_all_used()?;
    let table = tables
        .get(table_name)
        .ok_or_else(|| invalid(format!("unknown table `{table_name}` (known: {})", tables.names().join(", "))))?;
    let key_column = key_column.as_deref().unwrap_or_else(|| table.key_column());
    if !table.has_column(key_column) {
        return Err(invalid(format!("table `{table_name}` has no column `{key_column}`")));
    }
    if let Some(c) = &column
        && !table.has_column(c)
    {
        return Err(invalid(format!("table `{table_name}` has no column `{c}`")));
    }
    let row = key_of(&value).and_then(|k| table.lookup(key_column, &k));
    let Some(row) = row else {
        return match default {
            Some(d) => Ok(d),
            None => Err(invalid(format!(
                "no row with {key_column} = {} in table `{table_name}`",
                key_of(&value).map(|k| format!("{k:?}")).unwrap_or_else(|| format!("<{}>", value.kind()))
            ))),
        };
    };
    match column {
        Some(c) => Ok(row.get(&c).map(scalar_to_value).unwrap_or_default()),
        None => Ok(row.iter().map(|(k, v)| (Value::from(k), scalar_to_value(v))).collect()),
    }
}

/// The exact decimal a template number stands for: integers exactly, strings parsed as decimals, floats
/// through their shortest round-trip representation (so 184.185 is 184.185, not 184.18499999...).
pub(crate) fn to_decimal(value: &Value) -> Result<Decimal, Error> {
    if let Some(s) = value.as_str() {
        let s = s.trim();
        return Decimal::from_str(s)
            .or_else(|_| Decimal::from_scientific(s))
            .map_err(|_| invalid(format!("{s:?} is not a number")));
    }
    if value.kind() != minijinja::value::ValueKind::Number {
        return Err(invalid(format!("expected a number, got {}", value.kind())));
    }
    if let Some(i) = value.as_i64() {
        return Ok(Decimal::from(i));
    }
    if let Ok(u) = u64::try_from(value.clone()) {
        return Ok(Decimal::from(u));
    }
    if value.is_integer()
        && let Ok(i) = i128::try_from(value.clone())
    {
        return Decimal::try_from_i128_with_scale(i, 0)
            .map_err(|_| invalid(format!("{i} is out of the decimal range (about ±7.9e28, 28 fractional digits)")));
    }
    let f = f64::try_from(value.clone())?;
    if !f.is_finite() {
        return Err(invalid(format!("{f} is not a finite number")));
    }
    let repr = f.to_string();
    Decimal::from_str(&repr)
        .or_else(|_| Decimal::from_scientific(&format!("{f:e}")))
        .map_err(|_| invalid(format!("{f} is out of the decimal range (about ±7.9e28, 28 fractional digits)")))
}

fn places_arg(positional: Option<Value>, kwargs: &Kwargs, name: &str, default: u32) -> Result<u32, Error> {
    let v = match positional {
        Some(v) => Some(v),
        None => kwargs.get::<Option<Value>>(name)?,
    };
    match v {
        None => Ok(default),
        Some(v) => {
            let n = i64::try_from(v)?;
            u32::try_from(n).ok().filter(|&n| n <= 28).ok_or_else(|| invalid(format!("{name} must be 0..=28, got {n}")))
        }
    }
}

fn round_half_away(d: Decimal, places: u32) -> Decimal {
    d.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero)
}

fn decimal_to_number(d: Decimal) -> Result<Value, Error> {
    if d.scale() == 0
        && let Ok(i) = i64::try_from(d)
    {
        return Ok(Value::from(i));
    }
    let f: f64 = d.to_string().parse().map_err(|_| invalid(format!("cannot represent {d} as a number")))?;
    Ok(Value::from(f))
}

/// `value | round(places=0)`: half away from zero on the decimal representation; returns a number
/// (integers pass through unchanged; numeric strings are accepted).
fn round(value: Value, precision: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let places = places_arg(precision, &kwargs, "precision", 0)?;
    kwargs.assert_all_used()?;
    round_value(value, places)
}

/// What `value | round(places)` gives (also used by templates evaluated without minijinja).
pub(crate) fn round_value(value: Value, places: u32) -> Result<Value, Error> {
    if value.is_integer() {
        return Ok(value);
    }
    let d = to_decimal(&value)?;
    let r = round_half_away(d, places);
    if value.as_str().is_none() {
        // Keep floats floats, like Jinja: 2.5 | round → 3.0.
        let f: f64 = r.to_string().parse().map_err(|_| invalid(format!("cannot represent {r} as a number")))?;
        return Ok(Value::from(f));
    }
    decimal_to_number(r)
}

/// `value | decimal(places=2)`: a string with exactly `places` decimals, rounded half away from zero.
fn decimal(value: Value, places: Option<Value>, kwargs: Kwargs) -> Result<String, Error> {
    let places = places_arg(places, &kwargs, "places", 2)?;
    kwargs.assert_all_used()?;
    fixed(&value, places)
}

fn fixed(value: &Value, places: u32) -> Result<String, Error> {
    let mut d = round_half_away(to_decimal(value)?, places);
    d.rescale(places);
    Ok(d.to_string())
}

/// `value | money(currency=None, places=2)`: "12.50" or "12.50 EUR".
fn money(value: Value, currency: Option<String>, places: Option<Value>, kwargs: Kwargs) -> Result<String, Error> {
    let currency = match currency {
        Some(c) => Some(c),
        None => kwargs.get::<Option<String>>("currency")?,
    };
    let places = places_arg(places, &kwargs, "places", 2)?;
    kwargs.assert_all_used()?;
    let amount = fixed(&value, places)?;
    Ok(match currency {
        Some(c) if !c.is_empty() => format!("{amount} {c}"),
        _ => amount,
    })
}

/// `tojson` with a fast path for record nodes (serialized straight from the `serde_json::Value`); other
/// values go to minijinja's builtin. Output is HTML-safe like the builtin's.
fn tojson(value: &Value, indent: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let indent_width = match &indent {
        Some(v) if v.kind() == minijinja::value::ValueKind::Bool => v.is_true().then_some(2),
        Some(v) => v.as_usize(),
        None => kwargs.peek::<Option<usize>>("indent").ok().flatten(),
    };
    super::budget::charge_json(value, indent_width)?;
    let Some(node) = value.downcast_object_ref::<JsonNode>() else {
        return minijinja::filters::tojson(value, indent, kwargs);
    };
    let indent = match indent {
        Some(i) => Some(i),
        None => kwargs.get::<Option<Value>>("indent")?,
    };
    kwargs.assert_all_used()?;
    let indent = match indent {
        None => None,
        Some(v) if v.kind() == minijinja::value::ValueKind::Bool => v.is_true().then_some(2),
        Some(v) => Some(usize::try_from(v)?),
    };
    let json = node.resolve();
    let s = match indent {
        None => serde_json::to_string(json),
        Some(n) => {
            let ind = " ".repeat(n);
            let mut out = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(ind.as_bytes());
            let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
            serde::Serialize::serialize(json, &mut ser).map(|_| String::from_utf8_lossy(&out).into_owned())
        }
    }
    .map_err(|e| invalid(format!("cannot serialize to JSON: {e}")))?;
    let mut rv = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => rv.push_str("\\u003c"),
            '>' => rv.push_str("\\u003e"),
            '&' => rv.push_str("\\u0026"),
            '\'' => rv.push_str("\\u0027"),
            _ => rv.push(c),
        }
    }
    Ok(Value::from_safe_string(rv))
}
