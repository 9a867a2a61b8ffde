//! `wsx serve`: the demo web app, `/chat` and `/echo` WebSocket endpoints, `--static` files,
//! `/metrics`, `/healthz`, TLS, and a graceful shutdown on Ctrl-C.

mod args;
mod assets;
mod budget;
mod chat;
mod cluster;
mod etag;
mod member;
mod messages;
mod metrics;
mod room;

pub use args::{RedisAdapterKind, ServeArgs};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::{MethodFilter, get, on};
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tower::ServiceExt as _;
use tower_http::services::ServeDir;
use wsx::{
    Acceptor, ClientId, Clients, CloseCode, DeflateConfig, MemoryBudget, Message, Rejection,
};

use chat::Chat;
use member::{Outlet, Session};
use messages::ServerMsg;
use metrics::{Exporter, Metrics};

/// Streams (requests and WebSockets) open at once on one HTTP/2 connection.
const MAX_STREAMS: u32 = 256;

/// The HTTP/2 flow-control window of a stream: what a client may send on it unread.
const STREAM_WINDOW: u32 = 64 * 1024;

/// The subprotocol of the demo chat.
pub const CHAT_PROTOCOL: &str = "wsx.chat.v1";

/// A WebSocket arrives as a GET (HTTP/1.1 upgrade) or a CONNECT (HTTP/2, RFC 8441).
const WS_METHODS: MethodFilter = MethodFilter::GET.or(MethodFilter::CONNECT);

/// The whole HTTP side, as hyper calls it for each request.
type HttpService = tower::util::BoxCloneSyncService<Request<Incoming>, Response<Body>, Infallible>;

struct App {
    args: ServeArgs,
    chat_acceptor: Acceptor,
    echo_acceptor: Acceptor,
    clients: Clients,
    chat: Chat,
    metrics: Arc<Metrics>,
    exporter: Exporter,
    open: AtomicUsize,
    /// The graceful shutdown began: a connection registered from now on closes itself.
    stopping: AtomicBool,
    /// Woken when `open` drops to zero.
    all_closed: tokio::sync::Notify,
    io: wsx_socketio::SocketIo,
    yjs: wsx_yjs::YjsServer,
    budget: MemoryBudget,
}

/// Runs the server until Ctrl-C (or SIGTERM), then shuts down gracefully.
pub async fn run(args: ServeArgs) -> ExitCode {
    match serve(args, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsx serve: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves at Ctrl-C or SIGTERM. The handlers are installed now, not at the first poll, so
/// that a signal sent as soon as "listening on" is printed is not the default (fatal) one.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let int = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        async move {
            match (int, term) {
                (Ok(mut int), Ok(mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn acceptor(args: &ServeArgs, budget: &MemoryBudget) -> Acceptor {
    let mut a = Acceptor::new()
        .memory_budget(budget.clone())
        .max_payload(args.max_payload)
        .deflate((!args.no_deflate).then(DeflateConfig::default))
        .handshake_timeout(Duration::from_secs(10));
    if !args.heartbeat.is_zero() {
        a = a.heartbeat(args.heartbeat, args.heartbeat.min(Duration::from_secs(30)));
    }
    if !args.origins.is_empty() {
        a = a.allow_origins(args.origins.clone());
    }
    a
}

/// Serves until `shutdown` completes.
pub async fn serve(
    args: ServeArgs,
    shutdown: impl std::future::Future<Output = ()>,
) -> wsx::Result<()> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => {
            let mut config = (*wsx::tls::server_config_from_pem_files(c, k)?).clone();
            // HTTP/2 when the client offers it (browsers do), WebSockets included (RFC 8441).
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
        }
        _ => None,
    };
    let listener = wsx::listen(args.listen, 1024)?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    // Before any connection: the libraries register their metrics at the first.
    let exporter = Exporter::install().map_err(std::io::Error::other)?;
    let budget = MemoryBudget::new(args.memory_budget.unwrap_or_else(budget::default_budget));
    let base = acceptor(&args, &budget);
    let metrics = Arc::new(Metrics::default());
    let mut sio_config = wsx_socketio::Config::default();
    sio_config.engine = sio_config.engine.memory_budget(budget.clone());
    let (io, chat) = match &args.redis {
        None => (wsx_socketio::SocketIo::new(sio_config), Chat::default()),
        Some(url) => {
            let adapter = cluster::AdapterCluster::connect(url, args.redis_adapter)
                .await
                .map_err(std::io::Error::other)?;
            let io = wsx_socketio::SocketIo::new(adapter.config(sio_config));
            let rooms = Chat::rooms();
            let c = cluster::Cluster::start(
                url,
                adapter,
                args.redis_presence_ttl,
                rooms.clone(),
                metrics.clone(),
            )
            .await
            .map_err(std::io::Error::other)?;
            (io, Chat::clustered(rooms, c))
        }
    };
    std::fs::create_dir_all(&args.data_dir)?;
    let store = wsx_yjs::store::SqliteStore::open(args.data_dir.join("yjs.db"))
        .map_err(std::io::Error::other)?;
    let mut yjs = wsx_yjs::YjsServer::builder()
        .store(store)
        .max_message_size(args.max_payload)
        .acceptor(base.clone());
    if let Some(url) = &args.redis {
        // Documents are shared like the chat: a Redis stream per room.
        let cluster = wsx_redis::YjsRedisBuilder::new(url.as_str())
            .connect()
            .await
            .map_err(std::io::Error::other)?;
        yjs = yjs.cluster(cluster);
    }
    let yjs = yjs.build();
    let app = Arc::new(App {
        chat_acceptor: base.clone().protocols([CHAT_PROTOCOL]),
        // /echo takes the client's first subprotocol, whatever it is.
        echo_acceptor: base.select_protocol(|offered, _| offered.first().cloned()),
        clients: Clients::default(),
        chat,
        metrics,
        exporter,
        open: AtomicUsize::new(0),
        stopping: AtomicBool::new(false),
        all_closed: tokio::sync::Notify::new(),
        io,
        yjs,
        budget,
        args,
    });
    socket_io_chat(&app);
    tracing::info!(
        "wsx serve listening on {scheme}://{addr}/ (WebSocket endpoints /chat and /echo, Socket.IO at /socket.io/, Yjs documents at /yjs/<room>, stored in {})",
        app.args.data_dir.display()
    );
    let http = http_service(&app);
    eprintln!("listening on {scheme}://{addr}/");
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = wsx::accept_tcp(&listener) => r,
        };
        let http = http.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                Some(t) => match tokio::time::timeout(Duration::from_secs(10), t.accept(tcp)).await
                {
                    Ok(Ok(s)) => serve_http(http, TokioIo::new(s), peer).await,
                    Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
                None => serve_http(http, TokioIo::new(tcp), peer).await,
            }
        });
    }
    drop(listener);
    // Set before the shutdown lists the clients (see `upgrade`).
    app.stopping.store(true, Ordering::SeqCst);
    let n = app.open.load(Ordering::Acquire);
    tracing::info!("shutting down: closing {n} WebSocket connection(s) with 1001");
    // The WebSocket clients are no longer read and what they sent is dealt with (their chat
    // messages reach the Socket.IO members too); then everyone gets the close. All within
    // the shutdown timeout (`Clients::shutdown` quiesces again, at once).
    let timeout = app.args.shutdown_timeout;
    app.clients.quiesce(timeout / 4).await;
    if let Some(c) = app.chat.cluster() {
        // Chat messages go through Redis before anyone here sees them.
        c.flush(timeout / 4).await;
    }
    app.io.close();
    app.clients.shutdown(timeout / 2).await;
    // Connections registered too late for the above closed themselves: let them finish.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            let closed = app.all_closed.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            if app.open.load(Ordering::Acquire) == 0 {
                return;
            }
            closed.await;
        }
    })
    .await;
    app.yjs.shutdown(timeout).await;
    if let Some(c) = app.chat.cluster() {
        c.shutdown().await;
    }
    let count = |name| app.exporter.value(name).unwrap_or(0.0) as u64;
    tracing::info!(
        messages_received = count("wsx_messages_received_total"),
        messages_sent = count("wsx_messages_sent_total"),
        "bye"
    );
    Ok(())
}

async fn serve_http<I>(svc: HttpService, io: I, peer: SocketAddr)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = service_fn(move |mut req: Request<Incoming>| {
        // For the upgrades (wsx and the Yjs server read the peer from here).
        req.extensions_mut().insert(peer);
        svc.clone().oneshot(req)
    });
    // HTTP/1.1, or HTTP/2 (ALPN h2 over TLS, or cleartext with prior knowledge) with
    // WebSockets as extended CONNECT streams (RFC 8441).
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol()
        .max_concurrent_streams(MAX_STREAMS)
        // A stream whose WebSocket is not read holds at most its own window of the
        // connection's: the connection's window fits every stream's, so one stalled stream
        // never stops the others' uploads (hyper's defaults, 1 MiB each, would let it).
        .adaptive_window(false)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(STREAM_WINDOW * MAX_STREAMS);
    if let Err(e) = builder.serve_connection_with_upgrades(io, svc).await {
        tracing::debug!(%peer, "http connection: {e}");
    }
}

/// Everything `wsx serve` answers over HTTP, outermost first: a trace span per request
/// (tower-http), Socket.IO at `/socket.io/`, response compression (tower-http), then the
/// router: the WebSocket endpoints, `/healthz`, `/metrics`, and the files: `--static` (tower-
/// http's `ServeDir`: content types, Last-Modified, Range, precompressed `.gz`/`.br`, with our
/// ETag), then the embedded demo.
fn http_service(app: &Arc<App>) -> HttpService {
    let files = tower::service_fn(|req: axum::extract::Request| async move {
        Ok::<_, Infallible>(assets::serve(&req))
    });
    let files = match &app.args.static_dir {
        Some(dir) => tower::util::BoxCloneSyncService::new(etag::with_etags(
            ServeDir::new(dir)
                .precompressed_gzip()
                .precompressed_br()
                .fallback(files)
                .map_response(|r| r.map(Body::new)),
        )),
        None => tower::util::BoxCloneSyncService::new(files),
    };
    let router = axum::Router::new()
        .route("/healthz", get(async || "ok\n"))
        .route("/metrics", get(metrics_page))
        .route(
            "/chat",
            on(WS_METHODS, |State(app), req| {
                ws_endpoint(app, req, Endpoint::Chat)
            }),
        )
        .route(
            "/echo",
            on(WS_METHODS, |State(app), req| {
                ws_endpoint(app, req, Endpoint::Echo)
            }),
        )
        .route("/yjs/{*room}", on(WS_METHODS, yjs_endpoint))
        .fallback_service(files)
        .with_state(app.clone());
    let stack = tower::ServiceBuilder::new()
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(wsx_socketio::SocketIoLayer::new(app.io.clone()))
        .layer(tower_http::compression::CompressionLayer::new())
        .service(router);
    HttpService::new(tower::ServiceExt::<Request<Incoming>>::map_response(
        stack,
        |r| r.map(Body::new),
    ))
}

type Body = axum::body::Body;

/// 426 for a plain request to a WebSocket endpoint, with the `Upgrade` header RFC 9110
/// §15.5.22 asks for.
fn upgrade_required(body: &'static str) -> Response<Body> {
    let mut r = assets::plain(StatusCode::UPGRADE_REQUIRED, body);
    r.headers_mut()
        .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    r
}

async fn metrics_page(State(app): State<Arc<App>>) -> Response<Body> {
    let text = app.exporter.render(|| {
        if let Some(c) = app.chat.cluster() {
            c.record();
        }
        metrics::record_yjs(&app.yjs);
        metrics::record_budget(&app.budget);
    });
    let mut r = Response::new(Body::from(text));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

/// `/chat` or `/echo`: the upgrade, or 426 for a plain request.
async fn ws_endpoint(
    app: Arc<App>,
    mut req: axum::extract::Request,
    ep: Endpoint,
) -> Response<Body> {
    if let Some(refused) = not_websocket(&req, "this is a WebSocket endpoint\n") {
        return refused;
    }
    upgrade(app, &mut req, ep)
}

/// The answer to a request on a WebSocket path that does not ask for a WebSocket: 426 to a
/// GET, 400 to a CONNECT without `:protocol` (a proxy's tunnel, not RFC 8441).
fn not_websocket(req: &axum::extract::Request, hint: &'static str) -> Option<Response<Body>> {
    if wsx::hyper::is_upgrade_request(req) {
        None
    } else if req.method() == http::Method::CONNECT {
        Some(assets::plain(
            StatusCode::BAD_REQUEST,
            "CONNECT here needs :protocol websocket (RFC 8441)\n",
        ))
    } else {
        Some(upgrade_required(hint))
    }
}

async fn yjs_endpoint(
    State(app): State<Arc<App>>,
    Path(room): Path<String>,
    mut req: axum::extract::Request,
) -> Response<Body> {
    if let Some(refused) = not_websocket(
        &req,
        "this is a y-websocket endpoint: point a WebsocketProvider at ws://HOST/yjs\n",
    ) {
        return refused;
    }
    if app.open.load(Ordering::Acquire) + app.yjs.connections() >= app.args.max_connections {
        too_many();
        return rejection(Rejection::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many connections\n",
        ));
    }
    app.yjs.upgrade(&mut req, &room).await.map(Body::from)
}

#[derive(Clone, Copy)]
enum Endpoint {
    Chat,
    Echo,
}

fn rejection(r: Rejection) -> Response<Body> {
    r.into_response().map(Body::from)
}

fn upgrade(app: Arc<App>, req: &mut axum::extract::Request, ep: Endpoint) -> Response<Body> {
    if app.open.load(Ordering::Acquire) >= app.args.max_connections {
        too_many();
        return rejection(Rejection::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many connections\n",
        ));
    }
    let acceptor = match ep {
        Endpoint::Chat => &app.chat_acceptor,
        Endpoint::Echo => &app.echo_acceptor,
    };
    let (resp, fut) = match wsx::hyper::upgrade(req, acceptor) {
        Ok(v) => v,
        // Counted by wsx, with its reason.
        Err(r) => return rejection(r),
    };
    app.open.fetch_add(1, Ordering::AcqRel);
    let app2 = app.clone();
    tokio::spawn(async move {
        match fut.await {
            Ok(ws) => {
                let id = app2.clients.insert(ws.sender());
                // Its handshake ended as the shutdown began: the shutdown may not have seen it.
                if app2.stopping.load(Ordering::SeqCst) {
                    ws.sender()
                        .close(CloseCode::GOING_AWAY, "server shutting down");
                }
                match ep {
                    Endpoint::Chat => run_chat(&app2, ws, id).await,
                    Endpoint::Echo => run_echo(ws).await,
                }
                app2.clients.remove(id);
            }
            Err(e) => tracing::debug!("upgrade failed: {e}"),
        }
        if app2.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            app2.all_closed.notify_waiters();
        }
    });
    resp.map(|_| Body::empty())
}

type Ws = wsx::WebSocket<wsx::hyper::Upgraded>;

/// Refused for `--max-connections`: counted as wsx counts its own refusals.
fn too_many() {
    ::metrics::counter!("wsx_connections_rejected_total", "reason" => "max_connections")
        .increment(1);
}

/// Echoes data messages (wsx counts them, their bytes and the close code).
async fn run_echo(mut ws: Ws) {
    while let Some(Ok(m)) = ws.recv().await {
        if m.is_data() && ws.send(m).await.is_err() {
            break;
        }
    }
}

async fn run_chat(app: &App, mut ws: Ws, id: ClientId) {
    let mut session = Session {
        id: app.chat.member_id(id.0),
        room: None,
        outlet: Outlet::Ws(ws.sender()),
    };
    let _ = ws
        .send(Message::text(messages::encode(&ServerMsg::Welcome {
            id: session.id,
        })))
        .await;
    while let Some(r) = ws.recv().await {
        match r {
            Ok(Message::Text(t)) => {
                app.metrics.received(t.len());
                if let Some(reply) = app.chat.handle(&mut session, &t, &app.metrics).await {
                    app.metrics.sent(1, reply.len());
                    if ws.send(Message::text(reply)).await.is_err() {
                        break;
                    }
                }
            }
            Ok(Message::Binary(b)) => {
                app.metrics.received(b.len());
                let reply = messages::encode(&ServerMsg::Error {
                    message: "the chat speaks JSON text messages",
                });
                let _ = ws.send(Message::text(reply)).await;
            }
            Ok(_) => {}
            Err(_) => {}
        }
    }
    app.chat.leave(&mut session, &app.metrics).await;
}

/// Ids of Socket.IO chat members, apart from the WebSocket clients' ids.
static NEXT_SIO_MEMBER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1 << 32);

/// The chat over Socket.IO: event `chat` both ways, with the JSON objects of `/chat`.
fn socket_io_chat(app: &Arc<App>) {
    let weak = Arc::downgrade(app);
    app.io.ns("/", move |socket| {
        let weak = weak.clone();
        async move {
            let Some(app) = weak.upgrade() else { return };
            let id = app
                .chat
                .member_id(NEXT_SIO_MEMBER.fetch_add(1, Ordering::Relaxed));
            drop(app);
            let session = Arc::new(tokio::sync::Mutex::new(Session {
                id,
                room: None,
                outlet: Outlet::Sio(socket.clone()),
            }));
            socket.emit(
                "chat",
                serde_json::to_value(ServerMsg::Welcome { id }).unwrap_or_default(),
            );
            let (w, s) = (weak.clone(), session.clone());
            socket.on("chat", move |socket, event| {
                let (w, s) = (w.clone(), s.clone());
                async move {
                    let Some(app) = w.upgrade() else { return };
                    let text = event.json(0).map(|v| v.to_string()).unwrap_or_default();
                    app.metrics.received(text.len());
                    let mut session = s.lock().await;
                    if let Some(reply) = app.chat.handle(&mut session, &text, &app.metrics).await {
                        app.metrics.sent(1, reply.len());
                        drop(session);
                        let value: serde_json::Value =
                            serde_json::from_str(&reply).unwrap_or_default();
                        socket.emit("chat", value);
                    }
                }
            });
            socket.on_disconnect(move |_, _| {
                let (w, s) = (weak.clone(), session.clone());
                async move {
                    if let Some(app) = w.upgrade() {
                        let mut session = s.lock().await;
                        app.chat.leave(&mut session, &app.metrics).await;
                    }
                }
            });
        }
    });
}
