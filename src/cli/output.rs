//! What the command line writes and how: standard output that may be a closed pipe (`weir … | head`
//! ends quietly, exit 0, as with ripgrep), whether tables cut long text, and whether stderr gets ANSI
//! colours.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether tables cut long text to fit a line (see [`set_table_width`]).
static CUT_LONG_TEXT: AtomicBool = AtomicBool::new(true);

/// Tables cut long cells with `…` only for a person reading a terminal: not with `--wide`, and not when
/// standard output is a pipe or a file (scripts and `grep` get whole text).
pub(crate) fn set_table_width(wide: bool) {
    CUT_LONG_TEXT.store(!wide && std::io::stdout().is_terminal(), Ordering::Relaxed);
}

/// `text` on one line (control characters as spaces), cut to `max` characters with `…` when tables are
/// cut ([`set_table_width`]).
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if CUT_LONG_TEXT.load(Ordering::Relaxed) && flat.chars().count() > max {
        format!("{}…", flat.chars().take(max - 1).collect::<String>())
    } else {
        flat
    }
}

/// Writes `text` to standard output. A closed pipe is an error of kind `BrokenPipe`, which `main`
/// turns into a quiet exit 0 ([`is_closed_pipe`]).
pub(crate) fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// [`print`] with a newline.
pub(crate) fn print_line(text: &str) -> std::io::Result<()> {
    print(&format!("{text}\n"))
}

/// True when the error is standard output closed by its reader.
pub(crate) fn is_closed_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}

/// Colours on stderr: `CLICOLOR_FORCE` (not `0`) forces them, `NO_COLOR` (not empty) turns them off,
/// else only when stderr is a terminal.
pub(crate) fn stderr_colors() -> bool {
    colors(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()), std::io::stderr().is_terminal())
}

fn colors(var: impl Fn(&str) -> Option<String>, terminal: bool) -> bool {
    if var("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0") {
        return true;
    }
    if var("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    terminal
}

#[cfg(test)]
mod tests {
    use super::colors;

    #[test]
    fn colour_follows_no_color_clicolor_force_and_the_terminal() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_string())
        };
        assert!(colors(env(&[]), true));
        assert!(!colors(env(&[]), false), "not a terminal: no colours");
        assert!(!colors(env(&[("NO_COLOR", "1")]), true));
        assert!(colors(env(&[("NO_COLOR", "")]), true), "an empty NO_COLOR is unset");
        assert!(colors(env(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]), false));
        assert!(!colors(env(&[("CLICOLOR_FORCE", "0")]), false));
    }
}
