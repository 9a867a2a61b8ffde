//! What the publisher and the subscribers of `--fanout` share: a ring of the broadcasts in
//! flight, with when each was sent and how many subscribers have it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::Notify;

/// Broadcasts tracked at once; `--pipeline` may be at most half of it.
pub const RING: usize = 1024;

/// What the publisher and the subscribers share.
#[derive(Debug)]
pub struct Fanout {
    pub(super) subscribers: u64,
    /// Subscribers that have received broadcast `s`, at `s % RING`.
    pub(super) received: Box<[AtomicU64]>,
    /// When broadcast `s` was sent (ns since the plan's start), at `s % RING`.
    pub(super) sent_at: Box<[AtomicU64]>,
    /// Broadcasts every subscriber has received (they complete in order).
    pub(super) completed: AtomicU64,
    /// Broadcasts sent.
    pub(super) published: AtomicU64,
    /// The publisher has sent its last broadcast.
    pub(super) done: AtomicBool,
    /// A broadcast completed (wakes the publisher; a permit is kept if it was not waiting).
    pub(super) completion: Notify,
}

impl Fanout {
    /// For `subscribers` receiving connections.
    pub fn new(subscribers: u64) -> Self {
        let ring = || (0..RING).map(|_| AtomicU64::new(0)).collect();
        Self {
            subscribers,
            received: ring(),
            sent_at: ring(),
            completed: AtomicU64::new(0),
            published: AtomicU64::new(0),
            done: AtomicBool::new(false),
            completion: Notify::new(),
        }
    }

    /// Whether the publisher is done and broadcast `next` is past the last it sent.
    pub(super) fn finished(&self, next: u64) -> bool {
        self.done.load(Ordering::Acquire) && next >= self.published.load(Ordering::Acquire)
    }
}
