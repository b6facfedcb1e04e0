//! Reading one YAML config file: bytes → UTF-8 → YAML (serde_yaml, which bounds alias expansion and
//! nesting depth and rejects duplicate keys) → JSON value with `${…}` interpolated, plus the position index
//! used to point errors at the right line and column.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::diagnostic::{Diagnostic, Location};
use super::interpolate::interpolate;
use super::source_map::{NodeSpan, Pos, SourceMap};

/// Larger config files are refused: no pipeline needs more, and it bounds parse time.
const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Deeper nesting is refused before the YAML loader sees it (it slows down quadratically with depth,
/// and stops at 128 levels anyway).
const MAX_DEPTH: usize = 100;

/// One parsed config file.
#[derive(Debug, Clone)]
pub(crate) struct ConfigFile {
    /// Path on disk (relative paths in the file, such as a CA bundle's, are resolved against its folder).
    pub(crate) path: PathBuf,
    /// How the file is named in errors.
    pub(crate) display: String,
    /// The file's text.
    pub(crate) text: String,
    /// Positions of every key and value.
    pub(crate) map: SourceMap,
    /// The document, interpolated.
    pub(crate) value: Value,
}

/// Which token of a node an error should point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    /// The mapping key (unknown fields, duplicate ids).
    Key,
    /// The value (wrong types, bad expressions).
    Value,
}

impl ConfigFile {
    /// Reads and parses `path`. `lookup` resolves `${env:…}` and `${secret:…}` names.
    pub(crate) fn load(
        path: &Path,
        display: String,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Vec<Diagnostic>> {
        let at_start = |line_text: &str| {
            Some(Location { file: display.clone(), pos: Pos::default(), line_text: line_text.to_string() })
        };
        let meta = std::fs::metadata(path)
            .map_err(|e| vec![Diagnostic::new("io", format!("cannot read `{display}`: {e}"))])?;
        if meta.len() > MAX_FILE_BYTES {
            return Err(vec![Diagnostic::new(
                "too-large",
                format!("`{display}` is {} bytes; config files are limited to {MAX_FILE_BYTES}", meta.len()),
            )]);
        }
        let bytes =
            std::fs::read(path).map_err(|e| vec![Diagnostic::new("io", format!("cannot read `{display}`: {e}"))])?;
        if super::encoding::looks_utf16(&bytes) {
            return Err(vec![
                Diagnostic::new("not-utf8", "file is UTF-16, not UTF-8")
                    .with_hint(super::encoding::UTF16_HINT)
                    .at(at_start("")),
            ]);
        }
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let valid = String::from_utf8_lossy(valid);
                let line = valid.matches('\n').count() + 1;
                let line_start = valid.rfind('\n').map_or(0, |i| i + 1);
                let col = valid[line_start..].chars().count() + 1;
                let line_text = valid[line_start..].to_string();
                return Err(vec![
                    Diagnostic::new("not-utf8", "file is not valid UTF-8")
                        .with_hint("save the file as UTF-8")
                        .at(Some(Location { file: display.clone(), pos: Pos { line, col, width: 1 }, line_text })),
                ]);
            }
        };
        let text = text.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(text);
        if let Some(pos) = super::source_map::too_deep(&text, MAX_DEPTH) {
            return Err(vec![
                Diagnostic::new("too-deep", format!("the document nests more than {MAX_DEPTH} levels deep"))
                    .with_hint("pipelines need only a few levels; check for unbalanced brackets")
                    .at(Some(location_in(&display, &text, pos))),
            ]);
        }
        let yaml: serde_yaml::Value = match serde_yaml::from_str(&text) {
            Ok(v) => v,
            Err(e) => return Err(vec![yaml_error(&e, &display, &text)]),
        };
        if yaml.is_null() {
            return Err(vec![
                Diagnostic::new("empty-file", "file is empty")
                    .with_hint("a pipeline needs at least `name`, `source` and `sinks`")
                    .at(at_start(text.lines().next().unwrap_or(""))),
            ]);
        }
        let map = SourceMap::build(&text);
        let mut file = ConfigFile { path: path.to_path_buf(), display, text, map, value: Value::Null };
        let mut errors = Vec::new();
        let mut pointer = String::new();
        file.value = file.convert(yaml, &mut pointer, lookup, &mut errors);
        if errors.is_empty() { Ok(file) } else { Err(errors) }
    }

    /// The location of the node at `pointer` (or its nearest ancestor), pointing at its key or value.
    pub(crate) fn locate(&self, pointer: &str, anchor: Anchor) -> Option<Location> {
        let span = self.map.get(pointer).or_else(|| self.map.nearest(pointer))?;
        let pos = match anchor {
            Anchor::Key => span.key.unwrap_or(span.value),
            Anchor::Value => span.value,
        };
        Some(self.location_at(pos))
    }

    /// A location for an explicit position.
    pub(crate) fn location_at(&self, pos: Pos) -> Location {
        let line_text = self.text.lines().nth(pos.line.saturating_sub(1)).unwrap_or("").to_string();
        Location { file: self.display.clone(), pos, line_text }
    }

    /// The span recorded for `pointer`.
    pub(crate) fn span(&self, pointer: &str) -> Option<NodeSpan> {
        self.map.get(pointer)
    }

    /// serde_yaml value → JSON value, interpolating strings and collecting errors.
    fn convert(
        &self,
        yaml: serde_yaml::Value,
        pointer: &mut String,
        lookup: &dyn Fn(&str) -> Option<String>,
        errors: &mut Vec<Diagnostic>,
    ) -> Value {
        use serde_yaml::Value as Y;
        match yaml {
            Y::Null => Value::Null,
            Y::Bool(b) => Value::Bool(b),
            Y::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::from(i)
                } else if let Some(u) = n.as_u64() {
                    Value::from(u)
                } else {
                    match n.as_f64().and_then(serde_json::Number::from_f64) {
                        Some(f) => Value::Number(f),
                        None => {
                            errors.push(
                                Diagnostic::new("bad-number", format!("`{n}` is not a finite number"))
                                    .at(self.locate(pointer, Anchor::Value)),
                            );
                            Value::Null
                        }
                    }
                }
            }
            Y::String(s) => self.interpolate_string(s, pointer, lookup, errors),
            Y::Sequence(items) => Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let len = pointer.len();
                        pointer.push_str(&format!("/{i}"));
                        let v = self.convert(item, pointer, lookup, errors);
                        pointer.truncate(len);
                        v
                    })
                    .collect(),
            ),
            Y::Mapping(m) => {
                let mut out = serde_json::Map::new();
                for (k, v) in m {
                    let key = match k {
                        Y::String(s) => s,
                        Y::Number(n) => n.to_string(),
                        Y::Bool(b) => b.to_string(),
                        Y::Null => "null".to_string(),
                        other => {
                            errors.push(
                                Diagnostic::new("bad-key", "mapping keys must be strings")
                                    .with_hint(format!("found a {} used as a key", kind_name(&other)))
                                    .at(self.locate(pointer, Anchor::Value)),
                            );
                            continue;
                        }
                    };
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                    let v = self.convert(v, pointer, lookup, errors);
                    pointer.truncate(len);
                    out.insert(key, v);
                }
                Value::Object(out)
            }
            Y::Tagged(t) => {
                errors.push(
                    Diagnostic::new("yaml-tag", format!("YAML tags such as `{}` are not supported", t.tag))
                        .with_hint("remove the tag; the value's type comes from the field")
                        .at(self.locate(pointer, Anchor::Value)),
                );
                Value::Null
            }
        }
    }

    fn interpolate_string(
        &self,
        s: String,
        pointer: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
        errors: &mut Vec<Diagnostic>,
    ) -> Value {
        if !s.contains('$') {
            return Value::String(s);
        }
        match interpolate(&s, lookup) {
            Ok(done) => {
                let plain = self.map.get(pointer).is_some_and(|span| span.plain);
                if done.whole && plain && !done.has_secret {
                    // `port: ${env:PORT}` is a number when PORT is one, as if it had been written inline.
                    if let Ok(v @ (serde_yaml::Value::Bool(_) | serde_yaml::Value::Number(_))) =
                        serde_yaml::from_str::<serde_yaml::Value>(&done.text)
                    {
                        let mut ignored = Vec::new();
                        return self.convert(v, &mut pointer.to_string(), lookup, &mut ignored);
                    }
                }
                Value::String(done.text)
            }
            Err(e) => {
                let hint = match &e {
                    super::interpolate::InterpolationError::UnsetEnv(name) => {
                        format!("set {name} in the environment, or give a default: `${{env:{name}:-value}}`")
                    }
                    super::interpolate::InterpolationError::UnsetSecret(name) => {
                        format!("set the environment variable {name}")
                    }
                    super::interpolate::InterpolationError::ShortSecret(name) => format!(
                        "set {name} to the real secret; a value this short would be masked wherever its text \
                         appears in logs and outputs"
                    ),
                    _ => {
                        "use `${env:NAME}`, `${env:NAME:-default}` or `${secret:NAME}`; write `$${` for a literal `${`"
                            .into()
                    }
                };
                errors.push(
                    Diagnostic::new("interpolation", e.to_string())
                        .with_hint(hint)
                        .at(self.locate(pointer, Anchor::Value)),
                );
                Value::Null
            }
        }
    }
}

/// A location at `pos` in `text`.
fn location_in(display: &str, text: &str, pos: Pos) -> Location {
    let line_text = text.lines().nth(pos.line.saturating_sub(1)).unwrap_or("").to_string();
    Location { file: display.to_string(), pos, line_text }
}

/// The hint for a syntax error on a line holding `${…}` (`{ path: ${env:X} }`).
const FLOW_INTERPOLATION: &str = "`${…}` inside a flow collection (`{ … }` or `[ … ]`) must be quoted: write \
                                  `path: \"${env:NAME}\"`, or use block style (one `key: value` per line), \
                                  where it needs no quotes";

/// Turns a serde_yaml error into a diagnostic pointing at the offending token: libyaml's "PROBLEM at
/// line L column C, while CONTEXT at line L2 column C2" becomes "PROBLEM while CONTEXT", located at the
/// start of the token being scanned (an unclosed quote is reported where it opens, not at the end of
/// the file); duplicate keys and extra documents are located with the position index.
fn yaml_error(e: &serde_yaml::Error, display: &str, text: &str) -> Diagnostic {
    let full = e.to_string();
    let (problem, context) = match full.split_once(", while ") {
        Some((p, c)) => (p, Some(c)),
        None => (full.as_str(), None),
    };
    let (problem, _) = split_mark(problem);
    let (code, hint) = classify_yaml_error(problem);
    let at_start = || Some(location_in(display, text, Pos::default()));
    match code {
        "duplicate-key" => {
            if let Some((pointer, first, again)) = SourceMap::build(text).first_duplicate() {
                let key = pointer.rsplit('/').next().unwrap_or("").replace("~1", "/").replace("~0", "~");
                let parent = pointer.rsplit_once('/').map_or("", |(p, _)| p);
                return Diagnostic::new(code, format!("duplicate key `{key}`"))
                    .with_field(super::source_map::field_name(parent, ""))
                    .with_hint(format!(
                        "`{key}` is already set on line {}; each key may appear once per mapping",
                        first.line
                    ))
                    .at(Some(location_in(display, text, again)));
            }
        }
        "multi-document" => {
            let location = super::source_map::second_document(text).map(|pos| location_in(display, text, pos));
            return Diagnostic::new(code, "the file holds more than one YAML document")
                .with_hint(hint)
                .at(location.or_else(at_start));
        }
        _ => {}
    }
    let mut message = problem.to_string();
    let mut location =
        e.location().map(|l| location_in(display, text, Pos { line: l.line(), col: l.column(), width: 1 }));
    if let Some(context) = context {
        let (context, mark) = split_mark(context);
        message = format!("{message} while {context}");
        // An unclosed quote or key is reported where it opens rather than where the scanner gave up.
        let opens = context.starts_with("scanning a quoted scalar") || context.starts_with("scanning a simple key");
        if let (true, Some((line, col))) = (opens, mark) {
            location = Some(location_in(display, text, Pos { line, col, width: 1 }));
        }
    }
    let hint = match &location {
        // `{ path: ${env:X} }`: in a flow collection `{` and `}` are syntax, so an unquoted `${…}` breaks it.
        Some(l) if code == "yaml-syntax" && l.line_text.contains("${") => FLOW_INTERPOLATION.to_string(),
        _ => hint,
    };
    Diagnostic::new(code, message).with_hint(hint).at(location.or_else(at_start))
}

/// Splits "TEXT at line L column C" into the text and the 1-based position ("TEXT at position N"
/// loses its offset: the error's own location says where).
fn split_mark(text: &str) -> (&str, Option<(usize, usize)>) {
    let Some((head, mark)) = text.rsplit_once(" at line ") else {
        return (text.rsplit_once(" at position ").map_or(text, |(head, _)| head), None);
    };
    let pos = mark.split_once(" column ").and_then(|(l, c)| Some((l.trim().parse().ok()?, c.trim().parse().ok()?)));
    (head, pos)
}

fn kind_name(v: &serde_yaml::Value) -> &'static str {
    match v {
        serde_yaml::Value::Sequence(_) => "sequence",
        serde_yaml::Value::Mapping(_) => "mapping",
        serde_yaml::Value::Tagged(_) => "tagged value",
        _ => "scalar",
    }
}

fn classify_yaml_error(message: &str) -> (&'static str, String) {
    if message.contains("duplicate entry") {
        ("duplicate-key", "each key may appear once per mapping; remove or rename one of them".into())
    } else if message.contains("recursion limit") {
        ("too-deep", "the document nests too deeply; pipelines need only a few levels".into())
    } else if message.contains("repetition limit") {
        ("alias-bomb", "aliases expand to too many nodes; expand them by hand or reduce the nesting".into())
    } else if message.contains("tab character") {
        ("yaml-syntax", "indent with spaces: YAML does not allow tabs in indentation".into())
    } else if message.contains("more than one document") {
        ("multi-document", "put one pipeline per file; remove the extra `---`".into())
    } else {
        ("yaml-syntax", "check indentation and quoting around this position".into())
    }
}
