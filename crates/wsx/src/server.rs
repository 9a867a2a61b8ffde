//! `Server`: a TCP (or TLS) listener that accepts WebSocket connections into its
//! [`Clients`], limits connections and shuts down gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tracing::Instrument as _;

use http::{Request, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use wsx_proto::DeflateConfig;

use crate::accept::{Acceptor, HandshakeRequest, Rejection};
use crate::active::ActiveGuard;
use crate::budget::MemoryBudget;
use crate::clients::Clients;
use crate::error::Result;
use crate::hub::Hub;
use crate::metrics::{self, Reject};
use crate::registry::ClientId;
use crate::shutdown_signal::wait_shutdown;
use crate::stream::MaybeTlsStream;
use crate::websocket::{Options, WebSocket};

/// Accepts the next TCP connection with `TCP_NODELAY` set. Transient failures (out of file
/// descriptors and the like) are logged and retried after a short pause instead of spinning.
pub async fn accept_tcp(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                return (tcp, peer);
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// A connection the server accepted, handed to the handler.
#[derive(Debug)]
pub struct Connected {
    /// The connection.
    pub ws: WebSocket<MaybeTlsStream>,
    /// The upgrade request (path, query, headers).
    pub request: Request<()>,
    /// Its id in [`Server::clients`].
    pub id: ClientId,
    /// The peer's address.
    pub peer_addr: SocketAddr,
}

/// Builds a [`Server`].
#[derive(Debug)]
pub struct ServerBuilder {
    acceptor: Acceptor,
    backlog: u32,
    max_connections: usize,
    shutdown_timeout: Duration,
    #[cfg(feature = "rustls")]
    tls: Option<Arc<rustls::ServerConfig>>,
    #[cfg(feature = "http2")]
    http2: bool,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self {
            acceptor: Acceptor::default(),
            backlog: 1024,
            max_connections: usize::MAX,
            shutdown_timeout: Duration::from_secs(5),
            #[cfg(feature = "rustls")]
            tls: None,
            #[cfg(feature = "http2")]
            http2: true,
        }
    }
}

impl ServerBuilder {
    /// Listen backlog (default 1024).
    pub fn backlog(mut self, n: u32) -> Self {
        self.backlog = n;
        self
    }
    /// Most connections at once, handshaking or open; beyond it clients get 503.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }
    /// Connection options (limits, close timeout, send queue, slow-consumer policy).
    pub fn options(mut self, opts: Options) -> Self {
        self.acceptor = self.acceptor.options(opts);
        self
    }
    /// Largest message accepted (ws's `maxPayload`); larger ones close with 1009.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.acceptor = self.acceptor.max_payload(bytes);
        self
    }
    /// One memory budget for all connections (see [`MemoryBudget`]): near it the server
    /// stops reading, past it it closes the connections that hold the most.
    pub fn memory_budget(mut self, budget: MemoryBudget) -> Self {
        self.acceptor = self.acceptor.memory_budget(budget);
        self
    }
    /// Ping every `interval`; terminate clients that do not answer within `timeout`.
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.acceptor = self.acceptor.heartbeat(interval, timeout);
        self
    }
    /// permessage-deflate preferences; `None` disables compression.
    pub fn deflate(mut self, cfg: Option<DeflateConfig>) -> Self {
        self.acceptor = self.acceptor.deflate(cfg);
        self
    }
    /// Subprotocols spoken, in order of preference.
    pub fn protocols<I: IntoIterator<Item = impl Into<String>>>(mut self, p: I) -> Self {
        self.acceptor = self.acceptor.protocols(p);
        self
    }
    /// Custom subprotocol selection.
    pub fn select_protocol(
        mut self,
        f: impl Fn(&[String], &Request<()>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.acceptor = self.acceptor.select_protocol(f);
        self
    }
    /// Verify hook: refuse upgrade requests with any response.
    pub fn verify(
        mut self,
        f: impl Fn(&HandshakeRequest<'_>) -> std::result::Result<(), Rejection> + Send + Sync + 'static,
    ) -> Self {
        self.acceptor = self.acceptor.verify(f);
        self
    }
    /// Accept only this path (repeatable); others get 404.
    pub fn path(mut self, p: impl Into<String>) -> Self {
        self.acceptor = self.acceptor.path(p);
        self
    }
    /// `Origin` allow-list; others get 403.
    pub fn allow_origins<I: IntoIterator<Item = impl Into<String>>>(mut self, o: I) -> Self {
        self.acceptor = self.acceptor.allow_origins(o);
        self
    }
    /// Deadline for the TLS and WebSocket handshakes (default 10 s).
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.acceptor = self.acceptor.handshake_timeout(d);
        self
    }
    /// How long a graceful shutdown waits for clients to finish the closing handshake.
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.shutdown_timeout = d;
        self
    }
    /// Serve `wss://` with this rustls configuration.
    #[cfg(feature = "rustls")]
    pub fn tls(mut self, cfg: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(cfg);
        self
    }
    /// Whether HTTP/2 connections are taken beside HTTP/1.1 (on by default with the `http2`
    /// feature): over TLS the server offers ALPN `h2` (added to the configuration given to
    /// [`tls`](Self::tls) when it lists no `h2`), in cleartext a client that opens with the
    /// HTTP/2 preface is served `h2c`. Each WebSocket is then one extended CONNECT stream
    /// (RFC 8441), checked by the same acceptor and handed to the same handler; at most
    /// 256 run on one connection, and an HTTP/2 connection counts in `max_connections` once
    /// for itself and once per WebSocket on it.
    #[cfg(feature = "http2")]
    pub fn http2(mut self, on: bool) -> Self {
        self.http2 = on;
        self
    }

    /// Replaces the whole acceptor.
    pub fn acceptor(mut self, a: Acceptor) -> Self {
        self.acceptor = a;
        self
    }

    /// Binds the listener.
    pub async fn bind(self, addr: impl tokio::net::ToSocketAddrs) -> Result<Server> {
        let mut last = None;
        for a in tokio::net::lookup_host(addr).await? {
            match listen(a, self.backlog) {
                Ok(l) => return Ok(self.build(l)),
                Err(e) => last = Some(e),
            }
        }
        Err(last
            .unwrap_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to bind")
            })
            .into())
    }

    /// Uses an already bound listener.
    pub fn build(self, listener: TcpListener) -> Server {
        let (tx, rx) = watch::channel(false);
        Server {
            listener,
            acceptor: Arc::new(self.acceptor),
            clients: Clients::default(),
            active: Arc::new(AtomicUsize::new(0)),
            max_connections: self.max_connections,
            shutdown_timeout: self.shutdown_timeout,
            shutdown_tx: Arc::new(tx),
            shutdown_rx: rx,
            #[cfg(feature = "rustls")]
            tls: self.tls.map(|cfg| {
                #[cfg(feature = "http2")]
                let cfg = if self.http2 { offer_h2(cfg) } else { cfg };
                tokio_rustls::TlsAcceptor::from(cfg)
            }),
            #[cfg(feature = "http2")]
            http2: self.http2,
        }
    }
}

/// Binds a TCP listener on `addr` with a listen backlog of `backlog` connections (tokio's
/// `TcpListener::bind` asks for 128, which a burst of clients connecting at once overflows:
/// the kernel then drops their SYNs and they retry a second later).
pub fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let s = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    s.set_reuseaddr(true)?;
    s.bind(addr)?;
    s.listen(backlog)
}

/// Triggers a graceful shutdown of a running [`Server`].
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Arc<watch::Sender<bool>>);

impl ShutdownHandle {
    /// Stop accepting, send 1001 to every client, wait for them (bounded), then return from
    /// `serve`.
    pub fn shutdown(&self) {
        let _ = self.0.send(true);
    }
}

/// A WebSocket server (ws's `WebSocketServer`).
///
/// ```no_run
/// # async fn run() -> wsx::Result<()> {
/// let server = wsx::Server::builder().path("/echo").bind("127.0.0.1:9001").await?;
/// server.serve(|mut c: wsx::Connected| async move {
///     while let Some(Ok(msg)) = c.ws.recv().await {
///         if msg.is_data() && c.ws.send(msg).await.is_err() {
///             break;
///         }
///     }
/// }).await
/// # }
/// ```
pub struct Server {
    listener: TcpListener,
    acceptor: Arc<Acceptor>,
    clients: Clients,
    active: Arc<AtomicUsize>,
    max_connections: usize,
    shutdown_timeout: Duration,
    shutdown_tx: Arc<watch::Sender<bool>>,
    shutdown_rx: watch::Receiver<bool>,
    #[cfg(feature = "rustls")]
    tls: Option<tokio_rustls::TlsAcceptor>,
    #[cfg(feature = "http2")]
    http2: bool,
}

/// `cfg` with ALPN `h2` offered first, unless it lists `h2` already.
#[cfg(all(feature = "http2", feature = "rustls"))]
fn offer_h2(cfg: Arc<rustls::ServerConfig>) -> Arc<rustls::ServerConfig> {
    if cfg.alpn_protocols.iter().any(|p| p == b"h2") {
        return cfg;
    }
    let mut c = (*cfg).clone();
    if c.alpn_protocols.is_empty() {
        c.alpn_protocols.push(b"http/1.1".to_vec());
    }
    c.alpn_protocols.insert(0, b"h2".to_vec());
    Arc::new(c)
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.listener.local_addr().ok())
            .field("clients", &self.clients)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A builder with defaults.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// Binds with default options.
    pub async fn bind(addr: impl tokio::net::ToSocketAddrs) -> Result<Self> {
        Self::builder().bind(addr).await
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// The connected clients.
    pub fn clients(&self) -> Clients {
        self.clients.clone()
    }

    /// Topics over the connected clients: subscribe a connection under its
    /// [`Connected::id`] and publish to a topic's subscribers (see [`Hub`]).
    pub fn hub(&self) -> Hub {
        Hub::from(self.clients.clone())
    }

    /// Connections open or handshaking.
    pub fn active_connections(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// A handle to shut the server down gracefully.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown_tx.clone())
    }

    /// Accepts connections until shut down, running `handler` on a task for each. Returns
    /// after a graceful shutdown: listener closed, 1001 sent to every client, clients given
    /// the shutdown timeout to finish, the rest dropped.
    pub async fn serve<F, Fut>(self, handler: F) -> Result<()>
    where
        F: Fn(Connected) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let clients = self.clients.clone();
        self.run(Handshake::Written, move |ws, request, peer, guard| {
            let id = clients.insert(ws.sender());
            let (handler, clients) = (handler.clone(), clients.clone());
            // The handler runs on a task of its own, so that the handshake's task, sized for
            // the TLS and HTTP handshakes, is freed: measured on the echo server, a task of
            // 1,920 bytes per idle connection otherwise.
            // A span per connection (at debug level: free unless a subscriber wants it), so
            // that what the handler logs says which connection it is about.
            let span = tracing::debug_span!(
                parent: None,
                "ws",
                id = id.0,
                peer = %peer,
                path = %request.uri().path()
            );
            tokio::spawn(
                async move {
                    let _guard = guard;
                    handler(Connected {
                        ws,
                        request,
                        id,
                        peer_addr: peer,
                    })
                    .await;
                    clients.remove(id);
                }
                .instrument(span),
            );
        })
        .await
    }

    /// Accepts connections until shut down, driving them with `handler`'s callbacks instead of
    /// a task each (see [`Handler`](crate::Handler)): the leanest way to hold many
    /// connections, at the price of callbacks that must not block. Shuts down as
    /// [`serve`](Self::serve) does.
    ///
    /// ```no_run
    /// struct Echo;
    /// impl wsx::Handler for Echo {
    ///     type State = ();
    ///     fn open(&self, _: &wsx::Conn<'_>, _: &http::Request<()>) {}
    ///     fn message(&self, _: &mut (), conn: &wsx::Conn<'_>, msg: wsx::Message) {
    ///         if msg.is_data() {
    ///             conn.send(msg);
    ///         }
    ///     }
    /// }
    /// # async fn run() -> wsx::Result<()> {
    /// wsx::Server::bind("127.0.0.1:9001").await?.serve_events(Echo).await
    /// # }
    /// ```
    pub async fn serve_events<H: crate::events::Handler>(mut self, handler: H) -> Result<()> {
        let mut acceptor = (*self.acceptor).clone();
        acceptor.keep_peer_addr = false;
        self.acceptor = Arc::new(acceptor);
        let drivers = crate::events::Drivers::start(
            Arc::new(handler),
            self.clients.clone(),
            self.active.clone(),
        );
        // The 101 is queued, not written, so a connection is registered (and receives
        // broadcasts) before its client sees the handshake complete.
        self.run(Handshake::Queued, move |ws, request, peer, guard| {
            drivers.adopt(ws, request, peer, guard)
        })
        .await
    }

    /// The accept loop shared by the serve methods: limits, TLS and the WebSocket handshake on
    /// a task per connection, then `open` with the result; graceful shutdown at the end.
    async fn run<O>(self, handshake: Handshake, open: O) -> Result<()>
    where
        O: Fn(WebSocket<MaybeTlsStream>, Request<()>, SocketAddr, ActiveGuard)
            + Send
            + Sync
            + 'static,
    {
        let open = Arc::new(open);
        let mut shutdown = self.shutdown_rx.clone();
        loop {
            let (tcp, peer) = tokio::select! {
                _ = wait_shutdown(&mut shutdown) => break,
                r = accept_tcp(&self.listener) => r,
            };
            if self.active.load(Ordering::Acquire) >= self.max_connections {
                metrics::rejected(Reject::MaxConnections);
                tokio::spawn(refuse(tcp));
                continue;
            }
            let guard = ActiveGuard::new(&self.active);
            let conn = Accepting {
                acceptor: self.acceptor.clone(),
                open: open.clone(),
                handshake,
                #[cfg(feature = "rustls")]
                tls: self.tls.clone(),
                #[cfg(feature = "http2")]
                http2: self.http2,
                #[cfg(feature = "http2")]
                active: self.active.clone(),
                #[cfg(feature = "http2")]
                max_connections: self.max_connections,
                #[cfg(feature = "http2")]
                shutdown: self.shutdown_rx.clone(),
            };
            let span = tracing::debug_span!("ws_handshake", peer = %peer);
            tokio::spawn(conn.run(tcp, peer, guard).instrument(span));
        }
        drop(self.listener);
        self.clients.shutdown(self.shutdown_timeout).await;
        Ok(())
    }
}

/// One accepted TCP connection on its way to becoming a WebSocket (or, over HTTP/2, several).
struct Accepting<O> {
    acceptor: Arc<Acceptor>,
    open: Arc<O>,
    handshake: Handshake,
    #[cfg(feature = "rustls")]
    tls: Option<tokio_rustls::TlsAcceptor>,
    #[cfg(feature = "http2")]
    http2: bool,
    #[cfg(feature = "http2")]
    active: Arc<AtomicUsize>,
    #[cfg(feature = "http2")]
    max_connections: usize,
    #[cfg(feature = "http2")]
    shutdown: watch::Receiver<bool>,
}

impl<O> Accepting<O>
where
    O: Fn(WebSocket<MaybeTlsStream>, Request<()>, SocketAddr, ActiveGuard) + Send + Sync + 'static,
{
    /// TLS, then HTTP/2 (ALPN `h2`, or the cleartext preface) or the HTTP/1.1 handshake.
    async fn run(self, tcp: TcpStream, peer: SocketAddr, guard: ActiveGuard) {
        let start = std::time::Instant::now();
        #[cfg(feature = "rustls")]
        let io = match &self.tls {
            Some(t) => {
                match tokio::time::timeout(self.acceptor.handshake_timeout, t.accept(tcp)).await {
                    Ok(Ok(s)) => MaybeTlsStream::ServerTls(Box::new(s)),
                    Ok(Err(e)) => {
                        metrics::rejected(Reject::Tls);
                        tracing::debug!(%peer, "TLS handshake failed: {e}");
                        return;
                    }
                    Err(_) => {
                        metrics::rejected(Reject::Timeout);
                        return;
                    }
                }
            }
            None => MaybeTlsStream::Plain(tcp),
        };
        #[cfg(not(feature = "rustls"))]
        let io = MaybeTlsStream::Plain(tcp);
        #[allow(unused_mut)]
        let mut io = io;
        #[allow(unused_mut)]
        let mut read = bytes::BytesMut::with_capacity(1024);
        #[cfg(feature = "http2")]
        if self.http2 {
            match self.sniff_http2(&mut io, &mut read).await {
                Ok(true) => {
                    let io = crate::rewind::Rewind::new(read.freeze(), io);
                    let cx = crate::http2_server::Context {
                        acceptor: self.acceptor,
                        open: self.open,
                        active: self.active,
                        max_connections: self.max_connections,
                        shutdown: self.shutdown,
                    };
                    crate::http2_server::serve(io, peer, cx).await;
                    drop(guard);
                    return;
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::debug!(%peer, "handshake failed: {e}");
                    return;
                }
            }
        }
        let queue = matches!(self.handshake, Handshake::Queued);
        match self.acceptor.accept_from(io, Some(peer), read, queue).await {
            Ok((ws, request)) => {
                metrics::handshake_took(start.elapsed());
                (self.open)(ws, request, peer, guard)
            }
            Err(e) => tracing::debug!(%peer, "handshake failed: {e}"),
        }
    }

    /// Whether the connection speaks HTTP/2: ALPN `h2` under TLS; in cleartext, the first
    /// bytes are the HTTP/2 preface (read into `read` until they tell).
    #[cfg(feature = "http2")]
    async fn sniff_http2(
        &self,
        io: &mut MaybeTlsStream,
        read: &mut bytes::BytesMut,
    ) -> Result<bool> {
        use tokio::io::AsyncReadExt;
        #[cfg(feature = "rustls")]
        if let MaybeTlsStream::ServerTls(t) = io {
            return Ok(t.get_ref().1.alpn_protocol() == Some(b"h2"));
        }
        let timeout = self.acceptor.handshake_timeout;
        let sniff = async {
            while read.len() < 4 && crate::http2_server::PREFACE.starts_with(read) {
                if io.read_buf(read).await? == 0 {
                    return Err(crate::Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
                }
            }
            Ok(read.starts_with(&crate::http2_server::PREFACE[..4]))
        };
        match tokio::time::timeout(timeout, sniff).await {
            Ok(r) => r,
            Err(_) => {
                metrics::rejected(Reject::Timeout);
                Err(crate::Error::HandshakeTimeout(timeout))
            }
        }
    }
}

/// Whether the accept loop writes the `101` before handing a connection over, or queues it
/// for the connection's driver to write.
#[derive(Clone, Copy)]
enum Handshake {
    Written,
    Queued,
}

async fn refuse(mut tcp: TcpStream) {
    let mut out = Vec::new();
    Rejection::new(StatusCode::SERVICE_UNAVAILABLE, "Too many connections\n").write_to(&mut out);
    let _ = tcp.write_all(&out).await;
    let _ = tcp.shutdown().await;
}
