//! A socket: one client's connection to one namespace. Handlers, emits, acks, rooms and
//! disconnection.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::oneshot;

use crate::ack::{AckFuture, AckSender, Acks};
use crate::args::IntoArgs;
use crate::encoded::Encoded;
use crate::engine::{CloseReason, RequestInfo, Session};
use crate::event::Event;
use crate::options::BroadcastOptions;
use crate::recovery::{Recovery, Restored};
use crate::socketio::{Data, Packet, PacketData, Payload};

/// A boxed future returned by handlers.
pub(crate) type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
type EventHandler = Arc<dyn Fn(Socket, Event) -> BoxFuture + Send + Sync>;
type DisconnectHandler = Arc<dyn Fn(Socket, DisconnectReason) -> BoxFuture + Send + Sync>;

/// Why a socket left its namespace, with Node's reason strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The client left the namespace (`socket.disconnect()` on the client).
    ClientNamespaceDisconnect,
    /// The server called [`Socket::disconnect`].
    ServerNamespaceDisconnect,
    /// The Engine.IO session closed.
    Transport(CloseReason),
}

impl DisconnectReason {
    /// Node's reason string.
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::ClientNamespaceDisconnect => "client namespace disconnect",
            DisconnectReason::ServerNamespaceDisconnect => "server namespace disconnect",
            DisconnectReason::Transport(r) => r.as_str(),
        }
    }
}

impl DisconnectReason {
    /// Whether connection state recovery keeps the session (the client did not leave on
    /// purpose and the server did not make it).
    pub fn is_recoverable(self) -> bool {
        matches!(
            self,
            DisconnectReason::Transport(
                CloseReason::TransportClose
                    | CloseReason::TransportError
                    | CloseReason::PingTimeout
                    | CloseReason::ForcedClose
                    | CloseReason::ServerShutdown
                    | CloseReason::SlowConsumer
            )
        )
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the client sent when it connected: its `auth` payload and the HTTP request.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The CONNECT payload (`{}` when the client sent none).
    pub auth: Map<String, Value>,
    /// The Engine.IO handshake request (headers, URI with query, peer address, time), shared
    /// with the session's other sockets.
    pub request: Arc<RequestInfo>,
}

/// What a socket needs of its namespace, which sits above it (a namespace holds its sockets
/// and hands them to its handlers). [`Namespace`](crate::Namespace) is the one implementation;
/// [`Socket::ns`] gives it back.
pub(crate) trait NamespaceLink: Any + Send + Sync {
    /// The namespace's name.
    fn name(&self) -> &str;
    /// The default wait for acknowledgements.
    fn ack_timeout(&self) -> Duration;
    /// The next ack id: one counter per namespace, as in Node, so that a broadcast with
    /// acknowledgements sends the same packet to every receiver.
    fn next_ack_id(&self) -> u64;
    /// Connection state recovery, when it is on.
    fn recovery(&self) -> Option<&Recovery>;
    /// Socket `id` joins `rooms`.
    fn join(&self, id: &str, rooms: &[String]);
    /// Socket `id` leaves `room`.
    fn leave(&self, id: &str, room: &str);
    /// The rooms socket `id` is in.
    fn socket_rooms(&self, id: &str) -> Vec<String>;
    /// `socket` left the namespace: forget it and its rooms.
    fn remove(&self, socket: &Socket);
}

#[derive(Default)]
struct Handlers {
    /// By event name. A socket handles a handful of events: a list is smaller than a map
    /// (this is kept for every connected client) and as fast to search at that size.
    events: Vec<(Box<str>, EventHandler)>,
    any: Option<EventHandler>,
    disconnecting: Vec<DisconnectHandler>,
    disconnect: Vec<DisconnectHandler>,
    /// Set once the socket has disconnected: a disconnect handler registered after that
    /// (by a connection handler still running on another thread when the client went away)
    /// runs at once instead of never.
    gone: Option<DisconnectReason>,
}

pub(crate) struct SocketInner {
    pub(crate) id: Arc<str>,
    pub(crate) ns: Arc<dyn NamespaceLink>,
    pub(crate) session: Arc<Session>,
    handshake: Handshake,
    handlers: Mutex<Handlers>,
    acks: Mutex<HashMap<u64, oneshot::Sender<Vec<Data>>>>,
    connected: AtomicBool,
    /// Boxed, `None` for `null`: most sockets never get data, and a `Value` is 80 bytes.
    data: Mutex<Option<Box<Value>>>,
    /// The private session id, when recovery is on.
    pid: Option<Arc<str>>,
    recovered: AtomicBool,
}

impl SocketInner {
    fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    fn send_packet(&self, packet: &Packet) -> bool {
        match Encoded::new(packet) {
            Ok(encoded) => self.send_encoded(&encoded),
            Err(e) => {
                tracing::debug!(error = %e, "packet not sent");
                false
            }
        }
    }

    fn send_encoded(&self, encoded: &Encoded) -> bool {
        self.connected() && self.session.send_out_with(encoded.frames(), true, false)
    }
}

impl Acks for SocketInner {
    fn send_ack(&self, id: u64, args: Vec<Data>) -> bool {
        self.send_packet(&Packet::ack(self.ns.name(), id, Payload::from_data(args)))
    }

    fn forget_ack(&self, id: u64) {
        lock(&self.acks).remove(&id);
    }
}

/// One client's connection to one namespace. Cheap to clone; every clone is the same socket.
#[derive(Clone)]
pub struct Socket(pub(crate) Arc<SocketInner>);

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.0.id)
            .field("nsp", &self.0.ns.name())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Socket {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Runs a handler's future: inline if it completes at once (the usual case, and it keeps the
/// order of side effects), on a new task otherwise.
pub(crate) fn run(fut: BoxFuture) {
    let mut fut = fut;
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    if fut.as_mut().poll(&mut cx).is_pending() {
        tokio::spawn(fut);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Socket {
    pub(crate) fn new(
        ns: Arc<dyn NamespaceLink>,
        session: Arc<Session>,
        auth: Map<String, Value>,
        id: Option<String>,
        pid: Option<String>,
    ) -> Self {
        let request = session.request_shared();
        Socket(Arc::new(SocketInner {
            id: id.unwrap_or_else(crate::engine::generate_id).into(),
            pid: pid.map(Into::into),
            recovered: AtomicBool::new(false),
            ns,
            session,
            handshake: Handshake { auth, request },
            handlers: Mutex::new(Handlers::default()),
            acks: Mutex::new(HashMap::new()),
            connected: AtomicBool::new(false),
            data: Mutex::new(None),
        }))
    }

    /// The socket id (also the name of its own room).
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// This socket's address: the same for every clone, different from any other live socket.
    pub(crate) fn addr(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    pub(crate) fn id_arc(&self) -> Arc<str> {
        self.0.id.clone()
    }

    /// The handshake: `auth`, headers, query, address.
    pub fn handshake(&self) -> &Handshake {
        &self.0.handshake
    }

    /// The Engine.IO session id (shared by this client's sockets in every namespace).
    pub fn session_id(&self) -> &str {
        self.0.session.sid()
    }

    /// The Engine.IO transport in use now.
    pub fn transport(&self) -> crate::engine::TransportKind {
        self.0.session.transport()
    }

    /// Whether this socket took over a previous one's id, rooms and data through connection
    /// state recovery (and was sent the packets it missed).
    pub fn recovered(&self) -> bool {
        self.0.recovered.load(Ordering::Acquire)
    }

    /// The CONNECT answer: `{"sid":…}`, plus `"pid"` with recovery on.
    pub(crate) fn connect_ack(&self) -> Packet {
        let mut packet = Packet::connect_ack(self.0.ns.name(), &self.0.id);
        if let (Some(pid), PacketData::Connect(Some(map))) = (&self.0.pid, &mut packet.data) {
            map.insert("pid".into(), Value::String(pid.to_string()));
        }
        packet
    }

    /// Takes over a recovered session: the missed packets, then rooms and data. The missed
    /// packets go first: once the socket is in its rooms, new broadcasts reach it, and they
    /// must come after the ones it missed.
    pub(crate) fn restore(&self, restored: Restored) {
        for packet in &restored.missed {
            self.send_packet(packet);
        }
        self.join(restored.rooms);
        self.set_data(restored.data);
        self.0.recovered.store(true, Ordering::Release);
    }

    /// Whether the socket is connected.
    pub fn connected(&self) -> bool {
        self.0.connected()
    }

    /// Application data attached to the socket (`socket.data` in Node; `null` at first).
    pub fn data(&self) -> Value {
        lock(&self.0.data).as_deref().cloned().unwrap_or_default()
    }

    /// Replaces the socket's application data.
    pub fn set_data(&self, value: Value) {
        *lock(&self.0.data) = (!value.is_null()).then(|| Box::new(value));
    }

    // ----- handlers -----

    /// Handles event `name`. A second handler for the same name replaces the first.
    ///
    /// ```no_run
    /// # fn f(socket: wsx_socketio::Socket) {
    /// socket.on("message", |socket, mut event| async move {
    ///     let text: String = event.arg(0).unwrap_or_default();
    ///     socket.emit("message-back", text);
    ///     event.ack(());
    /// });
    /// # }
    /// ```
    pub fn on<F, Fut>(&self, name: impl Into<String>, handler: F)
    where
        F: Fn(Socket, Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let h: EventHandler = Arc::new(move |s, e| Box::pin(handler(s, e)));
        let mut handlers = lock(&self.0.handlers);
        let name: &str = &name.into();
        match handlers.events.iter_mut().find(|(n, _)| &**n == name) {
            Some(entry) => entry.1 = h,
            None => handlers.events.push((name.into(), h)),
        }
    }

    /// Sees every incoming event, before its own handler (`onAny` in Node); the event's name
    /// is in [`Event::name`]. The acknowledgement, if one was asked for, goes to the event's
    /// own handler when there is one, else to this one.
    pub fn on_any<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        lock(&self.0.handlers).any = Some(Arc::new(move |s, e| Box::pin(handler(s, e))));
    }

    /// Runs `handler` when the socket is about to disconnect, while it is still in its rooms
    /// (`disconnecting` in Node).
    ///
    /// On a socket that has already disconnected, `handler` runs at once.
    pub fn on_disconnecting<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, DisconnectReason) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.add_disconnect_handler(Arc::new(move |s, r| Box::pin(handler(s, r))), |h| {
            &mut h.disconnecting
        });
    }

    /// Runs `handler` once the socket has disconnected: it has left its rooms and the
    /// namespace (`disconnect` in Node).
    ///
    /// On a socket that has already disconnected (the client went away while the connection
    /// handler was still running, on another thread), `handler` runs at once: every
    /// registered disconnect handler runs exactly once.
    pub fn on_disconnect<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, DisconnectReason) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.add_disconnect_handler(Arc::new(move |s, r| Box::pin(handler(s, r))), |h| {
            &mut h.disconnect
        });
    }

    /// Keeps `handler` in the list `list` picks, or runs it at once if the socket has already
    /// disconnected (decided under the lock `on_disconnect_inner` takes the lists with).
    fn add_disconnect_handler(
        &self,
        handler: DisconnectHandler,
        list: impl FnOnce(&mut Handlers) -> &mut Vec<DisconnectHandler>,
    ) {
        let mut h = lock(&self.0.handlers);
        match h.gone {
            Some(reason) => {
                drop(h);
                run(handler(self.clone(), reason));
            }
            None => list(&mut h).push(handler),
        }
    }

    // ----- emitting -----

    /// Emits `event` with `args` to this client. Returns `false` if the socket is
    /// disconnected or the arguments cannot be sent (a reserved event name).
    pub fn emit(&self, event: &str, args: impl IntoArgs) -> bool {
        let Some(packet) = self.event_packet(event, args) else {
            return false;
        };
        if let Some(recovery) = self.0.ns.recovery() {
            // Through the log, so that a reconnecting client gets it if it is lost (through
            // the cluster's log when the cluster keeps one, as Node does).
            let me = self.clone();
            let to_me = BroadcastOptions::room(self.id());
            return match recovery.stamp(packet, &to_me, move |p| {
                me.send_packet(p);
            }) {
                Some(packet) => self.send_packet(&packet),
                None => true,
            };
        }
        self.send_packet(&packet)
    }

    /// Emits `event` and waits for the client's acknowledgement (5 s by default, see
    /// [`AckFuture::timeout`]).
    pub fn emit_with_ack(&self, event: &str, args: impl IntoArgs) -> AckFuture {
        let timeout = self.0.ns.ack_timeout();
        let Some(packet) = self.event_packet(event, args) else {
            return AckFuture::new(None, timeout, None);
        };
        self.emit_packet_with_ack(packet, timeout)
    }

    pub(crate) fn emit_packet_with_ack(&self, packet: Packet, timeout: Duration) -> AckFuture {
        let packet = packet.with_ack_id(self.0.ns.next_ack_id());
        let id = packet.id().unwrap_or_default();
        match Encoded::new(&packet) {
            Ok(encoded) => self.expect_ack(id, &encoded, timeout),
            Err(_) => AckFuture::new(None, timeout, None),
        }
    }

    /// Sends `encoded` (which carries ack id `id`) and waits for the answer.
    pub(crate) fn expect_ack(&self, id: u64, encoded: &Encoded, timeout: Duration) -> AckFuture {
        let (tx, rx) = oneshot::channel();
        lock(&self.0.acks).insert(id, tx);
        if !self.send_encoded(encoded) {
            lock(&self.0.acks).remove(&id);
            return AckFuture::new(None, timeout, None);
        }
        let owner: Weak<dyn Acks> = Arc::downgrade(&self.0) as Weak<SocketInner>;
        AckFuture::new(Some(rx), timeout, Some((owner, id)))
    }

    fn event_packet(&self, event: &str, args: impl IntoArgs) -> Option<Packet> {
        event_packet(self.0.ns.name(), event, args)
    }

    pub(crate) fn send_packet(&self, packet: &Packet) -> bool {
        self.0.send_packet(packet)
    }

    /// Sends to this socket alone, written at once.
    pub(crate) fn send_encoded(&self, encoded: &Encoded) -> bool {
        self.0.send_encoded(encoded)
    }

    /// Sends one receiver's copy of a broadcast, batched with this turn's other broadcasts.
    pub(crate) fn send_broadcast(&self, encoded: &Encoded, compress: bool) -> bool {
        self.connected()
            && self
                .0
                .session
                .send_out_with(encoded.frames(), compress, true)
    }

    /// Whether a packet would go out now (a volatile emit is dropped otherwise).
    pub(crate) fn writable(&self) -> bool {
        self.connected() && self.0.session.writable()
    }

    // ----- rooms -----

    /// Joins rooms.
    pub fn join<I: IntoIterator<Item = impl Into<String>>>(&self, rooms: I) {
        let rooms: Vec<String> = rooms.into_iter().map(Into::into).collect();
        self.0.ns.join(&self.0.id, &rooms);
    }

    /// Leaves a room.
    pub fn leave(&self, room: &str) {
        self.0.ns.leave(&self.0.id, room);
    }

    /// Leaves every room but its own.
    pub fn leave_all(&self) {
        for room in self.0.ns.socket_rooms(&self.0.id) {
            if *room != *self.0.id {
                self.0.ns.leave(&self.0.id, &room);
            }
        }
    }

    /// The rooms the socket is in (its own room included).
    pub fn rooms(&self) -> Vec<String> {
        self.0.ns.socket_rooms(&self.0.id)
    }

    // ----- disconnection -----

    /// Leaves the namespace (the client gets a DISCONNECT); with `close`, also closes the
    /// client's Engine.IO session and so its other namespaces.
    pub fn disconnect(&self, close: bool) {
        if self.connected() {
            let _ = self.send_packet(&Packet::disconnect(self.0.ns.name()));
            self.on_disconnect_inner(DisconnectReason::ServerNamespaceDisconnect);
        }
        if close {
            self.0.session.close(CloseReason::ForcedClose);
        }
    }

    pub(crate) fn set_connected(&self) {
        self.0.connected.store(true, Ordering::Release);
    }

    /// The socket leaves: handlers run, rooms are left, pending acks fail.
    pub(crate) fn on_disconnect_inner(&self, reason: DisconnectReason) {
        if !self.0.connected.swap(false, Ordering::AcqRel) {
            return;
        }
        // As in Node: `disconnecting` while the socket is still in its rooms, `disconnect`
        // once it has left them and the namespace.
        let (disconnecting, disconnect) = {
            let mut h = lock(&self.0.handlers);
            h.gone = Some(reason);
            (
                std::mem::take(&mut h.disconnecting),
                std::mem::take(&mut h.disconnect),
            )
        };
        for h in &disconnecting {
            run(h(self.clone(), reason));
        }
        lock(&self.0.acks).clear();
        if let (Some(recovery), Some(pid)) = (self.0.ns.recovery(), &self.0.pid) {
            if reason.is_recoverable() {
                let rooms = self.rooms();
                recovery.persist(pid, &self.0.id, rooms, self.data());
            }
        }
        self.0.ns.remove(self);
        for h in &disconnect {
            run(h(self.clone(), reason));
        }
        // Drop the other handlers too: they may hold clones of this socket.
        *lock(&self.0.handlers) = Handlers {
            gone: Some(reason),
            ..Handlers::default()
        };
    }

    // ----- incoming -----

    pub(crate) fn on_packet(&self, packet: Packet) {
        match packet.data {
            PacketData::Event { payload, id } => self.on_event(payload, id),
            PacketData::Ack { payload, id } => {
                if let Some(tx) = lock(&self.0.acks).remove(&id) {
                    let _ = tx.send(payload.to_data().unwrap_or_default());
                }
            }
            PacketData::Disconnect => {
                self.on_disconnect_inner(DisconnectReason::ClientNamespaceDisconnect)
            }
            PacketData::Connect(_) | PacketData::ConnectError(_) => {}
        }
    }

    fn on_event(&self, payload: Payload, id: Option<u64>) {
        let Ok(mut args) = payload.to_data() else {
            return;
        };
        if args.is_empty() {
            return;
        }
        let name = match args.remove(0) {
            Data::Json(Value::String(s)) => s,
            Data::Json(Value::Number(n)) => n.to_string(),
            _ => return,
        };
        let (own, any) = {
            let h = lock(&self.0.handlers);
            let handler = h.events.iter().find(|(n, _)| **n == *name);
            (handler.map(|(_, h)| h.clone()), h.any.clone())
        };
        let mut ack = id.map(|id| AckSender {
            socket: self.0.clone(),
            id,
        });
        if let Some(any) = any {
            let event = Event {
                name: name.clone(),
                args: if own.is_some() {
                    args.clone()
                } else {
                    std::mem::take(&mut args)
                },
                ack: if own.is_some() { None } else { ack.take() },
            };
            run(any(self.clone(), event));
        }
        if let Some(own) = own {
            run(own(self.clone(), Event { name, args, ack }));
        }
    }
}

/// An EVENT packet for `event` with `args`, or `None` (logged) if the name is reserved.
pub(crate) fn event_packet(nsp: &str, event: &str, args: impl IntoArgs) -> Option<Packet> {
    let mut all = Vec::with_capacity(1);
    all.push(Data::from(event));
    all.extend(args.into_args());
    let packet = Packet::event(nsp, Payload::from_data(all));
    if let Err(e) = packet.validate() {
        tracing::warn!(event, error = %e, "cannot emit");
        return None;
    }
    Some(packet)
}
