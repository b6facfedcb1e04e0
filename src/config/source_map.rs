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
    pub width: usize,
}

/// Where a node sits: its key (for mapping entries) and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeSpan {
    /// The mapping key that introduced this node, if any.
    pub key: Option<Pos>,
    /// The value itself.
    pub value: Pos,
    /// True for a plain (unquoted) scalar, whose type YAML infers from its text.
    pub plain: bool,
}

/// Path → span index of one YAML document.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    spans: HashMap<String, NodeSpan>,
}

/// One segment of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// Renders a path as a JSON Pointer (`/steps/2/value`).
pub fn pointer(path: &[Segment]) -> String {
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
    Map { next_key: Option<(String, Pos)>, awaiting_key: bool },
    Seq { index: usize },
}

impl SourceMap {
    /// Indexes `text`. Syntax errors are not reported here (the YAML loader reports them); the index
    /// built up to the error is returned.
    pub fn build(text: &str) -> Self {
        let mut map = SourceMap::default();
        let mut parser = Parser::new_from_str(text);
        let mut stack: Vec<Frame> = Vec::new();
        let mut path: Vec<Segment> = Vec::new();
        let lines: Vec<&str> = text.lines().collect();
        for _ in 0..MAX_EVENTS {
            let Ok((event, mark)) = parser.next_token() else { break };
            match event {
                Event::StreamEnd => break,
                Event::Scalar(value, style, _, _) => {
                    let pos = scalar_pos(mark, &value, style, &lines);
                    let plain = style == TScalarStyle::Plain;
                    if let Some(Frame::Map { next_key, awaiting_key }) = stack.last_mut() {
                        if *awaiting_key {
                            *next_key = Some((value, pos));
                            *awaiting_key = false;
                            continue;
                        }
                    }
                    map.enter_value(&mut stack, &mut path, pos, plain);
                    map.leave_value(&mut stack, &mut path);
                }
                Event::Alias(_) => {
                    let pos = pos_of(mark, 1);
                    if let Some(Frame::Map { awaiting_key: true, .. }) = stack.last() {
                        // An alias used as a key: rare; treat as an opaque key.
                        if let Some(Frame::Map { next_key, awaiting_key }) = stack.last_mut() {
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
                        if let Some(Frame::Map { next_key, awaiting_key }) = stack.last_mut() {
                            *next_key = Some(("?complex".into(), pos_of(mark, 1)));
                            *awaiting_key = false;
                        }
                    }
                    map.enter_value(&mut stack, &mut path, pos_of(mark, 1), false);
                    stack.push(if is_map {
                        Frame::Map { next_key: None, awaiting_key: true }
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
        self.spans.insert(pointer(path), NodeSpan { key, value, plain });
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
    pub fn get(&self, pointer: &str) -> Option<NodeSpan> {
        self.spans.get(pointer).copied()
    }

    /// The span of this pointer or of its nearest indexed ancestor (values reached through an alias
    /// are not indexed themselves).
    pub fn nearest(&self, pointer: &str) -> Option<NodeSpan> {
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
    fn pointer_escapes() {
        let p = pointer(&[Segment::Key("a/b~c".into()), Segment::Index(3)]);
        assert_eq!(p, "/a~1b~0c/3");
    }
}
