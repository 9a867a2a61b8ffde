//! The socketioxide peer of the Socket.IO broadcast benchmark.
//!
//! ```text
//! sioxide-bench 127.0.0.1:PORT
//! ```
//!
//! The spec of wsx-socketio's `bench_server` example and bench/peers/node-socketio: Socket.IO
//! at `/socket.io/`, namespace `/`, every socket joins room `bench` on connection; event
//! `bcast` with `(payload, ack)` emits `msg` with the payload to room `bench` (the sender
//! included, like Node's `io.to("bench")`), then acks with no arguments; event `echo` with
//! `(payload, ack)` acks with the payload. socketioxide 0.18 on axum, a current-thread tokio
//! runtime, default options (both transports, polling and websocket).
//!
//! The payload is an `rmpv::Value`, as socketioxide recommends for data passed through: a
//! string stays a string and a binary attachment stays binary (a `serde_json::Value` would
//! turn bytes into an array of numbers), so the relayed `msg` is what Node and wsx send.

use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = match std::env::args().nth(1) {
        Some(a) if !a.starts_with('-') => a,
        _ => {
            eprintln!("usage: sioxide-bench HOST:PORT");
            std::process::exit(2);
        }
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(addr))
}

async fn serve(addr: String) -> Result<(), Box<dyn std::error::Error>> {
    let (layer, io) = SocketIo::new_layer();
    io.ns("/", async |socket: SocketRef| {
        socket.join("bench");
        socket.on(
            "bcast",
            async |io: SocketIo, Data::<rmpv::Value>(payload), ack: AckSender| {
                // Only fails if the payload cannot be encoded, which a decoded one can.
                let _ = io.to("bench").emit("msg", &payload).await;
                // An empty tuple (serde's `[T; 0]`) is an empty argument list, `43N[]` like
                // Node's `ack()`; `&()` would send `43N[null]`.
                let _ = ack.send(&[(); 0]);
            },
        );
        socket.on(
            "echo",
            async |Data::<rmpv::Value>(payload), ack: AckSender| {
                let _ = ack.send(&payload);
            },
        );
    });
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("socketioxide 0.18 bench server listening on {addr} (current_thread)");
    axum::serve(listener, app).await?;
    Ok(())
}
