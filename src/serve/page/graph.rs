//! A pipeline's DAG drawn as SVG for the status page: a layered layout — sources in the first column,
//! sinks in the last, each step one column right of its furthest input — with boxes labelled
//! `id (type)` and curved edges. Drawn here so that the page needs no layout library.

use std::fmt::Write as _;

use petgraph::Direction;
use petgraph::algo::toposort;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;

use crate::graph::{NodeKind, PipelineGraph};

/// Height of a node's box.
const BOX_HEIGHT: f64 = 34.0;
/// Vertical distance between the tops of two boxes in a column.
const ROW: f64 = 54.0;
/// Horizontal room between two columns (where the edges run).
const GAP: f64 = 70.0;
/// Room around the drawing.
const MARGIN: f64 = 16.0;
/// Width of one character of the label (monospace, 13px).
const CHAR_WIDTH: f64 = 7.9;

/// Where each node goes: its column and its row in that column.
struct Layout {
    columns: Vec<Vec<NodeIndex>>,
}

/// Columns by longest path from a source; sinks all in the last column. Within a column, nodes are
/// ordered by the mean row of their inputs (fewer crossings), then by file order.
fn layout(graph: &PipelineGraph) -> Layout {
    let g = &graph.graph;
    // The graph was checked acyclic when the plan compiled; file order is the fallback all the same.
    let order = toposort(g, None).unwrap_or_else(|_| g.node_indices().collect());
    let mut column = vec![0usize; g.node_count()];
    for &n in &order {
        let furthest = g.neighbors_directed(n, Direction::Incoming).map(|p| column[p.index()] + 1).max();
        column[n.index()] = furthest.unwrap_or(0);
    }
    let last = column.iter().copied().max().unwrap_or(0);
    for &n in &graph.sinks {
        column[n.index()] = last.max(1);
    }
    let width = column.iter().copied().max().unwrap_or(0) + 1;
    let mut columns: Vec<Vec<NodeIndex>> = vec![Vec::new(); width];
    let mut row = vec![0f64; g.node_count()];
    for (c, nodes) in columns.iter_mut().enumerate() {
        let mut here: Vec<(f64, NodeIndex)> = g
            .node_indices()
            .filter(|n| column[n.index()] == c)
            .map(|n| {
                let inputs: Vec<f64> = g.neighbors_directed(n, Direction::Incoming).map(|p| row[p.index()]).collect();
                let mean = if inputs.is_empty() { 0.0 } else { inputs.iter().sum::<f64>() / inputs.len() as f64 };
                (mean, n)
            })
            .collect();
        here.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (i, (_, n)) in here.iter().enumerate() {
            row[n.index()] = i as f64;
        }
        *nodes = here.into_iter().map(|(_, n)| n).collect();
    }
    Layout { columns }
}

/// The label of a node: `id (type)`.
fn label(graph: &PipelineGraph, n: NodeIndex) -> String {
    let node = &graph.graph[n];
    format!("{} ({})", node.id, node.type_name)
}

/// Text made safe inside SVG (XML) text and attributes.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The drawing: a standalone SVG document, its colours as attributes (no style sheet, no script).
pub(super) fn svg(graph: &PipelineGraph) -> String {
    let layout = layout(graph);
    let g = &graph.graph;
    let mut place = vec![(0f64, 0f64, 0f64); g.node_count()]; // x, y, width of each box
    let mut x = MARGIN;
    let mut tallest = 0usize;
    for nodes in &layout.columns {
        let width =
            nodes.iter().map(|&n| label(graph, n).chars().count()).max().unwrap_or(0) as f64 * CHAR_WIDTH + 24.0;
        for (i, &n) in nodes.iter().enumerate() {
            place[n.index()] = (x, MARGIN + i as f64 * ROW, width);
        }
        tallest = tallest.max(nodes.len());
        x += width + GAP;
    }
    let (width, height) = (x - GAP + MARGIN, MARGIN * 2.0 + (tallest.max(1) - 1) as f64 * ROW + BOX_HEIGHT);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"monospace\" font-size=\"13\">\n\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" \
         markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>\n"
    );
    for e in g.edge_references() {
        let (sx, sy, sw) = place[e.source().index()];
        let (tx, ty, _) = place[e.target().index()];
        let (x1, y1, x2, y2) = (sx + sw, sy + BOX_HEIGHT / 2.0, tx, ty + BOX_HEIGHT / 2.0);
        let bend = (x2 - x1).abs() / 2.0;
        let _ = writeln!(
            out,
            "<path d=\"M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}\" fill=\"none\" \
             stroke=\"#555\" stroke-width=\"1.4\" marker-end=\"url(#arrow)\"/>",
            x1 + bend,
            x2 - bend
        );
    }
    for n in g.node_indices() {
        let (x, y, w) = place[n.index()];
        let (fill, stroke, kind) = match g[n].kind {
            NodeKind::Source(_) => ("#e3f2fd", "#1565c0", "source"),
            NodeKind::Step(_) => ("#f5f5f5", "#616161", "step"),
            NodeKind::Sink(_) => ("#e8f5e9", "#2e7d32", "sink"),
        };
        let _ = writeln!(
            out,
            "<g data-kind=\"{kind}\"><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{BOX_HEIGHT}\" rx=\"6\" \
             fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"/><text x=\"{:.1}\" y=\"{:.1}\" \
             text-anchor=\"middle\" dominant-baseline=\"central\" fill=\"#212121\">{}</text></g>",
            x + w / 2.0,
            y + BOX_HEIGHT / 2.0,
            xml_escape(&label(graph, n))
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Node;
    use petgraph::graph::DiGraph;

    /// in → clean → {enrich, audit}; enrich → out; audit → log.
    fn sample(ids: [&str; 6]) -> PipelineGraph {
        let mut graph = DiGraph::new();
        let kinds = [
            NodeKind::Source(0),
            NodeKind::Step(0),
            NodeKind::Step(1),
            NodeKind::Step(2),
            NodeKind::Sink(0),
            NodeKind::Sink(1),
        ];
        let nodes: Vec<NodeIndex> = ids
            .iter()
            .zip(kinds)
            .map(|(id, kind)| graph.add_node(Node { id: id.to_string(), type_name: "t", kind }))
            .collect();
        for (a, b) in [(0, 1), (1, 2), (1, 3), (2, 4), (3, 5)] {
            graph.add_edge(nodes[a], nodes[b], ());
        }
        PipelineGraph {
            graph,
            sources: vec![nodes[0]],
            steps: vec![nodes[1], nodes[2], nodes[3]],
            sinks: vec![nodes[4], nodes[5]],
        }
    }

    #[test]
    fn sources_come_first_sinks_last_and_each_step_right_of_its_inputs() {
        let layout = layout(&sample(["in", "clean", "enrich", "audit", "out", "log"]));
        let ids: Vec<Vec<usize>> = layout.columns.iter().map(|c| c.iter().map(|n| n.index()).collect()).collect();
        assert_eq!(ids, [vec![0], vec![1], vec![2, 3], vec![4, 5]]);
    }

    #[test]
    fn labels_are_escaped_and_every_node_and_edge_is_drawn() {
        let svg = svg(&sample(["in", "<script>x</script>", "a&b", "audit", "out", "log"]));
        assert!(svg.contains("&lt;script&gt;x&lt;/script&gt; (t)"), "{svg}");
        assert!(svg.contains("a&amp;b (t)"), "{svg}");
        assert!(!svg.contains("<script"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 6);
        assert_eq!(svg.matches("marker-end").count(), 5);
    }
}
