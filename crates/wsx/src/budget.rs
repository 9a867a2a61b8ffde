//! A server-wide memory budget: one figure that bounds what all connections together hold in
//! receive buffers, messages being reassembled or inflated, and send queues.
//!
//! Every connection of a server with a budget has an [`Account`]. After each read, decode,
//! send and write it settles what it holds, in 4 KiB granules: a connection that holds less
//! than a granule (an idle one, or one exchanging small messages) never touches the shared
//! counter, so the budget costs nothing on the common path. What the budget does:
//! - **Near it** (7/8 of the limit), a connection reads from its socket only to finish a frame
//!   or message it has started: the others stop reading until memory is released, and TCP
//!   pushes back on their peers. When what fills the budget is send queues (peers that do not
//!   read), the largest of them are closed, since nothing else would free them.
//! - **Never past it by allocation**: the room left is the most a new frame, fragment or
//!   inflated growth may take ([`wsx_proto::Connection::set_memory_room`]); past it the
//!   connection is failed with 1013 (try again later) before anything is allocated.
//! - **Past it** (send queues grow without asking, and threads race), the connections that
//!   hold the most are closed until the total is back under 7/8: those holding mostly a send
//!   queue are dropped (their peer is not reading, a close frame would not get through),
//!   the others are failed with 1013. Never the process.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Waker};

/// Holdings are counted in these units; below one, a connection is not counted.
pub(crate) const GRANULE: usize = 4096;

/// A memory budget shared by the connections of one or more servers. Cheap to clone.
///
/// ```
/// let budget = wsx::MemoryBudget::new(512 << 20);
/// let server = wsx::Server::builder().memory_budget(budget.clone());
/// # drop(server);
/// assert_eq!(budget.used(), 0);
/// ```
#[derive(Clone)]
pub struct MemoryBudget(Arc<Shared>);

impl std::fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBudget")
            .field("limit", &self.0.limit)
            .field("used", &self.used())
            .finish()
    }
}

struct Shared {
    limit: usize,
    used: AtomicUsize,
    /// The most `used` has been.
    peak: AtomicUsize,
    /// How many connections may take room at the same time (one per thread).
    takers: usize,
    next_id: AtomicU64,
    evictions: AtomicU64,
    holders: Mutex<Holders>,
    /// Readers that stopped at the soft limit, by account, to wake once memory is released
    /// (one waker per connection however often it polls while parked).
    waiting: Mutex<HashMap<u64, Waker>>,
}

#[derive(Default)]
struct Holders {
    by_id: HashMap<u64, Holder>,
    /// What the holders marked for eviction still hold: released soon.
    releasing: usize,
}

struct Holder {
    total: usize,
    queued: usize,
    evict: Arc<Evict>,
}

/// How the budget tells a connection to go.
#[derive(Default)]
pub(crate) struct Evict {
    set: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        MemoryBudget(Arc::new(Shared {
            limit,
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            takers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            next_id: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            holders: Mutex::new(Holders::default()),
            waiting: Mutex::new(HashMap::new()),
        }))
    }

    /// The limit in bytes.
    pub fn limit(&self) -> usize {
        self.0.limit
    }

    /// What the connections hold now, in bytes (counted in 4 KiB granules: a connection
    /// holding less is not counted).
    pub fn used(&self) -> usize {
        self.0.used.load(Ordering::Relaxed)
    }

    /// The most the connections have held at once, in bytes.
    pub fn peak(&self) -> usize {
        self.0.peak.load(Ordering::Relaxed)
    }

    /// How many connections the budget has closed.
    pub fn evictions(&self) -> u64 {
        self.0.evictions.load(Ordering::Relaxed)
    }

    /// An account for memory held outside wsx's connections.
    pub fn account(&self) -> MemoryAccount {
        MemoryAccount(Account::new(self.clone()))
    }

    fn soft(&self) -> usize {
        self.0.limit - self.0.limit / 8
    }

    /// The most a connection may add now: its thread's share of what is left (threads
    /// decode at the same time, and each counts what it took only afterwards), and at least
    /// one granule, so that small messages always pass (the soft limit stops readers well
    /// before that matters).
    pub(crate) fn room(&self) -> usize {
        (self.0.limit.saturating_sub(self.used()) / self.0.takers).max(GRANULE)
    }

    /// Marks holders for eviction, the largest first (by `key`), until what is left after
    /// they release would be under the soft limit; returns their wakers, to wake once the
    /// lock is released.
    fn evict(&self, holders: &mut Holders, key: impl Fn(&Holder) -> usize) -> Vec<Waker> {
        let mut wake = Vec::new();
        let soft = self.soft();
        let mut order: Vec<(usize, u64)> = holders
            .by_id
            .iter()
            .filter(|(_, h)| !h.evict.set.load(Ordering::Relaxed) && key(h) > 0)
            .map(|(id, h)| (key(h), *id))
            .collect();
        order.sort_unstable_by(|a, b| b.cmp(a));
        for (_, id) in order {
            if self.used().saturating_sub(holders.releasing) < soft {
                break;
            }
            let Some(h) = holders.by_id.get(&id) else {
                continue;
            };
            h.evict.set.store(true, Ordering::Release);
            holders.releasing += h.total;
            self.0.evictions.fetch_add(1, Ordering::Relaxed);
            wake.extend(lock(&h.evict.waker).take());
        }
        wake
    }

    fn wake_waiting(&self) {
        let waiting = std::mem::take(&mut *lock(&self.0.waiting));
        for w in waiting.into_values() {
            w.wake();
        }
    }
}

/// Memory held outside wsx's own connections, counted against a [`MemoryBudget`] (for
/// example a long-polling transport's queue): [`settle`](Self::settle) it whenever what it
/// holds changes; when the budget needs it gone it wakes the waker given there, once.
/// Dropping it releases what it was counted for.
pub struct MemoryAccount(Account);

impl std::fmt::Debug for MemoryAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryAccount")
            .field("charged", &self.0.charged)
            .finish_non_exhaustive()
    }
}

impl MemoryAccount {
    /// Counts `held` bytes, all of them queued for a peer; `on_evict` is woken if the budget
    /// closes the holder (it must not block: spawn the work it starts).
    pub fn settle(&mut self, held: usize, on_evict: &Waker) {
        self.0.settle(held, held, Some(on_evict));
    }

    /// Whether the budget asked for this holder to go.
    pub fn evicted(&self) -> bool {
        self.0.evicted()
    }
}

/// One connection's share of a [`MemoryBudget`].
pub(crate) struct Account {
    budget: MemoryBudget,
    id: u64,
    /// What this connection is counted for (whole granules).
    charged: usize,
    evict: Arc<Evict>,
}

impl Account {
    pub(crate) fn new(budget: MemoryBudget) -> Self {
        let id = budget.0.next_id.fetch_add(1, Ordering::Relaxed);
        Account {
            budget,
            id,
            charged: 0,
            evict: Arc::default(),
        }
    }

    pub(crate) fn budget(&self) -> &MemoryBudget {
        &self.budget
    }

    /// Whether the budget told this connection to go.
    pub(crate) fn evicted(&self) -> bool {
        self.evict.set.load(Ordering::Acquire)
    }

    /// Counts what the connection holds now: `held` bytes in all, `queued` of them in its
    /// send queue. `waker` is woken if the budget closes it.
    pub(crate) fn settle(&mut self, held: usize, queued: usize, waker: Option<&Waker>) {
        let charge = held / GRANULE * GRANULE;
        if charge == self.charged {
            return;
        }
        let budget = &self.budget;
        let grew = charge > self.charged;
        let used = if grew {
            let used = budget
                .0
                .used
                .fetch_add(charge - self.charged, Ordering::AcqRel)
                + (charge - self.charged);
            budget.0.peak.fetch_max(used, Ordering::Relaxed);
            used
        } else {
            budget
                .0
                .used
                .fetch_sub(self.charged - charge, Ordering::AcqRel)
                - (self.charged - charge)
        };
        let evicted = {
            let mut holders = lock(&budget.0.holders);
            let evicting = self.evicted();
            if evicting {
                // What it was marked for is being released as it goes.
                holders.releasing = holders
                    .releasing
                    .saturating_sub(self.charged.saturating_sub(charge));
            }
            if charge == 0 {
                holders.by_id.remove(&self.id);
            } else {
                let h = holders.by_id.entry(self.id).or_insert_with(|| Holder {
                    total: 0,
                    queued: 0,
                    evict: self.evict.clone(),
                });
                h.total = charge;
                h.queued = queued;
                if let Some(w) = waker {
                    let mut slot = lock(&self.evict.waker);
                    if !slot.as_ref().is_some_and(|s| s.will_wake(w)) {
                        *slot = Some(w.clone());
                    }
                }
            }
            if grew && used > budget.0.limit {
                budget.evict(&mut holders, |h| h.total)
            } else {
                Vec::new()
            }
        };
        for w in evicted {
            w.wake();
        }
        self.charged = charge;
        if !grew && used < budget.soft() {
            budget.wake_waiting();
        }
    }

    /// Whether a connection at a frame boundary may read: yes under the soft limit. Near
    /// the limit it waits (its task is woken once memory is released); when send queues are
    /// what fill the budget, the largest of them are closed.
    pub(crate) fn may_read(&self, cx: &Context<'_>) -> bool {
        let budget = &self.budget;
        if budget.used() < budget.soft() {
            return true;
        }
        match lock(&budget.0.waiting).entry(self.id) {
            Entry::Occupied(mut e) => {
                if !e.get().will_wake(cx.waker()) {
                    e.insert(cx.waker().clone());
                }
            }
            Entry::Vacant(e) => {
                e.insert(cx.waker().clone());
            }
        }
        {
            let mut holders = lock(&budget.0.holders);
            budget.evict(&mut holders, |h| {
                if h.queued * 2 >= h.total { h.total } else { 0 }
            });
        }
        // Released in the meantime: go on (the waker stays listed, a spurious wake-up).
        budget.used() < budget.soft()
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        lock(&self.budget.0.waiting).remove(&self.id);
        if self.charged > 0 {
            self.settle(0, 0, None);
        } else if self.evicted() {
            let mut holders = lock(&self.budget.0.holders);
            holders.by_id.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop() -> Waker {
        Waker::noop().clone()
    }

    #[test]
    fn small_holdings_are_not_counted_and_granules_are() {
        let b = MemoryBudget::new(1 << 20);
        let mut a = Account::new(b.clone());
        a.settle(GRANULE - 1, 0, None);
        assert_eq!(b.used(), 0);
        a.settle(3 * GRANULE + 10, 0, Some(&noop()));
        assert_eq!(b.used(), 3 * GRANULE);
        drop(a);
        assert_eq!(b.used(), 0, "a closed connection releases what it held");
    }

    #[test]
    fn past_the_limit_the_largest_holders_are_told_to_go_until_under_the_soft_limit() {
        let b = MemoryBudget::new(100 * GRANULE);
        let mut small = Account::new(b.clone());
        let mut big = Account::new(b.clone());
        let mut bigger = Account::new(b.clone());
        small.settle(10 * GRANULE, 0, Some(&noop()));
        big.settle(40 * GRANULE, 0, Some(&noop()));
        assert!(!big.evicted());
        // 10 + 40 + 60 = 110 granules: over; evicting the 60 leaves 50 < 87.5.
        bigger.settle(60 * GRANULE, 0, Some(&noop()));
        assert!(bigger.evicted());
        assert!(!big.evicted() && !small.evicted());
        assert_eq!(b.evictions(), 1);
        drop(bigger);
        assert_eq!(b.used(), 50 * GRANULE);
    }

    #[test]
    fn near_the_limit_readers_wait_and_send_queues_are_closed_first() {
        let b = MemoryBudget::new(100 * GRANULE);
        let mut reader = Account::new(b.clone());
        let mut queue = Account::new(b.clone());
        let mut upload = Account::new(b.clone());
        upload.settle(50 * GRANULE, 0, Some(&noop()));
        queue.settle(40 * GRANULE, 40 * GRANULE, Some(&noop()));
        let waker = noop();
        let cx = Context::from_waker(&waker);
        assert!(!reader.may_read(&cx), "90 of 100 granules: wait");
        assert!(queue.evicted(), "the send queue is what fills the budget");
        assert!(!upload.evicted(), "a message being received finishes");
        drop(queue);
        assert!(reader.may_read(&cx));
        reader.settle(0, 0, None);
    }

    #[test]
    fn a_parked_reader_is_listed_once_however_often_it_polls_and_not_after_it_closes() {
        let b = MemoryBudget::new(100 * GRANULE);
        let mut upload = Account::new(b.clone());
        upload.settle(95 * GRANULE, 0, Some(&noop()));
        let reader = Account::new(b.clone());
        let waker = noop();
        let cx = Context::from_waker(&waker);
        for _ in 0..1000 {
            assert!(!reader.may_read(&cx));
        }
        assert_eq!(lock(&b.0.waiting).len(), 1);
        drop(reader);
        assert!(lock(&b.0.waiting).is_empty());
        upload.settle(0, 0, None);
    }
}
