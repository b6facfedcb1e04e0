//! Group commit for the state file: each write commits without waiting for the disk
//! (`synchronous = NORMAL`), then waits until the write-ahead log is flushed through its commit, and
//! one flush serves every commit made before it began. A commit is thus on disk when its call returns,
//! as with `synchronous = FULL`, but writers committing together share one flush (~2 ms here) instead
//! of queueing one each — what lets the webhook ingress and idempotent sinks commit hundreds of times a
//! second.
//!
//! Why it holds: SQLite appends each commit's frames to the WAL file with `write()` before the commit
//! returns, and the WAL only grows or restarts from its start between a checkpoint and the next write
//! (both done by SQLite under the write lock, and a checkpoint flushes the WAL itself). A flush of the
//! file therefore makes every commit written before it durable. Commits are numbered under the
//! connection's lock, after they are written, so "flushed through N" covers commits 1..=N.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::state::{StateError, StateResult};

/// What makes the log durable: flushes the WAL file (the real one), or a stand-in in tests.
pub(super) trait Flush: Send + Sync + std::fmt::Debug {
    /// Makes everything written to the log so far durable.
    fn flush(&self) -> std::io::Result<()>;
}

/// Flushes the WAL file at its path (`state.db-wal`), opened for each flush: SQLite may recreate the
/// file between two commits, and an open descriptor would keep flushing the old one.
#[derive(Debug)]
pub(super) struct WalFile(pub(super) PathBuf);

impl Flush for WalFile {
    fn flush(&self) -> std::io::Result<()> {
        match std::fs::File::open(&self.0) {
            Ok(file) => file.sync_data(),
            // No log (yet): nothing was written through it; SQLite flushes the database itself.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[derive(Debug, Default)]
struct Progress {
    /// Every commit numbered up to this one is on disk.
    flushed: u64,
    /// A flush is under way (by one of the waiting writers).
    flushing: bool,
    /// Writers waiting for a flush.
    waiting: usize,
    /// Why a flush failed. After a failed `fsync` the kernel may have dropped the unwritten pages and
    /// report the next one as a success, so nothing written since the last good flush can be trusted
    /// to be on disk: every later wait fails too, until the store is opened again (as PostgreSQL
    /// stops on such a failure).
    failed: Option<String>,
}

/// Numbers commits and flushes the log for them in groups.
#[derive(Debug)]
pub(super) struct GroupSync {
    flush: Option<Box<dyn Flush>>,
    /// Commits numbered so far (incremented under the connection's lock, once a commit is written).
    committed: AtomicU64,
    progress: Mutex<Progress>,
    flushed: Condvar,
    /// Flushes made (read by the tests: a group shares one).
    flushes: AtomicU64,
}

impl GroupSync {
    /// Group commit through `flush`; `None` for a store that has no file (in memory): nothing to wait for.
    pub(super) fn new(flush: Option<Box<dyn Flush>>) -> GroupSync {
        GroupSync {
            flush,
            committed: AtomicU64::new(0),
            progress: Mutex::default(),
            flushed: Condvar::new(),
            flushes: AtomicU64::new(0),
        }
    }

    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Numbers a commit that has just been written. Call it while still holding the connection's lock,
    /// so that numbers follow the order commits reach the log.
    pub(super) fn committed(&self) -> u64 {
        self.committed.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Returns once commit `number` is on disk: at once when a flush since covered it, else after the
    /// next flush — made by this caller when no other is under way, otherwise waited for. After a
    /// failed flush every commit not covered before it fails, now and later (see [`Progress::failed`]).
    pub(super) fn wait_durable(&self, number: u64) -> StateResult<()> {
        let Some(flush) = &self.flush else { return Ok(()) };
        let mut progress = self.progress();
        loop {
            if progress.flushed >= number {
                return Ok(());
            }
            if let Some(why) = &progress.failed {
                return Err(StateError::Other {
                    message: format!(
                        "cannot flush the state file's log to disk ({why}); what was written since the \
                         last flush may be lost: restart Weir to read the state file again"
                    ),
                    retryable: false,
                });
            }
            if !progress.flushing {
                progress.flushing = true;
                // Every commit numbered so far has been written: one flush covers them all.
                let through = self.committed.load(Ordering::SeqCst);
                drop(progress);
                let flushed = flush.flush();
                self.flushes.fetch_add(1, Ordering::Relaxed);
                progress = self.progress();
                progress.flushing = false;
                match flushed {
                    Ok(()) => progress.flushed = progress.flushed.max(through),
                    Err(e) => progress.failed = Some(e.to_string()),
                }
                self.flushed.notify_all();
                continue;
            }
            progress.waiting += 1;
            progress = self.flushed.wait(progress).unwrap_or_else(|e| e.into_inner());
            progress.waiting -= 1;
        }
    }

    /// Flushes made so far.
    #[cfg(test)]
    pub(super) fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// Writers waiting for a flush now.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.progress().waiting
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::mpsc;

    use super::*;

    /// A flush that reports each start and waits to be released, so a test decides what overlaps.
    #[derive(Debug)]
    struct Gate {
        started: Mutex<mpsc::Sender<()>>,
        release: Mutex<mpsc::Receiver<std::io::Result<()>>>,
    }

    impl Flush for Gate {
        fn flush(&self) -> std::io::Result<()> {
            self.started.lock().expect("lock").send(()).expect("the test listens");
            self.release.lock().expect("lock").recv().expect("the test releases")
        }
    }

    fn gated() -> (Arc<GroupSync>, mpsc::Receiver<()>, mpsc::Sender<std::io::Result<()>>) {
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel();
        let gate = Gate { started: Mutex::new(started_tx), release: Mutex::new(release_rx) };
        (Arc::new(GroupSync::new(Some(Box::new(gate)))), started, release)
    }

    fn wait_until(what: &str, done: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "timed out waiting until {what}");
            std::thread::yield_now();
        }
    }

    #[test]
    fn commits_made_during_a_flush_share_the_next_one() {
        let (sync, started, release) = gated();
        let first = sync.committed();
        let leader = {
            let sync = Arc::clone(&sync);
            std::thread::spawn(move || sync.wait_durable(first))
        };
        started.recv().expect("the first flush starts");
        // Two more commits while that flush runs: it may not cover them, so they wait.
        let followers: Vec<_> = (0..2)
            .map(|_| {
                let number = sync.committed();
                let sync = Arc::clone(&sync);
                std::thread::spawn(move || sync.wait_durable(number))
            })
            .collect();
        wait_until("both later commits wait", || sync.waiting() == 2);
        release.send(Ok(())).expect("release the first flush");
        leader.join().expect("joined").expect("the first commit is durable");
        // One of the two makes the second flush, for both.
        started.recv().expect("a second flush starts");
        release.send(Ok(())).expect("release the second flush");
        for follower in followers {
            follower.join().expect("joined").expect("durable");
        }
        assert_eq!(sync.flushes(), 2, "three commits, two flushes");
        // Covered already: no flush at all.
        sync.wait_durable(3).expect("durable");
        assert_eq!(sync.flushes(), 2);
    }

    #[test]
    fn after_a_failed_flush_no_later_commit_is_called_durable() {
        let (sync, started, release) = gated();
        let first = sync.committed();
        let leader = {
            let sync = Arc::clone(&sync);
            std::thread::spawn(move || sync.wait_durable(first))
        };
        started.recv().expect("the flush starts");
        let second = sync.committed();
        let follower = {
            let sync = Arc::clone(&sync);
            std::thread::spawn(move || sync.wait_durable(second))
        };
        wait_until("the second commit waits", || sync.waiting() == 1);
        release.send(Err(std::io::Error::other("EIO"))).expect("fail the flush");
        let failed = leader.join().expect("joined").expect_err("not durable");
        assert!(failed.to_string().contains("EIO") && failed.to_string().contains("restart"), "{failed}");
        assert!(!failed.is_retryable());
        // The waiting writer and any later one fail too, without another flush that could "succeed"
        // over pages the kernel dropped.
        follower.join().expect("joined").expect_err("not durable either");
        let later = sync.committed();
        sync.wait_durable(later).expect_err("nor a later commit");
        assert_eq!(sync.flushes(), 1);
        assert!(started.try_recv().is_err(), "no second flush");
    }

    #[test]
    fn each_write_of_a_state_file_waits_for_a_flush_and_reads_do_not() {
        use crate::state::StateStore;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::state::sqlite::SqliteStore::open(&dir.path().join("state.db")).expect("open");
        let before = store.sync.flushes();
        store.put_id("order:1", "erp_id", &serde_json::json!(42)).expect("written");
        assert_eq!(store.sync.flushes(), before + 1, "the write waited for its flush");
        assert_eq!(store.ids("order:1").expect("read")["erp_id"], 42);
        assert_eq!(store.sync.flushes(), before + 1, "a read flushes nothing");
        // Writers together: every write is there, with at most one flush each.
        let store = Arc::new(store);
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    for i in 0..25 {
                        store.put_id(&format!("order:{t}-{i}"), "n", &serde_json::json!(i)).expect("written");
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().expect("joined");
        }
        assert!(store.sync.flushes() <= before + 101);
        for t in 0..4 {
            assert_eq!(store.ids(&format!("order:{t}-24")).expect("read")["n"], 24);
        }
        let memory = crate::state::sqlite::SqliteStore::open_in_memory().expect("memory");
        memory.put_id("k", "n", &serde_json::json!(1)).expect("written");
        assert_eq!(memory.sync.flushes(), 0, "nothing to flush in memory");
    }

    #[test]
    fn a_store_without_a_file_never_waits() {
        let sync = GroupSync::new(None);
        let n = sync.committed();
        sync.wait_durable(n).expect("nothing to flush");
        assert_eq!(sync.flushes(), 0);
    }
}
