//! The engine's own server (`SocketIo::serve`): it reads each connection's first request
//! head itself, answers WebSocket upgrades on the connection without hyper, and hands
//! anything else to hyper with the bytes already read. Raw TCP on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use wsx_socketio::{Config, SocketIo};

/// The server reads a connection's first request itself: bytes that came in the same write as
/// an upgrade request (a client that does not wait for `101`) are the WebSocket's first.
#[tokio::test]
async fn frames_sent_with_the_upgrade_request_are_kept() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let io = SocketIo::new(Config::default());
    io.ns("/", |_socket| async {});
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(io.serve(listener));

    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut out = format!(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {addr}\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes();
    // A masked text frame "40" (CONNECT to "/"), mask key zero.
    out.extend_from_slice(&[0x81, 0x82, 0, 0, 0, 0, b'4', b'0']);
    tcp.write_all(&out).await.unwrap();

    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !String::from_utf8_lossy(&got).contains("40{\"sid\":") {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, tcp.read(&mut buf))
            .await
            .expect("the CONNECT answer")
            .unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 101 "), "{text}");
    assert!(
        text.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "the accept key: {text}"
    );
}

/// Requests that are not upgrades, and upgrades the engine refuses, still get HTTP answers
/// on the engine's own server.
#[tokio::test]
async fn refused_upgrades_and_plain_requests_are_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let io = SocketIo::new(Config::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(io.serve(listener));

    async fn ask(addr: std::net::SocketAddr, head: &str) -> String {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(head.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
                .await
                .expect("an answer")
                .unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if text.contains("\r\n\r\n") && text.ends_with('}') {
                break;
            }
        }
        String::from_utf8(got).unwrap()
    }
    let upgrade = |query: &str| {
        format!(
            "GET /socket.io/?{query} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
    };
    let old = ask(addr, &upgrade("EIO=3&transport=websocket")).await;
    assert!(old.starts_with("HTTP/1.1 400 "), "{old}");
    assert!(
        old.ends_with(r#"{"code":5,"message":"Unsupported protocol version"}"#),
        "{old}"
    );
    let unknown = ask(addr, &upgrade("EIO=4&transport=websocket&sid=nope")).await;
    assert!(unknown.starts_with("HTTP/1.1 400 "), "{unknown}");
    assert!(
        unknown.ends_with(r#"{"code":1,"message":"Session ID unknown"}"#),
        "{unknown}"
    );
    let polling = ask(
        addr,
        &format!("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
    )
    .await;
    assert!(polling.starts_with("HTTP/1.1 200 "), "{polling}");
    assert!(polling.contains("0{\"sid\":"), "{polling}");
}
