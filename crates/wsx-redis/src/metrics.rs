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

#[derive(Debug)]
pub(crate) struct MetricsInner {
    connected: AtomicBool,
    reconnects: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    malformed: AtomicU64,
    errors: AtomicU64,
    #[cfg(feature = "metrics")]
    facade: facade::Handles,
}

/// The same counters through the `metrics` facade (feature `metrics`), labelled
/// `part="<name>"`: `wsx_redis_connected` (gauge, 1 or 0), `wsx_redis_reconnects_total`,
/// `wsx_redis_messages_received_total`, `wsx_redis_messages_published_total`,
/// `wsx_redis_malformed_total`, `wsx_redis_errors_total`.
#[cfg(feature = "metrics")]
mod facade {
    use metrics::{Counter, Gauge, describe_counter, describe_gauge};

    #[derive(Debug)]
    pub(super) struct Handles {
        pub connected: Gauge,
        pub reconnects: Counter,
        pub messages_in: Counter,
        pub messages_out: Counter,
        pub malformed: Counter,
        pub errors: Counter,
    }

    impl Handles {
        pub(super) fn new(part: &str) -> Self {
            static DESCRIBED: std::sync::Once = std::sync::Once::new();
            DESCRIBED.call_once(|| {
                describe_gauge!(
                    "wsx_redis_connected",
                    "Whether Redis answered the last command (1) or is away (0)."
                );
                describe_counter!(
                    "wsx_redis_reconnects_total",
                    "Times the connection to Redis came back after being lost."
                );
                describe_counter!(
                    "wsx_redis_messages_received_total",
                    "Messages received from Redis (this node's own included)."
                );
                describe_counter!(
                    "wsx_redis_messages_published_total",
                    "Messages published to Redis."
                );
                describe_counter!(
                    "wsx_redis_malformed_total",
                    "Messages from Redis ignored because they could not be decoded."
                );
                describe_counter!("wsx_redis_errors_total", "Redis commands that failed.");
            });
            let part = part.to_owned();
            Handles {
                connected: metrics::gauge!("wsx_redis_connected", "part" => part.clone()),
                reconnects: metrics::counter!("wsx_redis_reconnects_total", "part" => part.clone()),
                messages_in: metrics::counter!("wsx_redis_messages_received_total", "part" => part.clone()),
                messages_out: metrics::counter!("wsx_redis_messages_published_total", "part" => part.clone()),
                malformed: metrics::counter!("wsx_redis_malformed_total", "part" => part.clone()),
                errors: metrics::counter!("wsx_redis_errors_total", "part" => part),
            }
        }
    }
}

impl MetricsInner {
    /// Counters of a part of a node that has just connected; `part` labels them in the
    /// `metrics` facade.
    pub(crate) fn new_connected(part: &str) -> Self {
        #[cfg(not(feature = "metrics"))]
        let _ = part;
        let m = MetricsInner {
            connected: AtomicBool::new(true),
            reconnects: AtomicU64::new(0),
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            #[cfg(feature = "metrics")]
            facade: facade::Handles::new(part),
        };
        #[cfg(feature = "metrics")]
        m.facade.connected.set(1.0);
        m
    }

    /// Redis works (again): counts a reconnection if it was lost.
    pub(crate) fn connected(&self) {
        if !self.connected.swap(true, Ordering::Relaxed) {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
            #[cfg(feature = "metrics")]
            {
                self.facade.reconnects.increment(1);
                self.facade.connected.set(1.0);
            }
            tracing::info!("wsx-redis: connected to Redis again");
        }
    }

    pub(crate) fn disconnected(&self) {
        self.connected.store(false, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.facade.connected.set(0.0);
    }

    pub(crate) fn published(&self) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.facade.messages_out.increment(1);
    }

    pub(crate) fn received(&self) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.facade.messages_in.increment(1);
    }

    /// Something was given up without a Redis error (a full publish queue).
    pub(crate) fn errors_inc(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.facade.errors.increment(1);
    }

    pub(crate) fn malformed(&self) {
        self.malformed.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.facade.malformed.increment(1);
    }

    /// A command failed; a connection-level failure marks Redis as lost.
    pub(crate) fn failed(&self, e: &redis::RedisError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.facade.errors.increment(1);
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
