//! The kernel: what every component uses and the runtime drives — records and what to do with rejected
//! ones (`record`), building components (`build`: `BuildContext`, `BuildErrors`), acknowledgements
//! (`ack`), batches and channels (`channel`), counters and the run summary (`stats`), the dead-letter
//! output (`dead_letter`), parsing only what is read (`projection`), resumable positions and committed
//! outputs (`checkpoint`), the steps a source runs itself (`fused`), shared request budgets (`rate_limit`), and what a step is (`step`: the
//! `Transform` trait and its `Output`). It knows no component type.

pub mod ack;
pub mod build;
pub mod channel;
pub mod checkpoint;
pub mod dead_letter;
pub mod fused;
pub mod projection;
pub mod rate_limit;
pub mod record;
pub mod stats;
pub mod step;
