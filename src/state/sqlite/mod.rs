//! The embedded state store: one SQLite file (default `.weir/state.db` next to the pipelines) in WAL
//! mode, each write on disk before it returns (group commit, `group_sync`), so every committed
//! checkpoint, intent and dead letter survives a crash or power loss. Opening refuses — with a message that says why — a file from a newer or unknown
//! schema, a corrupt file, or a location Weir cannot write, instead of silently starting over.

mod gauges;
mod group_sync;
mod inbox;
mod leases;
mod open;
mod retention;
mod store;
mod writes;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use self::group_sync::GroupSync;
use super::{StateError, StateResult};

/// `PRAGMA application_id` of Weir state files ("WEIR" in ASCII): tells them from other SQLite files.
const APPLICATION_ID: i32 = 0x5745_4952;

/// Schema migrations, applied in order; `PRAGMA user_version` holds how many have been applied.
/// Never edit a released migration: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE checkpoints (
         pipeline TEXT NOT NULL, source TEXT NOT NULL, position TEXT NOT NULL, updated_at TEXT NOT NULL,
         PRIMARY KEY (pipeline, source));
     CREATE TABLE id_map (
         key TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, updated_at TEXT NOT NULL,
         PRIMARY KEY (key, name));
     CREATE TABLE intents (
         pipeline TEXT NOT NULL, sink TEXT NOT NULL, key TEXT NOT NULL, payload_hash TEXT NOT NULL,
         status TEXT NOT NULL CHECK (status IN ('pending', 'done')), response TEXT,
         attempts INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
         PRIMARY KEY (pipeline, sink, key));
     CREATE TABLE dead_letters (
         id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER, time TEXT NOT NULL, pipeline TEXT NOT NULL,
         step TEXT NOT NULL, key TEXT, error TEXT NOT NULL, attempts INTEGER NOT NULL, record TEXT NOT NULL);
     CREATE INDEX dead_letters_pipeline ON dead_letters (pipeline, id);
     CREATE TABLE runs (
         id INTEGER PRIMARY KEY AUTOINCREMENT, pipeline TEXT NOT NULL, trigger TEXT NOT NULL,
         started_at TEXT NOT NULL, ended_at TEXT, status TEXT NOT NULL, summary TEXT, error TEXT,
         host TEXT NOT NULL, pid INTEGER NOT NULL);
     CREATE INDEX runs_pipeline ON runs (pipeline, id);
     CREATE TABLE audit (
         id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER, time TEXT NOT NULL, pipeline TEXT NOT NULL,
         key TEXT NOT NULL, component TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT);
     CREATE INDEX audit_key ON audit (key, id);
     CREATE TABLE leases (
         pipeline TEXT PRIMARY KEY, holder TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
         acquired_at TEXT NOT NULL, expires_at_ms INTEGER NOT NULL);",
    // 2: retention prunes a pipeline's audit log oldest first.
    "CREATE INDEX audit_pipeline ON audit (pipeline, id);",
    // 3: a dead letter keeps its record's `parent` (explode); entries are found by key (or, without
    // one, by the record's hash), to count a record failing again as one more attempt and to resolve
    // it once it gets through.
    "ALTER TABLE dead_letters ADD COLUMN parent TEXT;
     ALTER TABLE dead_letters ADD COLUMN record_hash TEXT;
     CREATE INDEX dead_letters_key ON dead_letters (pipeline, key);
     CREATE INDEX dead_letters_record ON dead_letters (pipeline, record_hash);",
    // 4: the webhook inbox (`state::inbox`): accepted events in arrival order, unique by id per
    // pipeline, with their outcome once settled.
    "CREATE TABLE webhook_events (
         seq INTEGER PRIMARY KEY AUTOINCREMENT, pipeline TEXT NOT NULL, event_id TEXT NOT NULL,
         received_at_ms INTEGER NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL, malformed TEXT,
         outcome TEXT CHECK (outcome IN ('delivered', 'filtered', 'dead_lettered')), reason TEXT,
         settled_at TEXT,
         UNIQUE (pipeline, event_id));
     CREATE INDEX webhook_events_pipeline ON webhook_events (pipeline, seq);",
];

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// SQLite-backed [`super::StateStore`].
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// Makes each write durable before it returns, one log flush for the writes made together.
    sync: group_sync::GroupSync,
}

impl SqliteStore {
    /// Opens (creating when absent) the state file and brings its schema up to date. Another process
    /// opening or migrating the same file at that moment is waited for (up to 30 s).
    pub fn open(path: &Path) -> StateResult<SqliteStore> {
        let started = std::time::Instant::now();
        loop {
            match Self::try_open(path) {
                // Switching to WAL mode is not covered by the busy timeout: try again.
                Err(StateError::Busy(_)) if started.elapsed() < Duration::from_secs(30) => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(StateError::Busy(message)) => {
                    return Err(StateError::Unusable { path: path.display().to_string(), message });
                }
                other => return other,
            }
        }
    }

    /// A store in memory, gone when dropped: for test runs (`weir test`), which must leave no state
    /// file behind.
    pub fn open_in_memory() -> StateResult<SqliteStore> {
        let path = Path::new(":memory:");
        let unusable = |message: String| StateError::Unusable { path: path.display().to_string(), message };
        let conn = Connection::open_in_memory().map_err(|e| unusable(e.to_string()))?;
        conn.execute_batch("PRAGMA foreign_keys = ON;").map_err(|e| unusable(e.to_string()))?;
        let store = SqliteStore { path: path.to_path_buf(), conn: Mutex::new(conn), sync: GroupSync::new(None) };
        store.migrate()?;
        Ok(store)
    }

    fn try_open(path: &Path) -> StateResult<SqliteStore> {
        let unusable = |message: String| StateError::Unusable { path: path.display().to_string(), message };
        open::create_or_check_length(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| unusable(format!("cannot open it: {e}; choose a writable place with --state")))?;
        if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
            return Err(unusable("it is read-only; Weir must write checkpoints to it".into()));
        }
        conn.busy_timeout(Duration::from_secs(5)).map_err(|e| unusable(e.to_string()))?;
        let describe = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => unusable(
                "it is not a Weir state file or it is corrupt; Weir will not start over from scratch on \
                 its own — restore it from a backup, or move it away to start with empty state"
                    .into(),
            ),
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => StateError::Busy(e.to_string()),
            Some(ErrorCode::ReadOnly) | Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) => {
                unusable(format!("cannot write to it: {e}; choose a writable place with --state"))
            }
            _ => unusable(e.to_string()),
        };
        // WAL: readers (`weir dlq list`) never block the running pipeline. NORMAL: a commit does not
        // wait for the disk itself; `write` waits for a flush of the log that covers it (group commit),
        // so a write is on disk when it returns, as with FULL, at a fraction of the flushes.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(describe)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(unusable(format!("cannot switch it to WAL mode (got `{mode}`)")));
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;").map_err(describe)?;
        if let Some(problem) = open::quick_check(&conn).map_err(describe)? {
            return Err(unusable(open::damaged(&problem)));
        }
        let wal = group_sync::WalFile(wal_path(path));
        let store =
            SqliteStore { path: path.to_path_buf(), conn: Mutex::new(conn), sync: GroupSync::new(Some(Box::new(wal))) };
        store.migrate().map_err(|e| match e {
            StateError::Other { message, .. } => unusable(message),
            other => other,
        })?;
        Ok(store)
    }

    /// Caps the state file's size (rounded to pages): writes beyond it fail as on a full disk —
    /// [`StateError::Full`], retryable, nothing half-written. `None` lifts the cap. Tests use it to
    /// simulate a full disk; operators can use it to bound a growing dead-letter queue.
    #[cfg(test)]
    pub(crate) fn set_size_limit(&self, max_bytes: Option<u64>) -> StateResult<()> {
        let conn = self.lock();
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).map_err(map_error)?;
        let pages = max_bytes.map_or(i64::from(u32::MAX), |b| (b as i64 / page_size.max(1)).max(1));
        conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(())).map_err(map_error)?;
        Ok(())
    }

    /// The state file's size in bytes (pages in use × page size; the WAL not counted).
    pub(crate) fn size(&self) -> StateResult<u64> {
        let conn = self.lock();
        let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0)).map_err(map_error)?;
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).map_err(map_error)?;
        Ok((pages * page_size).max(0) as u64)
    }

    fn migrate(&self) -> StateResult<()> {
        self.write(|conn| migrate(conn, &self.path))
    }

    /// The connection, for reading. Writes go through [`Self::write`].
    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `write` (one or more commits) on the connection, then returns once what it committed is
    /// on disk. The flush happens after the connection is released, so other writers commit meanwhile
    /// and the next flush covers them all.
    fn write<T>(&self, write: impl FnOnce(&mut Connection) -> StateResult<T>) -> StateResult<T> {
        let (written, number) = {
            let mut conn = self.lock();
            let written = write(&mut conn)?;
            (written, self.sync.committed())
        };
        self.sync.wait_durable(number)?;
        Ok(written)
    }
}

/// The write-ahead log of the state file at `path` (SQLite's name for it).
fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Brings a state file's schema up to date (refusing foreign and newer files).
fn migrate(conn: &mut Connection, path: &Path) -> StateResult<()> {
    let unusable = |message: String| StateError::Unusable { path: path.display().to_string(), message };
    // IMMEDIATE: two processes opening a new file at once must not both apply the migrations; the
    // second waits, then finds them applied.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(map_error)?;
    let app_id: i32 = tx.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(map_error)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(map_error)?;
    let tables: i64 =
        tx.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table'", [], |r| r.get(0)).map_err(map_error)?;
    if app_id != APPLICATION_ID && (tables > 0 || version > 0) {
        return Err(unusable(
            "it is a SQLite file but not a Weir state file (unknown schema); Weir will not write into it".into(),
        ));
    }
    if version > SCHEMA_VERSION {
        return Err(unusable(format!(
            "it was written by a newer Weir (state schema {version}; this build knows up to \
                 {SCHEMA_VERSION}); upgrade Weir, or restore a state file from this version"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql).map_err(map_error)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(map_error)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64).map_err(map_error)?;
    }
    tx.commit().map_err(map_error)
}

/// Maps a SQLite error to a [`StateError`], telling retryable conditions apart.
fn map_error(e: rusqlite::Error) -> StateError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StateError::Full(e.to_string()),
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => StateError::Busy(e.to_string()),
        Some(ErrorCode::SystemIoFailure) | Some(ErrorCode::OutOfMemory) => {
            StateError::Other { message: e.to_string(), retryable: true }
        }
        _ => StateError::Other { message: e.to_string(), retryable: false },
    }
}

#[cfg(test)]
mod tests;
