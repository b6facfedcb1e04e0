//! The kernel: what every component uses and the runtime drives — records and what to do with rejected
//! ones (`record`), building components (`build`: `BuildContext`, `BuildErrors`), acknowledgements
//! (`ack`), batches and channels (`channel`), counters and the run summary (`stats`), the dead-letter
//! output (`dead_letter`), parsing only what is read (`projection`), resumable positions and committed
//! outputs (`checkpoint`), the steps a source runs itself (`fused`), shared request budgets (`rate_limit`), what a step is (`step`: the
//! `Transform` trait and its `Output`), and watching a run from outside (`tap`) or answering its requests (`mock`), for `weir test`. It knows no component type.

pub(crate) mod ack;
pub(crate) mod build;
pub(crate) mod channel;
pub(crate) mod checkpoint;
pub(crate) mod dead_letter;
pub(crate) mod fused;
pub(crate) mod mock;
pub(crate) mod projection;
pub(crate) mod rate_limit;
pub(crate) mod record;
pub(crate) mod stats;
pub(crate) mod step;
pub(crate) mod tap;

#[cfg(test)]
mod state_faults_tests;
