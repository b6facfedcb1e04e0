//! The executable plan: every component of a checked graph built into its runtime object (every
//! JSONPath, template and path compiled), plus the wiring and settings the runtime needs. `weir validate`
//! stops here; `weir run` hands the plan to the runtime.

use std::path::PathBuf;
use std::sync::Arc;

use super::{PipelineGraph, build_graph};
use crate::build::{BuildContext, BuildErrors};
use crate::config::diagnostic::{Diagnostic, Diagnostics};
use crate::config::file::Anchor;
use crate::config::load::LoadedPipeline;
use crate::config::parse::escape;
use crate::config::pipeline::{OnError, Origin, RuntimeSettings};
use crate::expr::template::{StringTemplate, TemplateEngine, TemplateOptions};
use crate::sinks::Sink;
use crate::sources::Source;
use crate::transforms::Transform;

/// The built source.
#[derive(Debug)]
pub struct BuiltSource {
    /// Its id.
    pub id: String,
    /// The runtime object.
    pub source: Source,
    /// The record key template.
    pub key: Option<StringTemplate>,
}

/// A built step.
pub struct BuiltStep {
    /// Its id.
    pub id: String,
    /// Its `type:`.
    pub type_name: &'static str,
    /// What to do with records it rejects.
    pub on_error: OnError,
    /// The runtime object.
    pub transform: Box<dyn Transform>,
}

/// A built sink.
pub struct BuiltSink {
    /// Its id.
    pub id: String,
    /// Its `type:`.
    pub type_name: &'static str,
    /// The runtime object.
    pub sink: Box<dyn Sink>,
}

/// Everything needed to run one pipeline.
pub struct Plan {
    /// The pipeline's name.
    pub name: String,
    /// The checked graph.
    pub graph: PipelineGraph,
    /// The source.
    pub source: BuiltSource,
    /// Steps, by index.
    pub steps: Vec<BuiltStep>,
    /// Sinks, by index.
    pub sinks: Vec<BuiltSink>,
    /// Where dead-lettered records are written.
    pub dead_letter_path: PathBuf,
    /// Batch size and channel capacity.
    pub settings: RuntimeSettings,
}

fn report(diagnostics: &mut Diagnostics, errors: BuildErrors, origin: &Origin, component: String) {
    for e in errors.0 {
        let suffix: String = e.field.iter().map(|f| format!("/{}", escape(f))).collect();
        let anchor = if e.field.is_empty() { Anchor::Key } else { Anchor::Value };
        let mut d = Diagnostic::new(e.code, e.message)
            .with_component(Some(component.clone()))
            .with_field(e.field.join("."))
            .at(origin.file.locate(&format!("{}{suffix}", origin.pointer), anchor));
        d.hint = e.hint;
        diagnostics.push(d);
    }
}

/// Checks the graph and builds every component; all errors are returned together.
pub fn compile(pipeline: &LoadedPipeline) -> Result<Plan, Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    let config = &pipeline.config;
    let graph = build_graph(config);
    if let Err(errors) = &graph {
        errors.iter().cloned().for_each(|d| diagnostics.push(d));
    }
    let tables = Arc::new(pipeline.tables(&mut diagnostics));
    let ctx = BuildContext {
        templates: TemplateEngine::new(Arc::clone(&tables), TemplateOptions::default()),
        tables,
        base_dir: pipeline.base_dir().to_path_buf(),
        pipeline: config.name.clone(),
    };
    let mut source = None;
    if let Some(src) = &config.source {
        let label = format!("source `{}`", src.common.id);
        let built = src.config.build(&ctx).map_err(|e| report(&mut diagnostics, e, &src.origin, label.clone())).ok();
        let mut errors = BuildErrors::default();
        let key = src.common.key.as_ref().and_then(|k| errors.string_template(&ctx, &["key"], k));
        report(&mut diagnostics, errors, &src.origin, label);
        source = built.map(|s| BuiltSource { id: src.common.id.clone(), source: s, key });
    }
    let mut steps = Vec::new();
    for s in &config.steps {
        let label = format!("step `{}`", s.common.id);
        match s.config.build(&ctx) {
            Ok(transform) => steps.push(BuiltStep { id: s.common.id.clone(), type_name: s.config.type_name(), on_error: s.common.on_error, transform }),
            Err(e) => report(&mut diagnostics, e, &s.origin, label),
        }
    }
    let mut sinks = Vec::new();
    for s in &config.sinks {
        let label = format!("sink `{}`", s.common.id);
        match s.config.build(&ctx) {
            Ok(sink) => sinks.push(BuiltSink { id: s.common.id.clone(), type_name: s.config.type_name(), sink }),
            Err(e) => report(&mut diagnostics, e, &s.origin, label),
        }
    }
    if config.runtime.batch_size == 0 || config.runtime.channel_capacity == 0 {
        diagnostics.push(
            Diagnostic::new("bad-value", "`batch_size` and `channel_capacity` must be at least 1")
                .at(pipeline.file.locate("/runtime", Anchor::Key)),
        );
    }
    let dead_letter_path = match &config.dead_letter {
        Some(d) => pipeline.base_dir().join(&d.path),
        None => pipeline.base_dir().join(".weir").join("dead-letter").join(format!("{}.ndjson", config.name)),
    };
    match (graph, source, diagnostics.is_empty() && config.unparsed.is_empty()) {
        (Ok(graph), Some(source), true) => Ok(Plan {
            name: config.name.clone(),
            graph,
            source,
            steps,
            sinks,
            dead_letter_path,
            settings: config.runtime.clone(),
        }),
        _ => Err(diagnostics),
    }
}
