//! A small Socket.IO chat server: middleware checking `auth`, a room, events relayed to the
//! room with an acknowledgement to the sender, a server-to-client question with a timeout,
//! and connection state recovery. (The README shows this file.)
//!
//! ```text
//! cargo run -p wsx-socketio --example chat
//! ```

use std::time::Duration;
use wsx_socketio::{Config, ConnectError, RecoveryConfig, SocketIo};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let io = SocketIo::new(Config::default().recovery(RecoveryConfig::default()));
    io.of("/").use_middleware(|socket| async move {
        match socket.handshake().auth.get("token") {
            Some(_) => Ok(()),
            None => Err(ConnectError::new("not authorized")), // the client's connect_error
        }
    });
    io.ns("/", |socket| async move {
        socket.join(["lobby"]);
        socket.on("chat", |socket, mut event| async move {
            socket.to(["lobby"]).emit("chat", event.args.clone()); // everyone else in the room
            event.ack("delivered"); // the client's callback
        });
        let answer = socket
            .emit_with_ack("hello?", ())
            .timeout(Duration::from_secs(2))
            .await;
        let _ = answer; // Ok(args) or Err(AckError::Timeout)
    });
    io.serve(tokio::net::TcpListener::bind("127.0.0.1:3000").await?)
        .await
}
