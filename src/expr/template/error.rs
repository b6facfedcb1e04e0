//! What goes wrong in templates, both ways: [`TemplateError`], made of minijinja's errors with the
//! place in the template (`syntax_error`, `render_error`), and the error a Weir filter or function
//! raises for a value it cannot take (a wrong type, an unknown table, a date it cannot read):
//! minijinja's `InvalidOperation`, with a message for people (`invalid`).

use minijinja::{Error, ErrorKind};

/// Why a template failed to compile or render.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// The template does not parse. `line`/`col` are 1-based, within the template text.
    #[error("template syntax error at line {line}, column {col}: {reason}")]
    Syntax {
        /// The offending line of the template.
        source_snippet: String,
        /// 1-based line within the template.
        line: usize,
        /// 1-based column (in characters) within that line.
        col: usize,
        /// What is wrong.
        reason: String,
    },
    /// `lookup` names a table that does not exist (`known` lets the caller suggest one).
    #[error("unknown table `{name}`")]
    UnknownTable {
        /// The table named in the template.
        name: String,
        /// Every table that does exist.
        known: Vec<String>,
    },
    /// `lookup` names a key or value column the table does not have.
    #[error("table `{table}` has no column `{column}`")]
    UnknownColumn {
        /// The table.
        table: String,
        /// The missing column.
        column: String,
        /// The table's columns.
        known: Vec<String>,
    },
    /// The template applies a filter that is not registered.
    #[error("unknown filter `{name}`")]
    UnknownFilter {
        /// The filter's name.
        name: String,
    },
    /// The template uses a test (`is name`) that is not registered.
    #[error("unknown test `{name}`")]
    UnknownTest {
        /// The test's name.
        name: String,
    },
    /// A structured template is malformed (e.g. `$each` without `$value`).
    #[error("invalid structured template at {path}: {reason}")]
    InvalidStructure {
        /// Where in the structured template (`$.a.b[0]`).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Rendering failed for this record (undefined value, failed lookup, bad filter argument...).
    #[error("template error: {reason}")]
    Render {
        /// What went wrong, with the place in the template.
        reason: String,
    },
    /// A constant expression builds a value bigger than one render may (see `budget.rs`): minijinja
    /// would build it while compiling.
    #[error("the template builds a constant of {size} bytes, more than one render may build (64 MiB)")]
    TooLarge {
        /// The size of the constant, at least.
        size: u64,
    },
    /// Rendering used up its fuel (a runaway loop); the record fails, the engine does not hang.
    #[error("template ran out of fuel (too many steps; runaway loop?)")]
    FuelExhausted,
}

pub(super) fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// The 1-based character column of byte `offset` in `source`.
fn column_of(source: &str, offset: usize) -> usize {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    before.get(line_start..).map_or(0, |s| s.chars().count()) + 1
}

fn line_snippet(source: &str, line: usize) -> String {
    let l = source.lines().nth(line.saturating_sub(1)).unwrap_or("");
    if l.chars().count() > 200 { l.chars().take(200).chain("…".chars()).collect() } else { l.to_string() }
}

pub(super) fn syntax_error(e: &Error, source: &str) -> TemplateError {
    let line = e.line().unwrap_or(1);
    let col = e.range().map_or(1, |r| column_of(source, r.start));
    let reason = e.detail().map_or_else(|| e.kind().to_string(), str::to_string);
    TemplateError::Syntax { source_snippet: line_snippet(source, line), line, col, reason }
}

pub(super) fn render_error(e: &Error, source: &str) -> TemplateError {
    render_error_at(e, source, e.line())
}

/// Like [`render_error`], with the error's line within `source` given explicitly.
pub(super) fn render_error_at(e: &Error, source: &str, line: Option<usize>) -> TemplateError {
    if e.kind() == ErrorKind::OutOfFuel {
        return TemplateError::FuelExhausted;
    }
    let mut reason = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        reason.push_str(": ");
        reason.push_str(&c.to_string());
        cause = c.source();
    }
    let snippet = match line {
        Some(l) if source.lines().nth(1).is_some() => {
            format!("line {l}: {}", line_snippet(source, l))
        }
        _ => line_snippet(source, 1),
    };
    reason.push_str(&format!(" (in `{}`)", snippet.trim()));
    TemplateError::Render { reason }
}
