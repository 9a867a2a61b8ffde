//! permessage-deflate on the Engine.IO WebSocket transport: negotiated when configured (off by
//! default, as in Node), and large messages round-trip compressed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use wsx::Message;
use wsx_socketio::engine::{Engine, EngineConfig, Session, SessionHandler};

struct Echo;
impl SessionHandler for Echo {
    fn on_message(&self, session: &Arc<Session>, message: wsx_socketio::engine::MessageData) {
        session.send(message);
    }
}

async fn open(config: EngineConfig) -> wsx::WebSocket<wsx::MaybeTlsStream> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Engine::new(config, Echo).serve(listener));
    let url = format!("ws://{addr}/engine.io/?EIO=4&transport=websocket");
    let (mut ws, _) = wsx::connect(&url).await.unwrap();
    let open = tokio::time::timeout(Duration::from_secs(5), ws.recv())
        .await
        .unwrap();
    assert!(matches!(open, Some(Ok(Message::Text(t))) if t.starts_with("0{")));
    ws
}

#[tokio::test]
async fn deflate_is_negotiated_when_configured_and_messages_round_trip() {
    let mut ws =
        open(EngineConfig::default().ws_deflate(Some(wsx::DeflateConfig::default()))).await;
    assert!(
        ws.extensions().starts_with("permessage-deflate"),
        "{:?}",
        ws.extensions()
    );
    let big = format!("4{}", "compressible text ".repeat(20_000));
    ws.send(Message::text(big.clone())).await.unwrap();
    match tokio::time::timeout(Duration::from_secs(5), ws.recv())
        .await
        .unwrap()
    {
        Some(Ok(Message::Text(t))) => assert_eq!(t.as_str(), big),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn deflate_is_off_by_default() {
    let ws = open(EngineConfig::default()).await;
    assert_eq!(ws.extensions(), "");
}
