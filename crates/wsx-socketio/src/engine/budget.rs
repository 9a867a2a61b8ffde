//! A polling session's queue counted against the server's memory budget: when the budget
//! needs memory back and this queue is among the largest, the session is closed as a slow
//! consumer.

use std::sync::{Arc, Weak};
use std::task::{Wake, Waker};

use super::session::{CloseReason, Session};

/// The account of one session's polling queue.
pub(crate) struct QueueAccount {
    account: wsx::MemoryAccount,
    on_evict: Waker,
}

/// Closes the session when the budget evicts it, from a task of its own (the budget wakes
/// it from wherever memory was counted, possibly under the session's lock).
struct Evictor(Weak<Session>);

impl Wake for Evictor {
    fn wake(self: Arc<Self>) {
        let Some(session) = self.0.upgrade() else {
            return;
        };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            tracing::debug!(
                sid = session.sid(),
                "memory budget: closing a polling session"
            );
            rt.spawn(async move { session.close(CloseReason::SlowConsumer) });
        }
    }
}

impl QueueAccount {
    pub(crate) fn new(budget: &wsx::MemoryBudget, session: Weak<Session>) -> Box<Self> {
        Box::new(QueueAccount {
            account: budget.account(),
            on_evict: Waker::from(Arc::new(Evictor(session))),
        })
    }

    /// Counts `queued` bytes.
    pub(crate) fn settle(&mut self, queued: usize) {
        self.account.settle(queued, &self.on_evict);
    }
}
