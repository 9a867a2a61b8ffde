//! Writing to the stream: this node's messages wait in one ordered queue, and a task adds them
//! (`XADD ... MAXLEN ~`, a pipeline at a time), keeping and retrying them while Redis cannot
//! be reached.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rmpv::Value as Mp;
use tokio::sync::mpsc;
use tokio::time::Instant;
use wsx_socketio::cluster::DeliverWithOffset;

use super::entry::entry_fields;
use crate::connection::unreachable;
use crate::metrics::MetricsInner;
use crate::node::Node;

/// This node's queue of entries for the stream. Cheap to clone.
#[derive(Clone)]
pub(super) struct Queue {
    uid: String,
    tx: mpsc::UnboundedSender<Outgoing>,
}

impl Queue {
    /// Starts the task that adds the queued entries to `stream` on `conn`, keeping it about
    /// `max_len` entries long and dropping (with a log line) entries that waited more than
    /// `max_outage` for Redis; returns its queue.
    pub(super) fn start(
        node: &Node,
        conn: redis::aio::ConnectionManager,
        stream: String,
        max_len: usize,
        max_outage: Duration,
    ) -> Queue {
        let (tx, rx) = mpsc::unbounded_channel();
        let metrics = node.metrics.clone();
        node.handle
            .spawn(publisher(conn, rx, metrics, stream, max_len, max_outage));
        Queue {
            uid: node.uid.clone(),
            tx,
        }
    }

    /// Queues `{uid, nsp, type, data}` for the stream (in order); `deliver`, if any, is told
    /// the entry's id once it is in the stream (`None` if it never gets in).
    pub(super) fn push(
        &self,
        nsp: &str,
        kind: u64,
        data: Option<&Mp>,
        deliver: Option<DeliverWithOffset>,
    ) {
        let out = Outgoing {
            fields: entry_fields(&self.uid, nsp, kind, data),
            deliver,
            queued: Instant::now(),
        };
        if let Err(e) = self.tx.send(out) {
            // The publisher is gone (the runtime shuts down): deliver locally anyway.
            if let Some(deliver) = e.0.deliver {
                deliver(None);
            }
        }
    }
}

/// One entry to add to the stream.
struct Outgoing {
    fields: Vec<(&'static str, String)>,
    deliver: Option<DeliverWithOffset>,
    queued: Instant,
}

/// Adds the queued entries to the stream, in order, a pipeline at a time; keeps and retries
/// them while Redis cannot be reached.
async fn publisher(
    mut conn: redis::aio::ConnectionManager,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    metrics: Arc<MetricsInner>,
    stream: String,
    max_len: usize,
    max_outage: Duration,
) {
    const BATCH: usize = 128;
    let mut queue: VecDeque<Outgoing> = VecDeque::new();
    let mut backoff = Duration::from_millis(50);
    let mut in_outage = false;
    loop {
        if queue.is_empty() {
            match rx.recv().await {
                Some(o) => queue.push_back(o),
                None => return,
            }
        }
        while queue.len() < BATCH {
            match rx.try_recv() {
                Ok(o) => queue.push_back(o),
                Err(_) => break,
            }
        }
        let n = queue.len().min(BATCH);
        let mut pipe = redis::pipe();
        for o in queue.iter().take(n) {
            let cmd = pipe
                .cmd("XADD")
                .arg(&stream)
                .arg("MAXLEN")
                .arg("~")
                .arg(max_len)
                .arg("*");
            for (k, v) in &o.fields {
                cmd.arg(*k).arg(v.as_str());
            }
        }
        let res: Result<Vec<String>, _> = pipe.query_async(&mut conn).await;
        match res {
            Ok(ids) => {
                if in_outage {
                    in_outage = false;
                    tracing::info!("wsx-redis: streams: publishing again");
                }
                metrics.connected();
                backoff = Duration::from_millis(50);
                for id in ids {
                    let Some(o) = queue.pop_front() else { break };
                    metrics.published();
                    if let Some(deliver) = o.deliver {
                        deliver(Some(id));
                    }
                }
            }
            Err(e) if unreachable(&e) => {
                metrics.failed(&e);
                if !in_outage {
                    in_outage = true;
                    tracing::warn!(error = %e, queued = queue.len(), "wsx-redis: streams: XADD failed; keeping the messages and retrying");
                }
                let now = Instant::now();
                while queue
                    .front()
                    .is_some_and(|o| now.duration_since(o.queued) > max_outage)
                {
                    if let Some(o) = queue.pop_front() {
                        tracing::warn!(
                            "wsx-redis: streams: a message waited too long for Redis and is dropped"
                        );
                        if let Some(deliver) = o.deliver {
                            deliver(None);
                        }
                    }
                }
                // Keep taking messages while waiting.
                let until = now + backoff;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => break,
                        o = rx.recv() => match o {
                            Some(o) => queue.push_back(o),
                            None => break,
                        },
                    }
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            Err(e) => {
                // Refused by Redis (not a stream, …): retrying would not help.
                metrics.failed(&e);
                tracing::warn!(error = %e, "wsx-redis: streams: XADD refused; dropping the messages");
                for o in queue.drain(..n) {
                    if let Some(deliver) = o.deliver {
                        deliver(None);
                    }
                }
            }
        }
    }
}
