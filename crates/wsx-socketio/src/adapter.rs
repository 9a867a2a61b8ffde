//! Where rooms live: the [`Adapter`] trait and the in-memory [`MemoryAdapter`].
//!
//! An adapter keeps, for one namespace, which local sockets are in which rooms. A cluster
//! adapter (Redis) also forwards broadcasts and room operations to the other nodes and
//! delivers theirs to local sockets: the hooks with default bodies are where it does so.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use indexmap::{IndexMap, IndexSet};
use serde_json::{Map, Value};

use crate::namespace::WeakNamespace;
use crate::socketio::{Data, Packet};

/// Who a broadcast or a room operation is for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastOptions {
    /// Sockets in any of these rooms; every socket of the namespace when empty.
    pub rooms: Vec<String>,
    /// Minus sockets in any of these rooms (a socket id is a room).
    pub except: Vec<String>,
    /// Modifiers.
    pub flags: BroadcastFlags,
}

/// Broadcast modifiers, as in Node's `BroadcastFlags`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastFlags {
    /// Only this node's sockets (no cluster forwarding).
    pub local: bool,
    /// Skip receivers that could not send at once.
    pub volatile: bool,
    /// Whether to compress (WebSocket permessage-deflate, when negotiated).
    pub compress: Option<bool>,
    /// For broadcasts with acknowledgements: how long to wait for them.
    pub timeout: Option<Duration>,
}

/// A boxed future, as the cluster hooks return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What another node says about one of its sockets (`fetchSockets` across a cluster).
#[derive(Debug, Clone, PartialEq)]
pub struct SocketInfo {
    /// The socket id.
    pub id: String,
    /// Its rooms.
    pub rooms: Vec<String>,
    /// Its application data.
    pub data: Value,
    /// Its CONNECT payload.
    pub auth: Map<String, Value>,
}

/// Receives the acknowledgements of other nodes' clients to a broadcast.
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
/// ([`Adapter::broadcast_with_offset`]); `None` when it could not get one.
pub type DeliverWithOffset = Box<dyn FnOnce(Option<String>) + Send>;

/// Room bookkeeping for one namespace, and the hooks a cluster adapter overrides.
///
/// The local part (rooms of this node's sockets) is required. The cluster hooks have default
/// bodies for a single node, where there is nobody else to ask; a cluster adapter turns each
/// into a request to the other nodes, with a timeout for those that wait for answers. Every
/// broadcast operator calls them unless it is [`local`](crate::BroadcastOperator::local).
pub trait Adapter: Send + Sync + 'static {
    /// Called once when the namespace is created, with a handle through which a cluster
    /// adapter delivers what other nodes send (broadcasts, server-side emits).
    fn init(&self, ns: WeakNamespace) {
        let _ = ns;
    }

    /// Adds socket `id` to `rooms`.
    fn add_all(&self, id: &str, rooms: &[String]);
    /// Removes socket `id` from `room`.
    fn del(&self, id: &str, room: &str);
    /// Removes socket `id` from every room.
    fn del_all(&self, id: &str);
    /// The rooms socket `id` is in.
    fn socket_rooms(&self, id: &str) -> Vec<String>;
    /// The local sockets `opts` selects (rooms minus except), each once.
    fn sockets(&self, opts: &BroadcastOptions) -> Vec<Arc<str>>;
    /// Every room with a local member.
    fn rooms(&self) -> Vec<String>;

    /// A number that changes whenever local membership changes (a socket joins or leaves a
    /// room), changed only after the change is visible to [`sockets`](Self::sockets). A
    /// namespace then keeps the receivers of a room it broadcasts to again and again, instead
    /// of looking each up every time. `None` (the default): no version, every broadcast looks
    /// its receivers up. An adapter that keeps its local rooms in a [`MemoryAdapter`] returns
    /// that adapter's version.
    fn membership_version(&self) -> Option<u64> {
        None
    }

    /// Forwards a broadcast to the other nodes (called after local delivery, unless
    /// `opts.flags.local`). A single node has nothing to do.
    fn broadcast_remote(&self, packet: &Packet, opts: &BroadcastOptions) {
        let _ = (packet, opts);
    }

    /// Makes the other nodes' sockets selected by `opts` join `rooms`.
    fn sockets_join_remote(&self, opts: &BroadcastOptions, rooms: &[String]) {
        let _ = (opts, rooms);
    }

    /// Makes the other nodes' sockets selected by `opts` leave `rooms`.
    fn sockets_leave_remote(&self, opts: &BroadcastOptions, rooms: &[String]) {
        let _ = (opts, rooms);
    }

    /// Disconnects the other nodes' sockets selected by `opts`.
    fn disconnect_sockets_remote(&self, opts: &BroadcastOptions, close: bool) {
        let _ = (opts, close);
    }

    /// The other nodes' sockets selected by `opts`.
    fn fetch_sockets_remote(&self, opts: &BroadcastOptions) -> BoxFuture<Vec<SocketInfo>> {
        let _ = opts;
        Box::pin(async { Vec::new() })
    }

    /// Forwards a broadcast that asks for acknowledgements (`packet` carries the ack id);
    /// `on_ack` is called with each remote client's answer. Resolves to how many remote
    /// clients received it, so the caller knows how many answers to wait for.
    fn broadcast_with_ack_remote(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
        on_ack: RemoteAck,
    ) -> BoxFuture<usize> {
        let _ = (packet, opts, on_ack);
        Box::pin(async { 0 })
    }

    /// Sends an event to the other nodes' server-side handlers
    /// ([`Namespace::on_server_side_emit`](crate::Namespace::on_server_side_emit)); the local
    /// node does not receive it. A single node has nothing to do.
    fn server_side_emit(&self, event: &str, args: &[Data]) {
        let _ = (event, args);
    }

    /// Sends an event to the other nodes' server-side handlers and gathers their answers
    /// (one per node, within the adapter's requests timeout). A single node has nobody to ask.
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
        self.broadcast_remote(packet, opts);
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

/// A room's members. Most rooms have one (every socket is in the room named after its id),
/// and a set for each of those would cost about 150 bytes per client. Sets keep join order
/// (but for the swap on removal), so a broadcast reaches its receivers in about the order
/// they joined, as Node's adapter does (its `Set`s iterate in insertion order).
enum Members {
    One(Arc<str>),
    Many(IndexSet<Arc<str>>),
}

impl Members {
    fn contains(&self, id: &str) -> bool {
        match self {
            Members::One(m) => &**m == id,
            Members::Many(set) => set.contains(id),
        }
    }

    fn insert(&mut self, id: &Arc<str>) {
        match self {
            Members::One(m) if *m == *id => {}
            Members::One(m) => {
                let set = IndexSet::from([m.clone(), id.clone()]);
                *self = Members::Many(set);
            }
            Members::Many(set) => {
                set.insert(id.clone());
            }
        }
    }

    /// Removes `id`; `true` when the room is now empty.
    fn remove(&mut self, id: &str) -> bool {
        match self {
            Members::One(m) => &**m == id,
            Members::Many(set) => {
                set.swap_remove(id);
                set.is_empty()
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Arc<str>> {
        let (one, many) = match self {
            Members::One(m) => (Some(m), None),
            Members::Many(set) => (None, Some(set.iter())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

#[derive(Default)]
struct Rooms {
    /// Room name → members. Names are shared with `sids`.
    rooms: HashMap<Arc<str>, Members>,
    /// Socket id → the rooms it is in (a short list: sockets are in a handful of rooms).
    /// In join order, like room members.
    sids: IndexMap<Arc<str>, Vec<Arc<str>>>,
}

impl Rooms {
    fn remove_member(&mut self, room: &str, id: &str) {
        if let Some(members) = self.rooms.get_mut(room) {
            if members.remove(id) {
                self.rooms.remove(room);
            }
        }
    }
}

/// The default adapter: rooms in this process's memory.
#[derive(Default)]
pub struct MemoryAdapter {
    state: Mutex<Rooms>,
    /// [`Adapter::membership_version`]: bumped under the `state` lock by every change.
    version: AtomicU64,
}

impl std::fmt::Debug for MemoryAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryAdapter").finish_non_exhaustive()
    }
}

impl MemoryAdapter {
    fn state(&self) -> MutexGuard<'_, Rooms> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state, to change: the version moves on with it (still under the lock, so that a
    /// reader that sees the new version sees the change).
    fn change(&self) -> MutexGuard<'_, Rooms> {
        let st = self.state();
        self.version.fetch_add(1, Ordering::AcqRel);
        st
    }
}

impl Adapter for MemoryAdapter {
    fn add_all(&self, id: &str, rooms: &[String]) {
        let mut st = self.change();
        let st = &mut *st;
        let id: Arc<str> = match st.sids.get_key_value(id) {
            Some((k, _)) => k.clone(),
            None => id.into(),
        };
        let list = st.sids.entry(id.clone()).or_default();
        for room in rooms {
            if list.iter().any(|r| **r == **room) {
                continue;
            }
            let key: Arc<str> = match st.rooms.get_key_value(room.as_str()) {
                Some((k, _)) => k.clone(),
                // A socket's own room shares the id's allocation.
                None if **room == *id => id.clone(),
                None => room.as_str().into(),
            };
            match st.rooms.get_mut(&key) {
                Some(members) => members.insert(&id),
                None => {
                    st.rooms.insert(key.clone(), Members::One(id.clone()));
                }
            }
            list.push(key);
        }
    }

    fn del(&self, id: &str, room: &str) {
        let mut st = self.change();
        if let Some(list) = st.sids.get_mut(id) {
            list.retain(|r| &**r != room);
        }
        st.remove_member(room, id);
    }

    fn del_all(&self, id: &str) {
        let mut st = self.change();
        let Some(rooms) = st.sids.swap_remove(id) else {
            return;
        };
        for room in rooms {
            st.remove_member(&room, id);
        }
    }

    fn socket_rooms(&self, id: &str) -> Vec<String> {
        self.state()
            .sids
            .get(id)
            .map(|r| r.iter().map(|r| r.to_string()).collect())
            .unwrap_or_default()
    }

    fn sockets(&self, opts: &BroadcastOptions) -> Vec<Arc<str>> {
        let st = self.state();
        let excluded = |id: &Arc<str>| {
            opts.except
                .iter()
                .any(|room| st.rooms.get(room.as_str()).is_some_and(|m| m.contains(id)))
        };
        if opts.rooms.is_empty() {
            return st.sids.keys().filter(|id| !excluded(id)).cloned().collect();
        }
        if let [room] = opts.rooms.as_slice() {
            return st.rooms.get(room.as_str()).map_or_else(Vec::new, |m| {
                m.iter().filter(|id| !excluded(id)).cloned().collect()
            });
        }
        let mut seen = HashSet::new();
        for room in &opts.rooms {
            if let Some(members) = st.rooms.get(room.as_str()) {
                seen.extend(members.iter().filter(|id| !excluded(id)).cloned());
            }
        }
        seen.into_iter().collect()
    }

    fn rooms(&self) -> Vec<String> {
        self.state().rooms.keys().map(|r| r.to_string()).collect()
    }

    fn membership_version(&self) -> Option<u64> {
        Some(self.version.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to(rooms: &[&str], except: &[&str]) -> BroadcastOptions {
        BroadcastOptions {
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            except: except.iter().map(|r| r.to_string()).collect(),
            ..Default::default()
        }
    }

    fn sorted(mut v: Vec<Arc<str>>) -> Vec<String> {
        v.sort();
        v.into_iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rooms_grow_from_one_member_to_many_and_back() {
        let a = MemoryAdapter::default();
        a.add_all("s1", &["s1".into(), "lobby".into()]);
        a.add_all("s2", &["s2".into(), "lobby".into(), "lobby".into()]);
        a.add_all("s3", &["s3".into()]);
        assert_eq!(sorted(a.sockets(&to(&["lobby"], &[]))), ["s1", "s2"]);
        assert_eq!(sorted(a.sockets(&to(&["s2"], &[]))), ["s2"]);
        assert_eq!(sorted(a.sockets(&to(&[], &["lobby"]))), ["s3"]);
        assert_eq!(
            sorted(a.sockets(&to(&["lobby", "s3"], &["s1"]))),
            ["s2", "s3"]
        );
        assert_eq!(a.socket_rooms("s2"), ["s2", "lobby"]);

        // A third member, then back down to one, then none: the room disappears.
        a.add_all("s3", &["lobby".into()]);
        a.del("s1", "lobby");
        a.del("s2", "lobby");
        assert_eq!(sorted(a.sockets(&to(&["lobby"], &[]))), ["s3"]);
        a.del_all("s3");
        assert!(a.sockets(&to(&["lobby"], &[])).is_empty());
        let mut rooms = a.rooms();
        rooms.sort();
        assert_eq!(rooms, ["s1", "s2"]);

        // Leaving one's own room is allowed, as in Node.
        a.del("s1", "s1");
        assert!(a.sockets(&to(&["s1"], &[])).is_empty());
        assert!(a.socket_rooms("s1").is_empty());
    }
}
