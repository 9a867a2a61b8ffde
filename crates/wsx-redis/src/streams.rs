//! The streams adapter: Node's `@socket.io/redis-streams-adapter` 0.2.x, one Redis stream
//! shared by every node, which gives connection state recovery across nodes.
//!
//! The protocol is socket.io-adapter's `ClusterAdapterWithHeartbeat`. Every message (requests
//! and responses too) is a stream entry `XADD <stream> MAXLEN ~ <maxLen> * uid <uid> nsp <nsp>
//! type "<n>" [data <d>]`, where `d` is the JSON text of the message's data, or base64 of its
//! msgpack when a broadcast, server-side emit or one of their answers holds binary. Every
//! node reads the stream with `XREAD BLOCK 5000 COUNT <readCount>` from the last entry it saw,
//! on a connection of its own. Nodes count each other by heartbeat, not by subscription: a
//! node announces itself with INITIAL_HEARTBEAT (1) when a namespace's adapter starts, every
//! node answers HEARTBEAT (2), a node publishes a HEARTBEAT after `heartbeatInterval` without
//! publishing anything, leaves with ADAPTER_CLOSE (13), and is forgotten after
//! `heartbeatTimeout` without news. A request (`fetchSockets`, `serverSideEmitWithAck`) waits
//! for an answer from each node known then.
//!
//! Recovery: a broadcast's stream entry id is its offset (appended as the EVENT's last
//! argument, on every node); a disconnected socket's session is stored with
//! `SET sio:session:<pid> base64(msgpack({sid,pid,rooms,data})) PX <maxDisconnectionDuration>`,
//! and restored (on any node) with `MULTI GET DEL EXEC` and `XRANGE` of the entries after the
//! client's offset, the broadcasts of the namespace to its rooms.
//!
//! Faults: publishes go through one ordered queue; when Redis cannot be reached they are kept
//! and retried (for at most [`StreamsAdapterBuilder::max_outage`]), and the reader resumes
//! from the last entry it read, so a short outage loses nothing. As with Node, a recoverable
//! broadcast (recovery on) reaches this node's own sockets once its entry is in the stream,
//! since its offset is the entry id: during an outage local delivery of those waits too.
//!
//! Where this differs from Node's adapter (0.2.3):
//! - the reader starts from the stream's last entry when the cluster connects, not from `$`
//!   at its first `XREAD`, so an entry added in between (another node's INITIAL_HEARTBEAT)
//!   is not missed;
//! - entries are kept and retried while Redis is unreachable (Node's client queues commands
//!   while it reconnects, and drops those in flight when the connection breaks); an entry
//!   whose `XADD` was executed just before the connection broke may be added twice;
//! - a restoration waits until the reader is past the replayed entries, then holds the
//!   reader until the socket is back in its rooms (at most 500 ms, e.g. while a middleware
//!   runs when `skip_middlewares` is off) and replays what the reader handed out meanwhile:
//!   a client recovering while broadcasts go on misses none and gets none twice (Node has a
//!   window for both);
//! - 0.3.x nodes are not understood: 0.3 publishes its requests and answers with Redis
//!   Pub/Sub (msgpack on `<prefix>#<nsp>#` and `<prefix>#<nsp>#<uid>#`) and counts nodes
//!   with `PUBSUB NUMSUB`, without heartbeats; a mixed cluster pins 0.2.x on the Node side.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rmpv::Value as Mp;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use wsx_socketio::WeakNamespace;
use wsx_socketio::adapter::{
    Adapter, BoxFuture, BroadcastOptions, DeliverWithOffset, MemoryAdapter, RestoredSession,
    SessionState,
};
use wsx_socketio::socketio::Packet;

use crate::cluster_adapter::{
    self, ClusterAdapter, Reply, broadcast_data, cluster_requests, read_ack_reply,
};
use crate::codec::{self, map, s, strings};
use crate::connection::{blocking_reader, reconnecting, unreachable};
use crate::error::Error;
use crate::ids::random_hex;
use crate::local_rooms::local_rooms;
use crate::lock::lock;
use crate::metrics::{Metrics, MetricsInner};
use crate::node::Node;
use crate::request::{AckReply, Pending, Waiter};
use crate::stream_reply::{self, Fields};
use crate::wire::{event_payload, for_other_nodes, string_list};

/// Message types of socket.io-adapter's `ClusterAdapterWithHeartbeat`.
mod kind {
    pub use crate::cluster_adapter::kind::*;
    pub const INITIAL_HEARTBEAT: u64 = 1;
    pub const HEARTBEAT: u64 = 2;
    pub const ADAPTER_CLOSE: u64 = 13;
}

/// The uid of `@socket.io/redis-streams-emitter`, which is not a node.
const EMITTER_UID: &str = "emitter";

/// How many `XRANGE` pages a restoration reads at most (Node: 100 calls).
const RESTORE_MAX_PAGES: usize = 100;
const RESTORE_PAGE: usize = 1000;

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

    /// The stream's key (Node's `streamName`, default `socket.io`); every node must use the
    /// same.
    pub fn stream_name(mut self, name: impl Into<String>) -> Self {
        self.stream_name = name.into();
        self
    }

    /// The approximate bound of the stream's length (`MAXLEN ~`, Node's `maxLen`, 10,000): a
    /// client whose offset was trimmed away reconnects as new.
    pub fn max_len(mut self, n: usize) -> Self {
        self.max_len = n;
        self
    }

    /// How many entries one `XREAD` returns at most (Node's `readCount`, 100).
    pub fn read_count(mut self, n: usize) -> Self {
        self.read_count = n.max(1);
        self
    }

    /// The prefix of the session keys (Node's `sessionKeyPrefix`, `sio:session:`).
    pub fn session_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.session_key_prefix = prefix.into();
        self
    }

    /// How long a node stays silent before it publishes a heartbeat (5 s).
    pub fn heartbeat_interval(mut self, d: Duration) -> Self {
        self.heartbeat_interval = d;
        self
    }

    /// After how long without news another node is forgotten (10 s).
    pub fn heartbeat_timeout(mut self, d: Duration) -> Self {
        self.heartbeat_timeout = d;
        self
    }

    /// How long a request to other nodes (`fetchSockets`, server-side emit with ack) waits.
    pub fn requests_timeout(mut self, d: Duration) -> Self {
        self.requests_timeout = d;
        self
    }

    /// How long one `XREAD` blocks (5 s, as Node's).
    pub fn block(mut self, d: Duration) -> Self {
        self.block = d.max(Duration::from_millis(1));
        self
    }

    /// How long publishes are kept and retried while Redis cannot be reached (60 s); older
    /// ones are dropped with a log line (and a recoverable broadcast is then delivered
    /// locally without offset).
    pub fn max_outage(mut self, d: Duration) -> Self {
        self.max_outage = d;
        self
    }

    /// Connects to Redis. Must be called inside a tokio runtime, which the adapters' tasks
    /// then run on.
    pub async fn connect(self) -> Result<StreamsCluster, Error> {
        let client = redis::Client::open(self.url.as_str())?;
        let config = reconnecting(Duration::from_secs(1), self.requests_timeout);
        let conn = client.get_connection_manager_with_config(config).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let node = Node::new(random_hex(), self.requests_timeout);
        let (handle, metrics) = (node.handle.clone(), node.metrics.clone());
        let shared = Arc::new(StreamsShared {
            conn: conn.clone(),
            stream: self.stream_name,
            session_key_prefix: self.session_key_prefix,
            heartbeat_interval: self.heartbeat_interval,
            heartbeat_timeout: self.heartbeat_timeout,
            node,
            publish: tx,
            namespaces: Mutex::new(HashMap::new()),
            read_up_to: tokio::sync::watch::Sender::new((0, 0)),
            gate: Arc::new(tokio::sync::Mutex::new(())),
        });
        // Where the reader starts: the stream's last entry now (Node reads from `$`, which
        // misses what is added before its first XREAD; an explicit id does not).
        let start = last_id(&mut conn.clone(), &shared.stream)
            .await?
            .unwrap_or_else(|| "0-0".to_owned());
        if let Some(pos) = parse_id(&start) {
            shared.read_up_to.send_replace(pos);
        }
        handle.spawn(publisher(
            conn,
            rx,
            metrics,
            shared.stream.clone(),
            self.max_len,
            self.max_outage,
        ));
        handle.spawn(reader(
            client,
            Arc::downgrade(&shared),
            start,
            self.read_count,
            self.block,
        ));
        Ok(StreamsCluster(shared))
    }
}

/// This node's membership of a streams cluster: makes a [`StreamsAdapter`] per namespace
/// (give [`adapter`](Self::adapter) to [`Config::adapter`](wsx_socketio::Config::adapter)).
/// Cheap to clone.
#[derive(Clone)]
pub struct StreamsCluster(Arc<StreamsShared>);

impl std::fmt::Debug for StreamsCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsCluster")
            .field("stream", &self.0.stream)
            .field("uid", &self.0.node.uid)
            .finish_non_exhaustive()
    }
}

impl StreamsCluster {
    /// The adapter of namespace `nsp`.
    pub fn adapter(&self, nsp: &str) -> StreamsAdapter {
        StreamsAdapter::new(self.0.clone(), nsp)
    }

    /// This node's id in the cluster (16 hex characters, as Node's `ClusterAdapter`).
    pub fn uid(&self) -> &str {
        &self.0.node.uid
    }

    /// How many nodes serve namespace `nsp` as far as this node knows (itself and those
    /// heard from within the heartbeat timeout; Node's `serverCount()`); 0 if this node has
    /// no adapter for it.
    pub fn nodes(&self, nsp: &str) -> usize {
        lock(&self.0.namespaces)
            .get(nsp)
            .and_then(Weak::upgrade)
            .map_or(0, |st| 1 + lock(&st.nodes).len())
    }

    /// Counters of this node's Redis traffic (see [`Metrics`]).
    pub fn metrics(&self) -> Metrics {
        self.0.node.metrics.snapshot()
    }
}

/// One entry to add to the stream.
struct Outgoing {
    fields: Vec<(&'static str, String)>,
    deliver: Option<DeliverWithOffset>,
    queued: Instant,
}

struct StreamsShared {
    conn: redis::aio::ConnectionManager,
    stream: String,
    session_key_prefix: String,
    heartbeat_interval: Duration,
    heartbeat_timeout: Duration,
    node: Node,
    publish: mpsc::UnboundedSender<Outgoing>,
    /// The namespaces' states, by name, to route entries.
    namespaces: Mutex<HashMap<String, Weak<NsStream>>>,
    /// The id of the last entry the reader handed to the namespaces.
    read_up_to: tokio::sync::watch::Sender<(u64, u64)>,
    /// Held by the reader while it hands out a batch, and by a restoration from the end of
    /// its replay until the socket is back in its rooms, so that no entry falls between.
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl StreamsShared {
    /// Queues `{uid, nsp, type, data}` for the stream (in order).
    fn publish(&self, nsp: &str, kind: u64, data: Option<Mp>, deliver: Option<DeliverWithOffset>) {
        let out = Outgoing {
            fields: entry_fields(&self.node.uid, nsp, kind, data.as_ref()),
            deliver,
            queued: Instant::now(),
        };
        if let Err(e) = self.publish.send(out) {
            // The publisher is gone (the runtime shuts down): deliver locally anyway.
            if let Some(deliver) = e.0.deliver {
                deliver(None);
            }
        }
    }
}

/// The fields of a stream entry, as Node's `RedisStreamsAdapter.encode`: `uid`, `nsp`,
/// `type` (a decimal string) and, when there is data, `data`: JSON text, or base64 of
/// msgpack when a message type that may carry binary does.
fn entry_fields(uid: &str, nsp: &str, kind: u64, data: Option<&Mp>) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("uid", uid.to_owned()),
        ("nsp", nsp.to_owned()),
        ("type", kind.to_string()),
    ];
    if let Some(data) = data {
        let may_contain_binary = matches!(
            kind,
            kind::BROADCAST
                | kind::FETCH_SOCKETS_RESPONSE
                | kind::SERVER_SIDE_EMIT
                | kind::SERVER_SIDE_EMIT_RESPONSE
                | kind::BROADCAST_ACK
        );
        let text = if may_contain_binary && codec::has_binary(data) {
            B64.encode(codec::encode(data))
        } else {
            codec::to_json(data).to_string()
        };
        fields.push(("data", text));
    }
    fields
}

/// A stream entry decoded (Node's `RedisStreamsAdapter.decode`).
struct Entry {
    uid: String,
    nsp: String,
    kind: u64,
    data: Option<Mp>,
}

fn decode_entry(fields: &HashMap<String, String>) -> Option<Entry> {
    let kind = fields.get("type")?.parse().ok()?;
    let data = match fields.get("data") {
        None => None,
        Some(d) if d.is_empty() => None,
        Some(d) if d.starts_with('{') => Some(codec::from_json(&serde_json::from_str(d).ok()?)),
        Some(d) => Some(codec::decode(&B64.decode(d).ok()?)?),
    };
    Some(Entry {
        uid: fields.get("uid").cloned().unwrap_or_default(),
        nsp: fields.get("nsp").cloned().unwrap_or_default(),
        kind,
        data,
    })
}

/// An entry's fields as text (those that are not text are left out).
fn text_fields(fields: &Fields<'_>) -> HashMap<String, String> {
    fields
        .iter()
        .filter_map(|&(k, v)| Some((stream_reply::text(k)?, stream_reply::text(v)?)))
        .collect()
}

/// The entries of an `XREAD` reply of the stream, fields as text.
fn xread_entries(v: &redis::Value) -> Vec<(String, HashMap<String, String>)> {
    let streams = stream_reply::xread(v, text_fields);
    streams
        .into_iter()
        .flat_map(|(_, entries)| entries)
        .collect()
}

/// The id of the stream's last entry, if any.
async fn last_id(
    conn: &mut redis::aio::ConnectionManager,
    stream: &str,
) -> Result<Option<String>, redis::RedisError> {
    let v: redis::Value = redis::cmd("XREVRANGE")
        .arg(stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    Ok(stream_reply::entries(&v, |_| ())
        .into_iter()
        .next()
        .map(|(id, ())| id))
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

/// Reads the stream from the last entry seen, on a connection of its own, and hands each
/// entry to its namespace; reconnects (and resumes from the same entry) after a failure.
async fn reader(
    client: redis::Client,
    shared: Weak<StreamsShared>,
    start: String,
    read_count: usize,
    block: Duration,
) {
    let mut last = start;
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut backoff = Duration::from_millis(50);
    let block_ms = u64::try_from(block.as_millis()).unwrap_or(u64::MAX);
    loop {
        let Some(stream) = shared.upgrade().map(|s| s.stream.clone()) else {
            return;
        };
        let c = match &mut conn {
            Some(c) => c,
            None => match blocking_reader(&client, block).await {
                Ok(c) => {
                    if let Some(shared) = shared.upgrade() {
                        shared.node.metrics.connected();
                    }
                    backoff = Duration::from_millis(50);
                    conn.insert(c)
                }
                Err(e) => {
                    if let Some(shared) = shared.upgrade() {
                        shared.node.metrics.failed(&e);
                    }
                    tracing::debug!(error = %e, "wsx-redis: streams: cannot connect the reader; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
        };
        let res: Result<redis::Value, _> = redis::cmd("XREAD")
            .arg("BLOCK")
            .arg(block_ms)
            .arg("COUNT")
            .arg(read_count)
            .arg("STREAMS")
            .arg(&stream)
            .arg(&last)
            .query_async(c)
            .await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match res {
            Ok(v) => {
                let gate = shared.gate.clone();
                let _handing_out = gate.lock().await;
                for (id, fields) in xread_entries(&v) {
                    shared.node.metrics.received();
                    let nsp = fields.get("nsp").cloned().unwrap_or_default();
                    let st = lock(&shared.namespaces).get(&nsp).and_then(Weak::upgrade);
                    if let Some(st) = st {
                        st.on_raw_entry(&shared, &id, &fields);
                    }
                    last = id;
                }
                if let Some(pos) = parse_id(&last) {
                    shared.read_up_to.send_replace(pos);
                }
            }
            Err(e) => {
                shared.node.metrics.failed(&e);
                tracing::warn!(error = %e, last, "wsx-redis: streams: XREAD failed; reconnecting");
                conn = None;
                drop(shared);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Something a pending request hears.
pub(crate) enum Heard {
    /// An answer, from node `uid`.
    Answer(String, Mp),
    /// Node `uid` left or went silent.
    Gone(String),
}

/// A socket being restored: the rooms it comes back to, and the reader's gate.
type Restoring = (Vec<String>, tokio::sync::OwnedMutexGuard<()>);

/// One namespace's part of the cluster.
struct NsStream {
    nsp: String,
    ns: OnceLock<WeakNamespace>,
    /// The other nodes heard from, and when.
    nodes: Mutex<HashMap<String, Instant>>,
    /// Requests waiting for answers, by request id.
    pending: Arc<Pending<Heard>>,
    /// Sockets being restored, by id: the rooms they come back to, and the reader's gate,
    /// held until they are in them.
    restoring: Mutex<HashMap<String, Restoring>>,
    /// When this namespace last published (a heartbeat is due `heartbeatInterval` after).
    last_publish: Mutex<Instant>,
}

/// A namespace's adapter in a cluster of Socket.IO nodes sharing one Redis stream: rooms of
/// local sockets in memory, everything else through the stream with the entries of Node's
/// `@socket.io/redis-streams-adapter`, and connection state recovery across nodes. Made by
/// [`StreamsCluster::adapter`].
pub struct StreamsAdapter {
    local: MemoryAdapter,
    shared: Arc<StreamsShared>,
    st: Arc<NsStream>,
}

impl std::fmt::Debug for StreamsAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsAdapter")
            .field("nsp", &self.st.nsp)
            .field("uid", &self.shared.node.uid)
            .finish_non_exhaustive()
    }
}

impl Drop for StreamsAdapter {
    fn drop(&mut self) {
        let mut namespaces = lock(&self.shared.namespaces);
        if namespaces
            .get(&self.st.nsp)
            .is_some_and(|w| w.as_ptr() == Arc::as_ptr(&self.st))
        {
            namespaces.remove(&self.st.nsp);
        }
        drop(namespaces);
        if self.st.ns.get().is_some() {
            self.shared
                .publish(&self.st.nsp, kind::ADAPTER_CLOSE, None, None);
        }
    }
}

impl StreamsAdapter {
    fn new(shared: Arc<StreamsShared>, nsp: &str) -> Self {
        let st = Arc::new(NsStream {
            nsp: nsp.to_owned(),
            ns: OnceLock::new(),
            nodes: Mutex::new(HashMap::new()),
            pending: Arc::default(),
            restoring: Mutex::new(HashMap::new()),
            last_publish: Mutex::new(Instant::now()),
        });
        StreamsAdapter {
            local: MemoryAdapter::default(),
            shared,
            st,
        }
    }
}

impl ClusterAdapter for StreamsAdapter {
    type Heard = Heard;

    fn node(&self) -> &Node {
        &self.shared.node
    }

    fn publish(&self, kind: u64, data: Mp) {
        self.st.publish(&self.shared, kind, Some(data), None);
    }

    /// Asks the other nodes known now (heard from within the heartbeat timeout).
    fn ask(&self, kind: u64, id: String, data: Mp) -> BoxFuture<Option<(Waiter<Heard>, usize)>> {
        let (shared, st) = (self.shared.clone(), self.st.clone());
        Box::pin(async move {
            let expected = lock(&st.nodes).len();
            let send = || st.publish(&shared, kind, Some(data), None);
            Some((st.pending.ask(id, expected, send)?, expected))
        })
    }

    /// Gathers an answer from each node known when the request is sent, or news that it is
    /// gone.
    fn request(
        &self,
        kind: u64,
        id: String,
        data: Mp,
        timeout: Duration,
    ) -> BoxFuture<(Vec<Mp>, usize)> {
        let (shared, st) = (self.shared.clone(), self.st.clone());
        Box::pin(async move {
            let mut missing: HashSet<String> = lock(&st.nodes).keys().cloned().collect();
            let expected = missing.len();
            let send = || st.publish(&shared, kind, Some(data), None);
            let Some(mut waiter) = st.pending.ask(id, expected, send) else {
                return (Vec::new(), 0);
            };
            let deadline = Instant::now() + timeout;
            let mut answers = Vec::new();
            let complete = waiter
                .gather(deadline, |heard| {
                    match heard {
                        Heard::Answer(uid, r) => {
                            missing.remove(&uid);
                            answers.push(r);
                        }
                        Heard::Gone(uid) => {
                            missing.remove(&uid);
                        }
                    }
                    missing.is_empty()
                })
                .await;
            if !complete {
                tracing::warn!(
                    missing = missing.len(),
                    expected,
                    "wsx-redis: streams: a request timed out waiting for other nodes"
                );
            }
            (answers, expected)
        })
    }

    fn ack_reply(heard: &Heard) -> AckReply {
        match heard {
            Heard::Answer(_, r) => read_ack_reply(r),
            Heard::Gone(_) => AckReply::Other,
        }
    }
}

/// Whether a broadcast to `opts` reaches a socket in `rooms` (Node's `shouldIncludePacket`).
fn should_include(rooms: &[String], opts: &Value) -> bool {
    let list = |k: &str| string_list(&opts[k]);
    let (to, except) = (list("rooms"), list("except"));
    let included = to.is_empty() || rooms.iter().any(|r| to.contains(r));
    let excluded = rooms.iter().any(|r| except.contains(r));
    included && !excluded
}

/// Node's `nextOffset`: the smallest id after `offset` (exclusive ranges need Redis 6.2).
fn next_offset(offset: &str) -> Option<String> {
    let (ms, seq) = offset.split_once('-')?;
    let seq: u64 = seq.parse().ok()?;
    Some(format!("{ms}-{}", seq + 1))
}

/// A stream entry id as (milliseconds, sequence).
fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

fn valid_offset(offset: &str) -> bool {
    offset.split_once('-').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    })
}

impl NsStream {
    fn publish(
        &self,
        shared: &StreamsShared,
        kind: u64,
        data: Option<Mp>,
        deliver: Option<DeliverWithOffset>,
    ) {
        *lock(&self.last_publish) = Instant::now();
        shared.publish(&self.nsp, kind, data, deliver);
    }

    /// Forgets node `uid` and tells the pending requests.
    fn remove_node(&self, uid: &str) {
        lock(&self.nodes).remove(uid);
        self.pending.deliver_all(|| Heard::Gone(uid.to_owned()));
    }

    /// A stream entry of this namespace.
    fn on_raw_entry(&self, shared: &StreamsShared, id: &str, fields: &HashMap<String, String>) {
        let Some(entry) = decode_entry(fields) else {
            shared.node.metrics.malformed();
            tracing::warn!(
                id,
                "wsx-redis: streams: ignoring an entry that cannot be decoded"
            );
            return;
        };
        if entry.uid == shared.node.uid || entry.nsp != self.nsp {
            return;
        }
        if !entry.uid.is_empty() && entry.uid != EMITTER_UID {
            lock(&self.nodes).insert(entry.uid.clone(), Instant::now());
        }
        match entry.kind {
            kind::INITIAL_HEARTBEAT => self.publish(shared, kind::HEARTBEAT, None, None),
            kind::HEARTBEAT => {}
            kind::ADAPTER_CLOSE => self.remove_node(&entry.uid),
            _ => self.on_message(shared, id, entry),
        }
    }

    /// Another node's message (Node's `ClusterAdapter.onMessage`).
    fn on_message(&self, shared: &StreamsShared, offset: &str, entry: Entry) {
        let Some(ns) = self.ns.get().and_then(WeakNamespace::upgrade) else {
            return;
        };
        let Some(data) = entry.data else {
            shared.node.metrics.malformed();
            tracing::warn!(
                kind = entry.kind,
                "wsx-redis: streams: ignoring a message without data"
            );
            return;
        };
        let reply = |kind: u64, data: Mp| self.publish(shared, kind, Some(data), None);
        let (uid, nsp) = (shared.node.uid.clone(), self.nsp.clone());
        let tx = shared.publish.clone();
        let later = move |kind: u64, data: Mp| {
            let _ = tx.send(Outgoing {
                fields: entry_fields(&uid, &nsp, kind, Some(&data)),
                deliver: None,
                queued: Instant::now(),
            });
        };
        let from = entry.uid;
        let answer = |id: &str, msg: Mp| self.pending.deliver(id, Heard::Answer(from, msg));
        let reply = Reply { now: &reply, later };
        let message = (entry.kind, &data);
        cluster_adapter::on_message(&shared.node, &ns, message, Some(offset), answer, reply);
    }
}

/// Publishes heartbeats when the namespace has been silent, forgets silent nodes; ends with
/// the namespace's adapter.
async fn heartbeat(shared: Weak<StreamsShared>, st: Weak<NsStream>) {
    // Often enough for both periods (Node checks for silent nodes every second).
    let tick = shared.upgrade().map_or(Duration::from_millis(250), |s| {
        (s.heartbeat_interval / 4)
            .min(s.heartbeat_timeout / 4)
            .clamp(Duration::from_millis(10), Duration::from_millis(250))
    });
    loop {
        tokio::time::sleep(tick).await;
        let (Some(shared), Some(st)) = (shared.upgrade(), st.upgrade()) else {
            return;
        };
        let now = Instant::now();
        let due = now.duration_since(*lock(&st.last_publish)) >= shared.heartbeat_interval;
        if due {
            st.publish(&shared, kind::HEARTBEAT, None, None);
        }
        let gone: Vec<String> = lock(&st.nodes)
            .iter()
            .filter(|(_, seen)| now.duration_since(**seen) > shared.heartbeat_timeout)
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in gone {
            tracing::info!(uid, "wsx-redis: streams: a node seems down");
            st.remove_node(&uid);
        }
    }
}

impl Adapter for StreamsAdapter {
    fn init(&self, ns: WeakNamespace) {
        let _ = self.st.ns.set(ns);
        lock(&self.shared.namespaces).insert(self.st.nsp.clone(), Arc::downgrade(&self.st));
        self.st
            .publish(&self.shared, kind::INITIAL_HEARTBEAT, None, None);
        self.shared.node.handle.spawn(heartbeat(
            Arc::downgrade(&self.shared),
            Arc::downgrade(&self.st),
        ));
    }

    fn add_all(&self, id: &str, rooms: &[String]) {
        self.local.add_all(id, rooms);
        let mut restoring = lock(&self.st.restoring);
        if let Some((expected, _)) = restoring.get(id) {
            let now = self.local.socket_rooms(id);
            if expected.iter().all(|r| now.contains(r)) {
                // Back in its rooms: the reader may hand out again.
                restoring.remove(id);
            }
        }
    }

    local_rooms!(
        del,
        del_all,
        socket_rooms,
        sockets,
        membership_version,
        rooms
    );

    fn broadcast_remote(&self, packet: &Packet, opts: &BroadcastOptions) {
        if let Some(payload) = for_other_nodes(packet, opts) {
            self.publish(kind::BROADCAST, broadcast_data(payload, opts));
        }
    }

    cluster_requests!();

    fn recovers_sessions(&self) -> bool {
        true
    }

    fn broadcast_with_offset(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
        deliver: DeliverWithOffset,
    ) {
        match event_payload(packet) {
            Some(payload) => {
                let data = broadcast_data(payload, opts);
                self.st
                    .publish(&self.shared, kind::BROADCAST, Some(data), Some(deliver));
            }
            None => deliver(None),
        }
    }

    fn persist_session(&self, session: SessionState, ttl: Duration) {
        let key = format!("{}{}", self.shared.session_key_prefix, session.pid);
        let value = B64.encode(codec::encode(&map(vec![
            ("sid", s(&session.sid)),
            ("pid", s(&session.pid)),
            ("rooms", strings(&session.rooms)),
            ("data", codec::from_json(&session.data)),
        ])));
        let mut conn = self.shared.conn.clone();
        let metrics = self.shared.node.metrics.clone();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.shared.node.handle.spawn(async move {
            // A few tries: a session is worth keeping across a Redis hiccup.
            for attempt in 0..5u32 {
                let res: Result<(), _> = redis::cmd("SET")
                    .arg(&key)
                    .arg(&value)
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut conn)
                    .await;
                match res {
                    Ok(()) => return,
                    Err(e) => {
                        metrics.failed(&e);
                        tracing::warn!(error = %e, attempt, "wsx-redis: streams: cannot store a session");
                        tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                    }
                }
            }
        });
    }

    fn restore_session(&self, pid: &str, offset: &str) -> BoxFuture<Option<RestoredSession>> {
        if !valid_offset(offset) {
            return Box::pin(async { None });
        }
        let key = format!("{}{pid}", self.shared.session_key_prefix);
        let (offset, nsp) = (offset.to_owned(), self.st.nsp.clone());
        let mut conn = self.shared.conn.clone();
        let stream = self.shared.stream.clone();
        let mut read_up_to = self.shared.read_up_to.subscribe();
        let (gate, st) = (self.shared.gate.clone(), self.st.clone());
        Box::pin(async move {
            let res = restore(&mut conn, &stream, &key, &offset, &nsp).await;
            let (mut restored, replayed_to) = match res {
                Ok(Some(r)) => r,
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(error = %e, "wsx-redis: streams: cannot restore a session");
                    return None;
                }
            };
            // The reader may not have handed out every replayed entry yet: once the socket is
            // back in its rooms it would get those twice. Wait (briefly) until it has.
            let replayed_to_pos = parse_id(&replayed_to).unwrap_or((0, 0));
            let caught_up = read_up_to.wait_for(|pos| *pos >= replayed_to_pos);
            let _ = tokio::time::timeout(Duration::from_secs(1), caught_up).await;
            // Then stop the reader until the socket is in its rooms (add_all), and replay what
            // it handed out since the first reading, which the socket would miss otherwise.
            let guard = gate.lock_owned().await;
            let read = *read_up_to.borrow();
            if read > replayed_to_pos {
                let to = format!("{}-{}", read.0, read.1);
                match replay(
                    &mut conn,
                    &stream,
                    &nsp,
                    &restored.session.rooms,
                    &replayed_to,
                    Some(&to),
                )
                .await
                {
                    Ok((more, _)) => restored.missed.extend(more),
                    Err(e) => {
                        tracing::warn!(error = %e, "wsx-redis: streams: cannot finish a restoration")
                    }
                }
            }
            let sid = restored.session.sid.clone();
            lock(&st.restoring).insert(sid.clone(), (restored.session.rooms.clone(), guard));
            // If the socket never joins (its connection closed meanwhile), let go anyway.
            let weak = Arc::downgrade(&st);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if let Some(st) = weak.upgrade() {
                    lock(&st.restoring).remove(&sid);
                }
            });
            Some(restored)
        })
    }
}

/// Node's `restoreSession`: take the session (GET+DEL in one transaction), check that the
/// offset is still in the stream, then read the entries after it. Also returns the id of the
/// last entry read.
async fn restore(
    conn: &mut redis::aio::ConnectionManager,
    stream: &str,
    key: &str,
    offset: &str,
    nsp: &str,
) -> Result<Option<(RestoredSession, String)>, redis::RedisError> {
    let (raw,): (Option<String>,) = redis::pipe()
        .atomic()
        .cmd("GET")
        .arg(key)
        .cmd("DEL")
        .arg(key)
        .ignore()
        .query_async(conn)
        .await?;
    let here: redis::Value = redis::cmd("XRANGE")
        .arg(stream)
        .arg(offset)
        .arg(offset)
        .query_async(conn)
        .await?;
    let (Some(raw), false) = (raw, stream_reply::entries(&here, |_| ()).is_empty()) else {
        return Ok(None);
    };
    let Some(session) = B64.decode(&raw).ok().and_then(|b| codec::decode(&b)) else {
        tracing::warn!("wsx-redis: streams: ignoring a session that cannot be decoded");
        return Ok(None);
    };
    let json = codec::to_json(&session);
    let session = SessionState {
        sid: json["sid"].as_str().unwrap_or_default().to_owned(),
        pid: json["pid"].as_str().unwrap_or_default().to_owned(),
        rooms: string_list(&json["rooms"]),
        data: json.get("data").cloned().unwrap_or(Value::Null),
    };
    if session.sid.is_empty() {
        return Ok(None);
    }
    let (missed, last) = replay(conn, stream, nsp, &session.rooms, offset, None).await?;
    Ok(Some((RestoredSession { session, missed }, last)))
}

/// The broadcasts of namespace `nsp` to `rooms` in the stream after `after` (up to `upto`
/// included, or to its end), each with its id appended; and the id of the last entry read.
async fn replay(
    conn: &mut redis::aio::ConnectionManager,
    stream: &str,
    nsp: &str,
    rooms: &[String],
    after: &str,
    upto: Option<&str>,
) -> Result<(Vec<Packet>, String), redis::RedisError> {
    let mut missed = Vec::new();
    let mut from = after.to_owned();
    for _ in 0..RESTORE_MAX_PAGES {
        let Some(start) = next_offset(&from) else {
            break;
        };
        let page: redis::Value = redis::cmd("XRANGE")
            .arg(stream)
            .arg(&start)
            .arg(upto.unwrap_or("+"))
            .arg("COUNT")
            .arg(RESTORE_PAGE)
            .query_async(conn)
            .await?;
        let entries = stream_reply::entries(&page, text_fields);
        if entries.is_empty() {
            break;
        }
        for (id, fields) in entries {
            if fields.get("nsp").map(String::as_str) == Some(nsp)
                && fields.get("type").map(String::as_str) == Some("3")
                && let Some(Entry {
                    data: Some(data), ..
                }) = decode_entry(&fields)
                && let Some(Mp::Array(args)) =
                    codec::get(&data, "packet").and_then(|p| codec::get(p, "data"))
                && should_include(rooms, &codec::to_json(&data)["opts"])
            {
                let mut payload = codec::to_payload(args);
                payload.args.push(Value::String(id.clone()));
                missed.push(Packet::event(nsp, payload));
            }
            from = id;
        }
    }
    Ok((missed, from))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_are_encoded_as_nodes() {
        let data = codec::from_json(&json!({
            "packet": {"type": 2, "data": ["tick", 1]},
            "opts": {"rooms": ["news"], "except": [], "flags": {}},
        }));
        let f = entry_fields("8dd0", "/", kind::BROADCAST, Some(&data));
        assert_eq!(
            f,
            vec![
                ("uid", "8dd0".to_owned()),
                ("nsp", "/".to_owned()),
                ("type", "3".to_owned()),
                (
                    "data",
                    r#"{"packet":{"type":2,"data":["tick",1]},"opts":{"rooms":["news"],"except":[],"flags":{}}}"#
                        .to_owned()
                ),
            ]
        );
        assert_eq!(entry_fields("u", "/", kind::HEARTBEAT, None).len(), 3);
    }

    #[test]
    fn binary_data_is_base64_msgpack_and_decodes_back() {
        let data = map(vec![(
            "packet",
            Mp::Array(vec![s("e"), Mp::Binary(vec![1, 2])]),
        )]);
        let f = entry_fields("u", "/", kind::SERVER_SIDE_EMIT, Some(&data));
        assert!(!f[3].1.starts_with('{'));
        let fields: HashMap<String, String> =
            f.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let e = decode_entry(&fields).unwrap();
        assert_eq!(e.kind, kind::SERVER_SIDE_EMIT);
        assert_eq!(e.data, Some(data));
        // Binary in a join request is not expected: JSON (binary as null), as Node.
        let join = map(vec![("rooms", Mp::Array(vec![Mp::Binary(vec![1])]))]);
        let f = entry_fields("u", "/", kind::SOCKETS_JOIN, Some(&join));
        assert_eq!(f[3].1, r#"{"rooms":[null]}"#);
    }

    #[test]
    fn offsets() {
        assert!(valid_offset("1795354590402-0"));
        assert!(!valid_offset("Q83UEhh") && !valid_offset("1-") && !valid_offset("-1"));
        assert_eq!(next_offset("17-9").as_deref(), Some("17-10"));
    }

    #[test]
    fn packets_are_included_as_nodes_does() {
        let rooms = vec!["sid1".to_owned(), "news".to_owned()];
        assert!(should_include(&rooms, &json!({"rooms": [], "except": []})));
        assert!(should_include(
            &rooms,
            &json!({"rooms": ["news"], "except": []})
        ));
        assert!(!should_include(
            &rooms,
            &json!({"rooms": ["other"], "except": []})
        ));
        assert!(!should_include(
            &rooms,
            &json!({"rooms": [], "except": ["sid1"]})
        ));
    }

    #[test]
    fn replies_are_parsed() {
        use redis::Value as V;
        let b = |s: &str| V::BulkString(s.as_bytes().to_vec());
        let entry = V::Array(vec![
            b("1-0"),
            V::Array(vec![b("uid"), b("x"), b("type"), b("2")]),
        ]);
        let xread = V::Array(vec![V::Array(vec![
            b("socket.io"),
            V::Array(vec![entry.clone()]),
        ])]);
        let e = xread_entries(&xread);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "1-0");
        assert_eq!(e[0].1["type"], "2");
        assert!(xread_entries(&V::Nil).is_empty());
        assert_eq!(
            stream_reply::entries(&V::Array(vec![entry]), text_fields).len(),
            1
        );
    }
}
