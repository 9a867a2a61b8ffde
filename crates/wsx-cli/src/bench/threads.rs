//! Load threads: each runs its share of the connections on its own single-threaded runtime,
//! like one event loop per core in wrk. Connections never move between threads, and each
//! thread runs its ready connections in FIFO order: on tokio's multi-thread scheduler, more
//! ready tasks than a worker's local queue holds (256) spill to a global queue that a busy
//! worker serves one task per ~61 polls, which starved some connections for hundreds of
//! milliseconds and showed up as a false latency tail.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Semaphore, oneshot};

use super::conn_report::ConnReport;
use super::dial::Dialer;
use super::plan::Plan;
use super::{echo, fanout};

/// What a thread's handshakes gave.
#[derive(Debug, Default)]
pub struct Connected {
    /// Connections open.
    pub connected: usize,
    /// Of those, with permessage-deflate.
    pub deflate: usize,
    /// Failed handshakes by message.
    pub errors: BTreeMap<String, u64>,
}

/// What a thread's connections counted.
#[derive(Debug, Default)]
pub struct Finished {
    /// One report per connection.
    pub reports: Vec<ConnReport>,
    /// Connection tasks that panicked.
    pub failed: u64,
}

/// A running load thread, seen from the coordinator.
pub struct LoadThread {
    connected: oneshot::Receiver<Connected>,
    start: Option<oneshot::Sender<(Arc<Plan>, u32)>>,
    finished: oneshot::Receiver<Finished>,
}

impl LoadThread {
    /// Starts a thread that makes `count` connections (`sem` bounds handshakes in progress
    /// across threads; `attempts` counts finished ones, for the progress bar).
    pub fn spawn(
        name: String,
        count: usize,
        builder: Dialer,
        sem: Arc<Semaphore>,
        attempts: Arc<AtomicU64>,
    ) -> Self {
        let (connected_tx, connected) = oneshot::channel();
        let (start, start_rx) = oneshot::channel();
        let (finished_tx, finished) = oneshot::channel();
        let body = move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let mut c = Connected::default();
                    c.errors
                        .insert(format!("cannot start a runtime: {e}"), count as u64);
                    attempts.fetch_add(count as u64, Ordering::Relaxed);
                    let _ = connected_tx.send(c);
                    return;
                }
            };
            rt.block_on(run_thread(
                count,
                builder,
                sem,
                attempts,
                connected_tx,
                start_rx,
                finished_tx,
            ));
        };
        if let Err(e) = std::thread::Builder::new().name(name).spawn(body) {
            // `body` (and the senders in it) is gone: the coordinator sees closed channels.
            tracing::warn!("cannot start a load thread: {e}");
        }
        Self {
            connected,
            start: Some(start),
            finished,
        }
    }

    /// Waits for the thread's handshakes to finish.
    pub async fn connected(&mut self) -> Connected {
        (&mut self.connected).await.unwrap_or_default()
    }

    /// Starts its connections on `plan`, numbered from `first_id`.
    pub fn start(&mut self, plan: Arc<Plan>, first_id: u32) {
        if let Some(tx) = self.start.take() {
            let _ = tx.send((plan, first_id));
        }
    }

    /// Waits for the reports of its connections.
    pub async fn finished(self) -> Finished {
        self.finished.await.unwrap_or_default()
    }
}

async fn run_thread(
    count: usize,
    builder: Dialer,
    sem: Arc<Semaphore>,
    attempts: Arc<AtomicU64>,
    connected_tx: oneshot::Sender<Connected>,
    start_rx: oneshot::Receiver<(Arc<Plan>, u32)>,
    finished_tx: oneshot::Sender<Finished>,
) {
    let handshakes: Vec<_> = (0..count)
        .map(|_| {
            let b = builder.clone();
            let sem = sem.clone();
            let attempts = attempts.clone();
            tokio::spawn(async move {
                let _permit = sem.acquire_owned().await;
                let r = b.connect().await;
                attempts.fetch_add(1, Ordering::Relaxed);
                r
            })
        })
        .collect();
    let mut conns = Vec::with_capacity(count);
    let mut c = Connected::default();
    for h in handshakes {
        match h.await {
            Ok(Ok(ws)) => conns.push(ws),
            Ok(Err(e)) => *c.errors.entry(super::describe(&e)).or_insert(0) += 1,
            Err(e) => *c.errors.entry(e.to_string()).or_insert(0) += 1,
        }
    }
    c.connected = conns.len();
    c.deflate = conns
        .iter()
        .filter(|ws| ws.extensions().contains("permessage-deflate"))
        .count();
    if connected_tx.send(c).is_err() {
        return;
    }
    // The coordinator gives up (sends nothing) only when it cannot go on: the connections
    // are then dropped.
    let Ok((plan, first_id)) = start_rx.await else {
        return;
    };
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(j, ws)| {
            let id = first_id.saturating_add(u32::try_from(j).unwrap_or(u32::MAX));
            // `--fanout` gives every connection a part in the broadcast; otherwise each one
            // runs the echo benchmark on its own.
            match plan.fanout.clone() {
                Some(fan) => tokio::spawn(fanout::run(ws, id, plan.clone(), fan)),
                None => tokio::spawn(echo::run(ws, id, plan.clone())),
            }
        })
        .collect();
    let mut done = Finished::default();
    for t in tasks {
        match t.await {
            Ok(r) => done.reports.push(r),
            Err(_) => done.failed += 1,
        }
    }
    let _ = finished_tx.send(done);
}
