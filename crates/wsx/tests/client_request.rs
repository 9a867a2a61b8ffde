//! A client built from an `http::Request` sends its headers and offers its subprotocols.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use wsx::{ClientBuilder, Message, Server};

#[tokio::test]
async fn a_request_is_sent_as_the_handshake() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let server = Server::builder().protocols(["v1"]).verify(move |req| {
        let h = req.headers();
        tx.send((
            h.get_all("x-trace")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>(),
            h.get("origin").map(|v| v.to_str().unwrap().to_owned()),
            req.protocols.to_vec(),
        ))
        .unwrap();
        Ok(())
    });
    let (addr, ..) = echo_server(server).await;
    let req = http::Request::builder()
        .uri(format!("ws://{addr}/feed"))
        .header("x-trace", "a")
        .header("x-trace", "b")
        .header("origin", "https://app.example")
        .header("sec-websocket-protocol", "v2, v1")
        .body(())
        .unwrap();
    let (mut ws, _) = within(ClientBuilder::from(req).connect()).await.unwrap();
    let (trace, origin, offered) = rx.recv().await.unwrap();
    assert_eq!(trace, ["a", "b"]);
    assert_eq!(origin.as_deref(), Some("https://app.example"));
    assert_eq!(offered, ["v2", "v1"]);
    assert_eq!(ws.protocol(), "v1");
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(
        within(ws.recv()).await.unwrap().unwrap(),
        Message::text("hi")
    );
}
