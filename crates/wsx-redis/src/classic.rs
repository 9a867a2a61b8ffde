//! The classic adapter: Node's `createAdapter` (`@socket.io/redis-adapter` 8.x), Redis Pub/Sub
//! on one Redis.
//!
//! [`RedisAdapterBuilder`] connects this node ([`RedisCluster`]), which makes a
//! [`RedisAdapter`] per namespace. A namespace's channels are `<key>#<nsp>#` for broadcasts
//! (`<key>#<nsp>#<room>#` for a broadcast to exactly one room), `<key>-request#<nsp>#` for
//! requests and `<key>-response#<nsp>#` for their answers (a node also listens on
//! `<key>-response#<nsp>#<uid>#`). A broadcast is the msgpack array `[uid, packet, opts]`;
//! requests and answers are objects `{uid, type, requestId, ...}`, JSON as Node's, msgpack when
//! they hold binary. The nodes of a namespace are counted with `PUBSUB NUMSUB` of its request
//! channel.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use rmpv::Value as Mp;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use wsx_socketio::Data;
use wsx_socketio::cluster::{
    BoxFuture, BroadcastOptions, Cluster, LocalNamespace, RemoteAck, ServerSideAck, ServerSideAcks,
    SocketInfo,
};
use wsx_socketio::socketio::{Packet, Payload};

use crate::codec::{self, map, s, strings};
use crate::connection::connect;
use crate::error::Error;
use crate::flag::set_within;
use crate::ids::random_id;
use crate::lock::lock;
use crate::metrics::MetricsInner;
use crate::node::{Node, node_handle};
use crate::pubsub::{numsub, publish};
use crate::request::{
    AckReply, Pending, Waiter, answer_broadcast_with_ack, ask_listeners, broadcast_with_acks,
};
use crate::setters::setters;
use crate::wire::{
    ack_broadcast_opts, broadcast_opts, describe_socket, emit_value, event_value, for_other_nodes,
    options, request_opts, socket_info, string_list, value_data,
};

/// Request types of the classic protocol.
mod kind {
    pub const SOCKETS: u64 = 0;
    pub const ALL_ROOMS: u64 = 1;
    pub const REMOTE_JOIN: u64 = 2;
    pub const REMOTE_LEAVE: u64 = 3;
    pub const REMOTE_DISCONNECT: u64 = 4;
    pub const REMOTE_FETCH: u64 = 5;
    pub const SERVER_SIDE_EMIT: u64 = 6;
    pub const BROADCAST: u64 = 7;
    pub const BROADCAST_CLIENT_COUNT: u64 = 8;
    pub const BROADCAST_ACK: u64 = 9;
}

/// Builds a [`RedisCluster`]: the Redis URL, the channel key prefix (`socket.io`, as Node's
/// adapter) and how long requests to other nodes wait for answers (5 s).
#[derive(Debug, Clone)]
pub struct RedisAdapterBuilder {
    pub(crate) url: String,
    pub(crate) key: String,
    pub(crate) requests_timeout: Duration,
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

    setters! {
        /// The key prefix of the channels (Node's `key` option); every node must use the same.
        key(key: impl Into<String>) => key = key.into();
        /// How long a request to other nodes (`fetchSockets`) waits for their answers.
        requests_timeout(timeout: Duration) => requests_timeout = timeout;
    }

    /// Connects to Redis. Must be called inside a tokio runtime, which the adapters' tasks
    /// then run on.
    pub async fn connect(self) -> Result<RedisCluster, Error> {
        // The publisher reconnects by itself (with backoff) after Redis restarts; the
        // subscribers reconnect and resubscribe in their own loop (`subscriber`).
        let (client, conn) =
            connect(&self.url, Duration::from_secs(2), self.requests_timeout).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let node = Node::new(random_id(), self.requests_timeout, "classic");
        node.handle
            .spawn(publisher(conn.clone(), rx, node.metrics.clone()));
        Ok(RedisCluster(Arc::new(Shared {
            client,
            conn,
            key: self.key,
            node,
            publish: tx,
        })))
    }
}

/// This node's membership of a cluster: makes a [`RedisAdapter`] per namespace (give
/// [`adapter`](Self::adapter) to [`Config::adapter`](wsx_socketio::Config::adapter)).
/// Cheap to clone.
#[derive(Clone)]
pub struct RedisCluster(Arc<Shared>);

impl RedisCluster {
    /// The channel key prefix.
    pub fn key(&self) -> &str {
        &self.0.key
    }

    /// How many nodes listen to namespace `nsp` (`PUBSUB NUMSUB` of its request channel,
    /// this node included once its adapter has subscribed).
    pub async fn nodes(&self, nsp: &str) -> Result<usize, Error> {
        Ok(numsub(&self.0.conn, &self.0.request_channel(nsp)).await?)
    }
}

node_handle!(
    RedisCluster makes RedisAdapter,
    uid: "6 URL-safe characters, as Node's",
    debug: key
);

struct Shared {
    client: redis::Client,
    conn: redis::aio::ConnectionManager,
    key: String,
    node: Node,
    publish: mpsc::UnboundedSender<(String, Vec<u8>)>,
}

impl Shared {
    /// The channel of namespace `nsp`'s requests, `<key>-request#<nsp>#` (its subscribers are
    /// the namespace's nodes).
    fn request_channel(&self, nsp: &str) -> String {
        format!("{}-request#{nsp}#", self.key)
    }

    /// Publishes in order (one queue per node).
    fn publish(&self, channel: String, payload: Vec<u8>) {
        let _ = self.publish.send((channel, payload));
    }
}

async fn publisher(
    mut conn: redis::aio::ConnectionManager,
    mut rx: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    metrics: Arc<MetricsInner>,
) {
    while let Some((channel, payload)) = rx.recv().await {
        publish(&mut conn, "PUBLISH", &channel, payload, &metrics).await;
    }
}

/// A response to one of our requests: JSON, plus the msgpack value when it came as msgpack
/// (which keeps binary).
struct Response {
    json: Value,
    mp: Option<Mp>,
}

/// The channels of one namespace.
#[derive(Debug, Clone)]
struct Channels {
    /// `key#nsp#`: broadcasts (room broadcasts append `room#`).
    broadcast: String,
    /// `key-request#nsp#`.
    request: String,
    /// `key-response#nsp#`.
    response: String,
    /// `key-response#nsp#uid#`.
    specific_response: String,
}

#[derive(Default)]
struct NsState {
    /// Requests waiting for answers, by request id.
    pending: Arc<Pending<Response>>,
    /// The subscriber task.
    task: Mutex<Option<JoinHandle<()>>>,
    /// Set once the subscriptions are in place (and again after a reconnection).
    subscribed: tokio::sync::watch::Sender<bool>,
}

/// A namespace's adapter in a cluster of Socket.IO nodes sharing one Redis: what goes to and
/// comes from the other nodes, through Redis Pub/Sub with the channels and message formats of
/// Node's `@socket.io/redis-adapter` (classic) 8.x (the namespace keeps its own sockets'
/// rooms). Made by [`RedisCluster::adapter`].
pub struct RedisAdapter {
    shared: Arc<Shared>,
    nsp: String,
    channels: Channels,
    state: Arc<NsState>,
}

impl std::fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = "RedisAdapter";
        self.shared.node.debug_adapter(f, name, &self.nsp)
    }
}

impl Drop for RedisAdapter {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.state.task).take() {
            task.abort();
        }
    }
}

impl RedisAdapter {
    fn new(shared: Arc<Shared>, nsp: &str) -> Self {
        let key = &shared.key;
        let channels = Channels {
            broadcast: format!("{key}#{nsp}#"),
            request: shared.request_channel(nsp),
            response: format!("{key}-response#{nsp}#"),
            specific_response: format!("{key}-response#{nsp}#{}#", shared.node.uid),
        };
        RedisAdapter {
            shared,
            nsp: nsp.to_owned(),
            channels,
            state: Arc::new(NsState::default()),
        }
    }

    /// Waits (at most `timeout`) until this node listens on the namespace's channels; returns
    /// whether it does. What other nodes publish before then does not reach this node.
    pub async fn subscribed(&self, timeout: Duration) -> bool {
        set_within(&self.state.subscribed, timeout).await
    }

    /// A request of `kind` from this node: `{uid, [requestId,] type, ...fields}`.
    fn request(&self, id: Option<&str>, kind: u64, fields: Vec<(&'static str, Mp)>) -> Mp {
        let mut entries = vec![("uid", s(&self.shared.node.uid))];
        entries.extend(id.map(|id| ("requestId", s(id))));
        entries.push(("type", Mp::from(kind)));
        entries.extend(fields);
        map(entries)
    }

    /// Publishes a request that expects no answer.
    fn publish_request(&self, kind: u64, fields: Vec<(&'static str, Mp)>) {
        let request = self.request(None, kind, fields);
        self.shared.publish(
            self.channels.request.clone(),
            codec::json_or_msgpack(&request),
        );
    }

    /// Publishes request `bytes`, whose id is `id`, if other nodes listen (the id registered
    /// first, so that no answer is missed): the request's end of the table and how many nodes
    /// are to answer.
    fn ask(
        &self,
        id: String,
        bytes: Vec<u8>,
        what: &'static str,
    ) -> impl Future<Output = Option<(Waiter<Response>, usize)>> + Send + 'static {
        let (shared, state) = (self.shared.clone(), self.state.clone());
        let channel = self.channels.request.clone();
        async move {
            let listeners = numsub(&shared.conn, &channel);
            let send = || shared.publish(channel.clone(), bytes);
            ask_listeners(&state.pending, id, listeners, send, what).await
        }
    }
}

impl Cluster for RedisAdapter {
    fn init(&self, local: Arc<dyn LocalNamespace>) {
        let task = self.shared.node.handle.spawn(subscriber(
            self.shared.clone(),
            self.channels.clone(),
            self.nsp.clone(),
            self.state.clone(),
            local,
        ));
        *lock(&self.state.task) = Some(task);
    }

    fn broadcast(&self, packet: &Packet, opts: &BroadcastOptions) {
        let Some(payload) = for_other_nodes(packet, opts) else {
            return;
        };
        let msg = Mp::Array(vec![
            s(&self.shared.node.uid),
            event_value(payload, Some(&packet.nsp)),
            broadcast_opts(opts),
        ]);
        let channel = match opts.rooms.as_slice() {
            [room] => format!("{}{room}#", self.channels.broadcast),
            _ => self.channels.broadcast.clone(),
        };
        self.shared.publish(channel, codec::encode(&msg));
    }

    fn sockets_join(&self, opts: &BroadcastOptions, rooms: &[String]) {
        let fields = vec![("opts", request_opts(opts)), ("rooms", strings(rooms))];
        self.publish_request(kind::REMOTE_JOIN, fields);
    }

    fn sockets_leave(&self, opts: &BroadcastOptions, rooms: &[String]) {
        let fields = vec![("opts", request_opts(opts)), ("rooms", strings(rooms))];
        self.publish_request(kind::REMOTE_LEAVE, fields);
    }

    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool) {
        let fields = vec![("opts", request_opts(opts)), ("close", Mp::Boolean(close))];
        self.publish_request(kind::REMOTE_DISCONNECT, fields);
    }

    fn fetch_sockets(&self, opts: &BroadcastOptions) -> BoxFuture<Vec<SocketInfo>> {
        let id = random_id();
        let fields = vec![("opts", request_opts(opts))];
        let request = self.request(Some(&id), kind::REMOTE_FETCH, fields);
        let bytes = codec::to_json(&request).to_string().into_bytes();
        let asked = self.ask(id, bytes, "fetchSockets");
        let timeout = self.shared.node.requests_timeout;
        Box::pin(async move {
            let Some((waiter, expected)) = asked.await else {
                return Vec::new();
            };
            let deadline = Instant::now() + timeout;
            let answers = waiter.answers(expected, deadline, "fetchSockets").await;
            answers
                .iter()
                .filter_map(|r| r.json["sockets"].as_array())
                .flat_map(|list| list.iter().filter_map(socket_info))
                .collect()
        })
    }

    fn broadcast_with_ack(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
        on_ack: RemoteAck,
    ) -> BoxFuture<usize> {
        let ask = |payload: &Payload, ack_timeout| {
            let id = random_id();
            let fields = vec![
                ("packet", event_value(payload, Some(&packet.nsp))),
                ("opts", ack_broadcast_opts(opts, ack_timeout)),
            ];
            let request = self.request(Some(&id), kind::BROADCAST, fields);
            self.ask(id, codec::encode(&request), "a broadcast with acks")
        };
        let node = &self.shared.node;
        broadcast_with_acks(node, packet, opts, ask, ack_reply, on_ack)
    }

    fn server_side_emit(&self, event: &str, args: &[Data]) {
        let fields = vec![("data", emit_value(event, args))];
        self.publish_request(kind::SERVER_SIDE_EMIT, fields);
    }

    fn server_side_emit_with_ack(&self, event: &str, args: &[Data]) -> BoxFuture<ServerSideAcks> {
        let id = random_id();
        let fields = vec![("data", emit_value(event, args))];
        let request = self.request(Some(&id), kind::SERVER_SIDE_EMIT, fields);
        // JSON as Node's, msgpack only when an argument is binary (JSON cannot carry it).
        let asked = self.ask(
            id,
            codec::json_or_msgpack(&request),
            "serverSideEmitWithAck",
        );
        let timeout = self.shared.node.requests_timeout;
        Box::pin(async move {
            let Some((waiter, expected)) = asked.await else {
                return ServerSideAcks::default();
            };
            let deadline = Instant::now() + timeout;
            let answers = waiter
                .answers(expected, deadline, "serverSideEmitWithAck")
                .await;
            ServerSideAcks {
                answers: answers.iter().map(|r| response_data(r, "data")).collect(),
                expected,
            }
        })
    }
}

/// Field `key` of a response as application data (binary kept when it came as msgpack).
fn response_data(r: &Response, key: &str) -> Data {
    match r.mp.as_ref().and_then(|mp| codec::get(mp, key)) {
        Some(v) => value_data(Some(v)),
        None => Data::Json(r.json[key].clone()),
    }
}

/// What an answer to a broadcast with acknowledgements says: a node's client count (type 8)
/// or a client's acknowledgement (type 9).
fn ack_reply(r: &Response) -> AckReply {
    match r.json["type"].as_u64() {
        Some(kind::BROADCAST_CLIENT_COUNT) => {
            AckReply::Count(r.json["clientCount"].as_u64().unwrap_or(0) as usize)
        }
        Some(kind::BROADCAST_ACK) => AckReply::Ack(response_data(r, "packet")),
        _ => AckReply::Other,
    }
}

/// Listens on the namespace's channels until the namespace is gone, resubscribing after a
/// lost connection.
async fn subscriber(
    shared: Arc<Shared>,
    channels: Channels,
    nsp: String,
    state: Arc<NsState>,
    ns: Arc<dyn LocalNamespace>,
) {
    let pattern = format!("{}*", channels.broadcast);
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut pubsub = match shared.client.get_async_pubsub().await {
            Ok(p) => p,
            Err(e) => {
                shared.node.metrics.failed(&e);
                tracing::warn!(error = %e, "wsx-redis: cannot open the subscriber connection");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        let subscribed = async {
            pubsub.psubscribe(&pattern).await?;
            pubsub
                .subscribe(&[
                    &channels.request,
                    &channels.response,
                    &channels.specific_response,
                ])
                .await
        };
        if let Err(e) = subscribed.await {
            shared.node.metrics.failed(&e);
            tracing::warn!(error = %e, "wsx-redis: subscribing failed");
            tokio::time::sleep(backoff).await;
            continue;
        }
        backoff = Duration::from_millis(100);
        shared.node.metrics.connected();
        state.subscribed.send_replace(true);
        tracing::debug!(nsp, uid = %shared.node.uid, "wsx-redis: subscribed");
        let mut messages = pubsub.on_message();
        while let Some(msg) = messages.next().await {
            if !ns.is_open() {
                return;
            }
            let ns = &*ns;
            let channel = msg.get_channel_name();
            let payload = msg.get_payload_bytes();
            shared.node.metrics.received();
            if channel == channels.request {
                on_request(&shared, &channels, ns, payload);
            } else if channel == channels.response || channel == channels.specific_response {
                on_response(&shared, &state, payload);
            } else if let Some(rest) = channel.strip_prefix(&channels.broadcast) {
                on_broadcast(&shared, &nsp, ns, rest, payload);
            }
        }
        state.subscribed.send_replace(false);
        if !ns.is_open() {
            return;
        }
        shared.node.metrics.disconnected();
        tracing::warn!(nsp, "wsx-redis: subscriber connection lost; reconnecting");
        tokio::time::sleep(backoff).await;
    }
}

/// A request or response of the classic adapter: JSON when it starts with `{`, else msgpack.
pub(crate) fn parse(payload: &[u8]) -> Option<Value> {
    if payload.first() == Some(&b'{') {
        serde_json::from_slice(payload).ok()
    } else {
        codec::decode(payload).map(|v| codec::to_json(&v))
    }
}

/// Another node's broadcast: deliver it to the local sockets it selects.
fn on_broadcast(shared: &Shared, nsp: &str, ns: &dyn LocalNamespace, rest: &str, payload: &[u8]) {
    let Some(Mp::Array(items)) = codec::decode(payload) else {
        shared.node.metrics.malformed();
        tracing::warn!("wsx-redis: ignoring a broadcast that is not a msgpack array");
        return;
    };
    let [uid, packet, opts, ..] = items.as_slice() else {
        shared.node.metrics.malformed();
        tracing::warn!("wsx-redis: ignoring a broadcast without [uid, packet, opts]");
        return;
    };
    if uid.as_str() == Some(shared.node.uid.as_str()) {
        return;
    }
    if let Some(room) = rest.strip_suffix('#') {
        // A room channel: nothing to do unless a local socket is in that room.
        if !ns.has_room(room) {
            return;
        }
    }
    let packet_nsp = codec::get(packet, "nsp")
        .and_then(Mp::as_str)
        .unwrap_or("/");
    if packet_nsp != nsp {
        return;
    }
    let Some(Mp::Array(data)) = codec::get(packet, "data") else {
        shared.node.metrics.malformed();
        tracing::warn!("wsx-redis: ignoring a broadcast without data");
        return;
    };
    let opts = options(&codec::to_json(opts));
    let packet = Packet::event(nsp, codec::to_payload(data));
    if !ns.broadcast(&packet, &opts) {
        tracing::warn!("wsx-redis: ignoring a broadcast that cannot be encoded");
    }
}

/// Another node's answer to one of our requests.
fn on_response(shared: &Shared, state: &NsState, payload: &[u8]) {
    let mp = if payload.first() == Some(&b'{') {
        None
    } else {
        codec::decode(payload)
    };
    let Some(json) = parse(payload).filter(Value::is_object) else {
        shared.node.metrics.malformed();
        tracing::warn!("wsx-redis: ignoring an undecodable response");
        return;
    };
    let Some(id) = json["requestId"].as_str().map(str::to_owned) else {
        return;
    };
    state.pending.deliver(&id, Response { json, mp });
}

/// Another node's request: act on it, and answer those that expect an answer.
fn on_request(shared: &Shared, channels: &Channels, ns: &dyn LocalNamespace, payload: &[u8]) {
    let Some(request) = parse(payload).filter(Value::is_object) else {
        shared.node.metrics.malformed();
        tracing::warn!("wsx-redis: ignoring an undecodable request");
        return;
    };
    if request["uid"].as_str() == Some(shared.node.uid.as_str()) {
        return;
    }
    let request_id = request["requestId"].clone();
    let opts = options(&request["opts"]);
    let respond = |body: Map<String, Value>| {
        let mut out = Map::new();
        out.insert("requestId".into(), request_id.clone());
        out.extend(body);
        shared.publish(
            channels.response.clone(),
            Value::Object(out).to_string().into_bytes(),
        );
    };
    match request["type"].as_u64() {
        Some(kind::SOCKETS) => {
            let ids: Vec<Value> = ns
                .sockets(&opts)
                .into_iter()
                .map(|s| Value::String(s.id))
                .collect();
            respond(Map::from_iter([("sockets".into(), Value::Array(ids))]));
        }
        Some(kind::ALL_ROOMS) => {
            let rooms = ns.rooms().into_iter().map(Value::String).collect();
            respond(Map::from_iter([("rooms".into(), Value::Array(rooms))]));
        }
        Some(t @ (kind::REMOTE_JOIN | kind::REMOTE_LEAVE)) => {
            if let (Some(sid), Some(room)) = (request["sid"].as_str(), request["room"].as_str()) {
                // The legacy single-socket form.
                let only = BroadcastOptions::room(sid);
                if !ns.sockets(&only).is_empty() {
                    let rooms = [room.to_owned()];
                    if t == kind::REMOTE_JOIN {
                        ns.sockets_join(&only, &rooms);
                    } else {
                        ns.sockets_leave(&only, &rooms);
                    }
                    respond(Map::new());
                }
                return;
            }
            let rooms = string_list(&request["rooms"]);
            if t == kind::REMOTE_JOIN {
                ns.sockets_join(&opts, &rooms);
            } else {
                ns.sockets_leave(&opts, &rooms);
            }
        }
        Some(kind::REMOTE_DISCONNECT) => {
            let close = request["close"].as_bool().unwrap_or(false);
            if let Some(sid) = request["sid"].as_str() {
                let only = BroadcastOptions::room(sid);
                if !ns.sockets(&only).is_empty() {
                    ns.disconnect_sockets(&only, close);
                    respond(Map::new());
                }
                return;
            }
            ns.disconnect_sockets(&opts, close);
        }
        Some(kind::REMOTE_FETCH) => {
            let sockets: Vec<Value> = ns.sockets(&opts).iter().map(describe_socket).collect();
            respond(Map::from_iter([("sockets".into(), Value::Array(sockets))]));
        }
        Some(kind::SERVER_SIDE_EMIT) => {
            let mut data = match codec::decode(payload) {
                // msgpack keeps binary arguments; JSON has none.
                Some(Mp::Map(_)) if payload.first() != Some(&b'{') => {
                    let mp = codec::decode(payload).unwrap_or(Mp::Nil);
                    match codec::get(&mp, "data") {
                        Some(Mp::Array(a)) => codec::to_payload(a).to_data().unwrap_or_default(),
                        _ => Vec::new(),
                    }
                }
                _ => request["data"]
                    .as_array()
                    .map(|a| a.iter().cloned().map(Data::Json).collect())
                    .unwrap_or_default(),
            };
            if data.is_empty() {
                return;
            }
            let event = match data.remove(0) {
                Data::Json(Value::String(e)) => e,
                _ => return,
            };
            let Some(request_id) = request_id.as_str().map(str::to_owned) else {
                ns.server_side_emit(&event, data, None);
                return;
            };
            // The answer: `{type:6, requestId, data:<first ack argument>}` on the response
            // channel (JSON as Node's; msgpack when it holds binary).
            let publish = shared.publish.clone();
            let channel = channels.response.clone();
            let ack = ServerSideAck::new(move |answer| {
                let msg = map(vec![
                    ("type", Mp::from(kind::SERVER_SIDE_EMIT)),
                    ("requestId", s(&request_id)),
                    ("data", codec::from_data(&answer)),
                ]);
                let _ = publish.send((channel, codec::json_or_msgpack(&msg)));
            });
            ns.server_side_emit(&event, data, Some(ack));
        }
        Some(kind::BROADCAST) => on_broadcast_with_ack(shared, channels, ns, &request, payload),
        _ => {
            tracing::debug!(request = %request, "wsx-redis: ignoring an unknown request");
        }
    }
}

/// Another node's broadcast with acknowledgements: tell it how many local clients get it (type
/// 8), deliver it, and send each client's answer back (type 9, msgpack, its first argument).
fn on_broadcast_with_ack(
    shared: &Shared,
    channels: &Channels,
    ns: &dyn LocalNamespace,
    request: &Value,
    payload: &[u8],
) {
    let Some(request_id) = request["requestId"].as_str().map(str::to_owned) else {
        return;
    };
    let mp = codec::decode(payload).filter(|_| payload.first() != Some(&b'{'));
    let args = match mp
        .as_ref()
        .and_then(|mp| codec::get(mp, "packet"))
        .and_then(|p| codec::get(p, "data"))
    {
        Some(Mp::Array(data)) => codec::to_payload(data).to_data().unwrap_or_default(),
        _ => request["packet"]["data"]
            .as_array()
            .map(|a| a.iter().cloned().map(Data::Json).collect())
            .unwrap_or_default(),
    };
    let response = channels.response.clone();
    let count = |count: usize| {
        shared.publish(
            response.clone(),
            json!({"type": kind::BROADCAST_CLIENT_COUNT, "requestId": request_id, "clientCount": count})
                .to_string()
                .into_bytes(),
        );
    };
    let publish = shared.publish.clone();
    let ack = {
        let (request_id, response) = (request_id.clone(), response.clone());
        move |first: Mp| {
            let msg = map(vec![
                ("type", Mp::from(kind::BROADCAST_ACK)),
                ("requestId", s(&request_id)),
                ("packet", first),
            ]);
            let _ = publish.send((response.clone(), codec::encode(&msg)));
        }
    };
    answer_broadcast_with_ack(&shared.node, ns, &request["opts"], args, count, ack);
}
