//! Translates I-Regexp (RFC 9485) patterns, as used by `match()` and `search()`, into `regex` crate
//! syntax.

use regex::Regex;

/// Compiles an I-Regexp; `anchored` makes it match the whole string (`match()`).
/// `None` when the pattern is not a valid I-Regexp: per RFC 9535 such a call matches nothing.
pub(super) fn compile(pattern: &str, anchored: bool) -> Option<Regex> {
    let translated = translate(pattern)?;
    let full = if anchored { format!(r"\A(?:{translated})\z") } else { translated };
    Regex::new(&full).ok()
}

/// Rewrites an I-Regexp into the equivalent `regex` pattern, or `None` if it is not valid.
fn translate(pattern: &str) -> Option<String> {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => escape(&mut chars, &mut out)?,
            // RFC 9485: `.` matches any character except line feed and carriage return.
            '.' if !in_class => out.push_str(r"[^\n\r]"),
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                let mut peek = chars.clone();
                if peek.next() == Some('^') {
                    out.push('^');
                    chars = peek;
                }
            }
            // Character-class subtraction and nested classes are not part of I-Regexp.
            '[' => return None,
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            ']' => return None,
            // `(?…)` groups and flags are `regex` syntax, not I-Regexp (there `?` needs an atom).
            '(' if !in_class && chars.clone().next() == Some('?') => return None,
            // Literal inside an I-Regexp class, but set operators (`&&`, `~~`) in `regex`.
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    if in_class {
        return None;
    }
    Some(out)
}

/// Translates the escape after a backslash.
fn escape(chars: &mut std::str::Chars<'_>, out: &mut String) -> Option<()> {
    let c = chars.next()?;
    match c {
        'n' => out.push_str(r"\n"),
        'r' => out.push_str(r"\r"),
        't' => out.push_str(r"\t"),
        '\\' | '|' | '.' | '-' | '^' | '?' | '*' | '+' | '{' | '}' | '(' | ')' | '[' | ']' => {
            out.push('\\');
            out.push(c);
        }
        'p' | 'P' => {
            if chars.next()? != '{' {
                return None;
            }
            let mut name = String::new();
            loop {
                match chars.next()? {
                    '}' => break,
                    n if n.is_ascii_alphanumeric() || n == '-' => name.push(n),
                    _ => return None,
                }
            }
            if name.is_empty() {
                return None;
            }
            out.push('\\');
            out.push(c);
            out.push('{');
            out.push_str(&name);
            out.push('}');
        }
        // `\d`, `\w`, back-references etc. are not I-Regexp.
        _ => return None,
    }
    Some(())
}
