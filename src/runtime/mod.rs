//! Running a built pipeline: one tokio task per node, bounded channels carrying batches, end-to-end
//! acknowledgements, counters, and graceful shutdown.

pub mod ack;
pub mod channel;
pub mod checkpoint;
pub mod dead_letter;
pub mod executor;
pub mod fused;
pub mod projection;
pub mod replay;
pub mod stats;
mod tasks;
