//! Opening a state file safely. A new file is built aside and linked into place whole, so a file at the
//! state path always holds at least a complete schema: an empty (zero-byte) one was truncated or
//! replaced by something else and is refused. Every open runs SQLite's `quick_check` over the whole
//! file, so damage anywhere — not only in the pages the next query happens to read — stops Weir
//! before it writes on top of it.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::state::{StateError, StateResult};

/// The message for a zero-byte state file.
const EMPTY: &str = "it is empty (0 bytes). Weir never leaves an empty state file behind (a new one is \
                     built aside and moved into place whole), so it was truncated or replaced; starting \
                     over would read every source again and forget the id map and the ledger. Restore it \
                     from a backup, or delete it to start with empty state on purpose";

/// Makes sure `path` is a state file Weir may open: absent → built aside with the full schema and
/// linked into place (without replacing a file another process linked first); present and empty →
/// refused.
pub(super) fn create_or_check_length(path: &Path) -> StateResult<()> {
    let unusable = |message: String| StateError::Unusable { path: path.display().to_string(), message };
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() && meta.len() == 0 => return Err(unusable(EMPTY.into())),
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(unusable(format!("cannot read it: {e}; choose a readable place with --state"))),
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| {
        unusable(format!("cannot create its folder {}: {e}; choose a writable place with --state", dir.display()))
    })?;
    let name = path.file_name().map_or_else(|| "state.db".into(), |n| n.to_string_lossy().into_owned());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let aside = dir.join(format!(".{name}.{}.{nanos}.new", std::process::id()));
    let built = build(&aside, path).and_then(|()| {
        match std::fs::hard_link(&aside, path) {
            Ok(()) => Ok(()),
            // Another process linked its new file first: use that one.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            // A file system without hard links: a rename (which could replace a file linked by another
            // process in the same instant, hence the check first).
            Err(_) if !path.exists() => std::fs::rename(&aside, path)
                .map_err(|e| unusable(format!("cannot create it: {e}; choose a writable place with --state"))),
            Err(_) => Ok(()),
        }
    });
    let _ = std::fs::remove_file(&aside);
    if built.is_ok() {
        // Best effort: the new directory entry survives a power loss.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    built
}

/// Writes a complete, empty state file at `aside` (rollback journal, synchronous commit).
fn build(aside: &Path, path: &Path) -> StateResult<()> {
    let unusable = |message: String| StateError::Unusable { path: path.display().to_string(), message };
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(aside, flags)
        .map_err(|e| unusable(format!("cannot create it: {e}; choose a writable place with --state")))?;
    conn.execute_batch("PRAGMA synchronous = FULL;").map_err(|e| unusable(e.to_string()))?;
    super::migrate(&mut conn, path)?;
    conn.close().map_err(|(_, e)| unusable(e.to_string()))
}

/// Runs `PRAGMA quick_check` (every page and b-tree of the file, without cross-checking indexes
/// against their tables: about a third of `integrity_check`'s time); the first problem found, if any.
pub(super) fn quick_check(conn: &Connection) -> rusqlite::Result<Option<String>> {
    let first: String = conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0))?;
    Ok((first != "ok").then_some(first))
}

/// The message for a file `quick_check` found damaged.
pub(super) fn damaged(problem: &str) -> String {
    format!(
        "it is damaged (SQLite's quick_check found: {problem}); Weir will not run on a damaged state file. \
         Restore it from a backup, or move it away to start with empty state (every source is read again \
         from the start)"
    )
}
