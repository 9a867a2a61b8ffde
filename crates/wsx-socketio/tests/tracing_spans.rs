//! What a Socket.IO handler logs while a session's packets are handled is inside a span naming
//! the Engine.IO session and its transport (`engine.io{sid transport}`).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use wsx::{ClientBuilder, Message};
use wsx_socketio::SocketIo;

#[path = "../../../tests-support/captured_log.rs"]
mod captured_log;

use captured_log::Captured;

mod raw_eio;

use raw_eio::next_text;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handlers_logs_name_its_session() {
    let captured = Captured::install();

    let io = SocketIo::new(Default::default());
    io.of("/").on_connection(|socket| async move {
        socket.on("hello", |_, _| async move {
            tracing::info!("hello handled");
        });
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(io.clone().serve(listener));

    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = ClientBuilder::new(url).connect().await.unwrap();
    let open = next_text(&mut ws).await;
    assert!(open.starts_with("0{"), "{open}");
    let sid = serde_json::from_str::<serde_json::Value>(&open[1..]).unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    ws.send(Message::text("40")).await.unwrap();
    assert!(next_text(&mut ws).await.starts_with("40"));
    ws.send(Message::text(r#"42["hello"]"#)).await.unwrap();
    // The event is handled once logged: wait for the line (bounded).
    let line = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let log = captured.text();
            if let Some(l) = log.lines().find(|l| l.contains("hello handled")) {
                return l.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    assert!(line.contains(&format!("engine.io{{sid={sid}")), "{line}");
    assert!(line.contains("transport=\"websocket\""), "{line}");
}
