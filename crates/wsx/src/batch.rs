//! Batched writes (µWebSockets' cork): sends made with [`Sender::send_batched`] only queue
//! their frame, and a flush task spawned on the first of them writes every connection they
//! touched, once each, after the sending task yields. A burst of broadcasts then costs one
//! system call per receiver instead of one per message and receiver.
//!
//! Each thread keeps one open batch: the list of connections to flush. The flush task closes
//! it (takes the list) before writing, so a send after that opens the next batch. A
//! connection is listed at most once per batch: its `flush_scheduled` flag, set and cleared
//! under the connection's own lock, says whether a flush is already on its way.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use crate::websocket::Sender;

#[derive(Default)]
struct Batch {
    /// `None` once the flush task has taken the list.
    senders: Mutex<Option<Vec<Sender>>>,
}

thread_local! {
    static OPEN: RefCell<Option<Arc<Batch>>> = const { RefCell::new(None) };
}

/// Lists `sender` in this thread's open batch, opening one (and spawning its flush) if needed.
/// Outside a tokio runtime there is nothing to run the flush: the connection is written now.
pub(crate) fn schedule(sender: &Sender) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        sender.flush_batched();
        return;
    };
    OPEN.with(|open| {
        let mut open = open.borrow_mut();
        if let Some(batch) = open.as_ref() {
            let mut list = batch.senders.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(list) = list.as_mut() {
                list.push(sender.clone());
                return;
            }
        }
        let batch = Arc::new(Batch {
            senders: Mutex::new(Some(vec![sender.clone()])),
        });
        *open = Some(batch.clone());
        rt.spawn(async move {
            let list = batch
                .senders
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            for s in list.into_iter().flatten() {
                s.flush_batched();
            }
        });
    });
}
