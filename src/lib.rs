//! Weir: a declarative integration engine. YAML pipelines are loaded (`config`), checked and wired into a
//! DAG (`graph`), built into runtime components (`transforms`, `sources`, `sinks`) and run on tokio
//! (`runtime`).

pub mod build;
pub mod sinks;
pub mod sources;
pub mod config;
pub mod graph;
pub mod expr;
pub mod record;
pub mod runtime;
pub mod tables;
pub mod transforms;
