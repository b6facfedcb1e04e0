//! What checking a test file works from: the pipeline's components by id (which kind and type, which
//! make HTTP requests), the context a test is checked in, and how an unknown id is reported.

use std::sync::Arc;

use petgraph::graph::NodeIndex;

use crate::assemble::load::LoadedPipeline;
use crate::assemble::parse::{Parser, escape};
use crate::config::diagnostic::suggestion;
use crate::config::file::{Anchor, ConfigFile};
use crate::graph::PipelineGraph;
use crate::graph::plan::Plan;

/// What a test is checked in: its file, its pipeline and the pipeline's components.
pub(crate) struct Context<'a> {
    pub(crate) file: &'a Arc<ConfigFile>,
    pub(crate) pipeline: &'a LoadedPipeline,
    pub(crate) components: &'a Components,
    /// `--update`: snapshots are written from this run's output, not compared (nor need they exist).
    pub(crate) update: bool,
    /// `--record`: cassettes are recorded against the API, not read (nor need they exist).
    pub(crate) record: bool,
}

/// The components of a pipeline, by id: what kind (`source`, `step`, `sink`) and type each is.
#[derive(Debug, Default)]
pub(crate) struct Components {
    /// `(id, kind, type)` in pipeline order.
    pub(crate) all: Vec<(String, &'static str, &'static str)>,
}

impl Components {
    pub(crate) fn of(plan: &Plan) -> Self {
        let mut all = Vec::new();
        all.extend(plan.sources.iter().map(|s| (s.id.clone(), "source", s.type_name)));
        all.extend(plan.steps.iter().map(|s| (s.id.clone(), "step", s.type_name)));
        all.extend(plan.sinks.iter().map(|s| (s.id.clone(), "sink", s.type_name)));
        Self { all }
    }

    /// The kind and type of component `id`.
    pub(crate) fn get(&self, id: &str) -> Option<(&'static str, &'static str)> {
        self.all.iter().find(|(i, _, _)| i == id).map(|(_, k, t)| (*k, *t))
    }

    /// The ids of the components of these kinds.
    pub(crate) fn ids(&self, kinds: &[&str]) -> Vec<&str> {
        self.all.iter().filter(|(_, k, _)| kinds.contains(k)).map(|(i, _, _)| i.as_str()).collect()
    }

    /// True when component `id` makes HTTP requests.
    pub(crate) fn makes_requests(&self, id: &str) -> bool {
        self.get(id).is_some_and(|(_, t)| HTTP_TYPES.contains(&t))
    }

    /// The components that make HTTP requests, are not `answered` (mocked), and would be reached by
    /// records starting at `starts` (component ids; the sources when empty): `(id, kind, type)`. Sinks
    /// are left out (they are stood in for).
    pub(crate) fn unanswered_requests(
        &self,
        graph: &PipelineGraph,
        starts: &[&str],
        answered: &dyn Fn(&str) -> bool,
    ) -> Vec<&(String, &'static str, &'static str)> {
        let node = |id: &str| graph.graph.node_indices().find(|n| graph.graph[*n].id == id);
        let starts: Vec<NodeIndex> =
            if starts.is_empty() { graph.sources.clone() } else { starts.iter().filter_map(|id| node(id)).collect() };
        self.all
            .iter()
            .filter(|(id, kind, _)| *kind != "sink" && self.makes_requests(id) && !answered(id))
            .filter(|(id, _, _)| {
                node(id).is_some_and(|n| {
                    starts.iter().any(|s| petgraph::algo::has_path_connecting(&graph.graph, *s, n, None))
                })
            })
            .collect()
    }
}

/// Component types that make HTTP requests (every kind: sources, steps, sinks).
pub(crate) const HTTP_TYPES: &[&str] = &["http", "graphql"];

/// An error at `pointer` of a test file naming a component that does not exist.
pub(crate) fn unknown_component(
    parser: &mut Parser<'_>,
    pointer: &str,
    anchor: Anchor,
    id: &str,
    what: &str,
    candidates: &[&str],
) {
    let hint = Some(suggestion(id, candidates, what));
    let one = match what {
        "sources and steps" => "source or step",
        "components" => "component",
        other => other.trim_end_matches('s'),
    };
    let message = format!("the pipeline has no {one} `{id}`");
    parser.error("unknown-component", message, pointer, anchor, None, "", hint);
}

/// `/tests/0/mocks/<id>`.
pub(crate) fn child(pointer: &str, key: &str) -> String {
    format!("{pointer}/{}", escape(key))
}
