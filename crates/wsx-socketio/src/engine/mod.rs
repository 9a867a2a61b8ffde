//! The Engine.IO v4 server: sessions, the long-polling and WebSocket transports, the upgrade
//! between them, heartbeats and CORS, behind one hyper-compatible request handler.
//!
//! An [`Engine`] owns the sessions of one endpoint (`/engine.io/` or, under Socket.IO,
//! `/socket.io/`) and hands every message to a [`SessionHandler`]. A [`Session`] has one sid
//! and one packet queue: the polling transport drains it on each GET, the WebSocket transport
//! writes straight to the connection, and an upgrade switches from one to the other under the
//! session's lock, so no packet is lost, duplicated or reordered.
//!
//! ```no_run
//! use std::sync::Arc;
//! use wsx_socketio::engine::{Engine, EngineConfig, MessageData, Session, SessionHandler};
//!
//! struct Echo;
//! impl SessionHandler for Echo {
//!     fn on_message(&self, session: &Arc<Session>, message: MessageData) {
//!         session.send(message);
//!     }
//! }
//!
//! # async fn serve(req: http::Request<hyper::body::Incoming>) -> http::Response<wsx_socketio::engine::Body> {
//! let engine = Engine::new(EngineConfig::default(), Echo);
//! engine.handle(req).await
//! # }
//! ```

mod budget;
mod config;
mod heartbeat;
mod metrics;
mod polling;
mod post_body;
mod session;
mod websocket;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tracing::Instrument as _;

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};

pub use config::{Cors, EngineConfig};
pub use session::{CloseReason, MessageData, RequestInfo, Session, TransportKind};
pub(crate) use session::{Out, generate_id};

/// The body of every response the engine writes.
pub type Body = Full<Bytes>;

/// What the application does with a session's events. Calls are made from the transport's
/// task, in the order the packets arrived; they must not block.
pub trait SessionHandler: Send + Sync + 'static {
    /// A session opened (its handshake is about to be sent).
    fn on_open(&self, session: &Arc<Session>) {
        let _ = session;
    }
    /// A message arrived.
    fn on_message(&self, session: &Arc<Session>, message: MessageData);
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
    pub(crate) handler: Box<dyn SessionHandler>,
    pub(crate) sessions: Mutex<HashMap<Arc<str>, Arc<Session>>>,
    pub(crate) acceptor: wsx::Acceptor,
    pub(crate) heartbeats: Arc<heartbeat::Heartbeats<Session>>,
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
    pub fn new(config: EngineConfig, handler: impl SessionHandler) -> Self {
        // One send-queue bound for both transports: past it a WebSocket's queue drops the
        // connection (wsx's slow-consumer policy), then the session closes as a slow consumer.
        let mut ws = wsx::Options::default();
        ws.max_buffered = config.max_buffered;
        let mut acceptor = wsx::Acceptor::new()
            .options(ws)
            .max_payload(config.max_payload)
            .deflate(config.ws_deflate.clone());
        if let Some(budget) = &config.memory_budget {
            acceptor = acceptor.memory_budget(budget.clone());
        }
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
        let admitted = match self.admit(&req) {
            Ok(a) => a,
            Err(resp) => return *resp,
        };
        if admitted.upgrade {
            return websocket::upgrade(self, &mut req, admitted.sid.as_deref()).await;
        }
        match admitted.sid {
            None if req.method() == Method::GET => polling::handshake(self, &req),
            None => error(ErrorCode::BadHandshakeMethod),
            Some(sid) => {
                let Some(session) = self.inner.live_session(&sid) else {
                    return error(ErrorCode::UnknownSid);
                };
                // What the session's handlers log while this request is served names it.
                let span = session_span(&session, "polling");
                match *req.method() {
                    Method::GET => polling::get(session).instrument(span).await,
                    Method::POST => {
                        polling::post(self, session, req.into_body())
                            .instrument(span)
                            .await
                    }
                    _ => error(ErrorCode::BadRequest),
                }
            }
        }
    }

    /// The checks every request to the endpoint passes (path, protocol version, transport,
    /// the `allow_request` hook), or the response that ends it.
    fn admit<B>(&self, req: &Request<B>) -> Result<Admitted, Box<Response<Body>>> {
        if !self.matches_path(req.uri().path()) {
            return Err(Box::new(plain(StatusCode::NOT_FOUND, "Not Found")));
        }
        if req.method() == Method::OPTIONS && self.inner.config.cors.is_some() {
            return Err(Box::new(plain(StatusCode::NO_CONTENT, "")));
        }
        let q = Query::parse(req.uri().query().unwrap_or(""));
        if q.eio != Some("4") {
            return Err(Box::new(error(ErrorCode::UnsupportedProtocolVersion)));
        }
        let config = &self.inner.config;
        let upgrade = wsx::hyper::is_upgrade_request(req);
        match q.transport {
            Some("polling") if config.polling && !upgrade => {}
            Some("websocket") if config.websocket && upgrade => {}
            Some("websocket") if config.websocket => {
                return Err(Box::new(error(ErrorCode::BadRequest)));
            }
            _ => return Err(Box::new(error(ErrorCode::UnknownTransport))),
        }
        if let Some(allow) = &config.allow_request {
            let info = RequestInfo::from_request(req);
            if !allow(&info) {
                return Err(Box::new(error(ErrorCode::Forbidden)));
            }
        }
        Ok(Admitted {
            upgrade,
            sid: q.sid.map(str::to_owned),
        })
    }

    /// An upgrade request the engine's own server read from a connection: answered on that
    /// connection, without hyper (whose buffers, 8 KiB and more per connection being set up,
    /// left about 1.5 KiB of heap per client behind when a thousand connected at once).
    async fn upgrade_raw<S>(&self, mut req: Request<()>, mut io: S, leftover: BytesMut)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        use tokio::io::AsyncWriteExt;
        let cors = self.inner.config.cors.as_ref().map(|c| c.headers_for(&req));
        let mut resp = match self.admit(&req) {
            Ok(Admitted { upgrade: true, sid }) => {
                return websocket::upgrade_raw(self, &mut req, io, leftover, sid.as_deref()).await;
            }
            Ok(_) => error(ErrorCode::BadRequest),
            Err(resp) => *resp,
        };
        if let Some(headers) = cors {
            resp.headers_mut().extend(headers);
        }
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(256 + body.len());
        wsx_proto::handshake::write_response(&Response::from_parts(parts, ()), &body, &mut out);
        let _ = io.write_all(&out).await;
        let _ = io.shutdown().await;
    }

    /// Registers a new session, starts its heartbeat and tells the handler.
    pub(crate) fn register(&self, session: &Arc<Session>) {
        self.inner
            .sessions()
            .insert(session.sid_arc(), session.clone());
        metrics::opened(session.transport().as_str());
        session.start_heartbeat();
        self.inner.handler.on_open(session);
    }
}

/// Serves HTTP/1.1 on `listener` with `engine`. Each connection's first request head is read
/// here: a WebSocket upgrade is answered on the connection itself ([`Engine::upgrade_raw`]),
/// anything else goes to hyper (with the bytes already read), which answers it and what
/// follows on that connection with [`Engine::handle`].
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    engine: Engine,
) -> std::io::Result<()> {
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
        let engine = engine.clone();
        tokio::spawn(async move { serve_connection(engine, tcp, peer).await });
    }
}

/// The most bytes of a first request head read before handing the connection to hyper.
const MAX_HEAD: usize = 16 << 10;
/// How long a new connection may take to send its first request head.
const HEAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[allow(clippy::large_enum_variant)] // one per new connection, briefly, on its task's stack
enum Head {
    Parsed(Request<()>, usize),
    /// Not a request this server reads itself: hyper gets it.
    Other,
    /// Closed (or timed out) before a whole head came.
    Gone,
}

async fn serve_connection(engine: Engine, mut tcp: tokio::net::TcpStream, peer: SocketAddr) {
    use tokio::io::AsyncReadExt;
    let mut buf = BytesMut::with_capacity(1024);
    let head = async {
        loop {
            match wsx_proto::handshake::parse_request(&buf, MAX_HEAD) {
                Ok(Some((req, n))) => return Head::Parsed(req, n),
                Ok(None) => {}
                // Not for us to judge: hyper answers malformed or oversized requests.
                Err(_) => return Head::Other,
            }
            match tcp.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return Head::Gone,
                Ok(_) => {}
            }
        }
    };
    let head = match tokio::time::timeout(HEAD_TIMEOUT, head).await {
        Ok(Head::Gone) | Err(_) => return,
        Ok(head) => head,
    };
    if let Head::Parsed(mut req, n) = head {
        if wsx::hyper::is_upgrade_request(&req) {
            let leftover = buf.split_off(n);
            drop(buf);
            req.extensions_mut().insert(peer);
            engine.upgrade_raw(req, tcp, leftover).await;
            return;
        }
    }
    let io = Prefixed {
        prefix: buf.freeze(),
        io: tcp,
    };
    let svc = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(peer);
        let engine = engine.clone();
        async move { Ok::<_, std::convert::Infallible>(engine.handle(req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(io), svc)
        .with_upgrades()
        .await;
}

/// A connection whose first bytes were already read: they are read again first.
struct Prefixed {
    prefix: Bytes,
    io: tokio::net::TcpStream,
}

impl tokio::io::AsyncRead for Prefixed {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        out: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(out.remaining());
            out.put_slice(&self.prefix.split_to(n));
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.io).poll_read(cx, out)
    }
}

impl tokio::io::AsyncWrite for Prefixed {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl Engine {
    /// Serves HTTP/1.1 on `listener` with this engine (see [`SocketIo::serve`](crate::SocketIo::serve)).
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        serve(listener, self).await
    }
}

/// What [`Engine::admit`] let through.
struct Admitted {
    /// A WebSocket upgrade (else a polling request).
    upgrade: bool,
    sid: Option<String>,
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

/// The span of an Engine.IO session's work (at debug level: free unless a subscriber wants it),
/// on its own: not inside the span of the request that happens to carry it.
pub(crate) fn session_span(session: &Session, transport: &'static str) -> tracing::Span {
    tracing::debug_span!(parent: None, "engine.io", sid = %session.sid(), transport)
}
