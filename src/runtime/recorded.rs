//! The state-store bookkeeping around one run of one pipeline, shared by `weir run` and `weir serve`:
//! before it, the pipeline's lease and the run's start in the history; after it, the run's end with
//! its counters, and the retention rules applied to the audit log and run history.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::kernel::stats::RunSummary;
use crate::state::session::RunSession;
use crate::state::{RetentionConfig, StateError, StateStore, apply_retention};

/// Takes the pipeline's lease and records the run's start (`trigger`: `cli`, `schedule`, `event`, …).
/// `stop` is set if the lease is lost while running. Fails with [`StateError::LeaseHeld`] when another
/// process runs the pipeline.
pub(crate) async fn begin(
    store: &Arc<dyn StateStore>,
    pipeline: &str,
    trigger: &str,
    stop: &Arc<AtomicBool>,
) -> Result<RunSession, StateError> {
    let (store, pipeline, trigger, stop) =
        (Arc::clone(store), pipeline.to_string(), trigger.to_string(), Arc::clone(stop));
    tokio::task::spawn_blocking(move || RunSession::begin(store, &pipeline, &trigger, stop)).await.unwrap_or_else(|e| {
        Err(StateError::Other { message: format!("the run's start was not recorded: {e}"), retryable: true })
    })
}

/// Records the run's end (releasing the lease), then prunes the pipeline's history by its retention.
/// Each failure is logged, not returned: the run itself is over and its outcome is `summary`'s.
pub(crate) async fn end(
    store: &Arc<dyn StateStore>,
    session: RunSession,
    summary: &RunSummary,
    retention: &RetentionConfig,
) {
    let pipeline = summary.pipeline.clone();
    let ended = summary.clone();
    let recorded = tokio::task::spawn_blocking(move || ended.record_in(session)).await;
    let recorded = recorded.unwrap_or_else(|e| Err(StateError::Other { message: e.to_string(), retryable: true }));
    if let Err(e) = recorded {
        tracing::warn!(pipeline = %pipeline, "cannot record the run's end: {e}");
    }
    let (store, retention, name) = (Arc::clone(store), retention.clone(), pipeline.clone());
    let pruned = tokio::task::spawn_blocking(move || apply_retention(&*store, &name, &retention)).await;
    match pruned {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(pipeline = %pipeline, "cannot prune the audit log and run history: {e}"),
        Err(e) => tracing::warn!(pipeline = %pipeline, "cannot prune the audit log and run history: {e}"),
    }
}
