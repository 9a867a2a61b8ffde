//! wsx echo server for `bench/run.sh`: echoes every text and binary message, answers pings
//! (wsx does), closes cleanly.
//!
//! `wsx-echo ADDR [--deflate] [--threads N]`: on a `current_thread` runtime unless
//! `--threads N` (N > 1) asks for a multi-thread one; `--deflate` accepts permessage-deflate
//! (compressing every message, like the client's offer); no heartbeat; messages up to 64 MiB.

use wsx::{Connected, DeflateConfig, Message, Server};

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9001".into());
    let (mut deflate, mut threads) = (false, 1usize);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--deflate" => deflate = true,
            "--threads" => threads = args.next().and_then(|n| n.parse().ok()).unwrap_or(1),
            other => {
                eprintln!("wsx-echo: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let rt = if threads > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let rt = rt.unwrap_or_else(|e| {
        eprintln!("wsx-echo: cannot start the runtime: {e}");
        std::process::exit(1);
    });
    if let Err(e) = rt.block_on(serve(addr, deflate)) {
        eprintln!("wsx-echo: {e}");
        std::process::exit(1);
    }
}

async fn serve(addr: String, deflate: bool) -> wsx::Result<()> {
    let server = Server::builder()
        .max_payload(64 << 20)
        .backlog(4096)
        .deflate(deflate.then(|| DeflateConfig::default().threshold(0)))
        .bind(&addr)
        .await?;
    eprintln!("wsx-echo listening on ws://{}", server.local_addr()?);
    server
        .serve(|mut c: Connected| async move {
            while let Some(Ok(msg)) = c.ws.recv().await {
                let reply = match msg {
                    Message::Text(_) | Message::Binary(_) => msg,
                    _ => continue,
                };
                if c.ws.send(reply).await.is_err() {
                    break;
                }
            }
        })
        .await
}
