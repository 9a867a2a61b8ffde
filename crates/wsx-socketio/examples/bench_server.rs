//! The fixed Socket.IO server the realtime benchmarks drive.
//!
//! ```text
//! cargo run --release -p wsx-socketio --example bench_server -- 127.0.0.1:PORT [--threads N]
//! ```
//!
//! Socket.IO at `/socket.io/`, namespace `/`. Every socket joins room `bench`. Event `bcast`
//! with `(payload, ack)` emits `msg` with the payload to room `bench` (the sender included),
//! then acks with no arguments; event `echo` with `(payload, ack)` acks with the payload.
//! A current-thread runtime unless `--threads N` (N > 1) asks for a multi-thread one.

use wsx_socketio::{Config, SocketIo};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr = "127.0.0.1:3000".to_owned();
    let mut threads = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => threads = args.next().ok_or("--threads needs a number")?.parse()?,
            other => addr = other.to_owned(),
        }
    }
    let runtime = if threads > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    };
    runtime.block_on(async move {
        let io = SocketIo::new(Config::default());
        io.ns("/", |socket| async move {
            socket.join(["bench"]);
            socket.on("bcast", |socket, mut event| async move {
                let payload = std::mem::take(&mut event.args);
                socket.ns().to(["bench"]).emit("msg", payload);
                event.ack(());
            });
            socket.on("echo", |_, mut event| async move {
                let payload = std::mem::take(&mut event.args);
                event.ack(payload);
            });
        });
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        eprintln!("bench_server listening on {addr} ({threads} thread(s))");
        io.serve(listener).await?;
        Ok(())
    })
}
