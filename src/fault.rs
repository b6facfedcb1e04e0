//! Fault injection, **for tests only**: `WEIR_FAULT=POINT:N` makes the process abort
//! (`std::process::abort`, no cleanup, like a crash) the N-th time (1-based) it passes the named point.
//! Several points may be given, separated by `,` (`after_intent:10,after_call:20`).
//!
//! Points:
//! - `after_intent`: an idempotent sink has durably recorded its intent for a record and has not sent
//!   the create request yet;
//! - `after_call`: an idempotent sink has received the target's answer to a create request and has not
//!   recorded the outcome yet;
//! - `file_batch_written`: a file sink has written and flushed a batch and has not recorded it for the
//!   checkpoint yet (its bytes are in the file, no checkpoint knows them);
//! - `checkpoint_saved`: a checkpoint (with the committed lengths of file outputs) was just written.
//!
//! `WEIR_CHECKPOINT_INTERVAL_MS=N`, also for tests only, saves checkpoints every N ms instead of every
//! second, so that a short run commits many times.
//!
//! Without the variable every point costs one relaxed atomic load.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that arms fault points.
pub(crate) const ENV: &str = "WEIR_FAULT";

/// Armed points: name → (abort at this hit, hits so far).
fn armed() -> &'static HashMap<String, (u64, AtomicU64)> {
    static ARMED: OnceLock<HashMap<String, (u64, AtomicU64)>> = OnceLock::new();
    ARMED.get_or_init(|| std::env::var(ENV).map(|spec| parse(&spec)).unwrap_or_default())
}

fn parse(spec: &str) -> HashMap<String, (u64, AtomicU64)> {
    spec.split(',')
        .filter_map(|part| {
            let (name, n) = part.trim().split_once(':')?;
            let n = n.trim().parse::<u64>().ok().filter(|n| *n > 0)?;
            Some((name.trim().to_string(), (n, AtomicU64::new(0))))
        })
        .collect()
}

/// How often checkpoints are saved while a run lasts: every second, or as `WEIR_CHECKPOINT_INTERVAL_MS`
/// says (tests).
pub(crate) fn checkpoint_interval() -> std::time::Duration {
    let ms = std::env::var("WEIR_CHECKPOINT_INTERVAL_MS").ok().and_then(|v| v.parse::<u64>().ok());
    std::time::Duration::from_millis(ms.filter(|ms| *ms > 0).unwrap_or(1000))
}

/// Passes the fault point `name`: aborts the process when `WEIR_FAULT` armed it for this hit.
pub(crate) fn point(name: &str) {
    let armed = armed();
    if armed.is_empty() {
        return;
    }
    if let Some((at, hits)) = armed.get(name)
        && hits.fetch_add(1, Ordering::SeqCst) + 1 == *at
    {
        eprintln!("{ENV}: aborting at `{name}` (hit {at})");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_points_and_ignores_garbage() {
        let armed = parse("after_intent:3, after_call:10,bad,zero:0,x:y");
        assert_eq!(armed.len(), 2);
        assert_eq!(armed["after_intent"].0, 3);
        assert_eq!(armed["after_call"].0, 10);
    }
}
