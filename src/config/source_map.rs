//! Positions of every key and value in a YAML document, indexed by their path (JSON Pointer), so that
//! errors found after deserialization — where serde has forgotten positions — still point at the
//! offending line and column.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column in a source file, plus the width of the token there (for the caret line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
    /// How many characters the token spans on its line (at least 1).
    pub(crate) width: usize,
}

/// Where a node sits: its key (for mapping entries) and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeSpan {
    /// The mapping key that introduced this node, if any.
    pub(crate) key: Option<Pos>,
    /// The value itself.
    pub(crate) value: Pos,
    /// True for a plain (unquoted) scalar, whose type YAML infers from its text.
    pub(crate) plain: bool,
}

/// Path → span index of one YAML document.
#[derive(Debug, Default, Clone)]
pub(crate) struct SourceMap {
    spans: HashMap<String, NodeSpan>,
    /// Keys that appear twice in one mapping, in document order: (pointer, first key, repeated key).
    duplicates: Vec<(String, Pos, Pos)>,
}

/// One segment of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// Renders a path as a JSON Pointer (`/steps/2/value`).
pub(crate) fn pointer(path: &[Segment]) -> String {
    let mut out = String::new();
    for seg in path {
        out.push('/');
        match seg {
            Segment::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
            Segment::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

/// Bounds the work spent indexing a hostile document; the YAML loader rejects such documents anyway.
const MAX_EVENTS: usize = 1_000_000;

enum Frame {
    Map { next_key: Option<(String, Pos)>, awaiting_key: bool, first: bool },
    Seq { index: usize },
}

impl SourceMap {
    /// Indexes `text`. Syntax errors are not reported here (the YAML loader reports them); the index
    /// built up to the error is returned.
    pub(crate) fn build(text: &str) -> Self {
        let mut map = SourceMap::default();
        let mut parser = Parser::new_from_str(text);
        let mut stack: Vec<Frame> = Vec::new();
        let mut path: Vec<Segment> = Vec::new();
        let lines: Vec<&str> = text.lines().collect();
        for _ in 0..MAX_EVENTS {
            let Ok((event, mark)) = parser.next_token() else {
                break;
            };
            match event {
                Event::StreamEnd => break,
                Event::Scalar(value, style, _, _) => {
                    let pos = scalar_pos(mark, &value, style, &lines);
                    let plain = style == TScalarStyle::Plain;
                    if let Some(Frame::Map { next_key, awaiting_key, first }) = stack.last_mut()
                        && *awaiting_key
                    {
                        *next_key = Some((value, pos));
                        *awaiting_key = false;
                        if std::mem::take(first) {
                            map.first_key(&path, pos);
                        }
                        continue;
                    }
                    map.enter_value(&mut stack, &mut path, pos, plain);
                    map.leave_value(&mut stack, &mut path);
                }
                Event::Alias(_) => {
                    let pos = pos_of(mark, 1);
                    if let Some(Frame::Map { awaiting_key: true, .. }) = stack.last() {
                        // An alias used as a key: rare; treat as an opaque key.
                        if let Some(Frame::Map { next_key, awaiting_key, .. }) = stack.last_mut() {
                            *next_key = Some(("*alias".into(), pos));
                            *awaiting_key = false;
                        }
                        continue;
                    }
                    map.enter_value(&mut stack, &mut path, pos, false);
                    map.leave_value(&mut stack, &mut path);
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    let is_map = matches!(event, Event::MappingStart(..));
                    if let Some(Frame::Map { awaiting_key: true, .. }) = stack.last() {
                        // A complex key (a mapping used as a key): index nothing beneath it.
                        if let Some(Frame::Map { next_key, awaiting_key, .. }) = stack.last_mut() {
                            *next_key = Some(("?complex".into(), pos_of(mark, 1)));
                            *awaiting_key = false;
                        }
                    }
                    map.enter_value(&mut stack, &mut path, pos_of(mark, 1), false);
                    stack.push(if is_map {
                        Frame::Map { next_key: None, awaiting_key: true, first: true }
                    } else {
                        Frame::Seq { index: 0 }
                    });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                    map.leave_value(&mut stack, &mut path);
                }
                _ => {}
            }
        }
        map
    }

    /// Pushes the path segment for a value about to start and records its span.
    fn enter_value(&mut self, stack: &mut [Frame], path: &mut Vec<Segment>, value: Pos, plain: bool) {
        let key = match stack.last_mut() {
            Some(Frame::Map { next_key, .. }) => {
                let (name, pos) = next_key.take().unwrap_or_default();
                path.push(Segment::Key(name));
                Some(pos)
            }
            Some(Frame::Seq { index }) => {
                path.push(Segment::Index(*index));
                None
            }
            None => None,
        };
        let at = pointer(path);
        if let (Some(first), Some(again)) = (self.spans.get(&at).and_then(|s| s.key), key) {
            self.duplicates.push((at.clone(), first, again));
        }
        self.spans.insert(at, NodeSpan { key, value, plain });
    }

    /// A block mapping's start is reported at the `:` after its first key; its first key is where it
    /// really starts, so the mapping's span is moved there.
    fn first_key(&mut self, path: &[Segment], key: Pos) {
        if let Some(span) = self.spans.get_mut(&pointer(path))
            && (key.line, key.col) < (span.value.line, span.value.col)
        {
            span.value = Pos { width: 1, ..key };
        }
    }

    /// The first key repeated within one mapping: its pointer, and the positions of its first and
    /// second occurrence.
    pub(crate) fn first_duplicate(&self) -> Option<(&str, Pos, Pos)> {
        self.duplicates.first().map(|(p, a, b)| (p.as_str(), *a, *b))
    }

    /// Pops the finished value's segment and readies the parent for its next entry.
    fn leave_value(&mut self, stack: &mut [Frame], path: &mut Vec<Segment>) {
        match stack.last_mut() {
            Some(Frame::Map { awaiting_key, .. }) => {
                path.pop();
                *awaiting_key = true;
            }
            Some(Frame::Seq { index }) => {
                path.pop();
                *index += 1;
            }
            None => {}
        }
    }

    /// The span recorded for exactly this pointer.
    pub(crate) fn get(&self, pointer: &str) -> Option<NodeSpan> {
        self.spans.get(pointer).copied()
    }

    /// The span of this pointer or of its nearest indexed ancestor (values reached through an alias
    /// are not indexed themselves).
    pub(crate) fn nearest(&self, pointer: &str) -> Option<NodeSpan> {
        let mut p = pointer;
        loop {
            if let Some(span) = self.spans.get(p) {
                return Some(*span);
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return None,
            }
        }
    }
}

/// Where `text` first nests collections deeper than `max` levels, found without building the document
/// (the YAML loader slows down quadratically with nesting, so a hostile file is refused before it
/// runs). `None` when it does not, or when it has a syntax error first (the loader reports that).
pub(crate) fn too_deep(text: &str, max: usize) -> Option<Pos> {
    let mut parser = Parser::new_from_str(text);
    let mut depth = 0usize;
    for _ in 0..MAX_EVENTS {
        let (event, mark) = match parser.next_token() {
            Ok(next) => next,
            // The scanner has a nesting limit of its own for flow collections.
            Err(e) if e.info().contains("recursion limit") => return Some(pos_of(*e.marker(), 1)),
            Err(_) => return None,
        };
        match event {
            Event::StreamEnd => return None,
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                depth += 1;
                if depth > max {
                    return Some(pos_of(mark, 1));
                }
            }
            Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Where the second document of a multi-document stream starts (its `---`).
pub(crate) fn second_document(text: &str) -> Option<Pos> {
    let mut parser = Parser::new_from_str(text);
    let mut seen = 0;
    for _ in 0..MAX_EVENTS {
        let Ok((event, mark)) = parser.next_token() else {
            return None;
        };
        match event {
            Event::StreamEnd => return None,
            Event::DocumentStart => {
                seen += 1;
                if seen == 2 {
                    return Some(pos_of(mark, 3));
                }
            }
            _ => {}
        }
    }
    None
}

impl Default for Pos {
    fn default() -> Self {
        Pos { line: 1, col: 1, width: 1 }
    }
}

fn pos_of(mark: Marker, width: usize) -> Pos {
    Pos { line: mark.line(), col: mark.col() + 1, width: width.max(1) }
}

/// The width of a scalar on its first line: its text for plain scalars, up to the closing quote for
/// quoted ones, and the rest of the line for block scalars.
fn scalar_pos(mark: Marker, value: &str, style: TScalarStyle, lines: &[&str]) -> Pos {
    let line_text = lines.get(mark.line().saturating_sub(1)).copied().unwrap_or("");
    let rest: String = line_text.chars().skip(mark.col()).collect();
    let width = match style {
        TScalarStyle::Plain => value.lines().next().map_or(1, |l| l.chars().count()),
        TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
            let quote = if style == TScalarStyle::SingleQuoted { '\'' } else { '"' };
            closing_quote(&rest, quote).unwrap_or_else(|| rest.trim_end().chars().count())
        }
        _ => rest.trim_end().chars().count(),
    };
    pos_of(mark, width)
}

/// Characters up to and including the closing quote of a quoted scalar starting at `rest[0]`.
fn closing_quote(rest: &str, quote: char) -> Option<usize> {
    let mut chars = rest.chars().enumerate().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if quote == '"' && c == '\\' {
            chars.next();
        } else if c == quote {
            if quote == '\'' && chars.peek().map(|(_, c)| *c) == Some('\'') {
                chars.next();
                continue;
            }
            return Some(i + 1);
        }
    }
    None
}

/// Escapes a key for a JSON Pointer.
pub(crate) fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// A JSON Pointer (`/steps/2/set`) as a dotted field name (`steps[2].set`), relative to `base`.
pub(crate) fn field_name(pointer: &str, base: &str) -> String {
    let rel = pointer.strip_prefix(base).unwrap_or(pointer);
    let mut out = String::new();
    for seg in rel.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_keys_and_values_by_pointer() {
        let text = "name: demo\nsteps:\n  - id: a\n    type: filter\n  - id: \"b\"\n";
        let map = SourceMap::build(text);
        let name = map.get("/name").expect("name indexed");
        assert_eq!(name.key, Some(Pos { line: 1, col: 1, width: 4 }));
        assert_eq!(name.value, Pos { line: 1, col: 7, width: 4 });
        let ty = map.get("/steps/0/type").expect("type indexed");
        assert_eq!(ty.value, Pos { line: 4, col: 11, width: 6 });
        let quoted = map.get("/steps/1/id").expect("id indexed");
        assert_eq!(quoted.value, Pos { line: 5, col: 9, width: 3 });
    }

    #[test]
    fn flow_collections_and_nearest_ancestor() {
        let map = SourceMap::build("a: {b: [1, {c: x}]}\n");
        assert_eq!(map.get("/a/b/1/c").map(|s| s.value.col), Some(16));
        assert_eq!(map.nearest("/a/b/1/c/zz").map(|s| s.value.col), Some(16));
        assert!(map.get("/a/zz").is_none());
    }

    #[test]
    fn block_mappings_start_at_their_first_key() {
        let map = SourceMap::build("steps:\n  - id: a\n    set:\n      x: 1\n");
        assert_eq!(map.get("/steps/0").map(|s| (s.value.line, s.value.col)), Some((2, 5)));
        assert_eq!(map.get("/steps/0/set").map(|s| (s.value.line, s.value.col)), Some((4, 7)));
    }

    #[test]
    fn finds_duplicates_depth_and_documents() {
        let map = SourceMap::build("a:\n  x: 1\n  x: 2\n");
        let (pointer, first, again) = map.first_duplicate().expect("duplicate found");
        assert_eq!((pointer, first.line, again.line), ("/a/x", 2, 3));
        assert!(too_deep("a: [[1]]\n", 3).is_none());
        // The root mapping is the first level, so the third `[` is the fourth.
        assert_eq!(too_deep("a: [[[[1]]]]\n", 3).map(|p| p.col), Some(6));
        let deep = format!("a: {}", "[".repeat(100_000));
        assert!(too_deep(&deep, 100).is_some());
        assert_eq!(second_document("a: 1\n---\nb: 2\n").map(|p| p.line), Some(2));
        assert!(second_document("a: 1\n").is_none());
    }

    #[test]
    fn pointer_escapes() {
        let p = pointer(&[Segment::Key("a/b~c".into()), Segment::Index(3)]);
        assert_eq!(p, "/a~1b~0c/3");
    }
}
