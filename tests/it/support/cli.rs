//! Runs the `weir` binary the way the CLI tests do: in a folder, with logging off, and without the
//! state path or the fault points of the environment the tests run in.

use std::path::Path;
use std::process::{Command, Output};

/// `weir ARGS` in `dir`, to be given more environment and run.
pub(crate) fn command(args: &[&str], dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
    command.args(args).current_dir(dir).env("WEIR_LOG", "off").env_remove("WEIR_STATE").env_remove("WEIR_FAULT");
    command
}

/// `weir ARGS` run in `dir`.
pub(crate) fn weir(args: &[&str], dir: &Path) -> Output {
    command(args, dir).output().expect("the weir binary runs")
}

/// What a run of the binary ended with: its exit code, standard output and standard error as text.
pub(crate) fn outcome(out: Output) -> (Option<i32>, String, String) {
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
