//! The Socket.IO server: its namespaces, its Engine.IO endpoint and its settings.

use std::future::Future;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use http::{Request, Response};
use serde_json::{Map, Value};

use crate::args::IntoArgs;
use crate::broadcast::BroadcastOperator;
use crate::config::Config;
use crate::connect_deadlines::ConnectDeadlines;
use crate::connection::Connection;
use crate::engine::{Body, CloseReason, Engine, MessageData, Session, SessionHandler};
use crate::namespace::Namespace;
use crate::namespaces::Namespaces;
use crate::socket::Socket;

struct SioHandler {
    io: Weak<IoInner>,
}

struct IoInner {
    config: Config,
    engine: Engine,
    namespaces: Arc<Namespaces>,
    connect_deadlines: Arc<ConnectDeadlines>,
}

impl Drop for IoInner {
    fn drop(&mut self) {
        self.connect_deadlines.stop();
    }
}

impl SessionHandler for SioHandler {
    fn on_open(&self, session: &Arc<Session>) {
        let Some(io) = self.io.upgrade() else { return };
        let connection = Connection::new(Arc::downgrade(&io.namespaces), io.config.max_attachments);
        session.set_data(Arc::new(connection));
        let deadline = tokio::time::Instant::now() + io.config.connect_timeout;
        io.connect_deadlines.push(deadline, session);
    }

    fn on_message(&self, session: &Arc<Session>, message: MessageData) {
        if let Some(connection) = session.data::<Connection>() {
            connection.on_message(session, message);
        }
    }

    fn on_close(&self, session: &Arc<Session>, reason: CloseReason) {
        if let Some(connection) = session.data::<Connection>() {
            connection.on_close(reason);
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
            namespaces: Arc::new(Namespaces::new(config.clone())),
            config,
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
        self.0.namespaces.of(&name)
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
        self.0.namespaces.dynamic(predicate)
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
