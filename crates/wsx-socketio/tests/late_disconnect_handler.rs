//! A disconnect handler registered after the socket disconnected (the client went away while
//! an async connection handler was still running) runs at once, with the reason: no cleanup
//! is ever skipped. Found as a flaky interop test: its handler logged `connect`, and the test
//! closed the server before the same handler had registered `on_disconnect`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use wsx::{ClientBuilder, Message};
use wsx_socketio::{DisconnectReason, SocketIo};

mod raw_eio;

use raw_eio::next_text;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_handler_registered_after_the_disconnect_runs_at_once() {
    let gate = Arc::new(Notify::new());
    let (gone_tx, mut gone_rx) = mpsc::unbounded_channel::<DisconnectReason>();
    let (connected_tx, mut connected_rx) = mpsc::unbounded_channel::<()>();
    let io = SocketIo::new(Default::default());
    let g = gate.clone();
    io.of("/").on_connection(move |socket| {
        let (gate, gone_tx, connected_tx) = (g.clone(), gone_tx.clone(), connected_tx.clone());
        async move {
            connected_tx.send(()).unwrap();
            // Something slow before the handlers are set up (a database, an auth call).
            gate.notified().await;
            assert!(!socket.connected(), "the client left meanwhile");
            socket.on_disconnect(move |_, reason| {
                gone_tx.send(reason).unwrap();
                async {}
            });
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(io.clone().serve(listener));

    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = ClientBuilder::new(url).connect().await.unwrap();
    assert!(next_text(&mut ws).await.starts_with("0{"));
    ws.send(Message::text("40")).await.unwrap();
    assert!(next_text(&mut ws).await.starts_with("40"));
    tokio::time::timeout(Duration::from_secs(10), connected_rx.recv())
        .await
        .unwrap()
        .unwrap();
    // The client goes away while the handler waits.
    ws.close(wsx::CloseCode::NORMAL, "").await.unwrap();
    while ws.recv().await.is_some() {}
    // Wait until the server has seen it (the session is gone), then let the handler go on.
    tokio::time::timeout(Duration::from_secs(10), async {
        while io.engine().session_count() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    gate.notify_one();
    let reason = tokio::time::timeout(Duration::from_secs(10), gone_rx.recv())
        .await
        .expect("the late handler ran")
        .unwrap();
    assert_eq!(reason.as_str(), "transport close");
}
