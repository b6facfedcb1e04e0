//! OData v4 `$filter` expressions, parsed once per request and evaluated per entity: comparisons
//! (`eq`, `ne`, `gt`, `ge`, `lt`, `le`) of a property with a literal — a quoted string (`'it''s'`),
//! a number, `true`/`false`/`null`, a GUID, or a date-time (`2026-01-01T00:00:00Z`, compared as an
//! instant) — combined with `and`, `or`, `not` and parentheses; and `contains`, `startswith`,
//! `endswith` of a property and a string.

use std::cmp::Ordering;

use serde_json::Value;

/// A parsed `$filter`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Filter {
    /// `property op literal`.
    Compare(String, Op, Value),
    /// `contains(property, 'text')` and its kin.
    Text(String, TextOp, String),
    /// `a and b`.
    And(Box<Filter>, Box<Filter>),
    /// `a or b`.
    Or(Box<Filter>, Box<Filter>),
    /// `not a`.
    Not(Box<Filter>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A string function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TextOp {
    Contains,
    StartsWith,
    EndsWith,
}

/// Splits a filter into tokens: `(`, `)`, `,`, quoted strings (kept with their quotes), and words.
fn tokens(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if matches!(c, '(' | ')' | ',') {
            out.push(c.to_string());
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut s = String::from("'");
            loop {
                match chars.next() {
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        s.push('\'');
                    }
                    Some('\'') => break,
                    Some(ch) => s.push(ch),
                    None => return Err("a string literal is not closed".into()),
                }
            }
            out.push(s);
        } else {
            let mut word = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || matches!(ch, '(' | ')' | ',' | '\'') {
                    break;
                }
                word.push(ch);
                chars.next();
            }
            out.push(word);
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<String>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> Result<String, String> {
        let token = self.tokens.get(self.at).cloned().ok_or("the expression ends too early")?;
        self.at += 1;
        Ok(token)
    }

    fn expect(&mut self, want: &str) -> Result<(), String> {
        let got = self.next()?;
        if got == want { Ok(()) } else { Err(format!("expected `{want}`, found `{got}`")) }
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.peek() == Some("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.peek() == Some("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        let token = self.next()?;
        match token.as_str() {
            "not" => Ok(Filter::Not(Box::new(self.unary()?))),
            "(" => {
                let inner = self.or()?;
                self.expect(")")?;
                Ok(inner)
            }
            "contains" | "startswith" | "endswith" => {
                let op = match token.as_str() {
                    "contains" => TextOp::Contains,
                    "startswith" => TextOp::StartsWith,
                    _ => TextOp::EndsWith,
                };
                self.expect("(")?;
                let property = self.next()?;
                self.expect(",")?;
                let Value::String(text) = literal(&self.next()?)? else {
                    return Err(format!("`{token}` compares with a quoted string"));
                };
                self.expect(")")?;
                Ok(Filter::Text(property, op, text))
            }
            _ => {
                let op = match self.next()?.as_str() {
                    "eq" => Op::Eq,
                    "ne" => Op::Ne,
                    "gt" => Op::Gt,
                    "ge" => Op::Ge,
                    "lt" => Op::Lt,
                    "le" => Op::Le,
                    other => return Err(format!("`{other}` is not an operator (eq, ne, gt, ge, lt, le)")),
                };
                Ok(Filter::Compare(token, op, literal(&self.next()?)?))
            }
        }
    }
}

/// A literal: `'text'`, a number, `true`, `false`, `null`, or a bare GUID or date-time (kept as text).
fn literal(token: &str) -> Result<Value, String> {
    if let Some(text) = token.strip_prefix('\'') {
        return Ok(Value::String(text.to_string()));
    }
    match token {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        "null" => return Ok(Value::Null),
        _ => {}
    }
    if let Ok(n) = token.parse::<f64>() {
        return Ok(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number));
    }
    if token.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '.' | '+'))
        && token.chars().next().is_some_and(|c| c.is_ascii_digit() || c.is_ascii_hexdigit())
    {
        return Ok(Value::String(token.to_string()));
    }
    Err(format!("`{token}` is not a literal (a quoted string, a number, a date-time, true, false, null)"))
}

/// Parses a `$filter` value (already percent-decoded).
pub(super) fn parse(text: &str) -> Result<Filter, String> {
    let mut parser = Parser { tokens: tokens(text)?, at: 0 };
    let filter = parser.or()?;
    match parser.peek() {
        None => Ok(filter),
        Some(extra) => Err(format!("unexpected `{extra}`")),
    }
}

/// The instant an RFC 3339 text names, in nanoseconds.
fn instant(text: &str) -> Option<i128> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp_nanos())
}

/// Orders two JSON values as OData does: numbers as numbers, date-times as instants, strings
/// case-insensitively (BC's collation), `null` first; `None` when they cannot be compared.
pub(super) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::Null, _) => Some(Ordering::Less),
        (_, Value::Null) => Some(Ordering::Greater),
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::String(x), Value::String(y)) => match (instant(x), instant(y)) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => Some(x.to_lowercase().cmp(&y.to_lowercase())),
        },
        _ => None,
    }
}

impl Filter {
    /// The properties the filter names, to check against the entity type.
    pub(super) fn properties(&self, out: &mut Vec<String>) {
        match self {
            Filter::Compare(p, ..) | Filter::Text(p, ..) => out.push(p.clone()),
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.properties(out);
                b.properties(out);
            }
            Filter::Not(a) => a.properties(out),
        }
    }

    /// Whether `entity` matches.
    pub(super) fn matches(&self, entity: &Value) -> bool {
        match self {
            Filter::Compare(property, op, literal) => {
                let value = entity.get(property).unwrap_or(&Value::Null);
                let Some(order) = compare(value, literal) else { return *op == Op::Ne };
                match op {
                    Op::Eq => order.is_eq(),
                    Op::Ne => order.is_ne(),
                    Op::Gt => order.is_gt(),
                    Op::Ge => order.is_ge(),
                    Op::Lt => order.is_lt(),
                    Op::Le => order.is_le(),
                }
            }
            Filter::Text(property, op, text) => {
                let value = entity.get(property).and_then(Value::as_str).unwrap_or_default().to_lowercase();
                let text = text.to_lowercase();
                match op {
                    TextOp::Contains => value.contains(&text),
                    TextOp::StartsWith => value.starts_with(&text),
                    TextOp::EndsWith => value.ends_with(&text),
                }
            }
            Filter::And(a, b) => a.matches(entity) && b.matches(entity),
            Filter::Or(a, b) => a.matches(entity) || b.matches(entity),
            Filter::Not(a) => !a.matches(entity),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn comparisons_combine_and_compare_by_type() {
        let entity = json!({"number": "1896-S", "unitPrice": 1000.8, "blocked": false,
                            "lastModifiedDateTime": "2026-01-01T05:00:00.000Z", "displayName": "O'Brien Desk"});
        let yes = [
            "number eq '1896-S'",
            "unitPrice gt 999 and unitPrice le 1000.8",
            "blocked eq false or number eq 'x'",
            "lastModifiedDateTime gt 2026-01-01T00:00:00Z",
            "lastModifiedDateTime ge 2026-01-01T05:00:00+00:00",
            "not (number ne '1896-S')",
            "displayName eq 'o''brien desk'",
            "contains(displayName, 'brien') and startswith(number, '18')",
            "missing eq null",
        ];
        for text in yes {
            assert!(parse(text).expect(text).matches(&entity), "{text}");
        }
        let no = [
            "number eq '1900-S'",
            "unitPrice lt 1000",
            "lastModifiedDateTime gt 2026-01-01T05:00:00Z",
            "endswith(number, 'W')",
            "(blocked eq true or unitPrice gt 2000) and number eq '1896-S'",
        ];
        for text in no {
            assert!(!parse(text).expect(text).matches(&entity), "{text}");
        }
        // Precedence: `and` binds tighter than `or`.
        assert!(parse("number eq 'x' and blocked eq true or unitPrice gt 1").expect("parses").matches(&entity));
    }

    #[test]
    fn malformed_filters_say_why() {
        for (text, why) in [
            ("number eq 'open", "not closed"),
            ("number is '1'", "`is` is not an operator"),
            ("(number eq '1'", "ends too early"),
            ("number eq '1' x", "unexpected `x`"),
            ("number eq #", "not a literal"),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
