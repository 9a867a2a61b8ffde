//! Echoes every message back, with permessage-deflate accepted.
//!
//! `cargo run --release -p wsx --example echo_server -- 127.0.0.1:9001`
//! (this is the server the Autobahn fuzzingclient tests).

use wsx::{Connected, DeflateConfig, Message, Options, Server};

#[tokio::main(flavor = "current_thread")]
async fn main() -> wsx::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let mut opts = Options::default();
    // Autobahn sends messages up to 16 MiB; the default limits (64 MiB) fit.
    opts.close_timeout = std::time::Duration::from_secs(2);
    let server = Server::builder()
        .options(opts)
        .deflate(Some(DeflateConfig::default().threshold(0)))
        .bind(&addr)
        .await?;
    eprintln!("echo server listening on ws://{}", server.local_addr()?);
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
