//! A node's Redis traffic counters: [`Metrics`], the snapshot the adapters and the relay
//! hand out, and the atomic counters behind it that their tasks update.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::connection::unreachable;

/// A snapshot of a node's Redis traffic counters
/// ([`RedisCluster::metrics`](crate::RedisCluster::metrics),
/// [`ShardedCluster::metrics`](crate::ShardedCluster::metrics),
/// [`StreamsCluster::metrics`](crate::StreamsCluster::metrics),
/// [`HubRelay::metrics`](crate::HubRelay::metrics)), for a `/metrics` page: an outage shows
/// as `connected == false` and, once over, one more in `reconnects`.
///
/// ```no_run
/// # async fn f(cluster: wsx_redis::RedisCluster) {
/// let m = cluster.metrics();
/// println!("wsx_redis_connected {}", u8::from(m.connected));
/// println!("wsx_redis_reconnects_total {}", m.reconnects);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Whether the last thing done with Redis worked (a publish, a (re)subscription).
    pub connected: bool,
    /// How many times the connection came back after being lost.
    pub reconnects: u64,
    /// Messages received on the adapters' channels (this node's own included).
    pub messages_in: u64,
    /// Messages published.
    pub messages_out: u64,
    /// Received messages ignored because they could not be decoded or lacked a field.
    pub malformed: u64,
    /// Redis commands that failed (a publish during an outage, a refused subscription).
    pub errors: u64,
}

#[derive(Debug, Default)]
pub(crate) struct MetricsInner {
    connected: AtomicBool,
    reconnects: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    malformed: AtomicU64,
    errors: AtomicU64,
}

impl MetricsInner {
    pub(crate) fn new_connected() -> Self {
        let m = MetricsInner::default();
        m.connected.store(true, Ordering::Relaxed);
        m
    }

    /// Redis works (again): counts a reconnection if it was lost.
    pub(crate) fn connected(&self) {
        if !self.connected.swap(true, Ordering::Relaxed) {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
            tracing::info!("wsx-redis: connected to Redis again");
        }
    }

    pub(crate) fn disconnected(&self) {
        self.connected.store(false, Ordering::Relaxed);
    }

    pub(crate) fn published(&self) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn received(&self) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
    }

    /// Something was given up without a Redis error (a full publish queue).
    pub(crate) fn errors_inc(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn malformed(&self) {
        self.malformed.fetch_add(1, Ordering::Relaxed);
    }

    /// A command failed; a connection-level failure marks Redis as lost.
    pub(crate) fn failed(&self, e: &redis::RedisError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if unreachable(e) {
            self.disconnected();
        }
    }

    pub(crate) fn snapshot(&self) -> Metrics {
        Metrics {
            connected: self.connected.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            messages_in: self.messages_in.load(Ordering::Relaxed),
            messages_out: self.messages_out.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}
