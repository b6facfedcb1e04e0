//! The command line's subcommands beyond validation: running pipelines (`run`) and the state
//! commands (`dlq`, `runs`, `trace`). `main.rs` parses arguments and dispatches here.

pub(crate) mod checks;
pub(crate) mod init;
pub(crate) mod output;
pub(crate) mod run;
pub(crate) mod state;
