//! Sinks with several writes in flight: the async side of the sink interface. A sink whose writes are
//! requests (HTTP, a queue, a database) answers [`Sink::concurrent`](super::Sink::concurrent) with its
//! [`ConcurrentWrites`]; the runtime then starts each batch's write as a future, keeps up to
//! [`ConcurrentWrites::max_in_flight`] of them outstanding, and settles each as it completes, in any
//! order. Acknowledgements then complete out of order, which the source's `AckTracker` absorbs: its
//! checkpoint only advances over a contiguous prefix of acknowledged inputs. The runtime also keeps two
//! writes from holding the same record key at once, so updates of one key land in order.

use std::future::Future;
use std::num::{NonZeroU16, NonZeroUsize};
use std::pin::Pin;
use std::sync::Arc;

use super::{RecordRejection, SinkError};
use crate::kernel::channel::Batch;

/// One write in flight: it owns what it needs (a `'static` future, run on the runtime's workers while
/// the sink goes on starting others) and yields its [`WriteOutcome`].
pub type WriteFuture = Pin<Box<dyn Future<Output = WriteOutcome> + Send + 'static>>;

/// What a completed write reports: the records it rejected (by index in the batch, and why), or its
/// failure.
pub type WriteOutcome = Result<Vec<RecordRejection>, FailedWrite>;

/// A write that failed, and what it settled before it did.
#[derive(Debug)]
pub struct FailedWrite {
    /// What went wrong.
    pub(crate) error: SinkError,
    /// How many records at the start of the batch were settled before the failure — written, or
    /// rejected as listed in `rejected` — so that the runtime acknowledges them and only the rest
    /// stays unacknowledged (see [`Sink::settled_before_failure`](super::Sink::settled_before_failure),
    /// its blocking counterpart).
    pub(crate) settled: usize,
    /// Records among the settled ones that were rejected, by index in the batch, and why.
    pub(crate) rejected: Vec<RecordRejection>,
}

impl From<SinkError> for FailedWrite {
    /// A failure that settled nothing: the whole batch stays unacknowledged.
    fn from(error: SinkError) -> Self {
        Self { error, settled: 0, rejected: Vec::new() }
    }
}

/// The writes of a sink that keeps several in flight. The runtime calls [`Sink::open`](super::Sink::open)
/// first and [`Sink::finish`](super::Sink::finish) once every write has been settled, both on the sink's
/// thread, and never calls [`Sink::write`](super::Sink::write) on such a sink.
pub trait ConcurrentWrites: Send {
    /// How many writes may be outstanding at once. Taken once, before the first write.
    fn max_in_flight(&self) -> NonZeroUsize;

    /// Starts writing `batch` and returns the write, to be awaited by the runtime. The batch is shared
    /// with the runtime, which settles its records (audit, dead letters, acknowledgements) once the
    /// write completes: a write must not keep it beyond that. Two batches given to writes that are in
    /// flight together never hold records of the same key; within one batch, records keep their order.
    fn start_write(&mut self, batch: Arc<Batch>) -> WriteFuture;
}

/// `max_in_flight:` — how many writes a sink that supports several keeps outstanding (`http`); `1`
/// writes one batch at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub(crate) struct MaxInFlight(NonZeroU16);

impl MaxInFlight {
    /// The number of writes (serde refuses a `0`: it cannot mean "none").
    pub(crate) fn get(self) -> NonZeroUsize {
        NonZeroUsize::from(self.0)
    }
}

impl Default for MaxInFlight {
    /// One write at a time: what a sink did before it could keep several in flight.
    fn default() -> Self {
        Self(NonZeroU16::MIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_in_flight_is_a_positive_number_one_by_default() {
        let four: MaxInFlight = serde_json::from_value(serde_json::json!(4)).expect("a number");
        assert_eq!(four.get().get(), 4);
        assert!(serde_json::from_value::<MaxInFlight>(serde_json::json!(0)).is_err(), "0 would mean no write");
        assert_eq!(MaxInFlight::default().get().get(), 1);
        assert!(serde_json::from_value::<MaxInFlight>(serde_json::json!("4")).is_err());
        let schema = serde_json::to_value(schemars::schema_for!(MaxInFlight)).expect("schema");
        assert_eq!(schema["minimum"], 1, "{schema}");
    }
}
