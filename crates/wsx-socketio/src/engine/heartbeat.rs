//! The heartbeat of every session of an engine on one timer: a heap of (due, session) events
//! served by one task, instead of a task, a timer and a `Notify` per session (about 400 bytes
//! per idle client, and a wake-up per session per interval). What a beat does to a session is
//! the session's business ([`Beating`]); this file only keeps the time.
//!
//! Two kinds of event: a ping is due (send it, then expect the pong by `ping_due +
//! ping_timeout`), and a pong deadline (close the session if it is still waiting). A pong
//! moves the session's `ping_due` and schedules its next ping; events that a pong or a close
//! made stale are recognised when they come up and skipped, so nothing is ever removed from
//! the heap early.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Beat {
    /// The session's ping is due.
    Ping,
    /// The session must have answered its ping by now.
    PongDeadline,
}

/// What has a heartbeat: told of each of its events as it comes due, while it is alive.
pub(crate) trait Beating: Send + Sync + Sized + 'static {
    /// `beat` came due; `heartbeats` schedules what follows. Events made stale by a pong or
    /// a close come up too, and are the implementor's to ignore.
    fn beat(self: &Arc<Self>, beat: Beat, heartbeats: &Arc<Heartbeats<Self>>);
}

struct Event<S> {
    due: Instant,
    seq: u64,
    beat: Beat,
    session: Weak<S>,
}

impl<S> PartialEq for Event<S> {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl<S> Eq for Event<S> {}
impl<S> PartialOrd for Event<S> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<S> Ord for Event<S> {
    /// Reversed: `BinaryHeap` is a max-heap and the earliest event must come first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

struct Queue<S> {
    heap: BinaryHeap<Event<S>>,
    seq: u64,
    running: bool,
}

/// An engine's heartbeat events and the task that serves them.
pub(crate) struct Heartbeats<S> {
    queue: Mutex<Queue<S>>,
    /// Woken when an event earlier than all others is scheduled, or the engine stops.
    wake: Notify,
    stopped: AtomicBool,
}

impl<S> Default for Heartbeats<S> {
    fn default() -> Self {
        Self {
            queue: Mutex::new(Queue {
                heap: BinaryHeap::new(),
                seq: 0,
                running: false,
            }),
            wake: Notify::new(),
            stopped: AtomicBool::new(false),
        }
    }
}

impl<S: Beating> Heartbeats<S> {
    /// Schedules `beat` for `session` at `due`; starts the serving task on first use.
    pub(crate) fn schedule(self: &Arc<Self>, session: &Arc<S>, beat: Beat, due: Instant) {
        let (first, start) = {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.seq += 1;
            let seq = q.seq;
            let first = q.heap.peek().is_none_or(|top| due < top.due);
            q.heap.push(Event {
                due,
                seq,
                beat,
                session: Arc::downgrade(session),
            });
            (first, !std::mem::replace(&mut q.running, true))
        };
        if start {
            tokio::spawn(self.clone().serve());
        } else if first {
            self.wake.notify_one();
        }
    }

    /// Ends the serving task (the engine is gone).
    pub(crate) fn stop(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.wake.notify_one();
    }

    async fn serve(self: Arc<Self>) {
        loop {
            if self.stopped.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let now = Instant::now();
            let (due, next) = {
                let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                let mut due = Vec::new();
                while q.heap.peek().is_some_and(|e| e.due <= now) {
                    if let Some(e) = q.heap.pop() {
                        due.push(e);
                    }
                }
                (due, q.heap.peek().map(|e| e.due))
            };
            for e in due {
                if let Some(session) = e.session.upgrade() {
                    session.beat(e.beat, &self);
                }
            }
            // Registered before the sleep, so a wake-up sent meanwhile is not lost.
            let woken = self.wake.notified();
            match next {
                Some(at) => {
                    tokio::select! {
                        _ = sleep_until(at) => {}
                        _ = woken => {}
                    }
                }
                None => woken.await,
            }
        }
    }
}
