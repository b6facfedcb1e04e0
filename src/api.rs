//! The library's public surface: everything else in the crate is `pub(crate)`, so that the compiler
//! sees what is unused. It holds what the `weir` binary, the integration tests (`tests/it/`) and the
//! expression benchmarks (`examples/`) use — and therefore what a program embedding Weir would use:
//!
//! - **the command line**: [`cli_main`], all that `src/main.rs` calls;
//! - **pipelines**: load files or folders ([`load_paths`], [`load_paths_partial`]), compile them into
//!   a [`Plan`] ([`compile`]), every config error reported in [`Diagnostics`] with its position; the JSON Schemas
//!   of the files ([`pipeline_schema`], [`connections_schema`], [`shared_schema`]);
//! - **runs**: [`Execution`] started with [`RunOptions`], watched through [`Progress`], ending in a
//!   [`RunSummary`];
//! - **metrics**: the process's Prometheus text ([`render_metrics`], served as [`METRICS_CONTENT_TYPE`]);
//! - **state**: the [`StateStore`] trait and its SQLite implementation [`SqliteStore`], with the types
//!   its methods take and return that the tests read;
//! - **webhooks**: a pipeline's [`WebhookIngress`] ([`webhook_ingress`]), which a server hands each
//!   [`WebhookRequest`] to its hook and answers with the [`IngressAnswer`];
//! - **components written outside the crate**: a [`Source`] (run with a [`SourceContext`] and the
//!   fused steps' [`Chain`], emitting [`Input`]s through an [`Emitter`], hearing outcomes through an
//!   [`AckListener`], keeping a [`Resumable`] position) and a [`Sink`] (optionally with
//!   [`ConcurrentWrites`]), put into a compiled [`Plan`] in place of the configured ones;
//! - **expressions**: [`JsonPath`] and the [`TemplateEngine`], for the RFC 9535 suite and the
//!   expression benchmarks.
//!
//! It is one flat module rather than the crate's internal tree (`assemble::load`, `graph::plan`,
//! `runtime::executor`, …) so that those modules can be reshaped without breaking its users, and so that
//! widening it is a visible, deliberate change: anything re-exported here, and every `pub` item reachable
//! from it (fields, methods, the types in their signatures), counts as used.

pub use crate::assemble::load::{LoadedPipeline, load_paths, load_paths_partial};
pub use crate::assemble::schema::{connections_schema, pipeline_schema, shared_schema};
pub use crate::assemble::webhook::webhook_ingress;
pub use crate::cli::main as cli_main;
pub use crate::config::diagnostic::Diagnostics;
pub use crate::expr::jsonpath::JsonPath;
pub use crate::expr::template::{RenderContext, TemplateEngine, TemplateOptions};
pub use crate::graph::plan::{Plan, compile};
pub use crate::kernel::ack::{AckListener, InputEnd, InputPosition, Outcome};
pub use crate::kernel::channel::Batch;
pub use crate::kernel::checkpoint::{Acknowledged, Resumable};
pub use crate::kernel::fused::Chain;
pub use crate::kernel::record::Record;
pub use crate::kernel::stats::RunSummary;
pub use crate::runtime::executor::{Execution, RunOptions};
pub use crate::runtime::sources::Progress;
pub use crate::sinks::concurrent::{ConcurrentWrites, WriteFuture, WriteOutcome};
pub use crate::sinks::{RecordRejection, Sink, SinkError};
pub use crate::sources::emit::{Emitter, Input};
pub use crate::sources::webhook::ingress::{AnswerKind, IngressAnswer, IngressCounts, WebhookIngress, WebhookRequest};
pub use crate::sources::{Source, SourceContext, SourceError, SourceRun};
pub use crate::state::sqlite::SqliteStore;
pub use crate::state::{
    Acceptance, AuditEntry, EventInbox, EventOutcome, EventStatus, InboxEvent, IntentId, NewEvent, OutcomeKind,
    PriorIntent, Settlement, StateError, StateStore,
};
pub use crate::tables::Tables;
pub use crate::telemetry::exposition::{CONTENT_TYPE as METRICS_CONTENT_TYPE, render as render_metrics};
pub use crate::testing::test_schema;
