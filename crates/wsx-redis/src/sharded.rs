//! The sharded adapter: Node's `createShardedAdapter` (`@socket.io/redis-adapter` 8.x) on
//! Redis 7 sharded Pub/Sub (`SPUBLISH`/`SSUBSCRIBE`), over a Redis Cluster.
//!
//! The protocol is socket.io-adapter's `ClusterAdapter`: every message is an object
//! `{type, data, uid, nsp}` (JSON, msgpack when `data` holds binary) published on
//! `<prefix>#<nsp>#`, or, for a broadcast without acknowledgement to exactly one public room in
//! the `dynamic` subscription mode, on that room's channel `<prefix>#<nsp>#<room>#`, which only
//! the nodes with a local member of the room subscribe to. Answers go to the asking node's
//! `<prefix>#<nsp>#<uid>#`. Nodes are counted with `PUBSUB SHARDNUMSUB <prefix>#<nsp>#`
//! summed over the cluster's nodes.
//!
//! redis-rs's cluster connection (`cluster-async`, RESP3) does the sharded part: it sends each
//! `SSUBSCRIBE`/`SPUBLISH` to the primary owning the channel's slot, delivers `smessage` pushes
//! on one channel, and subscribes again after a node reconnects or a slot moves. That
//! resubscription misses channels when the whole cluster restarts, so the adapter also sends
//! `SSUBSCRIBE` for all its channels again after every lost connection (idempotent).
//!
//! It needs a Redis Cluster: redis-rs 1.8 offers `SSUBSCRIBE` only on its cluster connection,
//! so unlike Node's adapter it does not run on a plain Redis (one `cluster-enabled` node
//! owning every slot is a cluster and works).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use rmpv::Value as Mp;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use wsx_socketio::cluster::{BoxFuture, BroadcastOptions, Cluster, LocalNamespace};
use wsx_socketio::socketio::Packet;

use crate::cluster_adapter::{
    self, ClusterAdapter, Reply, Request, broadcast_data, cluster_requests, kind, read_ack_reply,
};
use crate::codec::{self, map, s};
use crate::error::Error;
use crate::flag::set_within;
use crate::ids::random_hex;
use crate::lock::lock;
use crate::node::{Node, node_handle};
use crate::pubsub::{publish, shardnumsub};
use crate::request::{AckReply, Pending, Waiter, ask_listeners};
use crate::setters::setters;
use crate::wire::for_other_nodes;

/// Which rooms get a channel of their own (Node's `subscriptionMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubscriptionMode {
    /// Only the namespace's channel: every node receives every broadcast.
    Static,
    /// The default: each public room (not a socket id) has its own channel, subscribed by the
    /// nodes that have a local member; a broadcast to exactly one such room goes there.
    #[default]
    Dynamic,
    /// As `Dynamic`, and private rooms (socket ids) get a channel too.
    DynamicPrivate,
}

/// Builds a [`ShardedCluster`]: the Redis Cluster's seed nodes, the channel prefix
/// (`socket.io`, Node's `channelPrefix`), the [`SubscriptionMode`] and how long requests to
/// other nodes wait for answers (5 s).
///
/// ```no_run
/// # async fn f() -> Result<(), wsx_redis::Error> {
/// use wsx_socketio::{Config, SocketIo};
///
/// let cluster = wsx_redis::ShardedAdapterBuilder::new(["redis://127.0.0.1:7000/"])
///     .connect()
///     .await?;
/// let io = SocketIo::new(Config::default().adapter(move |nsp| cluster.adapter(nsp)));
/// io.to(["news"]).emit("hello", "to room news on every node");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ShardedAdapterBuilder {
    nodes: Vec<String>,
    prefix: String,
    mode: SubscriptionMode,
    requests_timeout: Duration,
}

impl ShardedAdapterBuilder {
    /// A builder for the Redis Cluster reachable at any of `nodes` (`redis://host:port/`).
    pub fn new<I, S>(nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ShardedAdapterBuilder {
            nodes: nodes.into_iter().map(Into::into).collect(),
            prefix: "socket.io".into(),
            mode: SubscriptionMode::default(),
            requests_timeout: Duration::from_secs(5),
        }
    }

    setters! {
        /// The channel prefix (Node's `channelPrefix`); every node must use the same.
        channel_prefix(prefix: impl Into<String>) => prefix = prefix.into();
        /// Which rooms get a channel of their own; every node should use the same.
        subscription_mode(mode: SubscriptionMode) => mode = mode;
        /// How long a request to other nodes (`fetchSockets`, server-side emit with ack) waits.
        requests_timeout(timeout: Duration) => requests_timeout = timeout;
    }

    /// Connects to the Redis Cluster. Must be called inside a tokio runtime, which the
    /// adapters' tasks then run on.
    pub async fn connect(self) -> Result<ShardedCluster, Error> {
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let client = redis::cluster::ClusterClientBuilder::new(self.nodes.clone())
            .use_protocol(redis::ProtocolVersion::RESP3)
            .push_sender(push_tx)
            .connection_timeout(Duration::from_secs(2))
            .response_timeout(self.requests_timeout)
            .retries(3)
            .build()?;
        let conn = client.get_async_connection().await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(ShardedShared {
            conn: conn.clone(),
            prefix: self.prefix,
            mode: self.mode,
            node: Node::new(random_hex(), self.requests_timeout, "sharded"),
            commands: tx,
            namespaces: Mutex::new(HashMap::new()),
            resubscribing: AtomicBool::new(false),
        });
        let handle = &shared.node.handle;
        handle.spawn(commander(conn, rx, Arc::downgrade(&shared)));
        handle.spawn(router(push_rx, Arc::downgrade(&shared)));
        Ok(ShardedCluster(shared))
    }
}

/// This node's membership of a sharded cluster: makes a [`ShardedAdapter`] per namespace
/// (give [`adapter`](Self::adapter) to [`Config::adapter`](wsx_socketio::Config::adapter)).
/// Cheap to clone.
#[derive(Clone)]
pub struct ShardedCluster(Arc<ShardedShared>);

impl ShardedCluster {
    /// How many nodes listen to namespace `nsp` (`PUBSUB SHARDNUMSUB` of its channel, summed
    /// over the Redis Cluster's nodes; this node included once its adapter has subscribed).
    pub async fn nodes(&self, nsp: &str) -> Result<usize, Error> {
        Ok(shardnumsub(&self.0.conn, &self.0.channel(nsp)).await?)
    }
}

node_handle!(
    ShardedCluster makes ShardedAdapter,
    uid: "16 hex characters, as Node's `ClusterAdapter`",
    debug: prefix, mode
);

enum Command {
    Publish(String, Vec<u8>),
    Subscribe(Vec<String>, Option<watch::Sender<bool>>),
    Unsubscribe(String),
}

struct ShardedShared {
    conn: redis::cluster_async::ClusterConnection,
    prefix: String,
    mode: SubscriptionMode,
    node: Node,
    commands: mpsc::UnboundedSender<Command>,
    /// The namespaces' states, by name, to route received messages.
    namespaces: Mutex<HashMap<String, Weak<NsShard>>>,
    /// Whether a [`resubscribe`] task runs.
    resubscribing: AtomicBool,
}

impl ShardedShared {
    /// The channel of namespace `nsp`, `<prefix>#<nsp>#` (its subscribers are the
    /// namespace's nodes).
    fn channel(&self, nsp: &str) -> String {
        format!("{}#{nsp}#", self.prefix)
    }

    fn publish(&self, channel: String, payload: Vec<u8>) {
        let _ = self.commands.send(Command::Publish(channel, payload));
    }
}

/// Runs publishes and subscription changes in order, on the cluster connection.
async fn commander(
    mut conn: redis::cluster_async::ClusterConnection,
    mut rx: mpsc::UnboundedReceiver<Command>,
    shared: Weak<ShardedShared>,
) {
    while let Some(cmd) = rx.recv().await {
        let Some(metrics) = shared.upgrade().map(|s| s.node.metrics.clone()) else {
            return;
        };
        match cmd {
            Command::Publish(channel, payload) => {
                publish(&mut conn, "SPUBLISH", &channel, payload, &metrics).await;
            }
            Command::Subscribe(channels, done) => {
                let mut ok = true;
                // One by one: channels in different slots live on different nodes.
                for channel in &channels {
                    if let Err(e) = conn.ssubscribe(channel).await {
                        metrics.failed(&e);
                        tracing::warn!(error = %e, channel, "wsx-redis: SSUBSCRIBE failed");
                        ok = false;
                    }
                }
                if let Some(done) = done {
                    done.send_replace(ok);
                }
                if !ok && let Some(shared) = shared.upgrade() {
                    resubscribe(&shared);
                }
            }
            Command::Unsubscribe(channel) => {
                if let Err(e) = conn.sunsubscribe(&channel).await {
                    tracing::warn!(error = %e, channel, "wsx-redis: SUNSUBSCRIBE failed");
                }
            }
        }
    }
}

/// Subscribes every channel of every namespace again, until it works. redis-rs's cluster
/// connection resubscribes by itself after a reconnection, but not always (a whole cluster
/// restarting, slots not served yet); `SSUBSCRIBE` of a channel already subscribed changes
/// nothing, so doing it again is safe. One such task at a time.
fn resubscribe(shared: &Arc<ShardedShared>) {
    if shared.resubscribing.swap(true, Ordering::AcqRel) {
        return;
    }
    let weak = Arc::downgrade(shared);
    let mut conn = shared.conn.clone();
    shared.node.handle.spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            tokio::time::sleep(backoff).await;
            let Some(shared) = weak.upgrade() else {
                return;
            };
            let namespaces: Vec<Arc<NsShard>> = lock(&shared.namespaces)
                .values()
                .filter_map(Weak::upgrade)
                .collect();
            let channels: Vec<String> = namespaces
                .iter()
                .flat_map(|st| {
                    let rooms: Vec<String> = lock(&st.room_channels)
                        .iter()
                        .map(|room| format!("{}{room}#", st.channel))
                        .collect();
                    [st.channel.clone(), st.response_channel.clone()]
                        .into_iter()
                        .chain(rooms)
                })
                .collect();
            let mut ok = true;
            for channel in &channels {
                if let Err(e) = conn.ssubscribe(channel).await {
                    tracing::debug!(error = %e, channel, "wsx-redis: resubscribing failed; retrying");
                    ok = false;
                    break;
                }
            }
            if ok {
                for st in &namespaces {
                    st.subscribed.send_replace(true);
                }
                shared.resubscribing.store(false, Ordering::Release);
                shared.node.metrics.connected();
                tracing::info!(channels = channels.len(), "wsx-redis: sharded channels subscribed again");
                return;
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    });
}

/// Hands each `smessage` push to its namespace.
async fn router(mut rx: mpsc::UnboundedReceiver<redis::PushInfo>, shared: Weak<ShardedShared>) {
    while let Some(push) = rx.recv().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match push.kind {
            redis::PushKind::SMessage => {}
            redis::PushKind::Disconnection => {
                shared.node.metrics.disconnected();
                tracing::warn!("wsx-redis: a Redis Cluster connection was lost; reconnecting");
                resubscribe(&shared);
                continue;
            }
            redis::PushKind::SSubscribe => {
                // Also what the connection's automatic resubscription confirms.
                shared.node.metrics.connected();
                continue;
            }
            _ => continue,
        }
        let (Some(redis::Value::BulkString(channel)), Some(redis::Value::BulkString(payload))) =
            (push.data.first(), push.data.get(1))
        else {
            continue;
        };
        shared.node.metrics.received();
        let Ok(channel) = std::str::from_utf8(channel) else {
            continue;
        };
        let Some(rest) = channel
            .strip_prefix(shared.prefix.as_str())
            .and_then(|r| r.strip_prefix('#'))
        else {
            continue;
        };
        // The namespace whose channels this is (the longest name that fits).
        let ns = lock(&shared.namespaces)
            .iter()
            .filter(|(name, _)| {
                rest.strip_prefix(name.as_str())
                    .is_some_and(|r| r.starts_with('#'))
            })
            .max_by_key(|(name, _)| name.len())
            .and_then(|(_, st)| st.upgrade());
        let Some(st) = ns else {
            continue;
        };
        st.on_raw_message(&shared, channel, payload);
    }
}

/// One namespace's part of the cluster.
struct NsShard {
    nsp: String,
    /// `prefix#nsp#`.
    channel: String,
    /// `prefix#nsp#uid#`.
    response_channel: String,
    ns: OnceLock<Arc<dyn LocalNamespace>>,
    /// Requests waiting for answers, by request id.
    pending: Arc<Pending<Mp>>,
    /// Rooms whose channel this node subscribed to.
    room_channels: Mutex<HashSet<String>>,
    subscribed: watch::Sender<bool>,
}

/// A namespace's adapter in a cluster of Socket.IO nodes on a Redis Cluster: what goes to and
/// comes from the other nodes, through sharded Pub/Sub with the channels and messages of
/// Node's `createShardedAdapter` (the namespace keeps its own sockets' rooms). Made by
/// [`ShardedCluster::adapter`].
pub struct ShardedAdapter {
    shared: Arc<ShardedShared>,
    st: Arc<NsShard>,
}

impl std::fmt::Debug for ShardedAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = "ShardedAdapter";
        self.shared.node.debug_adapter(f, name, &self.st.nsp)
    }
}

impl Drop for ShardedAdapter {
    fn drop(&mut self) {
        lock(&self.shared.namespaces).remove(&self.st.nsp);
        let mut channels = vec![self.st.channel.clone(), self.st.response_channel.clone()];
        channels.extend(
            lock(&self.st.room_channels)
                .drain()
                .map(|room| format!("{}{room}#", self.st.channel)),
        );
        for c in channels {
            let _ = self.shared.commands.send(Command::Unsubscribe(c));
        }
    }
}

impl ShardedAdapter {
    fn new(shared: Arc<ShardedShared>, nsp: &str) -> Self {
        let channel = shared.channel(nsp);
        let response_channel = format!("{channel}{}#", shared.node.uid);
        let st = Arc::new(NsShard {
            nsp: nsp.to_owned(),
            channel,
            response_channel,
            ns: OnceLock::new(),
            pending: Arc::default(),
            room_channels: Mutex::new(HashSet::new()),
            subscribed: watch::Sender::new(false),
        });
        ShardedAdapter { shared, st }
    }

    /// Waits (at most `timeout`) until this node listens on the namespace's channels; returns
    /// whether it does.
    pub async fn subscribed(&self, timeout: Duration) -> bool {
        set_within(&self.st.subscribed, timeout).await
    }

    /// Whether `room` gets a channel of its own (`id` is the socket joining or leaving it).
    fn separate_channel(&self, room: &str, id: &str) -> bool {
        match self.shared.mode {
            SubscriptionMode::Static => false,
            SubscriptionMode::DynamicPrivate => true,
            SubscriptionMode::Dynamic => {
                room != id && self.local().is_none_or(|l| l.socket_rooms(room).is_empty())
            }
        }
    }

    /// The namespace's local side, once it is initialised.
    fn local(&self) -> Option<&Arc<dyn LocalNamespace>> {
        self.st.ns.get()
    }

    fn room_empty(&self, room: &str) -> bool {
        self.local().is_none_or(|l| !l.has_room(room))
    }

    fn room_channel(&self, room: &str) -> String {
        format!("{}{room}#", self.st.channel)
    }

    /// Unsubscribes the channels of `rooms` that no local socket is in any more.
    fn drop_room_channels(&self, rooms: &[String]) {
        let mut subscribed = lock(&self.st.room_channels);
        for room in rooms {
            if subscribed.contains(room) && self.room_empty(room) {
                subscribed.remove(room);
                let _ = self
                    .shared
                    .commands
                    .send(Command::Unsubscribe(self.room_channel(room)));
            }
        }
    }

    /// Publishes `{type, data, uid, nsp}` on `channel`.
    fn publish_on(&self, channel: String, kind: u64, data: Mp) {
        self.shared
            .publish(channel, encode(&self.shared, &self.st.nsp, kind, data));
    }
}

impl ClusterAdapter for ShardedAdapter {
    type Heard = Mp;

    fn node(&self) -> &Node {
        &self.shared.node
    }

    fn publish(&self, kind: u64, data: Mp) {
        self.publish_on(self.st.channel.clone(), kind, data);
    }

    /// Counts the other nodes with `PUBSUB SHARDNUMSUB` of the namespace's channel.
    fn ask(&self, request: Request) -> BoxFuture<Option<(Waiter<Mp>, usize)>> {
        let bytes = encode(&self.shared, &self.st.nsp, request.kind, request.data);
        let (shared, st) = (self.shared.clone(), self.st.clone());
        Box::pin(async move {
            let listeners = shardnumsub(&shared.conn, &st.channel);
            let send = || shared.publish(st.channel.clone(), bytes);
            ask_listeners(&st.pending, request.id, listeners, send, "a request").await
        })
    }

    fn request(&self, request: Request, timeout: Duration) -> BoxFuture<(Vec<Mp>, usize)> {
        let asked = self.ask(request);
        Box::pin(async move {
            let Some((waiter, expected)) = asked.await else {
                return (Vec::new(), 0);
            };
            let deadline = Instant::now() + timeout;
            (
                waiter.answers(expected, deadline, "a request").await,
                expected,
            )
        })
    }

    fn ack_reply(heard: &Mp) -> AckReply {
        read_ack_reply(heard)
    }
}

/// `{type, data, uid, nsp}` as Node's sharded adapter writes it: msgpack when `data` holds
/// binary, else JSON.
fn encode(shared: &ShardedShared, nsp: &str, kind: u64, data: Mp) -> Vec<u8> {
    encode_with(&shared.node.uid, nsp, kind, data)
}

impl Cluster for ShardedAdapter {
    fn init(&self, local: Arc<dyn LocalNamespace>) {
        let _ = self.st.ns.set(local);
        lock(&self.shared.namespaces).insert(self.st.nsp.clone(), Arc::downgrade(&self.st));
        let _ = self.shared.commands.send(Command::Subscribe(
            vec![self.st.channel.clone(), self.st.response_channel.clone()],
            Some(self.st.subscribed.clone()),
        ));
    }

    fn joined(&self, id: &str, rooms: &[String]) {
        let mut subscribed = lock(&self.st.room_channels);
        let new: Vec<String> = rooms
            .iter()
            .filter(|room| !subscribed.contains(*room) && self.separate_channel(room, id))
            .cloned()
            .collect();
        if !new.is_empty() {
            let channels = new.iter().map(|r| self.room_channel(r)).collect();
            subscribed.extend(new);
            let _ = self
                .shared
                .commands
                .send(Command::Subscribe(channels, None));
        }
    }

    fn left(&self, _id: &str, rooms: &[String]) {
        self.drop_room_channels(rooms);
    }

    fn broadcast(&self, packet: &Packet, opts: &BroadcastOptions) {
        let Some(payload) = for_other_nodes(packet, opts) else {
            return;
        };
        let data = broadcast_data(payload, opts);
        // Node's computeChannel: a room channel for exactly one room (not a socket id unless
        // dynamic-private), never for a broadcast with acknowledgements.
        let channel = match (self.shared.mode, opts.rooms.as_slice()) {
            (SubscriptionMode::Dynamic, [room]) if room.len() != 20 => self.room_channel(room),
            (SubscriptionMode::DynamicPrivate, [room]) => self.room_channel(room),
            _ => self.st.channel.clone(),
        };
        self.publish_on(channel, kind::BROADCAST, data);
    }

    cluster_requests!();
}

impl NsShard {
    /// A message on one of this namespace's channels.
    fn on_raw_message(&self, shared: &ShardedShared, channel: &str, payload: &[u8]) {
        let msg = if payload.first() == Some(&b'{') {
            serde_json::from_slice::<Value>(payload)
                .ok()
                .map(|v| codec::from_json(&v))
        } else {
            codec::decode(payload)
        };
        let Some(msg @ Mp::Map(_)) = msg else {
            shared.node.metrics.malformed();
            tracing::warn!(
                channel,
                "wsx-redis: ignoring a message that is not an object"
            );
            return;
        };
        if channel == self.response_channel {
            self.on_response(msg);
            return;
        }
        if codec::get(&msg, "uid").and_then(Mp::as_str) == Some(shared.node.uid.as_str()) {
            return;
        }
        if codec::get(&msg, "nsp").and_then(Mp::as_str) != Some(self.nsp.as_str()) {
            return;
        }
        let Some(ns) = self.ns.get().filter(|l| l.is_open()) else {
            return;
        };
        let kind = codec::get(&msg, "type").and_then(Mp::as_u64);
        let (Some(kind), Some(data)) = (kind, codec::get(&msg, "data")) else {
            shared.node.metrics.malformed();
            tracing::warn!(
                channel,
                "wsx-redis: ignoring a message without type or data"
            );
            return;
        };
        let requester = codec::get(&msg, "uid")
            .and_then(Mp::as_str)
            .unwrap_or_default()
            .to_owned();
        let reply_channel = format!("{}{requester}#", self.channel);
        let reply = |kind: u64, data: Mp| {
            shared.publish(reply_channel.clone(), encode(shared, &self.nsp, kind, data));
        };
        let (uid, nsp) = (shared.node.uid.clone(), self.nsp.clone());
        let (commands, later_channel) = (shared.commands.clone(), reply_channel.clone());
        let later = move |kind: u64, data: Mp| {
            let bytes = encode_with(&uid, &nsp, kind, data);
            let _ = commands.send(Command::Publish(later_channel.clone(), bytes));
        };
        let answer = |id: &str, msg: Mp| self.pending.deliver(id, msg);
        let reply = Reply { now: &reply, later };
        cluster_adapter::on_message(&shared.node, &**ns, (kind, data), None, answer, reply);
    }

    /// Another node's answer to one of our requests.
    fn on_response(&self, msg: Mp) {
        let id = codec::get(&msg, "data")
            .and_then(|d| codec::get(d, "requestId"))
            .and_then(Mp::as_str);
        let Some(id) = id else {
            return;
        };
        let id = id.to_owned();
        self.pending.deliver(&id, msg);
    }
}

/// [`encode`] for a task that holds the uid rather than the cluster.
fn encode_with(uid: &str, nsp: &str, kind: u64, data: Mp) -> Vec<u8> {
    let msg = map(vec![
        ("type", Mp::from(kind)),
        ("data", data),
        ("uid", s(uid)),
        ("nsp", s(nsp)),
    ]);
    codec::json_or_msgpack(&msg)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_broadcast_is_byte_identical_to_nodes() {
        // The captured SPUBLISH of §7.3 (uid shortened).
        let payload = codec::captured_payload();
        // What Cluster::broadcast publishes for io.emit("hello", 1, "two", {three: [true]}).
        let data = broadcast_data(&payload, &BroadcastOptions::default());
        assert_eq!(
            String::from_utf8(encode_with("a562", "/", kind::BROADCAST, data)).unwrap(),
            r#"{"type":3,"data":{"packet":{"type":2,"data":["hello",1,"two",{"three":[true]}]},"opts":{"rooms":[],"except":[],"flags":{}}},"uid":"a562","nsp":"/"}"#
        );
    }

    #[test]
    fn binary_data_makes_the_message_msgpack() {
        let data = map(vec![(
            "packet",
            Mp::Array(vec![s("e"), Mp::Binary(vec![1])]),
        )]);
        let bytes = encode_with("u", "/", kind::SERVER_SIDE_EMIT, data);
        assert_eq!(bytes[0], 0x84, "a msgpack map of 4 entries");
        let back = codec::decode(&bytes).unwrap();
        assert_eq!(codec::get(&back, "type").and_then(Mp::as_u64), Some(9));
    }
}
