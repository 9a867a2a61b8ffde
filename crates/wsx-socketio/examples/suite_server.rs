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
//! Both use pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1,000,000; `sio` closes a
//! session that connects to no namespace after 1.5 s.

use std::sync::Arc;
use std::time::Duration;

use wsx_socketio::engine::{Engine, EngineConfig, MessageData, Session, SessionHandler};
use wsx_socketio::{Config, Socket, SocketIo};

struct Echo;

impl SessionHandler for Echo {
    fn on_message(&self, session: &Arc<Session>, message: MessageData) {
        session.send(message);
    }
}

fn config() -> EngineConfig {
    EngineConfig::default()
        .heartbeat(Duration::from_millis(300), Duration::from_millis(200))
        .max_payload(1_000_000)
}

/// Sends `auth` with the CONNECT payload; on `/`, echoes `message` and acks
/// `message-with-ack`.
fn on_connection(socket: Socket) {
    socket.emit("auth", socket.handshake().auth.clone());
    if socket.ns().name() != "/" {
        return;
    }
    socket.on("message", |socket, event| async move {
        socket.emit("message-back", event.args);
    });
    socket.on("message-with-ack", |_, mut event| async move {
        let args = std::mem::take(&mut event.args);
        event.ack(args);
    });
}

fn socket_io() -> SocketIo {
    let io = SocketIo::new(
        Config::default()
            .engine(config().path("/socket.io/"))
            // The suite wants a session that never connects closed before its 2 s test
            // timeout. Node's reference uses 1000 ms, which races the suite's own three
            // ping/pong rounds (about 900 ms plus round trips) on a busy machine; 1500 ms
            // keeps both tests meaningful without the race.
            .connect_timeout(Duration::from_millis(1500)),
    );
    for nsp in ["/", "/custom"] {
        io.ns(nsp, |socket| async move { on_connection(socket) });
    }
    io
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "eio".into());
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("suite_server {mode} listening on {addr}");
    match mode.as_str() {
        "eio" => Engine::new(config(), Echo).serve(listener).await?,
        "sio" => socket_io().serve(listener).await?,
        other => return Err(format!("unknown mode {other:?} (expected eio or sio)").into()),
    }
    Ok(())
}
