//! Config errors as users see them: `file:line:col`, the component and field at fault, the source line
//! with a caret under the offending token, and a hint. Every error of a load is collected and rendered
//! together.

use std::fmt;

use super::secrets;
use super::source_map::Pos;

/// A place in a config file, with the text of its line for the snippet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file as the user named it (or relative to the folder they named).
    pub(crate) file: String,
    /// Line, column and width of the offending token.
    pub pos: Pos,
    /// The full text of that line.
    pub(crate) line_text: String,
}

/// One config error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// A stable short code for the kind of error (`unknown-field`, `cycle`, …).
    pub code: &'static str,
    /// What is wrong, in one line.
    pub(crate) message: String,
    /// Where, when known (always known for errors inside a file that parsed).
    pub location: Option<Location>,
    /// The component at fault, e.g. "step `only_paid`".
    pub component: Option<String>,
    /// The field at fault, as a dotted path inside the component.
    pub(crate) field: Option<String>,
    /// How to fix it.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A new error without location.
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), location: None, component: None, field: None, hint: None }
    }

    /// Attaches a hint.
    #[must_use]
    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Attaches the component.
    #[must_use]
    pub(crate) fn with_component(mut self, component: Option<String>) -> Self {
        self.component = component;
        self
    }

    /// Attaches the field.
    #[must_use]
    pub(crate) fn with_field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.field = (!field.is_empty()).then_some(field);
        self
    }

    /// Attaches a location.
    #[must_use]
    pub(crate) fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut head = format!("error[{}]: ", self.code);
        match (&self.component, &self.field) {
            (Some(c), Some(field)) => head.push_str(&format!("{c}, field `{field}`: ")),
            (Some(c), None) => head.push_str(&format!("{c}: ")),
            (None, Some(field)) => head.push_str(&format!("field `{field}`: ")),
            (None, None) => {}
        }
        head.push_str(&self.message);
        writeln!(f, "{}", secrets::redact(&head))?;
        if let Some(loc) = &self.location {
            let gutter = loc.pos.line.to_string().len();
            let pad = " ".repeat(gutter);
            writeln!(f, "{pad}--> {}:{}:{}", loc.file, loc.pos.line, loc.pos.col)?;
            writeln!(f, "{pad} |")?;
            let text = secrets::redact(&loc.line_text.replace('\t', " "));
            let (text, col) = window(text.trim_end(), loc.pos.col);
            writeln!(f, "{} | {}", loc.pos.line, text.trim_end())?;
            let lead: String = " ".repeat(col.saturating_sub(1));
            writeln!(f, "{pad} | {lead}{}", "^".repeat(loc.pos.width.clamp(1, 80)))?;
        }
        if let Some(hint) = &self.hint {
            writeln!(f, "  = hint: {}", secrets::redact(hint))?;
        }
        Ok(())
    }
}

/// Snippet lines longer than this are cut around the offending column.
const MAX_SNIPPET_CHARS: usize = 120;

/// `line` cut to at most [`MAX_SNIPPET_CHARS`] around `col` (with `…` where text was left out), and the
/// column of the same character in the cut line.
fn window(line: &str, col: usize) -> (String, usize) {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= MAX_SNIPPET_CHARS {
        return (line.to_string(), col);
    }
    let start = col.saturating_sub(1).saturating_sub(MAX_SNIPPET_CHARS / 2).min(chars.len() - MAX_SNIPPET_CHARS);
    let end = start + MAX_SNIPPET_CHARS;
    let mut out = String::new();
    let mut col = col - start;
    if start > 0 {
        out.push('…');
        col += 1;
    }
    out.extend(&chars[start..end]);
    if end < chars.len() {
        out.push('…');
    }
    (out, col)
}

/// Every error found while loading and checking a set of config files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// True when nothing went wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds one error.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        let n = self.0.len();
        write!(f, "{n} error{} found", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for Diagnostics {}

/// The closest candidate to a misspelt name, if one is close enough to be a plausible typo.
pub(crate) fn did_you_mean<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(wrong, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// "did you mean `x`?" or the list of what is allowed.
pub(crate) fn suggestion(wrong: &str, candidates: &[&str], what: &str) -> String {
    match did_you_mean(wrong, candidates.iter().copied()) {
        Some(c) => format!("did you mean `{c}`?"),
        None => format!("{what}: {}", candidates.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_snippet_and_hint() {
        let d = Diagnostic::new("unknown-field", "unknown field `fitler`")
            .with_component(Some("step `paid`".into()))
            .with_field("fitler")
            .with_hint("did you mean `filter`?")
            .at(Some(Location {
                file: "p.yaml".into(),
                pos: Pos { line: 12, col: 5, width: 6 },
                line_text: "    fitler: x".into(),
            }));
        let text = d.to_string();
        assert_eq!(
            text,
            "error[unknown-field]: step `paid`, field `fitler`: unknown field `fitler`\n  --> p.yaml:12:5\n   |\n12 |     fitler: x\n   |     ^^^^^^\n  = hint: did you mean `filter`?\n"
        );
    }

    #[test]
    fn long_lines_are_cut_around_the_column() {
        let line = format!("{}X{}", "a".repeat(300), "b".repeat(300));
        let (cut, col) = window(&line, 301);
        assert!(cut.starts_with('…') && cut.ends_with('…'), "{cut}");
        assert_eq!(cut.chars().nth(col - 1), Some('X'));
        assert_eq!(window("short", 3), ("short".to_string(), 3));
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("fitler", ["filter", "template"]), Some("filter"));
        assert_eq!(did_you_mean("zzz", ["filter", "template"]), None);
    }
}
