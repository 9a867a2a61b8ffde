//! The count of connections open or handshaking, which `max_connections` bounds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One connection counted in a server's active connections, until dropped.
pub(crate) struct ActiveGuard(Arc<AtomicUsize>);

impl ActiveGuard {
    /// Counts one more connection in `active`.
    pub(crate) fn new(active: &Arc<AtomicUsize>) -> Self {
        active.fetch_add(1, Ordering::AcqRel);
        Self(active.clone())
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
