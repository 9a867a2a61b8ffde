//! What a namespace asks of the other nodes of a cluster, and what they may ask of it.
//!
//! A namespace keeps the rooms of its own sockets itself. A [`Cluster`] adapter (the Redis
//! adapters of `wsx-redis`) is only the remote half: it forwards broadcasts and room
//! operations to the other nodes and asks them questions. What other nodes send, it hands to
//! the [`LocalNamespace`] it received in [`Cluster::init`]: the namespace's "deliver
//! locally" side, which never forwards anything again. Every method of [`Cluster`] has a
//! body for a single node, where there is nobody else to tell or to ask.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::engine::RequestInfo;
pub use crate::options::{BroadcastFlags, BroadcastOptions};
use crate::socketio::{Data, Packet};

/// A boxed future, as the cluster hooks return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A socket as `fetchSockets` describes it: one of this node's, or another node's.
#[derive(Debug, Clone)]
pub struct SocketInfo {
    /// The socket id.
    pub id: String,
    /// Its rooms.
    pub rooms: Vec<String>,
    /// Its application data.
    pub data: Value,
    /// Its CONNECT payload.
    pub auth: Map<String, Value>,
    /// Its Engine.IO handshake request, for this node's sockets (another node's answer
    /// carries only what its wire format describes).
    pub request: Option<Arc<RequestInfo>>,
}

/// Receives the acknowledgements of clients to a broadcast, one call per answer.
pub type RemoteAck = Arc<dyn Fn(Vec<Data>) + Send + Sync>;

/// The answers of the other nodes to a server-side emit with acknowledgement (Node's
/// `serverSideEmitWithAck`): one per node that answered, in arrival order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerSideAcks {
    /// Each answering node's acknowledgement (the first argument it answered with).
    pub answers: Vec<Data>,
    /// How many nodes were asked (every other node of the cluster; 0 without one).
    pub expected: usize,
}

impl ServerSideAcks {
    /// Whether the requests timeout passed before every node answered (`answers` then holds
    /// those that did, as Node's callback gets them with its timeout error).
    pub fn timed_out(&self) -> bool {
        self.answers.len() < self.expected
    }
}

/// How a server-side handler answers another node's
/// [`server_side_emit_with_ack`](crate::Namespace::server_side_emit_with_ack): call
/// [`send`](Self::send) once (dropping it answers nothing, and the asking node times out).
pub struct ServerSideAck(Box<dyn FnOnce(Data) + Send>);

impl std::fmt::Debug for ServerSideAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSideAck").finish_non_exhaustive()
    }
}

impl ServerSideAck {
    /// An acknowledgement that hands its answer to `f` (what a cluster adapter publishes).
    pub fn new(f: impl FnOnce(Data) + Send + 'static) -> Self {
        ServerSideAck(Box::new(f))
    }

    /// Answers the asking node (Node's adapters carry one argument).
    pub fn send(self, answer: impl Into<Data>) {
        (self.0)(answer.into())
    }
}

/// A disconnected socket's state, kept for connection state recovery (Node's `Session`:
/// what `persistSession` stores and `restoreSession` gives back).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionState {
    /// The socket id, which the recovered socket takes over.
    pub sid: String,
    /// The private session id the client presents to recover it.
    pub pid: String,
    /// The socket's rooms (its own id among them).
    pub rooms: Vec<String>,
    /// Its application data.
    pub data: Value,
}

/// A session a cluster adapter found again, with the EVENT packets the socket missed (each
/// already carrying its offset as last argument), in order.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredSession {
    /// The session as it was persisted.
    pub session: SessionState,
    /// The packets to write before the CONNECT answer.
    pub missed: Vec<Packet>,
}

/// Delivers a recoverable broadcast to this node's sockets once the cluster gave it an offset
/// ([`Cluster::broadcast_with_offset`]); `None` when it could not get one.
pub type DeliverWithOffset = Box<dyn FnOnce(Option<String>) + Send>;

/// This node's part of a namespace, as a cluster adapter sees it: what it delivers other
/// nodes' broadcasts and requests to. Nothing done through it is forwarded to the cluster
/// again. It does not keep the namespace alive: once the namespace is gone,
/// [`is_open`](Self::is_open) is `false` and every method does nothing.
pub trait LocalNamespace: Send + Sync {
    /// The namespace's name.
    fn name(&self) -> &str;
    /// Whether the namespace still exists (an adapter stops listening for it when not).
    fn is_open(&self) -> bool;
    /// Whether connection state recovery is on (then another node's broadcast gets its
    /// offset as last argument, as Node's `addOffsetIfNecessary`).
    fn recovers(&self) -> bool;
    /// Delivers a broadcast to the local sockets `opts` selects; `false` if it cannot be
    /// encoded.
    fn broadcast(&self, packet: &Packet, opts: &BroadcastOptions) -> bool;
    /// A broadcast that asks for acknowledgements (`event` and `args`, with a new ack id of
    /// this node) to the local sockets `opts` selects: how many they are, and a future that
    /// sends it when first polled (so the count can be told first) and hands each answer to
    /// `on_ack` as it comes, waiting `timeout` for each.
    fn broadcast_with_ack(
        &self,
        event: &str,
        args: Vec<Data>,
        opts: &BroadcastOptions,
        timeout: Duration,
        on_ack: RemoteAck,
    ) -> (usize, BoxFuture<()>);
    /// The local sockets `opts` selects.
    fn sockets(&self, opts: &BroadcastOptions) -> Vec<SocketInfo>;
    /// Whether a local socket is in `room`.
    fn has_room(&self, room: &str) -> bool;
    /// Every room with a local member.
    fn rooms(&self) -> Vec<String>;
    /// The rooms local socket `id` is in.
    fn socket_rooms(&self, id: &str) -> Vec<String>;
    /// Makes the local sockets `opts` selects join `rooms`.
    fn sockets_join(&self, opts: &BroadcastOptions, rooms: &[String]);
    /// Makes the local sockets `opts` selects leave `rooms`.
    fn sockets_leave(&self, opts: &BroadcastOptions, rooms: &[String]);
    /// Disconnects the local sockets `opts` selects (with `close`, their sessions too).
    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool);
    /// Runs this node's handler of another node's server-side emit; `ack` is `Some` when
    /// the sender waits for an answer.
    fn server_side_emit(&self, event: &str, args: Vec<Data>, ack: Option<ServerSideAck>);
}

/// The cluster side of one namespace: what this node tells and asks the other nodes.
///
/// Every broadcast operator calls these unless it is [`local`](crate::BroadcastOperator::local).
/// The defaults are a single node's. A cluster adapter turns each into a message to the
/// other nodes, with a timeout for those that wait for answers, and delivers what the other
/// nodes send through the [`LocalNamespace`] given to [`init`](Self::init).
pub trait Cluster: Send + Sync + 'static {
    /// Called once when the namespace is created, with its local side.
    fn init(&self, local: Arc<dyn LocalNamespace>) {
        let _ = local;
    }

    /// Local socket `id` joined `rooms` (already visible through the local side).
    fn joined(&self, id: &str, rooms: &[String]) {
        let _ = (id, rooms);
    }

    /// Local socket `id` left `rooms` (already gone from the local side).
    fn left(&self, id: &str, rooms: &[String]) {
        let _ = (id, rooms);
    }

    /// Forwards a broadcast to the other nodes (after local delivery).
    fn broadcast(&self, packet: &Packet, opts: &BroadcastOptions) {
        let _ = (packet, opts);
    }

    /// Makes the other nodes' sockets selected by `opts` join `rooms`.
    fn sockets_join(&self, opts: &BroadcastOptions, rooms: &[String]) {
        let _ = (opts, rooms);
    }

    /// Makes the other nodes' sockets selected by `opts` leave `rooms`.
    fn sockets_leave(&self, opts: &BroadcastOptions, rooms: &[String]) {
        let _ = (opts, rooms);
    }

    /// Disconnects the other nodes' sockets selected by `opts`.
    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool) {
        let _ = (opts, close);
    }

    /// The other nodes' sockets selected by `opts`.
    fn fetch_sockets(&self, opts: &BroadcastOptions) -> BoxFuture<Vec<SocketInfo>> {
        let _ = opts;
        Box::pin(async { Vec::new() })
    }

    /// Forwards a broadcast that asks for acknowledgements (`packet` carries the ack id);
    /// `on_ack` is called with each remote client's answer. Resolves to how many remote
    /// clients received it, so the caller knows how many answers to wait for.
    fn broadcast_with_ack(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
        on_ack: RemoteAck,
    ) -> BoxFuture<usize> {
        let _ = (packet, opts, on_ack);
        Box::pin(async { 0 })
    }

    /// Sends an event to the other nodes' server-side handlers
    /// ([`Namespace::on_server_side_emit`](crate::Namespace::on_server_side_emit)); this
    /// node's are not called.
    fn server_side_emit(&self, event: &str, args: &[Data]) {
        let _ = (event, args);
    }

    /// Sends an event to the other nodes' server-side handlers and gathers their answers
    /// (one per node, within the adapter's requests timeout).
    fn server_side_emit_with_ack(&self, event: &str, args: &[Data]) -> BoxFuture<ServerSideAcks> {
        let _ = (event, args);
        Box::pin(async { ServerSideAcks::default() })
    }

    // ----- connection state recovery across nodes -----
    //
    // With `Config::recovery` on, a namespace keeps sessions and a packet log in this
    // process's memory (one node). An adapter that can do it for the whole cluster (the Redis
    // streams adapter: a shared, replayable log with addressable offsets, and a shared session
    // store) says so with `recovers_sessions`, and the namespace then uses the three hooks
    // below instead of its own store. Without recovery they are never called.

    /// Whether this adapter keeps recovery sessions and packet offsets for the cluster
    /// (default `false`: the namespace's in-memory store does, for this node only).
    fn recovers_sessions(&self) -> bool {
        false
    }

    /// A recoverable broadcast (an EVENT without ack id, neither volatile nor local): publish
    /// it to the cluster, then call `deliver` with the offset the cluster gave it; `deliver`
    /// appends it to the arguments and delivers to this node's sockets. Called only when
    /// [`recovers_sessions`](Self::recovers_sessions).
    fn broadcast_with_offset(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
        deliver: DeliverWithOffset,
    ) {
        self.broadcast(packet, opts);
        deliver(None);
    }

    /// Keeps a socket's state for `ttl` after a disconnection the client did not ask for
    /// (Node's `persistSession`). Called only when [`recovers_sessions`](Self::recovers_sessions).
    fn persist_session(&self, session: SessionState, ttl: Duration) {
        let _ = (session, ttl);
    }

    /// Takes back session `pid` (once) with the packets sent after `offset` to the rooms it
    /// was in (Node's `restoreSession`); `None` if the session or the offset is unknown or
    /// expired, and the client connects as new. Called only when
    /// [`recovers_sessions`](Self::recovers_sessions).
    fn restore_session(&self, pid: &str, offset: &str) -> BoxFuture<Option<RestoredSession>> {
        let _ = (pid, offset);
        Box::pin(async { None })
    }
}

/// A single node: nobody else to tell or to ask (the default).
#[derive(Debug, Default, Clone, Copy)]
pub struct SingleNode;

impl Cluster for SingleNode {}
