//! JSON values as Weir reads them: numbers written as they were read, exponent included (serde_json
//! keeps every digit of a number, `arbitrary_precision`, but respells its exponent: `1E5` and `1e5`
//! both become `1e+5`; these parse functions put the spelling of the text back), scalars built
//! straight from their text, and members of small objects found without hashing their name.

use serde_json::{Map, Number, Value};

/// The member `name` of `map`. Objects of a record are mostly small, where comparing a few names is
/// cheaper than hashing one (serde_json's ordered map hashes with SipHash).
#[inline]
pub(crate) fn member<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if map.len() <= 8 { map.iter().find_map(|(k, v)| (k == name).then_some(v)) } else { map.get(name) }
}

/// The value of a JSON scalar's text (already checked to be one JSON value) without a parser: a
/// string without escapes or control characters, a number (kept as written), `true`, `false`, `null`.
/// `None` for anything else (objects, arrays, strings with escapes), which the parser builds.
pub(crate) fn scalar(text: &str) -> Option<Value> {
    let bytes = text.as_bytes();
    match bytes.first()? {
        b'"' => {
            let inner = text.get(1..text.len().checked_sub(1)?)?;
            let plain = bytes.len() >= 2
                && bytes[bytes.len() - 1] == b'"'
                && inner.bytes().all(|b| b >= 0x20 && b != b'\\' && b != b'"');
            plain.then(|| Value::String(inner.to_string()))
        }
        b'-' | b'0'..=b'9' => is_number(bytes).then(|| Value::Number(Number::from_string_unchecked(text.to_string()))),
        _ => match text {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            "null" => Some(Value::Null),
            _ => None,
        },
    }
}

/// True when `text` is exactly one number by RFC 8259's grammar.
fn is_number(text: &[u8]) -> bool {
    let digits = |at: &mut usize| {
        let start = *at;
        while text.get(*at).is_some_and(u8::is_ascii_digit) {
            *at += 1;
        }
        *at > start
    };
    let mut at = usize::from(text.first() == Some(&b'-'));
    match text.get(at) {
        Some(b'0') => at += 1,
        Some(b'1'..=b'9') => {
            digits(&mut at);
        }
        _ => return false,
    }
    if text.get(at) == Some(&b'.') {
        at += 1;
        if !digits(&mut at) {
            return false;
        }
    }
    if matches!(text.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(text.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        if !digits(&mut at) {
            return false;
        }
    }
    at == text.len()
}

/// `serde_json::from_str`, with exponents spelled as in `text`.
pub(crate) fn from_str(text: &str) -> serde_json::Result<Value> {
    let mut value = serde_json::from_str(text)?;
    respell(text.as_bytes(), &mut value);
    Ok(value)
}

/// `serde_json::from_slice`, with exponents spelled as in `text`.
pub(crate) fn from_slice(text: &[u8]) -> serde_json::Result<Value> {
    let mut value = serde_json::from_slice(text)?;
    respell(text, &mut value);
    Ok(value)
}

/// Puts back the exponents serde_json respelled. A quick scan first: only a digit followed by `E`, or
/// by `e` and a digit (no sign), can have been respelled.
fn respell(text: &[u8], value: &mut Value) {
    let respelled = memchr::memchr2_iter(b'e', b'E', text).any(|at| {
        let after_digit = at > 0 && text[at - 1].is_ascii_digit();
        after_digit && (text[at] == b'E' || text.get(at + 1).is_some_and(u8::is_ascii_digit))
    });
    if !respelled {
        return;
    }
    let written = exponent_numbers(text);
    let mut parsed = Vec::with_capacity(written.len());
    collect(value, &mut parsed);
    // Both lists are in document order. They differ only when a key was repeated (the value of the
    // last one kept): then the spelling stays serde_json's, the number's value is unchanged.
    let same = parsed.len() == written.len()
        && parsed.iter().zip(&written).all(|(number, text)| number.as_str() == normalized(text));
    if same {
        for (number, text) in parsed.into_iter().zip(written) {
            *number = Number::from_string_unchecked(text.to_string());
        }
    }
}

/// The numbers with an exponent in `text`, outside strings, in order.
fn exponent_numbers(text: &[u8]) -> Vec<&str> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < text.len() {
        match text[at] {
            b'"' => {
                at += 1;
                while at < text.len() && text[at] != b'"' {
                    at += if text[at] == b'\\' { 2 } else { 1 };
                }
                at += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = at;
                while at < text.len() && matches!(text[at], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                    at += 1;
                }
                let number = &text[start..at];
                if number.iter().any(|b| matches!(b, b'e' | b'E'))
                    && let Ok(number) = std::str::from_utf8(number)
                {
                    found.push(number);
                }
            }
            _ => at += 1,
        }
    }
    found
}

/// How serde_json spells `number`: `e` in lower case, and a sign after it.
fn normalized(number: &str) -> String {
    let mut out = String::with_capacity(number.len() + 1);
    let mut chars = number.chars().peekable();
    while let Some(c) = chars.next() {
        if c == 'e' || c == 'E' {
            out.push('e');
            if !matches!(chars.peek(), Some('+' | '-')) {
                out.push('+');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The numbers with an exponent in `value`, in document order.
fn collect<'a>(value: &'a mut Value, out: &mut Vec<&'a mut Number>) {
    match value {
        Value::Number(n) if n.as_str().contains('e') => out.push(n),
        Value::Array(items) => items.iter_mut().for_each(|v| collect(v, out)),
        Value::Object(map) => map.values_mut().for_each(|v| collect(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_built_from_their_text_as_the_parser_builds_them() {
        for text in
            [r#""plain""#, r#""""#, "0", "-0", "1.50", "12345678901234567890123", "1E400", "-2.5e-3", "true", "null"]
        {
            let direct = scalar(text).unwrap_or_else(|| panic!("{text} is a plain scalar"));
            assert_eq!(serde_json::to_string(&direct).expect("serializes"), text);
            assert_eq!(direct, from_str(text).expect("valid"), "{text}");
        }
        for text in
            [r#""a\"b""#, "\"tab\there\"", "01", "1.", ".5", "-", "1e", "1e+", "+1", "[1]", "{}", "nul", "\"open"]
        {
            assert!(scalar(text).is_none(), "{text} is left to the parser");
        }
    }

    #[test]
    fn members_of_small_and_large_objects_are_found() {
        let small = from_str(r#"{"a":1,"b":2}"#).expect("valid");
        let large: Value = (0..20).map(|i| (format!("k{i}"), Value::from(i))).collect::<Map<_, _>>().into();
        let (Value::Object(small), Value::Object(large)) = (small, large) else { panic!("objects") };
        assert_eq!(member(&small, "b"), Some(&Value::from(2)));
        assert_eq!(member(&small, "c"), None);
        assert_eq!(member(&large, "k17"), Some(&Value::from(17)));
        assert_eq!(member(&large, "k20"), None);
    }

    #[test]
    fn exponents_keep_their_spelling() {
        let text = r#"{"a":1E400,"b":[2e5,"1E5 in a string",-3.5E-7],"c":{"d":4e+2,"e":5E+0},"f":1.0e10,"g":12}"#;
        let value = from_str(text).expect("valid");
        assert_eq!(serde_json::to_string(&value).expect("serializes"), text);
        assert_eq!(from_slice(text.as_bytes()).expect("valid"), value);
    }

    #[test]
    fn a_repeated_key_keeps_the_value_and_serde_json_spelling() {
        let value = from_str(r#"{"a":1E5,"a":2E5}"#).expect("valid");
        assert_eq!(serde_json::to_string(&value).expect("serializes"), r#"{"a":2e+5}"#);
    }

    #[test]
    fn text_without_respelled_exponents_is_left_alone() {
        let text = r#"{"name":"Eve 3e","n":1e+5,"m":2e-3,"E":"12E"}"#;
        let value = from_str(text).expect("valid");
        assert_eq!(serde_json::to_string(&value).expect("serializes"), text);
    }
}
