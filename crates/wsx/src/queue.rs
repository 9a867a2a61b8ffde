//! What a send handle sees of a connection: the [`Queue`] a [`Sender`](crate::Sender) and the
//! write batches reach without naming the stream type, and the [`SendStatus`] a non-blocking
//! send answers with.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use wsx_proto::{CloseCode, Message, PreparedFrame};

/// Result of a non-blocking send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    /// Written to the socket or queued.
    Queued,
    /// Queued, but the send queue is above [`Options::max_buffered`](crate::Options::max_buffered) after it.
    Backpressure,
    /// Not queued: the queue was full and the policy is [`SlowConsumer::Drop`](crate::SlowConsumer::Drop).
    Dropped,
    /// Not queued: the connection is closing or closed (or was just terminated as a slow
    /// consumer).
    Closed,
}

/// Object-safe view of a connection, so handles need not name the stream type.
pub(crate) trait Queue: Send {
    fn queue_message(&mut self, msg: Message, compress: bool, defer: bool) -> (SendStatus, bool);
    fn queue_prepared(&mut self, frame: &PreparedFrame, defer: bool) -> (SendStatus, bool);
    fn flush_batched(&mut self);
    fn queue_close(&mut self, code: CloseCode, reason: &str) -> SendStatus;
    fn kill(&mut self, why: &'static str);
    fn buffered(&self) -> usize;
    fn is_closed(&self) -> bool;
    /// A graceful shutdown begins: read nothing more from the peer, hand out what was read.
    fn go_away(&mut self);
    /// Since [`go_away`](Queue::go_away), the reader has handed out everything it had read and
    /// asked for more (or the connection is gone).
    fn is_quiet(&self) -> bool;
}

/// Woken whenever a connection told to go away becomes quiet ([`Queue::is_quiet`]): one for
/// the process, since only a shutdown waits on it, and it checks its own connections again.
pub(crate) static QUIETED: Notify = Notify::const_new();

/// A connection's queue, shared by its handles.
pub(crate) type SharedQueue = Arc<Mutex<dyn Queue>>;

/// Runs `f` on the queue under its lock (a poisoned lock is taken over: a connection's state
/// stays consistent between calls).
pub(crate) fn with_queue<R>(q: &SharedQueue, f: impl FnOnce(&mut dyn Queue) -> R) -> R {
    let mut g = q.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut *g)
}
