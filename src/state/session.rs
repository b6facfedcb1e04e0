//! One run of one pipeline against the state store: take the pipeline's lease (and keep renewing it
//! while the run lasts), record the run's start, and at the end its outcome and counters, then let the
//! lease go.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{LeaseHolder, RunStatus, StateResult, StateStore};

/// How long a lease lasts unless renewed; renewed at a third of it. A holder that dies on this host
/// is taken over at once (see [`super::lease`]); one on another host after this long.
pub(crate) const LEASE_TTL: Duration = Duration::from_secs(30);

/// A run in progress.
#[derive(Debug)]
pub(crate) struct RunSession {
    store: Arc<dyn StateStore>,
    pipeline: String,
    holder: LeaseHolder,
    run_id: i64,
    renewal: Option<(Arc<DoneSignal>, JoinHandle<()>)>,
    /// Set once `finish` let the lease go.
    released: bool,
}

/// Set (and notified) when the run ends, to stop the renewal thread.
type DoneSignal = (Mutex<bool>, Condvar);

impl RunSession {
    /// Takes the pipeline's lease (failing with [`super::StateError::LeaseHeld`] when another process
    /// has it) and records the run's start. `stop` is set if the lease is lost while running.
    pub(crate) fn begin(
        store: Arc<dyn StateStore>,
        pipeline: &str,
        trigger: &str,
        stop: Arc<AtomicBool>,
    ) -> StateResult<RunSession> {
        let holder = LeaseHolder::this_process();
        store.acquire_lease(pipeline, &holder, LEASE_TTL)?;
        let run_id = match store.start_run(pipeline, trigger) {
            Ok(id) => id,
            Err(e) => {
                let _ = store.release_lease(pipeline, &holder);
                return Err(e);
            }
        };
        let signal: Arc<DoneSignal> = Arc::new((Mutex::new(false), Condvar::new()));
        let renewal = {
            let (store, pipeline, holder, signal) =
                (Arc::clone(&store), pipeline.to_string(), holder.clone(), Arc::clone(&signal));
            std::thread::spawn(move || renew_until_done(&*store, &pipeline, &holder, &signal, &stop))
        };
        Ok(RunSession {
            store,
            pipeline: pipeline.to_string(),
            holder,
            run_id,
            renewal: Some((signal, renewal)),
            released: false,
        })
    }

    /// This run's id.
    pub(crate) fn run_id(&self) -> i64 {
        self.run_id
    }

    /// Records how the run ended (`summary` is the run's summary as JSON, `error` what stopped it) and
    /// releases the lease.
    pub(crate) fn finish(
        mut self,
        status: RunStatus,
        summary: &serde_json::Value,
        error: Option<&str>,
    ) -> StateResult<()> {
        self.stop_renewing();
        // The summary's error can quote config text holding a secret; `weir runs` (another process)
        // does not know the secrets, so they are masked before they are stored.
        let text = crate::config::secrets::redact(&summary.to_string());
        let value = serde_json::from_str(&text).unwrap_or_default();
        let error = error.map(crate::config::secrets::redact);
        let result = self.store.finish_run(self.run_id, status, &value, error.as_deref());
        self.store.release_lease(&self.pipeline, &self.holder)?;
        self.released = true;
        result
    }

    fn stop_renewing(&mut self) {
        if let Some((signal, handle)) = self.renewal.take() {
            *signal.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
            signal.1.notify_all();
            let _ = handle.join();
        }
    }
}

impl Drop for RunSession {
    /// A session dropped without `finish` (an error on the way) still lets the lease go, so that the
    /// next run need not wait for it to expire; the run stays `running` until the next start marks it
    /// interrupted.
    fn drop(&mut self) {
        self.stop_renewing();
        if !self.released {
            let _ = self.store.release_lease(&self.pipeline, &self.holder);
        }
    }
}

fn renew_until_done(
    store: &dyn StateStore,
    pipeline: &str,
    holder: &LeaseHolder,
    signal: &DoneSignal,
    stop: &AtomicBool,
) {
    while !wait_for_done(signal, LEASE_TTL / 3) {
        match store.acquire_lease(pipeline, holder, LEASE_TTL) {
            Ok(()) => {}
            Err(e) if e.is_retryable() => tracing::warn!(pipeline, error = %e, "cannot renew the pipeline's lease yet"),
            Err(e) => {
                tracing::error!(pipeline, error = %e, "lost the pipeline's lease; stopping the run");
                stop.store(true, Ordering::SeqCst);
                return;
            }
        }
    }
}

/// Waits up to `interval` for the run to end; true when it has. The flag is checked under the mutex
/// before waiting (and after each wake-up), so an end signalled before the wait is not missed.
fn wait_for_done(signal: &DoneSignal, interval: Duration) -> bool {
    let done = signal.0.lock().unwrap_or_else(|e| e.into_inner());
    let (done, _) = signal.1.wait_timeout_while(done, interval, |done| !*done).unwrap_or_else(|e| e.into_inner());
    *done
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The end signalled before the renewal thread starts waiting (the race behind runs that stalled
    /// ~10 s at exit) is not missed: the wait returns at once instead of sleeping out its interval.
    #[test]
    fn an_end_signalled_before_the_wait_is_not_missed() {
        let signal: Arc<DoneSignal> = Arc::new((Mutex::new(false), Condvar::new()));
        // The stop is sent (flag set, waiters notified) while nobody waits yet.
        *signal.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        signal.1.notify_all();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = Arc::clone(&signal);
        std::thread::spawn(move || {
            let _ = tx.send(wait_for_done(&waiter, Duration::from_secs(3600)));
        });
        // The wait must return without a notification; a lost wake-up would block for the hour.
        let done = rx.recv_timeout(Duration::from_secs(60));
        assert_eq!(done, Ok(true), "the renewal thread missed a stop sent before it waited");
    }
}
