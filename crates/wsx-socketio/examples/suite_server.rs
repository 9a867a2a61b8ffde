//! The servers the official protocol test suites expect (see
//! `docs/engine.io-protocol/v4-test-suite/` and `docs/socket.io-protocol/v5-test-suite/` in the
//! socketio/socket.io repository).
//!
//! ```text
//! cargo run --release -p wsx-socketio --example suite_server -- eio 127.0.0.1:3000
//! cargo run --release -p wsx-socketio --example suite_server -- sio 127.0.0.1:3000
//! ```
//!
//! `eio`: a bare Engine.IO endpoint at `/engine.io/` that echoes every message.
//! `sio`: Socket.IO at `/socket.io/` with namespaces `/` and `/custom`: each connection is
//! sent `auth` with its CONNECT payload; on `/`, `message` is answered `message-back` with the
//! same arguments and `message-with-ack` acknowledged with them.
//! Both use pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1,000,000.

use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use wsx_socketio::engine::{Engine, EngineConfig, Handler, Message, Session};

struct Echo;

impl Handler for Echo {
    fn on_message(&self, session: &Arc<Session>, message: Message) {
        session.send(message);
    }
}

fn config() -> EngineConfig {
    EngineConfig::default()
        .heartbeat(Duration::from_millis(300), Duration::from_millis(200))
        .max_payload(1_000_000)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "eio".into());
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3000".into());
    let engine = match mode.as_str() {
        "eio" => Engine::new(config(), Echo),
        other => return Err(format!("unknown mode {other:?} (expected eio or sio)").into()),
    };
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("suite_server {mode} listening on {addr}");
    loop {
        let (tcp, peer) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let engine = engine.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |mut req| {
                let engine = engine.clone();
                req.extensions_mut().insert(peer);
                async move { Ok::<_, std::convert::Infallible>(engine.handle(req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), svc)
                .with_upgrades()
                .await;
        });
    }
}
