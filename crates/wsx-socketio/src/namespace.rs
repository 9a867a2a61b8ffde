//! Namespaces: their sockets and rooms, connection handler, middleware and server-side
//! handlers, and the cluster they share with other nodes.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::args::IntoArgs;
use crate::cluster::{Cluster, ServerSideAck, ServerSideAcks};
use crate::encoded::Encoded;
use crate::engine::Session;
use crate::options::BroadcastOptions;
use crate::recovery::{Recovery, RecoveryConfig, Restored};
use crate::rooms::Rooms;
use crate::socket::{BoxFuture, NamespaceLink, Socket, run};
use crate::socketio::{Data, Packet, PacketData};
use crate::targets::{MIN_TARGETS, Target, TargetCache};

type ConnectionHandler = Arc<dyn Fn(Socket) -> BoxFuture + Send + Sync>;
type MiddlewareFuture = Pin<Box<dyn Future<Output = Result<(), ConnectError>> + Send>>;
type Middleware = Arc<dyn Fn(Socket) -> MiddlewareFuture + Send + Sync>;

/// A middleware's refusal: the client receives it as a CONNECT_ERROR
/// (`{"message":…,"data":…}`, the `connect_error` event of `socket.io-client`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    message: String,
    data: Option<Value>,
}

impl ConnectError {
    /// A refusal with this message.
    pub fn new(message: impl Into<String>) -> Self {
        ConnectError {
            message: message.into(),
            data: None,
        }
    }

    /// Adds data the client sees as `err.data`.
    pub fn data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    pub(crate) fn packet(&self, nsp: &str) -> Packet {
        let mut map = Map::new();
        map.insert("message".into(), Value::String(self.message.clone()));
        if let Some(data) = &self.data {
            map.insert("data".into(), data.clone());
        }
        Packet {
            nsp: nsp.to_owned(),
            data: PacketData::ConnectError(Value::Object(map)),
        }
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectError {}

/// What a namespace does on connection; shared by the children of a dynamic namespace.
#[derive(Default)]
pub(crate) struct NsHandlers {
    connection: Mutex<Option<ConnectionHandler>>,
    middleware: Mutex<Vec<Middleware>>,
}

pub(crate) struct NsInner {
    name: String,
    sockets: RwLock<HashMap<Arc<str>, Socket>>,
    rooms: Rooms,
    cluster: Arc<dyn Cluster>,
    handlers: Arc<NsHandlers>,
    ack_timeout: Duration,
    next_ack: AtomicU64,
    recovery: Option<Recovery>,
    server_side: RwLock<HashMap<String, ServerSideHandler>>,
    targets: Mutex<TargetCache>,
}

type ServerSideHandler = Arc<dyn Fn(Vec<Data>, Option<ServerSideAck>) -> BoxFuture + Send + Sync>;

impl NamespaceLink for NsInner {
    fn name(&self) -> &str {
        &self.name
    }

    fn ack_timeout(&self) -> Duration {
        self.ack_timeout
    }

    fn next_ack_id(&self) -> u64 {
        self.next_ack.fetch_add(1, Ordering::Relaxed)
    }

    fn recovery(&self) -> Option<&Recovery> {
        self.recovery.as_ref()
    }

    fn join(&self, id: &str, rooms: &[String]) {
        self.rooms.add_all(id, rooms);
        self.cluster.joined(id, rooms);
    }

    fn leave(&self, id: &str, room: &str) {
        self.rooms.del(id, room);
        self.cluster.left(id, &[room.to_owned()]);
    }

    fn socket_rooms(&self, id: &str) -> Vec<String> {
        self.rooms.socket_rooms(id)
    }

    fn remove(&self, socket: &Socket) {
        write(&self.sockets).remove(socket.id());
        let rooms = self.rooms.del_all(socket.id());
        self.cluster.left(socket.id(), &rooms);
        lock(&self.targets).clear();
    }
}

impl Socket {
    /// The namespace.
    pub fn ns(&self) -> Namespace {
        let link: Arc<dyn Any + Send + Sync> = self.0.ns.clone();
        match link.downcast::<NsInner>() {
            Ok(inner) => Namespace(inner),
            Err(_) => unreachable!("a socket's namespace link is its namespace"),
        }
    }
}

/// A namespace (`/`, `/chat`, …): a separate channel multiplexed on each client's session,
/// with its own handlers, rooms and sockets. Cheap to clone.
#[derive(Clone)]
pub struct Namespace(pub(crate) Arc<NsInner>);

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.0.name)
            .finish_non_exhaustive()
    }
}

impl Namespace {
    /// A namespace on `cluster`, which the caller then [`init`](Cluster::init)s with its
    /// local side.
    pub(crate) fn new(
        name: String,
        cluster: Arc<dyn Cluster>,
        handlers: Arc<NsHandlers>,
        ack_timeout: Duration,
        recovery: Option<RecoveryConfig>,
    ) -> Self {
        let recovery = recovery.map(|config| Recovery::new(config, &cluster));
        Namespace(Arc::new(NsInner {
            name,
            sockets: RwLock::new(HashMap::new()),
            rooms: Rooms::default(),
            cluster,
            handlers,
            ack_timeout,
            next_ack: AtomicU64::new(0),
            recovery,
            server_side: RwLock::new(HashMap::new()),
            targets: Mutex::new(TargetCache::default()),
        }))
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Runs `handler` for every socket that connects (after the middleware accepted it and
    /// the CONNECT was acknowledged).
    pub fn on_connection<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let h: ConnectionHandler = Arc::new(move |s| Box::pin(handler(s)));
        *lock(&self.0.handlers.connection) = Some(h);
    }

    /// Adds a middleware: it runs before the connection is accepted, in the order added, and
    /// refuses it by returning an error (the client gets `connect_error`).
    pub fn use_middleware<F, Fut>(&self, middleware: F)
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
    {
        let m: Middleware = Arc::new(move |s| Box::pin(middleware(s)));
        lock(&self.0.handlers.middleware).push(m);
    }

    /// Emits `event` to the server-side handlers of the other nodes of a cluster (Node's
    /// `serverSideEmit`); this node's handlers are not called. Without a cluster adapter it
    /// reaches no one.
    pub fn server_side_emit(&self, event: &str, args: impl IntoArgs) {
        self.0.cluster.server_side_emit(event, &args.into_args());
    }

    /// Handles `event` sent by another node's [`server_side_emit`](Self::server_side_emit).
    pub fn on_server_side_emit<F, Fut>(&self, event: impl Into<String>, handler: F)
    where
        F: Fn(Vec<Data>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let h: ServerSideHandler = Arc::new(move |args, _| Box::pin(handler(args)));
        write(&self.0.server_side).insert(event.into(), h);
    }

    /// Emits `event` to the server-side handlers of the other nodes and gathers their answers
    /// (Node's `serverSideEmitWithAck`): one per other node, or those that came within the
    /// cluster adapter's requests timeout ([`ServerSideAcks::timed_out`]).
    pub fn server_side_emit_with_ack(
        &self,
        event: &str,
        args: impl IntoArgs,
    ) -> impl Future<Output = ServerSideAcks> + Send + 'static {
        self.0
            .cluster
            .server_side_emit_with_ack(event, &args.into_args())
    }

    /// Handles `event` sent by another node's [`server_side_emit`](Self::server_side_emit) or
    /// [`server_side_emit_with_ack`](Self::server_side_emit_with_ack); `ack` is `Some` when the
    /// sender waits for an answer.
    pub fn on_server_side_emit_with_ack<F, Fut>(&self, event: impl Into<String>, handler: F)
    where
        F: Fn(Vec<Data>, Option<ServerSideAck>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let h: ServerSideHandler = Arc::new(move |args, ack| Box::pin(handler(args, ack)));
        write(&self.0.server_side).insert(event.into(), h);
    }

    /// Runs the handler of a server-side emit received from another node; `ack` is `Some`
    /// when that node waits for an answer.
    pub(crate) fn dispatch_server_side_emit(
        &self,
        event: &str,
        args: Vec<Data>,
        ack: Option<ServerSideAck>,
    ) {
        let handler = read(&self.0.server_side).get(event).cloned();
        if let Some(h) = handler {
            run(h(args, ack));
        }
    }

    /// The other nodes of the cluster.
    pub(crate) fn cluster(&self) -> &Arc<dyn Cluster> {
        &self.0.cluster
    }

    /// The rooms of this node's sockets.
    pub(crate) fn rooms(&self) -> &Rooms {
        &self.0.rooms
    }

    pub(crate) fn next_ack_id(&self) -> u64 {
        self.0.next_ack_id()
    }

    pub(crate) fn recovery(&self) -> Option<&Recovery> {
        self.0.recovery.as_ref()
    }

    pub(crate) fn downgrade(&self) -> std::sync::Weak<NsInner> {
        Arc::downgrade(&self.0)
    }

    pub(crate) fn ack_timeout(&self) -> Duration {
        self.0.ack_timeout
    }

    /// This node's connected sockets.
    pub fn sockets(&self) -> Vec<Socket> {
        read(&self.0.sockets).values().cloned().collect()
    }

    /// How many sockets are connected to this node.
    pub fn socket_count(&self) -> usize {
        read(&self.0.sockets).len()
    }

    /// The connected socket with this id.
    pub fn get_socket(&self, id: &str) -> Option<Socket> {
        read(&self.0.sockets).get(id).cloned()
    }

    pub(crate) fn with_sockets<R>(&self, f: impl FnOnce(&HashMap<Arc<str>, Socket>) -> R) -> R {
        f(&read(&self.0.sockets))
    }

    /// The receivers of a broadcast to `rooms` (every socket when empty), when a list of them
    /// is kept for the current membership (see [`crate::targets`]).
    pub(crate) fn cached_targets(&self, rooms: &[String]) -> Option<Arc<[Target]>> {
        let version = self.0.rooms.version();
        let mut cache = lock(&self.0.targets);
        match cache.get(version, rooms) {
            Ok(list) => Some(list),
            Err(false) => None,
            Err(true) => {
                let ids = self.0.rooms.sockets(&BroadcastOptions {
                    rooms: rooms.to_vec(),
                    ..Default::default()
                });
                let list = (ids.len() >= MIN_TARGETS).then(|| {
                    self.with_sockets(|map| {
                        ids.iter()
                            .filter_map(|id| map.get(id))
                            .map(Target::new)
                            .collect::<Arc<[Target]>>()
                    })
                });
                cache.insert(rooms, list.clone());
                list
            }
        }
    }

    /// A client asked to connect: run the middleware, then accept. `done` is told the
    /// socket once it is in the namespace (before the CONNECT answer and the connection
    /// handler), or `None` if the middleware refused it.
    pub(crate) fn connect(
        &self,
        session: Arc<Session>,
        auth: Map<String, Value>,
        done: impl FnOnce(Option<&Socket>) -> bool + Send + 'static,
    ) {
        let ns = self.clone();
        run(Box::pin(async move {
            // A cluster adapter looks the session up in the cluster: asynchronous.
            let asked = ns.0.recovery.as_ref().and_then(|r| {
                let pid = auth.get("pid")?.as_str()?;
                let offset = auth.get("offset")?.as_str()?;
                Some((pid.to_owned(), r.restore_any(pid, offset)))
            });
            let restored = match asked {
                Some((pid, fut)) => fut.await.map(|r| (pid, r)),
                None => None,
            };
            ns.accept(session, auth, restored, done).await;
        }));
    }

    async fn accept(
        self,
        session: Arc<Session>,
        auth: Map<String, Value>,
        restored: Option<(String, Restored)>,
        done: impl FnOnce(Option<&Socket>) -> bool,
    ) {
        let recovered = restored.is_some();
        let pid = match (&self.0.recovery, &restored) {
            (None, _) => None,
            (Some(_), Some((pid, _))) => Some(pid.clone()),
            (Some(_), None) => Some(crate::engine::generate_id()),
        };
        let socket = Socket::new(
            self.0.clone(),
            session.clone(),
            auth,
            restored.as_ref().map(|(_, r)| r.sid.clone()),
            pid,
        );
        let skip_middleware = recovered
            && self
                .0
                .recovery
                .as_ref()
                .is_some_and(|r| r.config().skip_middlewares);
        let middleware = if skip_middleware {
            Vec::new()
        } else {
            lock(&self.0.handlers.middleware).clone()
        };
        let handler = lock(&self.0.handlers.connection).clone();
        let ns = self;
        for m in middleware {
            if let Err(e) = m(socket.clone()).await {
                if let Ok(encoded) = Encoded::new(&e.packet(ns.name())) {
                    session.send_out(encoded.frames());
                }
                let _ = done(None);
                return;
            }
        }
        if session.is_closed() {
            return;
        }
        let id = socket.id_arc();
        write(&ns.0.sockets).insert(id.clone(), socket.clone());
        ns.0.join(&id, &[id.to_string()]);
        socket.set_connected();
        // `done` keeps the socket in its connection, unless the session closed since the
        // check above (it disconnected the socket then): no CONNECT answer, no handler.
        if !done(Some(&socket)) {
            return;
        }
        if let Some((_, restored)) = restored {
            socket.restore(restored);
        }
        socket.send_packet(&socket.connect_ack());
        if let Some(h) = handler {
            h(socket).await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}
