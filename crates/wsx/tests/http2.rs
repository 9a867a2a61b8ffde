//! WebSockets over HTTP/2 (RFC 8441) with `wsx::Server` and `wsx::ClientBuilder`: several
//! WebSockets on one connection over TLS (ALPN `h2`) and cleartext (`h2c`), the Autobahn
//! behaviours that matter carried over HTTP/2 (fragmentation, close codes, UTF-8,
//! compression, limits, pings), HTTP/1.1 beside it on the same port, graceful shutdown, the
//! fallback to HTTP/1.1 from a server that speaks HTTP/2 without WebSockets (no extended
//! CONNECT before the setting), and the client against Node's `http2` server.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use common::*;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use wsx::tls::Trust;
use wsx::{ClientBuilder, CloseCode, Connected, Error, Message, OpCode, Server, ServerBuilder};

struct Cert {
    der: CertificateDer<'static>,
    key: Vec<u8>,
}

impl Cert {
    fn new() -> Self {
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        Self {
            der: ck.cert.der().clone(),
            key: ck.key_pair.serialize_der(),
        }
    }
    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
        wsx::tls::server_config(vec![self.der.clone()], key).unwrap()
    }
    fn trust(&self) -> Trust {
        Trust::Custom(vec![self.der.clone()])
    }
}

/// A server whose handler first says how the WebSocket came (`HTTP/2.0 <peer>` or
/// `HTTP/1.1 <peer>`), then echoes.
async fn server(builder: ServerBuilder) -> (SocketAddr, wsx::ShutdownHandle) {
    let server = builder.bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let sh = server.shutdown_handle();
    tokio::spawn(server.serve(|mut c: Connected| async move {
        let hello = format!("{:?} {}", c.request.version(), c.peer_addr);
        if c.ws.send(Message::text(hello)).await.is_err() {
            return;
        }
        while let Some(Ok(m)) = c.ws.recv().await {
            if m.is_data() && c.ws.send(m).await.is_err() {
                break;
            }
        }
    }));
    (addr, sh)
}

async fn next(ws: &mut wsx::WebSocket<wsx::MaybeTlsStream>) -> Message {
    match within(ws.recv()).await {
        Some(Ok(m)) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

async fn hello(ws: &mut wsx::WebSocket<wsx::MaybeTlsStream>) -> (String, String) {
    let Message::Text(t) = next(ws).await else {
        panic!("expected the hello text")
    };
    let (version, peer) = t.as_str().split_once(' ').unwrap();
    (version.to_owned(), peer.to_owned())
}

#[tokio::test]
async fn wss_websockets_share_one_http2_connection_per_origin() {
    let cert = Cert::new();
    let (addr, _sh) = server(Server::builder().tls(cert.server_config())).await;
    let url = format!("wss://{addr}/room");
    let mut socks = Vec::new();
    for i in 0..4 {
        let (mut ws, resp) = within(ClientBuilder::new(&url).trust(cert.trust()).connect())
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "an RFC 8441 answer");
        assert_eq!(resp.version(), http::Version::HTTP_2);
        let (version, peer) = hello(&mut ws).await;
        assert_eq!(version, "HTTP/2.0");
        socks.push((ws, peer));
        assert_eq!(socks[0].1, socks[i].1, "one TCP connection for all");
    }
    for (i, (ws, _)) in socks.iter_mut().enumerate() {
        ws.send(Message::text(format!("m{i}"))).await.unwrap();
    }
    for (i, (ws, _)) in socks.iter_mut().enumerate() {
        assert_eq!(next(ws).await, Message::text(format!("m{i}")));
    }
    // HTTP/1.1 when asked, on the same port.
    let (mut ws, resp) = within(
        ClientBuilder::new(&url)
            .trust(cert.trust())
            .http2(false)
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 101);
    assert_eq!(hello(&mut ws).await.0, "HTTP/1.1");
}

#[tokio::test]
async fn h2c_with_prior_knowledge_and_http1_on_the_same_port() {
    let (addr, _sh) = server(Server::builder()).await;
    let url = url(addr, "/x");
    let mut peers = Vec::new();
    let mut socks = Vec::new();
    for _ in 0..3 {
        let (mut ws, _) = within(ClientBuilder::new(&url).http2_only().connect())
            .await
            .unwrap();
        let (version, peer) = hello(&mut ws).await;
        assert_eq!(version, "HTTP/2.0");
        peers.push(peer);
        socks.push(ws);
    }
    assert!(peers.windows(2).all(|w| w[0] == w[1]), "{peers:?}");
    // A plain ws:// connect stays HTTP/1.1 by default.
    let (mut ws, _) = within(wsx::connect(&url)).await.unwrap();
    assert_eq!(hello(&mut ws).await.0, "HTTP/1.1");
}

/// Fragmentation, UTF-8, close codes, compression, limits and pings over an HTTP/2 stream,
/// as Autobahn checks them over HTTP/1.1.
#[tokio::test]
async fn autobahn_behaviours_over_http2() {
    let (addr, _sh) = server(Server::builder().max_payload(64 * 1024)).await;
    let url = url(addr, "/");
    let open = || async {
        let (mut ws, resp) = within(ClientBuilder::new(&url).http2_only().connect())
            .await
            .unwrap();
        assert_eq!(hello(&mut ws).await.0, "HTTP/2.0");
        (ws, resp)
    };

    // Compression negotiated, and a compressible message round trip.
    let (mut ws, resp) = open().await;
    let ext = resp.headers()["sec-websocket-extensions"].to_str().unwrap();
    assert!(ext.starts_with("permessage-deflate"), "{ext}");
    assert!(ws.extensions().starts_with("permessage-deflate"));
    let big = "wsx over HTTP/2 ".repeat(2_000);
    ws.send(Message::text(big.clone())).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text(big));

    // A fragmented message comes back whole; a ping interleaved is answered.
    ws.send_fragment(OpCode::Text, Bytes::from_static(b"frag"), false)
        .await
        .unwrap();
    ws.send(Message::Ping(Bytes::from_static(b"p1")))
        .await
        .unwrap();
    ws.send_fragment(OpCode::Continuation, Bytes::from_static(b"ment"), false)
        .await
        .unwrap();
    ws.send_fragment(OpCode::Continuation, Bytes::from_static(b"ed"), true)
        .await
        .unwrap();
    assert_eq!(
        next(&mut ws).await,
        Message::Pong(Bytes::from_static(b"p1"))
    );
    assert_eq!(next(&mut ws).await, Message::text("fragmented"));

    // Binary, every byte value.
    let bin: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    ws.send(Message::Binary(bin.clone().into())).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::Binary(bin.into()));

    // The closing handshake with a code and a reason.
    ws.close(CloseCode::from(4000), "bye").await.unwrap();
    match within(ws.recv()).await {
        Some(Ok(Message::Close(Some(f)))) => {
            assert_eq!(f.code, CloseCode::from(4000));
        }
        other => panic!("expected the close echo, got {other:?}"),
    }
    assert!(within(ws.recv()).await.is_none());

    // Invalid UTF-8 in a text message: 1007.
    let (mut ws, _) = open().await;
    ws.send_fragment(OpCode::Text, Bytes::from_static(b"\xce\xba\xe1"), false)
        .await
        .unwrap();
    ws.send_fragment(OpCode::Continuation, Bytes::from_static(b"\xff"), true)
        .await
        .unwrap();
    assert_eq!(close_code(&mut ws).await, CloseCode::INVALID_PAYLOAD);

    // Over the server's limit: 1009.
    let (mut ws, _) = open().await;
    ws.send(Message::Binary(vec![7u8; 100 * 1024].into()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut ws).await, CloseCode::TOO_BIG);

    // The connection still takes new WebSockets after those failures.
    let (mut ws, _) = open().await;
    ws.send(Message::text("still here")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("still here"));
}

/// The close code the server sent.
async fn close_code(ws: &mut wsx::WebSocket<wsx::MaybeTlsStream>) -> CloseCode {
    loop {
        match within(ws.recv()).await {
            Some(Ok(Message::Close(Some(f)))) => return f.code,
            Some(Ok(_)) => {}
            Some(Err(Error::Protocol(_))) | None => panic!("no close frame"),
            Some(Err(e)) => panic!("{e}"),
        }
    }
}

#[tokio::test]
async fn graceful_shutdown_sends_1001_on_http2_websockets() {
    let (addr, sh) = server(Server::builder()).await;
    let url = url(addr, "/");
    let mut socks = Vec::new();
    for _ in 0..3 {
        let (mut ws, _) = within(ClientBuilder::new(&url).http2_only().connect())
            .await
            .unwrap();
        hello(&mut ws).await;
        socks.push(ws);
    }
    sh.shutdown();
    for ws in &mut socks {
        assert_eq!(close_code(ws).await, CloseCode::GOING_AWAY);
    }
}

/// A TLS server that offers ALPN `h2` and speaks HTTP/2, but does not send
/// `SETTINGS_ENABLE_CONNECT_PROTOCOL`, with WebSockets over HTTP/1.1 (wsx's hyper upgrade).
/// Counts the CONNECT requests it receives and its HTTP/2 connections.
async fn h2_without_websockets(cert: &Cert) -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let connects = Arc::new(AtomicUsize::new(0));
    let h2_conns = Arc::new(AtomicUsize::new(0));
    let mut cfg = (*cert.server_config()).clone();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tls = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (c, h) = (connects.clone(), h2_conns.clone());
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (tls, c, h) = (tls.clone(), c.clone(), h.clone());
            tokio::spawn(async move {
                let Ok(io) = tls.accept(tcp).await else {
                    return;
                };
                if io.get_ref().1.alpn_protocol() == Some(b"h2") {
                    h.fetch_add(1, Ordering::SeqCst);
                }
                let service = hyper::service::service_fn(move |mut req: http::Request<_>| {
                    if req.method() == http::Method::CONNECT {
                        c.fetch_add(1, Ordering::SeqCst);
                    }
                    let acceptor = wsx::Acceptor::new();
                    let resp = match wsx::hyper::upgrade(&mut req, &acceptor) {
                        Ok((resp, fut)) => {
                            tokio::spawn(async move {
                                let Ok(mut ws) = fut.await else { return };
                                let _ = ws.send(Message::text("HTTP/1.1 -")).await;
                                while let Some(Ok(m)) = ws.recv().await {
                                    if m.is_data() && ws.send(m).await.is_err() {
                                        break;
                                    }
                                }
                            });
                            resp
                        }
                        Err(r) => r.into_response(),
                    };
                    std::future::ready(Ok::<_, std::convert::Infallible>(resp))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(io), service)
                    .await;
            });
        }
    });
    (addr, connects, h2_conns)
}

/// RFC 8441 §3: no extended CONNECT before the server's `SETTINGS_ENABLE_CONNECT_PROTOCOL`.
/// A server that speaks HTTP/2 without it gets no CONNECT: the client falls back to HTTP/1.1
/// on a new connection, and remembers the origin (one HTTP/2 attempt for two WebSockets).
#[tokio::test]
async fn no_extended_connect_before_the_setting_falls_back_to_http1() {
    let cert = Cert::new();
    let (addr, connects, h2_conns) = h2_without_websockets(&cert).await;
    let url = format!("wss://{addr}/");
    for _ in 0..2 {
        let (mut ws, resp) = within(ClientBuilder::new(&url).trust(cert.trust()).connect())
            .await
            .unwrap();
        assert_eq!(resp.status(), 101);
        assert_eq!(hello(&mut ws).await.0, "HTTP/1.1");
        ws.send(Message::text("over 1.1")).await.unwrap();
        assert_eq!(next(&mut ws).await, Message::text("over 1.1"));
    }
    assert_eq!(connects.load(Ordering::SeqCst), 0, "a CONNECT was sent");
    assert_eq!(h2_conns.load(Ordering::SeqCst), 1);
    // HTTP/2 only: a clear error, no CONNECT either.
    let err = within(
        ClientBuilder::new(&url)
            .trust(cert.trust())
            .http2_only()
            .connect(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Http2 { .. }), "{err}");
    assert!(
        err.to_string().contains("SETTINGS_ENABLE_CONNECT_PROTOCOL"),
        "{err}"
    );
    assert_eq!(connects.load(Ordering::SeqCst), 0);
}

/// Starts `interop/node/h2_ws_server.js` with `args`; its port.
async fn node_h2_server(args: &[&str]) -> (u16, tokio::process::Child) {
    use tokio::io::AsyncBufReadExt;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/node/h2_ws_server.js");
    let mut child = tokio::process::Command::new("node")
        .arg(script)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node (run interop/setup.sh)");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = within(lines.next_line())
        .await
        .unwrap()
        .expect("node exited");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    (v["port"].as_u64().unwrap() as u16, child)
}

/// The wsx client against Node's `http2` server with `enableConnectProtocol` (and npm ws's
/// framing on its streams): three WebSockets on one session, echo, fragmentation, a
/// subprotocol, the closing handshake; and a Node server without the setting is refused.
#[tokio::test]
async fn wsx_client_against_node_http2_server() {
    let (port, _node) = node_h2_server(&[]).await;
    let url = format!("ws://127.0.0.1:{port}/chat");
    let mut socks = Vec::new();
    for i in 0..3 {
        let (ws, resp) = within(
            ClientBuilder::new(&url)
                .protocol("chat.v1")
                .deflate(None)
                .http2_only()
                .connect(),
        )
        .await
        .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["x-session"],
            "1",
            "stream {i} on another session"
        );
        assert_eq!(ws.protocol(), "chat.v1");
        socks.push(ws);
    }
    for (i, ws) in socks.iter_mut().enumerate() {
        ws.send(Message::text(format!("hello {i}"))).await.unwrap();
        ws.send(Message::Binary(vec![i as u8; 70_000].into()))
            .await
            .unwrap();
    }
    for (i, ws) in socks.iter_mut().enumerate() {
        assert_eq!(next(ws).await, Message::text(format!("hello {i}")));
        assert_eq!(
            next(ws).await,
            Message::Binary(vec![i as u8; 70_000].into())
        );
    }
    let ws = &mut socks[0];
    ws.send_fragment(OpCode::Text, Bytes::from_static(b"a"), false)
        .await
        .unwrap();
    ws.send_fragment(OpCode::Continuation, Bytes::from_static(b"b"), true)
        .await
        .unwrap();
    assert_eq!(next(ws).await, Message::text("ab"));
    ws.close(CloseCode::NORMAL, "done").await.unwrap();
    match within(ws.recv()).await {
        Some(Ok(Message::Close(Some(f)))) => assert_eq!(f.code, CloseCode::NORMAL),
        other => panic!("expected Node's close, got {other:?}"),
    }

    let (port, _node) = node_h2_server(&["--no-connect-protocol"]).await;
    let err = within(
        ClientBuilder::new(format!("ws://127.0.0.1:{port}/"))
            .http2_only()
            .connect(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Http2 { .. }), "{err}");
}

/// `interop/node/h2_abuse.js URL ARGS…`: its JSON report.
async fn node_abuse(url: &str, args: &[&str]) -> serde_json::Value {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/node/h2_abuse.js");
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tokio::process::Command::new("node")
            .arg(script)
            .arg(url)
            .args(args)
            .output(),
    )
    .await
    .expect("h2_abuse.js timed out")
    .expect("node (run interop/setup.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|_| panic!("node: {stdout}{}", String::from_utf8_lossy(&out.stderr)))
}

/// The rapid-reset pattern (CVE-2023-44487): 10,000 WebSocket streams opened and cancelled at
/// once by Node's `http2` client. The server ends none of them open, and serves others after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_reset_of_websocket_streams_leaves_the_server_serving() {
    let (addr, _sh, _task, clients) = echo_server(Server::builder()).await;
    let url = format!("http://{addr}");
    for _ in 0..2 {
        let report = node_abuse(&url, &["reset", "5000"]).await;
        assert_eq!(report["ok"], true, "{report}");
    }
    let (mut ws, _) = within(
        ClientBuilder::new(format!("ws://{addr}/echo"))
            .http2_only()
            .connect(),
    )
    .await
    .unwrap();
    ws.send(Message::text("after")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("after"));
    drop(ws);
    // Streams accepted before their reset arrived end at the reset: none stays open.
    wait_until(|| clients.is_empty()).await;
}

/// A WebSocket that stops reading holds up no other WebSocket of its HTTP/2 connection: Node
/// sends 4 MiB on stream A without reading the echoes while stream B does 50 round trips.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stream_holds_up_no_other_on_its_connection() {
    let (addr, _sh, _task, _clients) = echo_server(Server::builder()).await;
    let report = node_abuse(&format!("http://{addr}"), &["stall"]).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["trips"], 50, "{report}");
}
