//! [`StreamsAdapterBuilder`]: the options of Node's streams adapter, and connecting this
//! node (its queue for the stream and its reader start then).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::cluster::StreamsCluster;
use super::node::StreamsShared;
use super::offset::{last_id, parse_id};
use super::publisher::Queue;
use super::reader::reader;
use crate::connection::connect;
use crate::error::Error;
use crate::ids::random_hex;
use crate::node::Node;
use crate::setters::setters;

/// Builds a [`StreamsCluster`]: the Redis URL and the options of Node's
/// `createAdapter(redisClient, opts)` of `@socket.io/redis-streams-adapter` (same defaults).
///
/// ```no_run
/// # async fn f() -> Result<(), wsx_redis::Error> {
/// use wsx_socketio::{Config, RecoveryConfig, SocketIo};
///
/// let cluster = wsx_redis::StreamsAdapterBuilder::new("redis://127.0.0.1:6379/")
///     .connect()
///     .await?;
/// let io = SocketIo::new(
///     Config::default()
///         .adapter(move |nsp| cluster.adapter(nsp))
///         // Sessions and missed packets are kept in Redis, so any node can recover them.
///         .recovery(RecoveryConfig::default()),
/// );
/// io.to(["news"]).emit("hello", "to room news on every node");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct StreamsAdapterBuilder {
    url: String,
    stream_name: String,
    max_len: usize,
    read_count: usize,
    session_key_prefix: String,
    heartbeat_interval: Duration,
    heartbeat_timeout: Duration,
    requests_timeout: Duration,
    block: Duration,
    max_outage: Duration,
}

impl StreamsAdapterBuilder {
    /// A builder for the Redis server at `url` (`redis://host:port/`).
    pub fn new(url: impl Into<String>) -> Self {
        StreamsAdapterBuilder {
            url: url.into(),
            stream_name: "socket.io".into(),
            max_len: 10_000,
            read_count: 100,
            session_key_prefix: "sio:session:".into(),
            heartbeat_interval: Duration::from_secs(5),
            heartbeat_timeout: Duration::from_secs(10),
            requests_timeout: Duration::from_secs(5),
            block: Duration::from_secs(5),
            max_outage: Duration::from_secs(60),
        }
    }

    setters! {
        /// The stream's key (Node's `streamName`, default `socket.io`); every node must use the
        /// same.
        stream_name(name: impl Into<String>) => stream_name = name.into();
        /// The approximate bound of the stream's length (`MAXLEN ~`, Node's `maxLen`, 10,000): a
        /// client whose offset was trimmed away reconnects as new.
        max_len(n: usize) => max_len = n;
        /// How many entries one `XREAD` returns at most (Node's `readCount`, 100).
        read_count(n: usize) => read_count = n.max(1);
        /// The prefix of the session keys (Node's `sessionKeyPrefix`, `sio:session:`).
        session_key_prefix(prefix: impl Into<String>) => session_key_prefix = prefix.into();
        /// How long a node stays silent before it publishes a heartbeat (5 s).
        heartbeat_interval(d: Duration) => heartbeat_interval = d;
        /// After how long without news another node is forgotten (10 s).
        heartbeat_timeout(d: Duration) => heartbeat_timeout = d;
        /// How long a request to other nodes (`fetchSockets`, server-side emit with ack) waits.
        requests_timeout(d: Duration) => requests_timeout = d;
        /// How long one `XREAD` blocks (5 s, as Node's).
        block(d: Duration) => block = d.max(Duration::from_millis(1));
        /// How long publishes are kept and retried while Redis cannot be reached (60 s); older ones
        /// are dropped with a log line (and a recoverable broadcast is then delivered locally
        /// without offset).
        max_outage(d: Duration) => max_outage = d;
    }

    /// Connects to Redis. Must be called inside a tokio runtime, which the adapters' tasks
    /// then run on.
    pub async fn connect(self) -> Result<StreamsCluster, Error> {
        let (client, conn) =
            connect(&self.url, Duration::from_secs(1), self.requests_timeout).await?;
        // Where the reader starts: the stream's last entry now (Node reads from `$`, which
        // misses what is added before its first XREAD; an explicit id does not).
        let start = last_id(&mut conn.clone(), &self.stream_name)
            .await?
            .unwrap_or_else(|| "0-0".to_owned());
        let node = Node::new(random_hex(), self.requests_timeout, "streams");
        let stream = self.stream_name;
        let queue = Queue::start(
            &node,
            conn.clone(),
            stream.clone(),
            self.max_len,
            self.max_outage,
        );
        let shared = Arc::new(StreamsShared {
            conn,
            stream,
            session_key_prefix: self.session_key_prefix,
            heartbeat_interval: self.heartbeat_interval,
            heartbeat_timeout: self.heartbeat_timeout,
            node,
            queue,
            namespaces: Mutex::new(HashMap::new()),
            read_up_to: watch::Sender::new(parse_id(&start).unwrap_or((0, 0))),
            gate: Arc::new(tokio::sync::Mutex::new(())),
        });
        let reading = reader(
            client,
            Arc::downgrade(&shared),
            start,
            self.read_count,
            self.block,
        );
        shared.node.handle.spawn(reading);
        Ok(StreamsCluster(shared))
    }
}
