//! A polling session's queue counted against the server's memory budget: when the budget
//! needs memory back and this queue is among the largest, the waker given at creation is
//! woken (the session closes itself as a slow consumer).

use std::task::Waker;

/// The account of one session's polling queue.
pub(crate) struct QueueAccount {
    account: wsx::MemoryAccount,
    on_evict: Waker,
}

impl QueueAccount {
    pub(crate) fn new(budget: &wsx::MemoryBudget, on_evict: Waker) -> Box<Self> {
        Box::new(QueueAccount {
            account: budget.account(),
            on_evict,
        })
    }

    /// Counts `queued` bytes.
    pub(crate) fn settle(&mut self, queued: usize) {
        self.account.settle(queued, &self.on_evict);
    }
}
