//! The connect timeout: a session that has not connected to any namespace in time is closed.

use std::sync::{Arc, Weak};

use crate::connection::Connection;
use crate::engine::{CloseReason, Session};

/// Sessions that must connect to a namespace before their deadline. Every deadline is the
/// session's creation plus the same timeout, so a FIFO queue is already sorted and one task
/// serves every session (instead of a task and a timer each).
#[derive(Default)]
pub(crate) struct ConnectDeadlines {
    queue: std::sync::Mutex<std::collections::VecDeque<(tokio::time::Instant, Weak<Session>)>>,
    notify: tokio::sync::Notify,
    started: std::sync::atomic::AtomicBool,
    stopped: std::sync::atomic::AtomicBool,
}

impl ConnectDeadlines {
    pub(crate) fn push(self: &Arc<Self>, deadline: tokio::time::Instant, session: &Arc<Session>) {
        use std::sync::atomic::Ordering;
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back((deadline, Arc::downgrade(session)));
        self.notify.notify_one();
        if !self.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(self.clone().run());
        }
    }

    pub(crate) fn stop(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::Release);
        self.notify.notify_one();
    }

    async fn run(self: Arc<Self>) {
        use std::sync::atomic::Ordering;
        loop {
            let notified = self.notify.notified();
            if self.stopped.load(Ordering::Acquire) {
                return;
            }
            let front = self
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .front()
                .map(|(d, _)| *d);
            let Some(deadline) = front else {
                notified.await;
                continue;
            };
            tokio::time::sleep_until(deadline).await;
            let expired: Vec<Weak<Session>> = {
                let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                let now = tokio::time::Instant::now();
                let n = q.iter().take_while(|(d, _)| *d <= now).count();
                q.drain(..n).map(|(_, s)| s).collect()
            };
            for session in expired.iter().filter_map(Weak::upgrade) {
                let idle = session
                    .data::<Connection>()
                    .is_some_and(|c| !c.has_sockets());
                if idle {
                    session.close(CloseReason::ForcedClose);
                }
            }
        }
    }
}
