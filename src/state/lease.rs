//! Leases: one engine process at a time runs a given pipeline. A lease names its holder (host and pid)
//! and expires unless renewed; a holder on this host whose process is gone is taken over at once, so a
//! restart after a crash does not wait for the expiry.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Who holds (or wants) a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    /// Unique per process run (host, pid and start time).
    pub(crate) id: String,
    /// Host name.
    pub(crate) host: String,
    /// Process id.
    pub(crate) pid: u32,
}

impl LeaseHolder {
    /// The holder identity of this process.
    pub(crate) fn this_process() -> Self {
        let host = host_name();
        let pid = std::process::id();
        static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let n = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        LeaseHolder { id: format!("{host}:{pid}:{started}:{n}"), host, pid }
    }
}

/// A lease held by someone else, as reported to the one who could not get it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseInfo {
    /// The pipeline.
    pub(crate) pipeline: String,
    /// The holder's host.
    pub(crate) host: String,
    /// The holder's process id.
    pub(crate) pid: u32,
    /// When the holder took it (RFC 3339).
    pub(crate) since: String,
    /// Milliseconds until it expires unless renewed.
    pub(crate) expires_in_ms: i64,
}

impl fmt::Display for LeaseInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pipeline `{}` is being run by another Weir process (pid {} on {}, since {}); \
             only one process runs a pipeline at a time — its lease expires in {:.1} s unless renewed",
            self.pipeline,
            self.pid,
            self.host,
            self.since,
            self.expires_in_ms as f64 / 1000.0
        )
    }
}

/// This machine's name, for lease holders.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Whether a process of this host is still alive. Only Linux can tell (`/proc`); elsewhere every
/// holder counts as alive and its lease must expire.
pub(crate) fn process_alive(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    if !proc.join("self").exists() {
        return true;
    }
    match std::fs::read_to_string(proc.join(pid.to_string()).join("stat")) {
        // A zombie (state `Z`) has exited; it only waits for its parent to reap it.
        Ok(stat) => !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_finished_child_is_not() {
        assert!(process_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        assert!(!process_alive(pid));
    }

    #[test]
    fn holders_of_one_process_differ_by_id() {
        let a = LeaseHolder::this_process();
        let b = LeaseHolder::this_process();
        assert_eq!(a.pid, b.pid);
        assert_ne!(a.id, b.id);
    }
}
