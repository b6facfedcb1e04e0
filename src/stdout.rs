//! Writing lines to standard output, and remembering when its reader went away (`weir run … | head`):
//! shared by the `stdout` sink, dry runs and printed dead letters.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write found standard output closed by its reader.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// True once a write to standard output found it closed by its reader (`weir run … | head`): the
/// command line then ends the run quietly instead of reporting a failure.
pub(crate) fn stdout_closed() -> bool {
    CLOSED.load(Ordering::SeqCst)
}

/// Remembers that a write found standard output closed ([`stdout_closed`]).
pub(crate) fn remember_closed() {
    CLOSED.store(true, Ordering::SeqCst);
}

/// Writes one line to standard output; a closed pipe is remembered ([`stdout_closed`]).
pub(crate) fn print_line(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let written = writeln!(out, "{text}").and_then(|()| out.flush());
    if let Err(e) = &written
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        CLOSED.store(true, Ordering::SeqCst);
    }
    written
}
