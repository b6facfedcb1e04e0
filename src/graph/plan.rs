//! The executable plan: every component of a checked graph built into its runtime object (every
//! JSONPath, template and path compiled), plus the wiring and settings the runtime needs. `weir validate`
//! stops here; `weir run` hands the plan to the runtime.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::{NodeKind, PipelineGraph, build_graph};
use crate::assemble::load::LoadedPipeline;
use crate::assemble::parse::{escape, field_name};
use crate::assemble::pipeline::{DeadLetterConfig, OnError, Origin, PipelineConfig, RuntimeSettings};
use crate::config::diagnostic::Location;
use crate::config::diagnostic::{Diagnostic, Diagnostics};
use crate::config::file::{Anchor, ConfigFile};
use crate::config::source_map::Pos;
use crate::expr::reads::Reads;
use crate::expr::template::{StringTemplate, TemplateEngine, TemplateOptions};
use crate::kernel::build::{BuildContext, BuildErrors, FOLLOW_ON};
use crate::kernel::mock::RequestHook;
use crate::kernel::projection::Projection;
use crate::sinks::Sink;
use crate::sources::Source;
use crate::transforms::Transform;
use petgraph::graph::NodeIndex;

/// The built source.
#[derive(Debug)]
pub struct BuiltSource {
    /// Its id.
    pub(crate) id: String,
    /// Its `type:`.
    pub(crate) type_name: &'static str,
    /// The runtime object.
    pub source: Box<dyn Source>,
    /// The record key template.
    pub(crate) key: Option<StringTemplate>,
    /// Build only these fields of each record (`None`: build everything): what the pipeline reads of
    /// this source's records.
    pub projection: Option<Projection>,
}

/// A built step.
pub(crate) struct BuiltStep {
    /// Its id.
    pub(crate) id: String,
    /// Its `type:`.
    pub(crate) type_name: &'static str,
    /// What to do with records it rejects.
    pub(crate) on_error: OnError,
    /// The runtime object.
    pub(crate) transform: Box<dyn Transform>,
}

/// A built sink.
pub struct BuiltSink {
    /// Its id.
    pub(crate) id: String,
    /// Its `type:`.
    pub(crate) type_name: &'static str,
    /// The runtime object.
    pub sink: Box<dyn Sink>,
}

/// Everything needed to run one pipeline.
pub struct Plan {
    /// The pipeline's name.
    pub(crate) name: String,
    /// The checked graph.
    pub(crate) graph: PipelineGraph,
    /// The sources, by source index (the graph's `sources`).
    pub sources: Vec<BuiltSource>,
    /// Steps, by index.
    pub(crate) steps: Vec<BuiltStep>,
    /// Sinks, by index.
    pub sinks: Vec<BuiltSink>,
    /// Where dead-lettered records are written.
    pub(crate) dead_letter: DeadLetterTarget,
    /// Largest record a dead-letter entry stores whole (`dead_letter.max_record_size`).
    pub(crate) dead_letter_max_record: usize,
    /// Batch size and channel capacity.
    pub(crate) settings: RuntimeSettings,
    /// Where the pipeline's templates read the id map (`ids`); filled when a run starts.
    pub(crate) ids: crate::expr::template::IdsSlot,
}

/// Where a pipeline's dead letters go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeadLetterTarget {
    /// The state store's queue; runs without a state store (library use, tests) write `fallback`.
    Store {
        /// NDJSON file used when the run has no state store.
        fallback: PathBuf,
    },
    /// An NDJSON file.
    File(PathBuf),
}

fn report(
    diagnostics: &mut Diagnostics,
    errors: BuildErrors,
    origin: &Origin,
    component: String,
    templates: &TemplateEngine,
) {
    // A follow-on error's cause is reported where it is written (a connection with errors).
    for e in errors.0.into_iter().filter(|e| e.code != FOLLOW_ON) {
        let mut pointer = origin.pointer.clone();
        e.field.iter().for_each(|f| pointer.push_str(&format!("/{}", escape(f))));
        let mut field = e.field.join(".");
        let node = origin.file.value.pointer(&pointer);
        if let (Some(node), "bad-template" | "unknown-table") = (node, e.code) {
            // Errors of a structured template are reported on the whole structure: show the string
            // that fails instead.
            let mut leaf = Vec::new();
            if failing_leaf(templates, node, &mut leaf) && !leaf.is_empty() {
                let suffix: String = leaf.iter().map(|s| format!("/{}", escape(s))).collect();
                let dotted = field_name(&format!("{pointer}{suffix}"), &pointer);
                field = if dotted.starts_with('[') { format!("{field}{dotted}") } else { format!("{field}.{dotted}") };
                pointer.push_str(&suffix);
            }
        }
        // A structure is pointed at by its key: its value starts on the next line, at its first entry.
        let container = origin.file.value.pointer(&pointer).is_some_and(|v| v.is_object() || v.is_array());
        let anchor = if e.field.is_empty() || container { Anchor::Key } else { Anchor::Value };
        let mut location = origin.file.locate(&pointer, anchor);
        if let (Some(loc), Some(offset), Anchor::Value) = (&location, e.offset, anchor) {
            location = Some(point_into(&origin.file, loc, offset));
        }
        let mut d =
            Diagnostic::new(e.code, e.message).with_component(Some(component.clone())).with_field(field).at(location);
        d.hint = e.hint;
        diagnostics.push(d);
    }
}

/// Moves a location from the start of a string value to `(line, col)` within the string: past the
/// opening quote of a quoted scalar, or onto the content lines of a block scalar (`|`, `>`).
fn point_into(file: &ConfigFile, loc: &Location, (line, col): (usize, usize)) -> Location {
    let start: String = loc.line_text.chars().skip(loc.pos.col.saturating_sub(1)).collect();
    let first = start.chars().next().unwrap_or(' ');
    let pos = if first == '|' || first == '>' {
        let file_line = loc.pos.line + line;
        let text = file.text.lines().nth(file_line - 1).unwrap_or("");
        let indent = text.chars().take_while(|c| *c == ' ').count();
        Pos { line: file_line, col: indent + col, width: 1 }
    } else if line == 1 {
        let quote = usize::from(first == '"' || first == '\'');
        Pos { line: loc.pos.line, col: loc.pos.col + quote + col - 1, width: 1 }
    } else {
        return loc.clone();
    };
    file.location_at(pos)
}

/// Finds the first template string under `value` that does not compile, leaving its path in `path`.
fn failing_leaf(templates: &TemplateEngine, value: &Value, path: &mut Vec<String>) -> bool {
    let descend = |key: String, child: &Value, path: &mut Vec<String>| {
        path.push(key);
        let found = failing_leaf(templates, child, path);
        if !found {
            path.pop();
        }
        found
    };
    match value {
        Value::String(s) => (s.contains("{{") || s.contains("{%")) && templates.compile_string(s).is_err(),
        Value::Array(items) => items.iter().enumerate().any(|(i, v)| descend(i.to_string(), v, path)),
        Value::Object(map) => map.iter().any(|(k, v)| descend(k.clone(), v, path)),
        _ => false,
    }
}

/// Checks the graph and builds every component; all errors are returned together.
pub fn compile(pipeline: &LoadedPipeline) -> Result<Plan, Diagnostics> {
    compile_with(pipeline, &BTreeMap::new())
}

/// [`compile`], with the HTTP requests of some components (by id) answered by mocks or recorded
/// (`weir test`).
pub(crate) fn compile_with(
    pipeline: &LoadedPipeline,
    request_hooks: &BTreeMap<String, RequestHook>,
) -> Result<Plan, Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    let config = &pipeline.config;
    let graph = build_graph(config);
    if let Err(errors) = &graph {
        errors.iter().cloned().for_each(|d| diagnostics.push(d));
    }
    let tables = Arc::new(pipeline.tables(&mut diagnostics));
    let mut ctx = BuildContext {
        templates: TemplateEngine::new(Arc::clone(&tables), TemplateOptions::default()),
        tables,
        base_dir: pipeline.base_dir().to_path_buf(),
        connections: Arc::clone(&pipeline.folder.named_connections),
        connections_unreadable: pipeline.folder.connections_unreadable,
        request_hook: None,
    };
    let hook_of = |id: &str| request_hooks.get(id).cloned();
    let mut sources = Vec::new();
    for src in &config.sources {
        let label = format!("source `{}`", src.common.id);
        ctx.request_hook = hook_of(&src.common.id);
        let built = src
            .config
            .build(&ctx)
            .map_err(|e| report(&mut diagnostics, e, &src.origin, label.clone(), &ctx.templates))
            .ok();
        let mut errors = BuildErrors::default();
        let key = src.common.key.as_ref().and_then(|k| errors.string_template(&ctx, &["key"], k));
        report(&mut diagnostics, errors, &src.origin, label, &ctx.templates);
        if let Some(source) = built {
            let (id, type_name) = (src.common.id.clone(), src.config.type_name());
            sources.push(BuiltSource { id, type_name, source, key, projection: None });
        }
    }
    let mut steps = Vec::new();
    for s in &config.steps {
        let label = format!("step `{}`", s.common.id);
        ctx.request_hook = hook_of(&s.common.id);
        match s.config.build(&ctx) {
            Ok(transform) => steps.push(BuiltStep {
                id: s.common.id.clone(),
                type_name: s.config.type_name(),
                on_error: s.common.on_error,
                transform,
            }),
            Err(e) => report(&mut diagnostics, e, &s.origin, label, &ctx.templates),
        }
    }
    let mut sinks = Vec::new();
    for s in &config.sinks {
        let label = format!("sink `{}`", s.common.id);
        ctx.request_hook = hook_of(&s.common.id);
        match s.config.build(&ctx) {
            Ok(sink) => sinks.push(BuiltSink { id: s.common.id.clone(), type_name: s.config.type_name(), sink }),
            Err(e) => report(&mut diagnostics, e, &s.origin, label, &ctx.templates),
        }
    }
    for (name, value) in [
        ("batch_size", config.runtime.batch_size),
        ("channel_capacity", config.runtime.channel_capacity),
        ("batch_bytes", config.runtime.batch_bytes),
    ] {
        if value == 0 {
            diagnostics.push(
                Diagnostic::new("bad-value", format!("`{name}` must be at least 1"))
                    .with_field(format!("runtime.{name}"))
                    .at(pipeline.file.locate(&format!("/runtime/{name}"), Anchor::Value)),
            );
        }
    }
    let fallback = pipeline.base_dir().join(".weir").join("dead-letter").join(format!("{}.ndjson", config.name));
    let dead_letter = match &config.dead_letter {
        Some(DeadLetterConfig { path: Some(path), store: Some(_), .. }) => {
            diagnostics.push(
                Diagnostic::new("conflict", format!("`dead_letter` has both `store` and `path` (`{path}`)"))
                    .with_field("dead_letter")
                    .with_hint("dead letters go either to the state store (`store: state`) or to a file (`path:`)")
                    .at(pipeline.file.locate("/dead_letter/path", Anchor::Key)),
            );
            DeadLetterTarget::Store { fallback }
        }
        Some(DeadLetterConfig { path: Some(path), .. }) => DeadLetterTarget::File(pipeline.base_dir().join(path)),
        _ => DeadLetterTarget::Store { fallback },
    };
    let dead_letter_max_record = config
        .dead_letter
        .as_ref()
        .and_then(|d| d.max_record_size)
        .unwrap_or(crate::assemble::pipeline::DEFAULT_MAX_DEAD_LETTER_RECORD);
    if let (Ok(graph), true) = (&graph, steps.len() == config.steps.len()) {
        check_side_inputs(graph, &steps, config, &mut diagnostics);
    }
    // Every component built: one can fail with a follow-on error only, which adds no diagnostic.
    let built =
        sources.len() == config.sources.len() && steps.len() == config.steps.len() && sinks.len() == config.sinks.len();
    match (graph, built && diagnostics.is_empty() && config.unparsed.is_empty()) {
        (Ok(graph), true) => Ok(Plan {
            ids: ctx.templates.ids().clone(),
            sources: {
                let transforms: Vec<&dyn Transform> = steps.iter().map(|s| &*s.transform).collect();
                for (i, source) in sources.iter_mut().enumerate() {
                    source.projection = projection_for(source.key.as_ref(), &transforms, &graph, graph.sources[i]);
                }
                sources
            },
            name: config.name.clone(),
            graph,
            steps,
            sinks,
            dead_letter,
            dead_letter_max_record,
            settings: config.runtime.clone(),
        }),
        _ => Err(diagnostics),
    }
}

/// Each side input a step names (`reconcile`'s `right: <id>`) must be one of its inputs, and must not
/// also feed its other inputs: the step reads it to its end before the others, which would wait on
/// each other.
fn check_side_inputs(
    graph: &PipelineGraph,
    steps: &[BuiltStep],
    config: &PipelineConfig,
    diagnostics: &mut Diagnostics,
) {
    for (i, step) in steps.iter().enumerate() {
        let spec = &config.steps[i];
        let node = graph.steps[i];
        let upstream = graph.upstream(node);
        for side in step.transform.side_inputs() {
            let at = spec.origin.file.locate(&format!("{}/{}", spec.origin.pointer, side.key), Anchor::Value);
            let component = Some(format!("step `{}`", spec.common.id));
            let Some(&from) = upstream.iter().find(|&&n| graph.graph[n].id == side.id) else {
                diagnostics.push(
                    Diagnostic::new(
                        "bad-input",
                        format!("`{}` names `{}`, which is not one of the step's inputs", side.key, side.id),
                    )
                    .with_component(component)
                    .with_field(side.key)
                    .with_hint(format!("add `{}` to the step's `inputs` (the left side goes there too)", side.id))
                    .at(at),
                );
                continue;
            };
            let feeds_others = upstream
                .iter()
                .any(|&other| other != from && petgraph::algo::has_path_connecting(&graph.graph, from, other, None));
            if feeds_others {
                diagnostics.push(
                    Diagnostic::new(
                        "side-input-cycle",
                        format!("`{}` also feeds the step's other inputs; it is read whole before them", side.id),
                    )
                    .with_component(component)
                    .with_field(side.key)
                    .with_hint("read the right-hand side from a source of its own (under `sources`)")
                    .at(at),
                );
            }
        }
    }
}

/// What a pipeline reads of its source's records, or `None` when it needs them whole: what the
/// source's `key` reads and what every step reads until each path reaches a step that builds its
/// records anew. `steps` are the built steps, in the order of the graph's step nodes.
fn projection_for(
    key: Option<&StringTemplate>,
    steps: &[&dyn Transform],
    graph: &PipelineGraph,
    source: NodeIndex,
) -> Option<Projection> {
    let mut reads = Reads::none();
    let mut filters = Vec::new();
    if let Some(key) = key {
        reads.merge(key.reads().clone());
    }
    let mut pending = graph.downstream(source);
    let mut seen = Vec::new();
    while let Some(n) = pending.pop() {
        if seen.contains(&n) {
            continue;
        }
        seen.push(n);
        match graph.graph[n].kind {
            NodeKind::Step(i) => {
                let step = steps.get(i)?;
                reads.merge(step.reads());
                filters.extend(step.element_filters());
                if !step.replaces_record() {
                    pending.extend(graph.downstream(n));
                }
            }
            // A sink writes the record as it is: it needs all of it.
            NodeKind::Sink(_) | NodeKind::Source(_) => return None,
        }
        if reads == Reads::All {
            return None;
        }
    }
    let Reads::Paths(mut paths) = reads else { return None };
    // An array read only through `[?@.key == literal]` filters needs only the matching elements;
    // read any other way (a template over the whole list, say), it is built whole.
    let overlaps =
        |array: &[String], paths: &[Vec<String>]| paths.iter().any(|p| p.starts_with(array) || array.starts_with(p));
    let (narrowed, whole): (Vec<_>, Vec<_>) = filters.into_iter().partition(|f| !overlaps(&f.array, &paths));
    paths.extend(whole.into_iter().map(|f| f.array));
    let mut projection = Projection::from_paths(&paths);
    for f in narrowed {
        projection.keep_matching(&f.array, &f.key, &f.literal);
    }
    Some(projection)
}
