//! Runs every case of an Autobahn fuzzingserver with the wsx client, then updates its reports.
//!
//! `cargo run --release -p wsx --example autobahn_client -- ws://127.0.0.1:9001 wsx`

use std::time::Duration;

use wsx::{ClientBuilder, DeflateConfig, Message};

async fn case_count(base: &str) -> wsx::Result<u32> {
    let (mut ws, _) = wsx::connect(&format!("{base}/getCaseCount")).await?;
    let mut count = 0;
    while let Some(msg) = ws.recv().await {
        if let Message::Text(t) = msg? {
            count = t.trim().parse().unwrap_or(0);
        }
    }
    Ok(count)
}

async fn run_case(base: &str, case: u32, agent: &str) -> wsx::Result<()> {
    let url = format!("{base}/runCase?case={case}&agent={agent}");
    let (mut ws, _) = ClientBuilder::new(url)
        .deflate(Some(DeflateConfig::default().threshold(0)))
        .handshake_timeout(Duration::from_secs(20))
        .connect()
        .await?;
    while let Some(msg) = ws.recv().await {
        let msg = msg?;
        if msg.is_data() {
            ws.send(msg).await?;
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> wsx::Result<()> {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let agent = args.next().unwrap_or_else(|| "wsx".into());
    let count = case_count(&base).await?;
    eprintln!("{count} cases");
    for case in 1..=count {
        if let Err(e) = run_case(&base, case, &agent).await {
            eprintln!("case {case}: {e}");
        }
    }
    let (mut ws, _) = wsx::connect(&format!("{base}/updateReports?agent={agent}")).await?;
    while let Some(m) = ws.recv().await {
        if m.is_err() {
            break;
        }
    }
    eprintln!("reports updated");
    Ok(())
}
