//! Socket.IO mounted in other servers: behind an axum `Router` with [`SocketIoLayer`] (the
//! router's own routes still answer), and as a hyper service. Both the polling handshake and
//! the WebSocket transport (an HTTP upgrade through the host server) are exercised.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsx::Message;
use wsx_socketio::{SocketIo, SocketIoLayer};

const T: Duration = Duration::from_secs(10);

fn io_with_greeting() -> SocketIo {
    let io = SocketIo::new(Default::default());
    io.ns("/", |socket| async move {
        socket.emit("hello", "from wsx");
    });
    io
}

/// A one-shot HTTP/1.1 GET; returns status and body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(T, tcp.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

/// Opens the websocket transport, connects to `/` and returns the first event received.
async fn first_event_over_websocket(addr: SocketAddr) -> String {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = wsx::connect(&url).await.unwrap();
    let open = next_text(&mut ws).await;
    assert!(open.starts_with("0{\"sid\":"), "{open}");
    ws.send(Message::text("40")).await.unwrap();
    let ack = next_text(&mut ws).await;
    assert!(ack.starts_with("40{\"sid\":"), "{ack}");
    next_text(&mut ws).await
}

async fn next_text<S>(ws: &mut wsx::WebSocket<S>) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match tokio::time::timeout(T, ws.recv()).await.unwrap() {
        Some(Ok(Message::Text(t))) => t.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

#[tokio::test]
async fn axum_router_with_the_layer_serves_both() {
    let io = io_with_greeting();
    let app = axum::Router::new()
        .route("/hello", axum::routing::get(|| async { "hi from axum" }))
        .layer(SocketIoLayer::new(io));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    assert_eq!(get(addr, "/hello").await, (200, "hi from axum".to_owned()));
    let (status, body) = get(addr, "/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(status, 200);
    assert!(body.starts_with("0{\"sid\":"), "{body}");
    assert!(body.contains("\"upgrades\":[\"websocket\"]"), "{body}");
    let (status, _) = get(addr, "/nowhere").await;
    assert_eq!(status, 404, "unknown paths still reach the router");

    assert_eq!(
        first_event_over_websocket(addr).await,
        r#"42["hello","from wsx"]"#
    );
}

#[tokio::test]
async fn hyper_service() {
    let io = io_with_greeting();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let io = io.clone();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), io)
                    .with_upgrades()
                    .await;
            });
        }
    });
    let (status, body) = get(addr, "/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(status, 200);
    assert!(body.starts_with("0{\"sid\":"), "{body}");
    assert_eq!(
        first_event_over_websocket(addr).await,
        r#"42["hello","from wsx"]"#
    );
}
