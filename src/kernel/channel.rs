//! Bounded channels of batches between components, and fan-out: a component with several downstream
//! readers sends each a copy (the last one gets the original, so the common single-reader case copies
//! nothing). Bounded capacity is what makes a slow sink slow down the source.

use tokio::sync::mpsc::error::SendError;
use tokio::sync::mpsc::{Receiver, Sender, channel};

use crate::kernel::record::Record;

/// A batch of records.
pub type Batch = Vec<Record>;

/// A bounded channel of batches.
pub(crate) fn batch_channel(capacity: usize) -> (Sender<Batch>, Receiver<Batch>) {
    channel(capacity.max(1))
}

/// The readers of one component's output.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outputs {
    senders: Vec<Sender<Batch>>,
}

impl Outputs {
    /// Sends to these readers.
    pub(crate) fn new(senders: Vec<Sender<Batch>>) -> Self {
        Self { senders }
    }

    /// The readers of several outputs together.
    pub(crate) fn merge(outputs: Vec<Outputs>) -> Self {
        Self { senders: outputs.into_iter().flat_map(|o| o.senders).collect() }
    }

    /// Sends a batch to every reader, waiting while a reader is full. False when every reader is gone.
    pub(crate) async fn send(&self, batch: Batch) -> bool {
        if batch.is_empty() {
            return true;
        }
        let Some((last, rest)) = self.senders.split_last() else { return false };
        let mut any = false;
        for s in rest {
            any |= delivered_to_reader(s.send(batch.clone()).await);
        }
        any | delivered_to_reader(last.send(batch).await)
    }

    /// [`Outputs::send`] from a blocking thread.
    pub(crate) fn blocking_send(&self, batch: Batch) -> bool {
        if batch.is_empty() {
            return true;
        }
        let Some((last, rest)) = self.senders.split_last() else { return false };
        let mut any = false;
        for s in rest {
            any |= delivered_to_reader(s.blocking_send(batch.clone()));
        }
        any | delivered_to_reader(last.blocking_send(batch))
    }
}

/// True when the reader took the batch; a batch its reader is gone for leaves its inputs unacknowledged
/// (other readers may have taken their copies).
fn delivered_to_reader(sent: Result<(), SendError<Batch>>) -> bool {
    match sent {
        Ok(()) => true,
        Err(SendError(batch)) => {
            batch.iter().for_each(Record::mark_unacknowledged);
            false
        }
    }
}
