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
//! - [`TopicFeedBuilder`] → [`TopicFeed`]: topics as Redis streams, appended to and followed
//!   by every process, for messages that must survive a Redis restart (nothing accepted is
//!   dropped, no duplicate, in order; design at [`TopicFeed`]'s module);
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
#![deny(missing_docs)]

mod classic;
mod cluster_adapter;
mod codec;
mod connection;
mod entry_id;
mod error;
mod feed;
mod flag;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod handoff;
mod hub;
mod ids;
mod lock;
mod metrics;
mod node;
mod pubsub;
mod request;
mod setters;
mod sharded;
mod stream_reply;
mod streams;
mod wire;
mod yjs;

pub use classic::{RedisAdapter, RedisAdapterBuilder, RedisCluster};
pub use entry_id::{BadEntryId, EntryId};
pub use error::Error;
pub use feed::{FeedSink, QueueFull, Recent, TopicFeed, TopicFeedBuilder};
pub use hub::{HubRelay, HubRelayBuilder, TopicSink};
pub use metrics::Metrics;
pub use sharded::{ShardedAdapter, ShardedAdapterBuilder, ShardedCluster, SubscriptionMode};
pub use streams::{StreamsAdapter, StreamsAdapterBuilder, StreamsCluster};
pub use yjs::{YjsMetrics, YjsRedis, YjsRedisBuilder};

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
