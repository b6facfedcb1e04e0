//! Wake-ups within one process: the ingress tells a following source that a pipeline has a new event,
//! and the source tells waiting `reply: sync` answers that outcomes were recorded. They are hints
//! only — whoever wakes reads the state store, and also looks on its own every
//! [`POLL`], so that events accepted or settled by another process are seen too.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use tokio::sync::watch;

/// How often a waiter looks at the state store without being woken.
pub(super) const POLL: Duration = Duration::from_millis(500);

/// One channel per pipeline name; the value only counts changes.
static CHANNELS: LazyLock<Mutex<HashMap<String, watch::Sender<u64>>>> = LazyLock::new(Default::default);

fn sender(pipeline: &str) -> watch::Sender<u64> {
    let mut channels = CHANNELS.lock().unwrap_or_else(|e| e.into_inner());
    channels.entry(pipeline.to_string()).or_insert_with(|| watch::channel(0).0).clone()
}

/// Wakes every waiter of `pipeline`.
pub(super) fn notify(pipeline: &str) {
    sender(pipeline).send_modify(|n| *n = n.wrapping_add(1));
}

/// A receiver woken by every later [`notify`] of `pipeline`: take it before reading the state store,
/// then wait on it, and no change between the two is missed.
pub(super) fn subscribe(pipeline: &str) -> watch::Receiver<u64> {
    sender(pipeline).subscribe()
}

/// Waits until `rx` is woken or [`POLL`] (at most `limit`) has passed.
pub(super) async fn wait(rx: &mut watch::Receiver<u64>, limit: Duration) {
    let _ = tokio::time::timeout(POLL.min(limit), rx.changed()).await;
}
