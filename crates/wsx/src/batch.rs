//! Batched writes (µWebSockets' cork): a send made with
//! [`Sender::send_batched`](crate::Sender::send_batched) queues its frame and lists the
//! connection in this thread's batch; a flush task, spawned with the
//! batch, writes every listed connection once after the sending task yields. A burst of
//! broadcasts then costs one system call per receiver instead of one per message and
//! receiver. The first [`EAGER`] connections of a batch are also written at once, so the
//! first receivers of a broadcast to thousands do not wait for the last to be queued.
//!
//! Each thread keeps one open batch: the list of connections to flush. The flush task closes
//! it (takes the list) before writing, so a send after that opens the next batch. A
//! connection is listed at most once per batch: its `flush_scheduled` flag, set and cleared
//! under the connection's own lock, says whether a flush is already on its way.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::queue::{SharedQueue, with_queue};

#[derive(Default)]
struct Batch {
    /// `None` once the flush task has taken the list.
    senders: Mutex<Option<Vec<SharedQueue>>>,
    /// Set when the flush task takes the list: the next send opens a new batch.
    taken: AtomicBool,
}

/// Connections of a batch written at once when listed. Measured with `bench/sio-load`
/// against the Socket.IO bench server (10,000 receivers, one broadcast at a time): the
/// first receiver has it after 13-23 ms with none eager, about 1.2 ms with the first eager,
/// as with direct writes. A few extra writes per turn are nothing next to thousands.
pub(crate) const EAGER: usize = 4;

thread_local! {
    static OPEN: RefCell<Option<Arc<Batch>>> = const { RefCell::new(None) };
    /// Connections listed in this thread's open batch (approximate once its flush started).
    static LISTED: Cell<usize> = const { Cell::new(0) };
}

/// Whether a connection being listed now should also be written at once: it is among the
/// first [`EAGER`] of its batch.
pub(crate) fn eager() -> bool {
    LISTED.with(Cell::get) < EAGER
        || OPEN.with(|open| {
            open.borrow()
                .as_ref()
                .is_none_or(|b| b.taken.load(Ordering::Relaxed))
        })
}

/// Lists `sender` in this thread's open batch, opening one (and spawning its flush) if needed.
/// Outside a tokio runtime there is nothing to run the flush: the connection is written now.
pub(crate) fn schedule(sender: &SharedQueue) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        flush(sender);
        return;
    };
    OPEN.with(|open| {
        let mut open = open.borrow_mut();
        if let Some(batch) = open.as_ref() {
            let mut list = batch.senders.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(list) = list.as_mut() {
                list.push(sender.clone());
                LISTED.with(|n| n.set(n.get() + 1));
                return;
            }
        }
        let batch = Arc::new(Batch {
            senders: Mutex::new(Some(vec![sender.clone()])),
            taken: AtomicBool::new(false),
        });
        *open = Some(batch.clone());
        LISTED.with(|n| n.set(1));
        // Unconstrained: tokio's cooperative budget would make every write after the 128th
        // of this task's turn return `Pending`, handing each remaining connection to its own
        // task (a wake-up and a poll each: about 5 % of a broadcast's CPU at 10,000
        // receivers). And the flush does not yield midway, as a broadcast loop in Node or
        // µWebSockets does not: a publisher acknowledged at once must not get to queue its
        // next broadcasts before this one is written (measured: with a yield every 1,024
        // connections, 10,000 receivers and 32 broadcasts in flight, peak RSS went from
        // about 75 to 300 MiB).
        rt.spawn(tokio::task::unconstrained(async move {
            let list = batch
                .senders
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            batch.taken.store(true, Ordering::Relaxed);
            for s in list.into_iter().flatten() {
                flush(&s);
            }
        }));
    });
}

/// Writes what batched sends queued on one connection.
fn flush(sender: &SharedQueue) {
    with_queue(sender, |q| q.flush_batched());
}
