//! Weir's compiled form of a JSONPath query: the tree `compile` builds and `eval` walks.

use regex::Regex;
use serde_json::Value;

/// A query: `$…` (absolute) or `@…` (relative to the current filter node).
#[derive(Debug, Clone)]
pub(super) struct Query {
    pub(super) absolute: bool,
    pub(super) segments: Vec<Segment>,
}

/// One segment: its selectors apply to each input node (`Child`) or to each input node and all
/// its descendants (`Descendant`).
#[derive(Debug, Clone)]
pub(super) enum Segment {
    Child(Vec<Selector>),
    Descendant(Vec<Selector>),
}

#[derive(Debug, Clone)]
pub(super) enum Selector {
    Name(String),
    Index(i64),
    Wildcard,
    Slice { start: Option<i64>, end: Option<i64>, step: i64 },
    Filter(Box<Logical>),
}

/// A filter expression, evaluated to true/false for each candidate node.
#[derive(Debug, Clone)]
pub(super) enum Logical {
    Or(Vec<Logical>),
    And(Vec<Logical>),
    Not(Box<Logical>),
    /// True when the query selects at least one node.
    Exists(Query),
    Compare(CmpOp, Operand, Operand),
    /// `match()` (anchored) or `search()`.
    Regex(Box<RegexCall>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Something that evaluates to at most one value (RFC 9535 ValueType).
#[derive(Debug, Clone)]
pub(super) enum Operand {
    Literal(Value),
    Singular { absolute: bool, steps: Vec<Step> },
    Length(Box<Operand>),
    Count(Query),
    Value(Query),
}

/// A step of a singular query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    Name(String),
    Index(i64),
}

#[derive(Debug, Clone)]
pub(super) struct RegexCall {
    /// `match()` anchors the pattern at both ends; `search()` does not.
    pub(super) anchored: bool,
    pub(super) subject: Operand,
    pub(super) pattern: Pattern,
}

#[derive(Debug, Clone)]
pub(super) enum Pattern {
    /// A literal pattern compiled once; `None` when it is not a valid I-Regexp (never matches).
    Static(Option<Regex>),
    /// A pattern read from the document, compiled per evaluation.
    Dynamic(Operand),
}

impl Query {
    /// The steps of this query when it is singular (only single name/index selectors).
    pub(super) fn singular_steps(&self) -> Option<Vec<Step>> {
        self.segments
            .iter()
            .map(|segment| match segment {
                Segment::Child(selectors) => match selectors.as_slice() {
                    [Selector::Name(name)] => Some(Step::Name(name.clone())),
                    [Selector::Index(index)] => Some(Step::Index(*index)),
                    _ => None,
                },
                Segment::Descendant(_) => None,
            })
            .collect()
    }

    /// Adds the member-name prefixes this absolute query reads to `out`; false if it may read
    /// anything.
    pub(super) fn collect_field_paths(&self, out: &mut Vec<Vec<String>>) -> bool {
        let mut prefixes: Vec<Vec<String>> = vec![Vec::new()];
        let mut all_names = true;
        for segment in &self.segments {
            if !segment.collect_filter_paths(out) {
                return false;
            }
            if !all_names {
                continue;
            }
            let names: Option<Vec<&String>> = match segment {
                Segment::Child(selectors) => selectors
                    .iter()
                    .map(|s| match s {
                        Selector::Name(name) => Some(name),
                        _ => None,
                    })
                    .collect(),
                Segment::Descendant(_) => None,
            };
            match names {
                Some(names) => {
                    prefixes = prefixes
                        .iter()
                        .flat_map(|prefix| {
                            names.iter().map(move |name| {
                                let mut longer = prefix.clone();
                                longer.push((*name).clone());
                                longer
                            })
                        })
                        .collect();
                }
                None => all_names = false,
            }
        }
        if prefixes.iter().any(Vec::is_empty) {
            // The query reads the whole root (`$`, `$[*]`, `$..x`, `$[?…]`).
            return false;
        }
        out.extend(prefixes);
        true
    }
}

impl Segment {
    /// Adds the paths read by absolute queries inside this segment's filters.
    fn collect_filter_paths(&self, out: &mut Vec<Vec<String>>) -> bool {
        let (Segment::Child(selectors) | Segment::Descendant(selectors)) = self;
        selectors.iter().all(|selector| match selector {
            Selector::Filter(logical) => logical.collect_field_paths(out),
            _ => true,
        })
    }
}

impl Logical {
    /// Adds the paths read by absolute queries in this filter; false if it may read anything.
    fn collect_field_paths(&self, out: &mut Vec<Vec<String>>) -> bool {
        match self {
            Logical::Or(items) | Logical::And(items) => items.iter().all(|item| item.collect_field_paths(out)),
            Logical::Not(inner) => inner.collect_field_paths(out),
            Logical::Exists(query) => query_field_paths(query, out),
            Logical::Compare(_, left, right) => left.collect_field_paths(out) && right.collect_field_paths(out),
            Logical::Regex(call) => {
                call.subject.collect_field_paths(out)
                    && match &call.pattern {
                        Pattern::Static(_) => true,
                        Pattern::Dynamic(operand) => operand.collect_field_paths(out),
                    }
            }
        }
    }
}

impl Operand {
    fn collect_field_paths(&self, out: &mut Vec<Vec<String>>) -> bool {
        match self {
            Operand::Literal(_) => true,
            Operand::Singular { absolute: false, .. } => true,
            Operand::Singular { absolute: true, steps } => {
                let names: Vec<String> = steps
                    .iter()
                    .map_while(|step| match step {
                        Step::Name(name) => Some(name.clone()),
                        Step::Index(_) => None,
                    })
                    .collect();
                if names.is_empty() {
                    return false;
                }
                out.push(names);
                true
            }
            Operand::Length(inner) => inner.collect_field_paths(out),
            Operand::Count(query) | Operand::Value(query) => query_field_paths(query, out),
        }
    }
}

/// Field paths of a query used inside a filter: relative queries only add what their own
/// filters read from the root.
fn query_field_paths(query: &Query, out: &mut Vec<Vec<String>>) -> bool {
    if query.absolute {
        query.collect_field_paths(out)
    } else {
        query.segments.iter().all(|s| s.collect_filter_paths(out))
    }
}
