//! The wsx node of the cluster benchmark (bench/cluster-run.sh): wsx-socketio's `bench_server`
//! with the classic Redis adapter, so that several of them (and Node `socket.io` nodes with
//! `@socket.io/redis-adapter`) form one cluster.
//!
//! ```text
//! cargo run --release -p wsx-redis --example bench_cluster_server -- 127.0.0.1:PORT redis://127.0.0.1:6379/
//! ```
//!
//! Socket.IO at `/socket.io/`, namespace `/`. Every socket joins room `bench`. Event `bcast`
//! with `(payload, ack)` emits `msg` with the payload to room `bench` on every node of the
//! cluster (the sender included), then acks with no arguments; event `echo` with
//! `(payload, ack)` acks with the payload. A current-thread runtime, as `bench_server`'s
//! default.

use wsx_socketio::{Config, SocketIo};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let redis_url = args
        .next()
        .unwrap_or_else(|| "redis://127.0.0.1:6379/".to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let cluster = wsx_redis::RedisAdapterBuilder::new(redis_url.as_str())
            .connect()
            .await?;
        let c = cluster.clone();
        let io = SocketIo::new(Config::default().adapter(move |nsp| c.adapter(nsp)));
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
        eprintln!(
            "bench_cluster_server listening on {addr}, cluster node {} on {redis_url}",
            cluster.uid()
        );
        io.serve(listener).await?;
        Ok(())
    })
}
