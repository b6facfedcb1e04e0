//! The pipeline as a DAG (petgraph): nodes are the sources, steps and sinks; edges follow `inputs:`, or
//! file order where a component names none. Checked for duplicate ids, dangling inputs, cycles (the
//! cycle's path is named) and components whose output reaches no sink. Rendered as DOT or Mermaid.

pub(crate) mod plan;

use std::collections::HashMap;
use std::fmt::Write as _;

use petgraph::algo::{has_path_connecting, tarjan_scc};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::assemble::pipeline::{Origin, PipelineConfig};
use crate::config::diagnostic::{Diagnostic, suggestion};
use crate::config::file::Anchor;

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeKind {
    /// `sources[i]`.
    Source(usize),
    /// `steps[i]`.
    Step(usize),
    /// `sinks[i]`.
    Sink(usize),
}

/// One component in the graph.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The component's id.
    pub(crate) id: String,
    /// Its `type:`.
    pub(crate) type_name: &'static str,
    /// Which component.
    pub(crate) kind: NodeKind,
}

/// The checked DAG of one pipeline.
#[derive(Debug, Clone)]
pub(crate) struct PipelineGraph {
    /// Nodes and edges (edges point downstream).
    pub(crate) graph: DiGraph<Node, ()>,
    /// Node of each source, by source index (at least one).
    pub(crate) sources: Vec<NodeIndex>,
    /// Node of each step, by step index.
    pub(crate) steps: Vec<NodeIndex>,
    /// Node of each sink, by sink index.
    pub(crate) sinks: Vec<NodeIndex>,
}

impl NodeKind {
    fn label(self) -> &'static str {
        match self {
            NodeKind::Source(_) => "source",
            NodeKind::Step(_) => "step",
            NodeKind::Sink(_) => "sink",
        }
    }
}

fn located(d: Diagnostic, origin: &Origin, suffix: &str, anchor: Anchor) -> Diagnostic {
    d.at(origin.file.locate(&format!("{}{suffix}", origin.pointer), anchor))
}

/// Builds and checks the graph of `p`; every problem is returned.
pub(crate) fn build_graph(p: &PipelineConfig) -> Result<PipelineGraph, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut graph = DiGraph::new();
    let mut by_id: HashMap<String, (NodeIndex, Origin)> = HashMap::new();
    let mut add = |graph: &mut DiGraph<Node, ()>,
                   id: &str,
                   type_name: &'static str,
                   kind: NodeKind,
                   origin: &'_ Origin,
                   errors: &mut Vec<Diagnostic>| {
        let idx = graph.add_node(Node { id: id.to_string(), type_name, kind });
        if let Some((_, first)) = by_id.get(id) {
            let first_line =
                first.file.locate(&format!("{}/id", first.pointer), Anchor::Value).map_or(0, |l| l.pos.line);
            errors.push(located(
                Diagnostic::new("duplicate-id", format!("duplicate id `{id}`"))
                    .with_component(Some(format!("{} `{id}`", kind.label())))
                    .with_field("id")
                    .with_hint(format!(
                        "`{id}` is already used on line {first_line}; ids must be unique within a pipeline"
                    )),
                origin,
                "/id",
                Anchor::Value,
            ));
        } else {
            by_id.insert(id.to_string(), (idx, origin.clone()));
        }
        idx
    };
    let mut sources: Vec<NodeIndex> = p
        .sources
        .iter()
        .enumerate()
        .map(|(i, s)| add(&mut graph, &s.common.id, s.config.type_name(), NodeKind::Source(i), &s.origin, &mut errors))
        .collect();
    // No source parsed (already reported): a stand-in node lets the rest be checked.
    if sources.is_empty() {
        sources.push(graph.add_node(Node { id: "(source)".into(), type_name: "unparsed", kind: NodeKind::Source(0) }));
    }
    let steps: Vec<NodeIndex> = p
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| add(&mut graph, &s.common.id, s.config.type_name(), NodeKind::Step(i), &s.origin, &mut errors))
        .collect();
    let sinks: Vec<NodeIndex> = p
        .sinks
        .iter()
        .enumerate()
        .map(|(i, s)| add(&mut graph, &s.common.id, s.config.type_name(), NodeKind::Sink(i), &s.origin, &mut errors))
        .collect();
    let ids: Vec<String> =
        graph.node_weights().filter(|n| !matches!(n.kind, NodeKind::Sink(_))).map(|n| n.id.clone()).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();

    let connect = |graph: &mut DiGraph<Node, ()>,
                   target: NodeIndex,
                   inputs: &Option<Vec<String>>,
                   default: NodeIndex,
                   origin: &Origin,
                   errors: &mut Vec<Diagnostic>| {
        let Some(inputs) = inputs else {
            graph.add_edge(default, target, ());
            return;
        };
        let node = graph[target].clone();
        let component = Some(format!("{} `{}`", node.kind.label(), node.id));
        if inputs.is_empty() {
            errors.push(located(
                Diagnostic::new("bad-value", "`inputs` is empty")
                    .with_component(component.clone())
                    .with_field("inputs")
                    .with_hint("name at least one component, or remove `inputs` to read the previous step"),
                origin,
                "/inputs",
                Anchor::Key,
            ));
        }
        for (i, input) in inputs.iter().enumerate() {
            match by_id.get(input) {
                Some((from, _)) if matches!(graph[*from].kind, NodeKind::Sink(_)) => errors.push(located(
                    Diagnostic::new("bad-input", format!("`{input}` is a sink; sinks have no output to read"))
                        .with_component(component.clone())
                        .with_field(format!("inputs[{i}]")),
                    origin,
                    &format!("/inputs/{i}"),
                    Anchor::Value,
                )),
                Some((from, _)) => {
                    graph.add_edge(*from, target, ());
                }
                None if p.unparsed.contains(input) => {}
                None => errors.push(located(
                    Diagnostic::new("unknown-input", format!("`inputs` names `{input}`, which does not exist"))
                        .with_component(component.clone())
                        .with_field(format!("inputs[{i}]"))
                        .with_hint(suggestion(input, &id_refs, "components that can be inputs")),
                    origin,
                    &format!("/inputs/{i}"),
                    Anchor::Value,
                )),
            }
        }
    };
    let mut previous = sources[0];
    for (i, s) in p.steps.iter().enumerate() {
        connect(&mut graph, steps[i], &s.common.inputs, previous, &s.origin, &mut errors);
        previous = steps[i];
    }
    for (i, s) in p.sinks.iter().enumerate() {
        connect(&mut graph, sinks[i], &s.common.inputs, previous, &s.origin, &mut errors);
    }

    // Sources have no inputs, so every node in a cycle is a step or a sink.
    let origin_of = |n: NodeIndex| -> &Origin {
        match graph[n].kind {
            NodeKind::Step(i) => &p.steps[i].origin,
            NodeKind::Sink(i) => &p.sinks[i].origin,
            NodeKind::Source(_) => &p.steps[0].origin,
        }
    };
    let mut in_cycle = vec![false; graph.node_count()];
    for scc in tarjan_scc(&graph) {
        let self_loop = scc.len() == 1 && graph.contains_edge(scc[0], scc[0]);
        if scc.len() < 2 && !self_loop {
            continue;
        }
        let path = cycle_path(&graph, &scc);
        for n in &scc {
            in_cycle[n.index()] = true;
        }
        let first = path[0];
        let names: Vec<String> =
            path.iter().chain(std::iter::once(&first)).map(|n| format!("`{}`", graph[*n].id)).collect();
        errors.push(located(
            Diagnostic::new("cycle", format!("cycle: {}", names.join(" → ")))
                .with_component(Some(format!("{} `{}`", graph[first].kind.label(), graph[first].id)))
                .with_field("inputs")
                .with_hint("a pipeline must be acyclic; break the cycle by changing one of these `inputs`"),
            origin_of(first),
            "/inputs",
            Anchor::Key,
        ));
    }
    // A misspelt input most likely meant a step that now looks unread: say only what is wrong.
    let dangling = errors.iter().any(|e| e.code == "unknown-input");
    for (i, &n) in steps.iter().enumerate() {
        if in_cycle[n.index()] || !p.unparsed.is_empty() || dangling {
            continue;
        }
        if !sinks.iter().any(|&s| has_path_connecting(&graph, n, s, None)) {
            errors.push(located(
                Diagnostic::new(
                    "reaches-no-sink",
                    format!("the output of step `{}` reaches no sink", p.steps[i].common.id),
                )
                .with_component(Some(format!("step `{}`", p.steps[i].common.id)))
                .with_hint("name it in a later component's `inputs`, or remove it"),
                &p.steps[i].origin,
                "",
                Anchor::Key,
            ));
        }
    }
    // Every source beyond the first must be read by someone (the first is read by default).
    for (i, &n) in sources.iter().enumerate().skip(1) {
        if dangling || !p.unparsed.is_empty() || graph.neighbors(n).next().is_some() {
            continue;
        }
        let id = &p.sources[i].common.id;
        errors.push(located(
            Diagnostic::new("reaches-no-sink", format!("nothing reads source `{id}`"))
                .with_component(Some(format!("source `{id}`")))
                .with_hint(format!("name `{id}` in the `inputs` of the step that reads it, or remove it")),
            &p.sources[i].origin,
            "",
            Anchor::Key,
        ));
    }
    if errors.is_empty() { Ok(PipelineGraph { graph, sources, steps, sinks }) } else { Err(errors) }
}

/// One cycle through the nodes of a strongly connected component, in edge order.
fn cycle_path(graph: &DiGraph<Node, ()>, scc: &[NodeIndex]) -> Vec<NodeIndex> {
    let start = *scc.iter().min_by_key(|n| n.index()).unwrap_or(&scc[0]);
    let mut path = vec![start];
    let mut seen = vec![start];
    let mut current = start;
    loop {
        let next = graph
            .edges(current)
            .map(|e| e.target())
            .filter(|t| scc.contains(t))
            .min_by_key(|t| (seen.contains(t) && *t != start, t.index()));
        match next {
            Some(n) if n == start || seen.contains(&n) => break,
            Some(n) => {
                path.push(n);
                seen.push(n);
                current = n;
            }
            None => break,
        }
    }
    path
}

impl PipelineGraph {
    /// The nodes that read the output of `n`.
    pub(crate) fn downstream(&self, n: NodeIndex) -> Vec<NodeIndex> {
        let mut out: Vec<NodeIndex> = self.graph.neighbors(n).collect();
        out.sort();
        out
    }

    /// The nodes that feed `n`.
    pub(crate) fn upstream(&self, n: NodeIndex) -> Vec<NodeIndex> {
        self.graph.neighbors_directed(n, petgraph::Direction::Incoming).collect()
    }

    /// Graphviz DOT.
    pub(crate) fn to_dot(&self, name: &str) -> String {
        let mut out = format!("digraph \"{}\" {{\n  rankdir=LR;\n", name.replace('"', "\\\""));
        for n in self.graph.node_indices() {
            let node = &self.graph[n];
            let shape = match node.kind {
                NodeKind::Source(_) => "invhouse",
                NodeKind::Step(_) => "box",
                NodeKind::Sink(_) => "house",
            };
            let _ = writeln!(out, "  \"{}\" [label=\"{}\\n({})\", shape={shape}];", node.id, node.id, node.type_name);
        }
        for e in self.graph.edge_references() {
            let _ = writeln!(out, "  \"{}\" -> \"{}\";", self.graph[e.source()].id, self.graph[e.target()].id);
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid flowchart.
    pub(crate) fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        let safe = |id: &str| {
            id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect::<String>()
        };
        for n in self.graph.node_indices() {
            let node = &self.graph[n];
            let (open, close) = match node.kind {
                NodeKind::Source(_) => ("[/", "/]"),
                NodeKind::Step(_) => ("[", "]"),
                NodeKind::Sink(_) => ("[\\", "\\]"),
            };
            let _ = writeln!(out, "  {}{open}\"{} ({})\"{close}", safe(&node.id), node.id, node.type_name);
        }
        for e in self.graph.edge_references() {
            let _ = writeln!(out, "  {} --> {}", safe(&self.graph[e.source()].id), safe(&self.graph[e.target()].id));
        }
        out
    }
}
