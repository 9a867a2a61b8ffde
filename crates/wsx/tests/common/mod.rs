//! Shared helpers: start a server on an ephemeral port, and a raw TCP client for handshakes.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsx::{Connected, Message, ServerBuilder, ShutdownHandle};

pub const T: Duration = Duration::from_secs(10);

/// Awaits with the standard test timeout.
pub async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(T, f).await.expect("timed out")
}

/// Polls `cond` every 5 ms until it holds (bounded by the test timeout).
pub async fn wait_until(mut cond: impl FnMut() -> bool) {
    within(async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// Starts `builder` on 127.0.0.1:0 with an echo handler.
pub async fn echo_server(
    builder: ServerBuilder,
) -> (
    SocketAddr,
    ShutdownHandle,
    tokio::task::JoinHandle<wsx::Result<()>>,
    wsx::Clients,
) {
    let server = builder.bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let sh = server.shutdown_handle();
    let clients = server.clients();
    let task = tokio::spawn(server.serve(|mut c: Connected| async move {
        while let Some(Ok(m)) = c.ws.recv().await {
            if m.is_data() && c.ws.send(m).await.is_err() {
                break;
            }
        }
    }));
    (addr, sh, task, clients)
}

pub fn url(addr: SocketAddr, path: &str) -> String {
    format!("ws://{addr}{path}")
}

/// Sends a raw request head and returns the response head and the stream.
pub async fn raw_request(addr: SocketAddr, head: &str) -> (String, TcpStream) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut tmp = [0u8; 1024];
    within(async {
        loop {
            let n = s.read(&mut tmp).await.unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&tmp[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    (String::from_utf8_lossy(&buf).into_owned(), s)
}

pub fn upgrade_head(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

pub fn text(s: &str) -> Message {
    Message::text(s)
}
