//! The feed's appending task: queued appends go to their streams in order, a pipeline at a
//! time, and stay queued (retried with backoff) while Redis cannot take them.

use std::collections::VecDeque;
use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;

use super::link::Link;
use super::{Append, Shared};
use crate::entry_id::EntryId;
use crate::lock::lock;

/// `XADD`s sent in one pipeline at most.
const BATCH: usize = 256;

pub(super) async fn run(link: Link, mut rx: mpsc::UnboundedReceiver<Append>, shared: Weak<Shared>) {
    let mut queue: VecDeque<Append> = VecDeque::new();
    let mut backoff = Duration::from_millis(50);
    loop {
        if queue.is_empty() {
            match rx.recv().await {
                Some(a) => queue.push_back(a),
                None => return,
            }
        }
        while queue.len() < BATCH {
            match rx.try_recv() {
                Ok(a) => queue.push_back(a),
                Err(_) => break,
            }
        }
        let Some(sh) = shared.upgrade() else { return };
        let n = queue.len().min(BATCH);
        let mut pipe = redis::pipe();
        for a in queue.iter().take(n) {
            // Not trimmed here: a follower trims what every follower has had time to read
            // (see `follower::trim`).
            pipe.cmd("XADD")
                .arg(sh.stream_key(&a.topic))
                .arg("*")
                .arg("n")
                .arg(&sh.uid)
                .arg("s")
                .arg(a.seq)
                .arg("d")
                .arg(&a.data[..]);
        }
        match link.pipe::<Vec<String>>(&pipe).await {
            Ok(ids) => {
                {
                    let mut appended = lock(&sh.appended);
                    for (a, id) in queue.drain(..n).zip(&ids) {
                        if let Some(id) = EntryId::parse(id) {
                            appended.insert(a.topic, id);
                        }
                        sh.metrics.published();
                    }
                }
                sh.queued.fetch_sub(n, Ordering::AcqRel);
                sh.metrics.connected();
                sh.progress.notify_waiters();
                backoff = Duration::from_millis(50);
            }
            Err(e) => {
                // Some may have been added: they are sent again, and readers drop the copies.
                sh.metrics.failed(&e);
                tracing::debug!(error = %e, queued = queue.len(), "wsx-redis: feed: XADD failed; retrying");
                drop(sh);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}
