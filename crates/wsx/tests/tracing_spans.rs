//! What a connection's handler logs is inside a span naming the connection (`ws{id peer
//! path}`), and a failed handshake says whose it was.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use wsx::{ClientBuilder, Connected, Message, Server};

#[path = "../../../tests-support/captured_log.rs"]
mod captured_log;

use captured_log::Captured;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handlers_logs_name_its_connection() {
    let captured = Captured::install();

    let server = Server::builder().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve(|mut c: Connected| async move {
        while let Some(Ok(m)) = c.ws.recv().await {
            tracing::info!(text = m.as_text().unwrap_or(""), "got a message");
            if c.ws.send(m).await.is_err() {
                break;
            }
        }
    }));
    let (mut ws, _) = within(ClientBuilder::new(url(addr, "/room/7")).connect())
        .await
        .unwrap();
    ws.send(Message::text("hello")).await.unwrap();
    within(ws.recv()).await.unwrap().unwrap();
    // A request that is no WebSocket handshake.
    let _ = raw_request(addr, "GET /room/7 HTTP/1.1\r\nHost: x\r\n\r\n").await;

    let log = captured.text();
    let line = log
        .lines()
        .find(|l| l.contains("got a message"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("ws{id="), "{line}");
    assert!(line.contains("path=/room/7"), "{line}");
    assert!(line.contains("peer=127.0.0.1:"), "{line}");
    assert!(line.contains("text=\"hello\""), "{line}");
    assert!(
        log.lines()
            .any(|l| l.contains("ws_handshake{peer=") && l.contains("handshake failed")),
        "{log}"
    );
}
