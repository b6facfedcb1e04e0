//! Weir: a declarative integration engine. YAML pipelines are loaded (`config`), checked and wired into a
//! DAG (`graph`), built into runtime components (`transforms`, `sources`, `sinks`) and run on tokio
//! (`runtime`).

pub mod assemble;
pub mod clock;
pub mod config;
pub mod connectors;
pub mod csv_text;
pub mod exact_json;
pub mod expr;
pub mod fault;
pub mod graph;
pub mod kernel;
pub mod runtime;
pub mod sinks;
pub mod sources;
pub mod state;
pub mod stdout;
pub mod tables;
pub mod transforms;
