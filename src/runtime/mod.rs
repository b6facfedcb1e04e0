//! Running a built pipeline: the executor wires one task per node with bounded channels, runs the
//! sinks and steps (`tasks`), and replays dead letters (`replay`); `recorded` keeps the run history and lease around a run. What the components themselves use
//! (records, acknowledgements, batches, counters, dead letters, checkpoints) is in `kernel`.

mod concurrent_sink;
pub(crate) mod executor;
pub(crate) mod recorded;
pub(crate) mod replay;
mod sink_env;
pub(crate) mod sources;
mod tasks;
