//! Watching a run from outside (`weir test`): what each step passed on, filtered and rejected, and
//! what each sink received. Off (`None`) in normal runs; nothing in the hot path pays for it then.

use super::record::Record;

/// Told what went through each node of a run. Called on the threads that move the records, so an
/// implementation keeps its work short (a copy under a lock).
pub trait Tap: Send + Sync + std::fmt::Debug {
    /// Step `step` routed one call's output: `passed` go downstream, `filtered` were dropped on
    /// purpose (a filter, `on_error: drop`), `rejected` were dead-lettered or failed the run.
    fn step(&self, step: &str, passed: &[Record], filtered: u64, rejected: usize);
    /// Sink `sink` received `batch` (before writing it).
    fn sink(&self, sink: &str, batch: &[Record]);
}
