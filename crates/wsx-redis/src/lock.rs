//! Locking the crate's `std` mutexes: a lock poisoned by a thread that panicked while holding
//! it is taken as it is, rather than panicking in turn.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, poisoned or not.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
