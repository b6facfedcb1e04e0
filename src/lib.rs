//! Weir: a declarative integration engine. YAML pipelines are loaded (`config`, `assemble`), checked
//! and wired into a DAG (`graph`), built into runtime components (`transforms`, `sources`, `sinks`) and
//! run on tokio (`runtime`), watched through metrics and logs (`telemetry`); `cli` is the command line.
//!
//! Every module is private to the crate; [`api`] is the public surface (the binary, the integration
//! tests and the benchmarks use only it), so that the compiler reports what nothing uses.

pub mod api;

pub(crate) mod assemble;
pub(crate) mod cli;
pub(crate) mod clock;
pub(crate) mod config;
pub(crate) mod connectors;
pub(crate) mod csv_text;
pub(crate) mod exact_json;
pub(crate) mod expr;
pub(crate) mod fault;
pub(crate) mod graph;
pub(crate) mod kernel;
pub(crate) mod runtime;
pub(crate) mod serve;
pub(crate) mod sim;
pub(crate) mod sinks;
pub(crate) mod sources;
pub(crate) mod state;
pub(crate) mod stdout;
pub(crate) mod tables;
pub(crate) mod telemetry;
pub(crate) mod testing;
pub(crate) mod transforms;
