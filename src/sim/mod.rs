//! Simulators of the systems Weir talks to, served over HTTP so that Weir's HTTP tests run against
//! something that answers like the real system, traps included (`weir sim commerce`, `weir sim erp`),
//! and what they share: the server whose connections can be reset, the request log, the faults.

pub(crate) mod commerce;
mod control;
pub(crate) mod erp;
pub(crate) mod faults;
mod respond;
pub(crate) mod server;

use std::sync::{Mutex, PoisonError};

/// Locks a mutex, taking the data of one a panicking holder left behind.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
