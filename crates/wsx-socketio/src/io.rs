//! The Socket.IO server: its namespaces, its Engine.IO endpoint and its settings.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use serde_json::{Map, Value};

use crate::adapter::{Adapter, MemoryAdapter};
use crate::args::IntoArgs;
use crate::broadcast::BroadcastOperator;
use crate::client::Client;
use crate::engine::{Body, CloseReason, Engine, EngineConfig, Handler, Message, Session};
use crate::namespace::{Namespace, NsHandlers};
use crate::recovery::RecoveryConfig;
use crate::socket::Socket;

type AdapterFactory = Arc<dyn Fn(&str) -> Arc<dyn Adapter> + Send + Sync>;
type NamespacePredicate = Arc<dyn Fn(&str, &Map<String, Value>) -> bool + Send + Sync>;

/// Socket.IO settings. The defaults are Node's.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// The Engine.IO settings; the path defaults to `/socket.io/`.
    pub engine: EngineConfig,
    /// How long a session may stay without connecting to any namespace (default 45 s).
    pub connect_timeout: Duration,
    /// The default wait for acknowledgements (default 5 s).
    pub ack_timeout: Duration,
    /// The most binary attachments a packet may have (default 10).
    pub max_attachments: usize,
    /// Connection state recovery (default off, as in Node).
    pub recovery: Option<RecoveryConfig>,
    adapter: AdapterFactory,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            engine: EngineConfig::default().path("/socket.io/"),
            connect_timeout: Duration::from_secs(45),
            ack_timeout: Duration::from_secs(5),
            max_attachments: crate::socketio::DEFAULT_MAX_ATTACHMENTS,
            recovery: None,
            adapter: Arc::new(|_| Arc::new(MemoryAdapter::default())),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("engine", &self.engine)
            .field("connect_timeout", &self.connect_timeout)
            .field("ack_timeout", &self.ack_timeout)
            .field("max_attachments", &self.max_attachments)
            .field("recovery", &self.recovery)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Sets the Engine.IO settings.
    pub fn engine(mut self, engine: EngineConfig) -> Self {
        self.engine = engine;
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the default acknowledgement timeout.
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }

    /// Turns connection state recovery on (see [`RecoveryConfig`]).
    pub fn recovery(mut self, recovery: RecoveryConfig) -> Self {
        self.recovery = Some(recovery);
        self
    }

    /// Sets the adapter: `factory` is called once per namespace with its name.
    pub fn adapter<A: Adapter>(
        mut self,
        factory: impl Fn(&str) -> A + Send + Sync + 'static,
    ) -> Self {
        self.adapter = Arc::new(move |nsp| Arc::new(factory(nsp)));
        self
    }
}

struct Dynamic {
    predicate: NamespacePredicate,
    handlers: Arc<NsHandlers>,
}

pub(crate) struct IoInner {
    config: Config,
    engine: Engine,
    namespaces: RwLock<HashMap<String, Namespace>>,
    dynamic: RwLock<Vec<Dynamic>>,
    connect_deadlines: Arc<ConnectDeadlines>,
}

impl Drop for IoInner {
    fn drop(&mut self) {
        self.connect_deadlines.stop();
    }
}

/// Sessions that must connect to a namespace before their deadline. Every deadline is the
/// session's creation plus the same timeout, so a FIFO queue is already sorted and one task
/// serves every session (instead of a task and a timer each).
#[derive(Default)]
struct ConnectDeadlines {
    queue: std::sync::Mutex<std::collections::VecDeque<(tokio::time::Instant, Weak<Session>)>>,
    notify: tokio::sync::Notify,
    started: std::sync::atomic::AtomicBool,
    stopped: std::sync::atomic::AtomicBool,
}

impl ConnectDeadlines {
    fn push(self: &Arc<Self>, deadline: tokio::time::Instant, session: &Arc<Session>) {
        use std::sync::atomic::Ordering;
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back((deadline, Arc::downgrade(session)));
        self.notify.notify_one();
        if !self.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(self.clone().run());
        }
    }

    fn stop(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::Release);
        self.notify.notify_one();
    }

    async fn run(self: Arc<Self>) {
        use std::sync::atomic::Ordering;
        loop {
            let notified = self.notify.notified();
            if self.stopped.load(Ordering::Acquire) {
                return;
            }
            let front = self
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .front()
                .map(|(d, _)| *d);
            let Some(deadline) = front else {
                notified.await;
                continue;
            };
            tokio::time::sleep_until(deadline).await;
            let expired: Vec<Weak<Session>> = {
                let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                let now = tokio::time::Instant::now();
                let n = q.iter().take_while(|(d, _)| *d <= now).count();
                q.drain(..n).map(|(_, s)| s).collect()
            };
            for session in expired.iter().filter_map(Weak::upgrade) {
                let idle = session.data::<Client>().is_some_and(|c| !c.has_sockets());
                if idle {
                    session.close(CloseReason::ForcedClose);
                }
            }
        }
    }
}

impl IoInner {
    fn new_namespace(&self, name: &str, handlers: Arc<NsHandlers>) -> Namespace {
        Namespace::new(
            name.to_owned(),
            (self.config.adapter)(name),
            handlers,
            self.config.ack_timeout,
            self.config.recovery.clone(),
        )
    }

    /// The namespace a CONNECT to `name` goes to: a registered one, or a new child of the
    /// first dynamic namespace whose predicate accepts it.
    pub(crate) fn namespace_for(&self, name: &str, auth: &Map<String, Value>) -> Option<Namespace> {
        if let Some(ns) = self
            .namespaces
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Some(ns.clone());
        }
        let handlers = self
            .dynamic
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|d| (d.predicate)(name, auth))
            .map(|d| d.handlers.clone())?;
        let mut map = self.namespaces.write().unwrap_or_else(|e| e.into_inner());
        Some(
            map.entry(name.to_owned())
                .or_insert_with(|| self.new_namespace(name, handlers))
                .clone(),
        )
    }
}

struct SioHandler {
    io: Weak<IoInner>,
}

impl Handler for SioHandler {
    fn on_open(&self, session: &Arc<Session>) {
        let Some(io) = self.io.upgrade() else { return };
        let client = Arc::new(Client::new(self.io.clone(), io.config.max_attachments));
        session.set_data(client);
        let deadline = tokio::time::Instant::now() + io.config.connect_timeout;
        io.connect_deadlines.push(deadline, session);
    }

    fn on_message(&self, session: &Arc<Session>, message: Message) {
        if let Some(client) = session.data::<Client>() {
            client.on_message(session, message);
        }
    }

    fn on_close(&self, session: &Arc<Session>, reason: CloseReason) {
        if let Some(client) = session.data::<Client>() {
            client.on_close(reason);
        }
    }
}

/// A Socket.IO server. Cheap to clone; clones share everything.
///
/// ```no_run
/// use wsx_socketio::SocketIo;
///
/// let io = SocketIo::new(Default::default());
/// io.of("/").on_connection(|socket| async move {
///     socket.join(["lobby"]);
///     socket.on("chat", |socket, event| async move {
///         socket.to(["lobby"]).emit("chat", event.args);
///     });
/// });
/// ```
#[derive(Clone)]
pub struct SocketIo(Arc<IoInner>);

impl std::fmt::Debug for SocketIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIo")
            .field("config", &self.0.config)
            .finish_non_exhaustive()
    }
}

impl SocketIo {
    /// A server with `config` and the main namespace `/`.
    pub fn new(config: Config) -> Self {
        let inner = Arc::new_cyclic(|weak: &Weak<IoInner>| IoInner {
            engine: Engine::new(config.engine.clone(), SioHandler { io: weak.clone() }),
            config,
            namespaces: RwLock::new(HashMap::new()),
            dynamic: RwLock::new(Vec::new()),
            connect_deadlines: Arc::default(),
        });
        let io = SocketIo(inner);
        io.of("/");
        io
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// The Engine.IO endpoint underneath.
    pub fn engine(&self) -> &Engine {
        &self.0.engine
    }

    /// The namespace `name` (`/` is the main one), created if it does not exist.
    pub fn of(&self, name: &str) -> Namespace {
        let name = if name.starts_with('/') {
            name.to_owned()
        } else {
            format!("/{name}")
        };
        if let Some(ns) = self
            .0
            .namespaces
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&name)
        {
            return ns.clone();
        }
        let mut map = self.0.namespaces.write().unwrap_or_else(|e| e.into_inner());
        map.entry(name.clone())
            .or_insert_with(|| self.0.new_namespace(&name, Arc::default()))
            .clone()
    }

    /// Registers `handler` for connections to namespace `name` (see
    /// [`Namespace::on_connection`]) and returns the namespace.
    pub fn ns<F, Fut>(&self, name: &str, handler: F) -> Namespace
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let ns = self.of(name);
        ns.on_connection(handler);
        ns
    }

    /// A dynamic namespace: a CONNECT to an unknown namespace whose name (and `auth`)
    /// `predicate` accepts creates it, with the handlers and middleware registered on the
    /// returned template (`io.of(/regex/)` or `io.of(fn)` in Node).
    pub fn dynamic_ns(
        &self,
        predicate: impl Fn(&str, &Map<String, Value>) -> bool + Send + Sync + 'static,
    ) -> Namespace {
        let handlers: Arc<NsHandlers> = Arc::default();
        self.0
            .dynamic
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(Dynamic {
                predicate: Arc::new(predicate),
                handlers: handlers.clone(),
            });
        // A detached namespace object on which to register the shared handlers.
        Namespace::new(
            "(dynamic)".into(),
            Arc::new(MemoryAdapter::default()),
            handlers,
            self.0.config.ack_timeout,
            None,
        )
    }

    /// Emits to every socket of the main namespace.
    pub fn emit(&self, event: &str, args: impl IntoArgs) -> bool {
        self.of("/").emit(event, args)
    }

    /// A broadcast in the main namespace to the sockets in `rooms`.
    pub fn to<I: IntoIterator<Item = impl Into<String>>>(&self, rooms: I) -> BroadcastOperator {
        self.of("/").to(rooms)
    }

    /// A broadcast in the main namespace to every socket not in `rooms`.
    pub fn except<I: IntoIterator<Item = impl Into<String>>>(&self, rooms: I) -> BroadcastOperator {
        self.of("/").except(rooms)
    }

    /// Handles one HTTP request to the endpoint (see [`Engine::handle`]).
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.0.engine.handle(req).await
    }

    /// Serves HTTP/1.1 on `listener` (the endpoint only; other paths get 404) until the
    /// returned future is dropped. For anything more, mount [`handle`](Self::handle) in your
    /// own hyper or axum server.
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// let io = wsx_socketio::SocketIo::new(Default::default());
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    /// io.serve(listener).await
    /// # }
    /// ```
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        crate::engine::serve(listener, self.0.engine.clone()).await
    }

    /// Closes every session (clients see "transport close" and reconnect elsewhere).
    pub fn close(&self) {
        self.0.engine.close_all();
    }
}
