//! Scale-out for wsx Socket.IO servers over Redis: cluster adapters wire-compatible with
//! Node's `@socket.io/redis-adapter` 8.x, so wsx nodes and Node `socket.io` nodes can share one
//! cluster and serve each other's clients:
//! - [`RedisAdapterBuilder`] → [`RedisCluster`]: the classic adapter (`createAdapter`, Redis
//!   Pub/Sub on one Redis);
//! - [`ShardedAdapterBuilder`] → [`ShardedCluster`]: the sharded adapter
//!   (`createShardedAdapter`, Redis 7 `SPUBLISH`/`SSUBSCRIBE` with dynamic room channels) on a
//!   Redis Cluster, through redis-rs's cluster client (feature `cluster-async`, RESP3 pushes);
//! - [`StreamsAdapterBuilder`] → [`StreamsCluster`]: the streams adapter
//!   (`@socket.io/redis-streams-adapter` 0.2.x: one Redis stream, nodes counted by
//!   heartbeat), which also keeps connection state recovery sessions and offsets in Redis, so
//!   a client that loses its node recovers on any other;
//! - [`HubRelayBuilder`] → [`HubRelay`]: [`wsx::Hub`] topics across processes for plain
//!   WebSocket servers (a Redis Pub/Sub channel per topic; wire format at [`HubRelay`]);
//! - [`YjsRedisBuilder`] → [`YjsRedis`]: collaborative documents of `wsx-yjs` across
//!   processes (a Redis stream per room, compacted into a hash; design and guarantees at
//!   [`YjsRedis`]).
//!
//! # Choice of Redis client: `redis` (redis-rs), not `fred`
//! 1. redis-rs is the Redis organisation's own Rust client, the most used one, with an async
//!    `PubSub` (SUBSCRIBE/PSUBSCRIBE with a message stream) and, since 0.27, RESP3 push
//!    messages, which sharded pub/sub (`SSUBSCRIBE`) needs; streams (`XADD`/`XREAD`) are typed.
//! 2. Its `ClusterClient` covers Redis Cluster, and `ConnectionManager` reconnects by itself.
//! 3. `fred` has the richer reconnection and cluster story, but a much larger API and
//!    dependency tree; redis-rs is enough for what the adapters need, and plain connections
//!    (one multiplexed publisher, one subscriber per namespace) keep the wire traffic as Node's.
//! 4. msgpack: `rmpv`, whose writer picks the smallest integer form, float64, str, bin and
//!    ordered maps exactly as notepack.io does (see `codec`).
//!
//! # Example
//! ```no_run
//! # async fn f() -> Result<(), wsx_redis::Error> {
//! use wsx_socketio::{Config, SocketIo};
//!
//! let cluster = wsx_redis::RedisAdapterBuilder::new("redis://127.0.0.1:6379/")
//!     .key("socket.io")
//!     .connect()
//!     .await?;
//! let io = SocketIo::new(Config::default().adapter(move |nsp| cluster.adapter(nsp)));
//! io.ns("/", |socket| async move { socket.join(["news"]) });
//! io.to(["news"]).emit("hello", "every node's clients in room news get this");
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod adapter;
mod cluster;
mod codec;
mod connection;
mod error;
mod hub;
mod ids;
mod lock;
mod metrics;
mod request;
mod sharded;
mod stream_reply;
mod streams;
mod wire;
mod yjs;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::connection::reconnecting;
use crate::ids::random_id;
use crate::metrics::MetricsInner;

pub use adapter::RedisAdapter;
pub use error::Error;
pub use hub::{HubRelay, HubRelayBuilder, TopicSink};
pub use metrics::Metrics;
pub use sharded::{ShardedAdapter, ShardedAdapterBuilder, ShardedCluster, SubscriptionMode};
pub use streams::{StreamsAdapter, StreamsAdapterBuilder, StreamsCluster};
pub use yjs::{YjsMetrics, YjsRedis, YjsRedisBuilder};

/// Builds a [`RedisCluster`]: the Redis URL, the channel key prefix (`socket.io`, as Node's
/// adapter) and how long requests to other nodes wait for answers (5 s).
#[derive(Debug, Clone)]
pub struct RedisAdapterBuilder {
    url: String,
    key: String,
    requests_timeout: Duration,
}

impl RedisAdapterBuilder {
    /// A builder for the Redis server at `url` (`redis://host:port/`).
    pub fn new(url: impl Into<String>) -> Self {
        RedisAdapterBuilder {
            url: url.into(),
            key: "socket.io".into(),
            requests_timeout: Duration::from_secs(5),
        }
    }

    /// The key prefix of the channels (Node's `key` option); every node must use the same.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// How long a request to other nodes (`fetchSockets`) waits for their answers.
    pub fn requests_timeout(mut self, timeout: Duration) -> Self {
        self.requests_timeout = timeout;
        self
    }

    /// Connects to Redis. Must be called inside a tokio runtime, which the adapters' tasks
    /// then run on.
    pub async fn connect(self) -> Result<RedisCluster, Error> {
        let client = redis::Client::open(self.url.as_str())?;
        // The publisher reconnects by itself (with backoff) after Redis restarts; the
        // subscribers reconnect and resubscribe in their own loop (adapter.rs).
        let config = reconnecting(Duration::from_secs(2), self.requests_timeout);
        let conn = client.get_connection_manager_with_config(config).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = tokio::runtime::Handle::current();
        let metrics = Arc::new(MetricsInner::new_connected());
        handle.spawn(publisher(conn.clone(), rx, metrics.clone()));
        Ok(RedisCluster(Arc::new(Shared {
            client,
            conn,
            key: self.key,
            uid: random_id(),
            requests_timeout: self.requests_timeout,
            publish: tx,
            handle,
            metrics,
        })))
    }
}

/// This node's membership of a cluster: makes a [`RedisAdapter`] per namespace (give
/// [`adapter`](Self::adapter) to [`Config::adapter`](wsx_socketio::Config::adapter)).
/// Cheap to clone.
#[derive(Clone)]
pub struct RedisCluster(Arc<Shared>);

impl std::fmt::Debug for RedisCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCluster")
            .field("key", &self.0.key)
            .field("uid", &self.0.uid)
            .finish_non_exhaustive()
    }
}

impl RedisCluster {
    /// The adapter of namespace `nsp`.
    pub fn adapter(&self, nsp: &str) -> RedisAdapter {
        RedisAdapter::new(self.0.clone(), nsp)
    }

    /// This node's id in the cluster (6 URL-safe characters, as Node's).
    pub fn uid(&self) -> &str {
        &self.0.uid
    }

    /// The channel key prefix.
    pub fn key(&self) -> &str {
        &self.0.key
    }

    /// Counters of this node's Redis traffic: whether Redis is reachable, how many times it came
    /// back, messages in and out, malformed messages ignored, failed commands (see [`Metrics`]).
    ///
    /// ```no_run
    /// # async fn f(cluster: wsx_redis::RedisCluster) {
    /// let m = cluster.metrics();
    /// println!("wsx_redis_connected {}", u8::from(m.connected));
    /// println!("wsx_redis_reconnects_total {}", m.reconnects);
    /// # }
    /// ```
    pub fn metrics(&self) -> Metrics {
        self.0.metrics.snapshot()
    }

    /// How many nodes listen to namespace `nsp` (`PUBSUB NUMSUB` of its request channel,
    /// this node included once its adapter has subscribed).
    pub async fn nodes(&self, nsp: &str) -> Result<usize, Error> {
        Ok(self
            .0
            .numsub(&format!("{}-request#{nsp}#", self.0.key))
            .await?)
    }
}

pub(crate) struct Shared {
    client: redis::Client,
    conn: redis::aio::ConnectionManager,
    key: String,
    uid: String,
    requests_timeout: Duration,
    publish: mpsc::UnboundedSender<(String, Vec<u8>)>,
    handle: tokio::runtime::Handle,
    metrics: Arc<MetricsInner>,
}

impl Shared {
    /// Publishes in order (one queue per node).
    fn publish(&self, channel: String, payload: Vec<u8>) {
        let _ = self.publish.send((channel, payload));
    }

    async fn numsub(&self, channel: &str) -> Result<usize, redis::RedisError> {
        let mut conn = self.conn.clone();
        let (_, n): (String, usize) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channel)
            .query_async(&mut conn)
            .await?;
        Ok(n)
    }
}

async fn publisher(
    mut conn: redis::aio::ConnectionManager,
    mut rx: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    metrics: Arc<MetricsInner>,
) {
    while let Some((channel, payload)) = rx.recv().await {
        let res: Result<usize, _> = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(payload)
            .query_async(&mut conn)
            .await;
        match res {
            Ok(_) => {
                metrics.connected();
                metrics.published();
            }
            Err(e) => {
                metrics.failed(&e);
                tracing::warn!(error = %e, channel, "wsx-redis: PUBLISH failed");
            }
        }
    }
}
