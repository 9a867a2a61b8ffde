//! The Engine.IO v4 server: sessions, the long-polling and WebSocket transports, the upgrade
//! between them, heartbeats and CORS, behind one hyper-compatible request handler.
//!
//! An [`Engine`] owns the sessions of one endpoint (`/engine.io/` or, under Socket.IO,
//! `/socket.io/`) and hands every message to a [`Handler`]. A [`Session`] has one sid and one
//! packet queue: the polling transport drains it on each GET, the WebSocket transport writes
//! straight to the connection, and an upgrade switches from one to the other under the
//! session's lock, so no packet is lost, duplicated or reordered.
//!
//! ```no_run
//! use std::sync::Arc;
//! use wsx_socketio::engine::{Engine, EngineConfig, Handler, Message, Session};
//!
//! struct Echo;
//! impl Handler for Echo {
//!     fn on_message(&self, session: &Arc<Session>, message: Message) {
//!         session.send(message);
//!     }
//! }
//!
//! # async fn serve(req: http::Request<hyper::body::Incoming>) -> http::Response<wsx_socketio::engine::Body> {
//! let engine = Engine::new(EngineConfig::default(), Echo);
//! engine.handle(req).await
//! # }
//! ```

mod config;
mod heartbeat;
mod polling;
mod session;
mod websocket;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;

pub use config::{Cors, EngineConfig};
pub use session::{CloseReason, Message, RequestInfo, Session, TransportKind};
pub(crate) use session::{Out, generate_id};

/// The body of every response the engine writes.
pub type Body = Full<Bytes>;

/// What the application does with a session's events. Calls are made from the transport's
/// task, in the order the packets arrived; they must not block.
pub trait Handler: Send + Sync + 'static {
    /// A session opened (its handshake is about to be sent).
    fn on_open(&self, session: &Arc<Session>) {
        let _ = session;
    }
    /// A message arrived.
    fn on_message(&self, session: &Arc<Session>, message: Message);
    /// The session closed; it accepts no more sends.
    fn on_close(&self, session: &Arc<Session>, reason: CloseReason) {
        let _ = (session, reason);
    }
}

/// An Engine.IO endpoint: its configuration, handler and live sessions. Cheap to clone.
pub struct Engine {
    pub(crate) inner: Arc<EngineInner>,
}

impl Clone for Engine {
    fn clone(&self) -> Self {
        Engine {
            inner: self.inner.clone(),
        }
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("path", &self.inner.config.path)
            .field("sessions", &self.session_count())
            .finish()
    }
}

pub(crate) struct EngineInner {
    pub(crate) config: EngineConfig,
    pub(crate) handler: Box<dyn Handler>,
    pub(crate) sessions: Mutex<HashMap<Arc<str>, Arc<Session>>>,
    pub(crate) acceptor: wsx::Acceptor,
    pub(crate) heartbeats: Arc<heartbeat::Heartbeats>,
}

impl Drop for EngineInner {
    fn drop(&mut self) {
        self.heartbeats.stop();
    }
}

impl EngineInner {
    pub(crate) fn sessions(&self) -> MutexGuard<'_, HashMap<Arc<str>, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn session(&self, sid: &str) -> Option<Arc<Session>> {
        self.sessions().get(sid).cloned()
    }

    /// The session a request names, closing it first if it missed its pong deadline.
    pub(crate) fn live_session(&self, sid: &str) -> Option<Arc<Session>> {
        let session = self.session(sid)?;
        if session.expired() {
            session.close(CloseReason::PingTimeout);
            return None;
        }
        Some(session)
    }
}

/// The error codes of Node's engine.io, sent as `{"code":…,"message":…}` with HTTP 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    UnknownTransport = 0,
    UnknownSid = 1,
    BadHandshakeMethod = 2,
    BadRequest = 3,
    Forbidden = 4,
    UnsupportedProtocolVersion = 5,
}

impl ErrorCode {
    fn message(self) -> &'static str {
        match self {
            ErrorCode::UnknownTransport => "Transport unknown",
            ErrorCode::UnknownSid => "Session ID unknown",
            ErrorCode::BadHandshakeMethod => "Bad handshake method",
            ErrorCode::BadRequest => "Bad request",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }
}

/// The query parameters the engine reads.
#[derive(Debug, Default)]
pub(crate) struct Query<'a> {
    eio: Option<&'a str>,
    transport: Option<&'a str>,
    sid: Option<&'a str>,
}

impl<'a> Query<'a> {
    fn parse(query: &'a str) -> Self {
        let mut q = Query::default();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "EIO" => q.eio = Some(v),
                "transport" => q.transport = Some(v),
                "sid" => q.sid = Some(v),
                _ => {}
            }
        }
        q
    }
}

impl Engine {
    /// An engine with `config`, handing events to `handler`.
    pub fn new(config: EngineConfig, handler: impl Handler) -> Self {
        let acceptor = wsx::Acceptor::new()
            .max_payload(config.max_payload)
            .deflate(config.ws_deflate.clone());
        Engine {
            inner: Arc::new(EngineInner {
                config,
                handler: Box::new(handler),
                sessions: Mutex::new(HashMap::new()),
                acceptor,
                heartbeats: Arc::default(),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// How many sessions are open.
    pub fn session_count(&self) -> usize {
        self.inner.sessions().len()
    }

    /// The open session with this sid.
    pub fn session(&self, sid: &str) -> Option<Arc<Session>> {
        self.inner.session(sid)
    }

    /// Closes every session (reason [`CloseReason::ServerShutdown`]).
    pub fn close_all(&self) {
        let sessions: Vec<_> = self.inner.sessions().values().cloned().collect();
        for s in sessions {
            s.close(CloseReason::ServerShutdown);
        }
    }

    /// Whether `path` is this engine's endpoint (with or without the trailing slash).
    pub fn matches_path(&self, path: &str) -> bool {
        let own = self.inner.config.path.as_str();
        path == own || own.strip_suffix('/') == Some(path)
    }

    /// Handles one HTTP request to the endpoint: a polling GET/POST, a CORS preflight or a
    /// WebSocket upgrade. Requests for other paths get 404.
    ///
    /// For upgrades, the request must come from a hyper 1.x server (it carries hyper's
    /// `OnUpgrade` extension); axum's requests do.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let cors = self.inner.config.cors.as_ref().map(|c| c.headers_for(&req));
        let mut resp = self.route(req).await;
        if let Some(headers) = cors {
            resp.headers_mut().extend(headers);
        }
        resp
    }

    async fn route<B>(&self, mut req: Request<B>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if !self.matches_path(req.uri().path()) {
            return plain(StatusCode::NOT_FOUND, "Not Found");
        }
        if req.method() == Method::OPTIONS && self.inner.config.cors.is_some() {
            return plain(StatusCode::NO_CONTENT, "");
        }
        let query = req.uri().query().unwrap_or("").to_owned();
        let q = Query::parse(&query);
        if q.eio != Some("4") {
            return error(ErrorCode::UnsupportedProtocolVersion);
        }
        let config = &self.inner.config;
        let is_upgrade = wsx::hyper::is_upgrade_request(&req);
        match q.transport {
            Some("polling") if config.polling && !is_upgrade => {}
            Some("websocket") if config.websocket && is_upgrade => {}
            Some("websocket") if config.websocket => return error(ErrorCode::BadRequest),
            _ => return error(ErrorCode::UnknownTransport),
        }
        if let Some(allow) = &config.allow_request {
            let info = RequestInfo::from_request(&req);
            if !allow(&info) {
                return error(ErrorCode::Forbidden);
            }
        }
        if is_upgrade {
            return websocket::upgrade(self, &mut req, q.sid).await;
        }
        match q.sid {
            None if req.method() == Method::GET => polling::handshake(self, &req),
            None => error(ErrorCode::BadHandshakeMethod),
            Some(sid) => {
                let Some(session) = self.inner.live_session(sid) else {
                    return error(ErrorCode::UnknownSid);
                };
                match *req.method() {
                    Method::GET => polling::get(session).await,
                    Method::POST => polling::post(self, session, req.into_body()).await,
                    _ => error(ErrorCode::BadRequest),
                }
            }
        }
    }

    /// Registers a new session, starts its heartbeat and tells the handler.
    pub(crate) fn register(&self, session: &Arc<Session>) {
        self.inner
            .sessions()
            .insert(session.sid_arc(), session.clone());
        session.start_heartbeat();
        self.inner.handler.on_open(session);
    }
}

/// Serves HTTP/1.1 with upgrades on `listener`, answering every request with `handle`.
pub(crate) async fn serve<F, Fut>(
    listener: tokio::net::TcpListener,
    handle: F,
) -> std::io::Result<()>
where
    F: Fn(Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Body>> + Send + 'static,
{
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of descriptors or a connection reset before accept: keep serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let handle = handle.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(peer);
                let fut = handle(req);
                async move { Ok::<_, std::convert::Infallible>(fut.await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                .with_upgrades()
                .await;
        });
    }
}

impl Engine {
    /// Serves HTTP/1.1 on `listener` with this engine (see [`SocketIo::serve`](crate::SocketIo::serve)).
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        serve(listener, move |req| {
            let engine = self.clone();
            async move { engine.handle(req).await }
        })
        .await
    }
}

/// A plain-text response.
pub(crate) fn plain(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    resp
}

/// Node's error response: HTTP 400 with `{"code":…,"message":…}`.
pub(crate) fn error(code: ErrorCode) -> Response<Body> {
    let body = format!(
        "{{\"code\":{},\"message\":\"{}\"}}",
        code as u8,
        code.message()
    );
    let status = if code == ErrorCode::Forbidden {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The peer address hyper (or the caller) stored in the request's extensions.
pub(crate) fn peer_addr<B>(req: &Request<B>) -> Option<SocketAddr> {
    req.extensions().get::<SocketAddr>().copied()
}
