//! wsx echo server for `bench/run.sh`: echoes every text and binary message, answers pings
//! (wsx does), closes cleanly.
//!
//! `wsx-echo ADDR [--deflate] [--threads N] [--events]`: on a `current_thread` runtime unless
//! `--threads N` (N > 1) asks for a multi-thread one; `--deflate` accepts permessage-deflate
//! (compressing every message, like the client's offer); `--events` drives the connections
//! with callbacks (`Server::serve_events`) instead of a task each; `--fanout` sends every
//! message to every other client instead of echoing it (encoded once, `Clients::broadcast_except`,
//! for `wsx bench --fanout`); `--fanout-loop` does the same with a loop of per-client
//! `Sender::send` (an encode and a write per receiver, no batching), the baseline a broadcast
//! must beat; `--memory-budget BYTES` bounds what all connections together hold
//! (`ServerBuilder::memory_budget`; none by default); no heartbeat; messages up to 64 MiB.
//! Built with the feature `metrics`, it records wsx's server metrics with a Prometheus recorder.

use wsx::{Clients, Conn, Connected, DeflateConfig, Message, Server};

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9001".into());
    let (mut deflate, mut threads, mut events, mut fanout) = (false, 1usize, false, false);
    let mut fanout_loop = false;
    let mut budget = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--deflate" => deflate = true,
            "--events" => events = true,
            "--fanout" => fanout = true,
            "--fanout-loop" => fanout_loop = true,
            "--threads" => threads = args.next().and_then(|n| n.parse().ok()).unwrap_or(1),
            "--memory-budget" => budget = args.next().and_then(|n| n.parse::<usize>().ok()),
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
    #[cfg(feature = "metrics")]
    {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        // Kept, as a server keeps it to render /metrics.
        std::mem::forget(recorder.handle());
        if let Err(e) = metrics::set_global_recorder(recorder) {
            eprintln!("wsx-echo: {e}");
        }
    }
    let rt = rt.unwrap_or_else(|e| {
        eprintln!("wsx-echo: cannot start the runtime: {e}");
        std::process::exit(1);
    });
    if let Err(e) = rt.block_on(serve(addr, deflate, events, fanout, fanout_loop, budget)) {
        eprintln!("wsx-echo: {e}");
        std::process::exit(1);
    }
}

/// The echo (or with `fanout`, the broadcast) as callbacks.
struct Echo {
    fanout: Option<Clients>,
}

impl wsx::Handler for Echo {
    type State = ();

    fn open(&self, _: &Conn<'_>, _: &http::Request<()>) {}

    fn message(&self, _: &mut (), conn: &Conn<'_>, msg: Message) {
        if !msg.is_data() {
            return;
        }
        match &self.fanout {
            Some(clients) => {
                clients.broadcast_except(&msg, conn.id());
            }
            None => {
                conn.send(msg);
            }
        }
    }
}

async fn serve(
    addr: String,
    deflate: bool,
    events: bool,
    fanout: bool,
    fanout_loop: bool,
    budget: Option<usize>,
) -> wsx::Result<()> {
    let mut builder = Server::builder()
        .max_payload(64 << 20)
        .backlog(4096)
        .deflate(deflate.then(|| DeflateConfig::default().threshold(0)));
    if let Some(limit) = budget {
        builder = builder.memory_budget(wsx::MemoryBudget::new(limit));
    }
    let server = builder.bind(&addr).await?;
    eprintln!("wsx-echo listening on ws://{}", server.local_addr()?);
    let clients = server.clients();
    if events {
        let fanout = fanout.then_some(clients);
        return server.serve_events(Echo { fanout }).await;
    }
    if fanout_loop {
        type Senders = std::sync::Arc<std::sync::Mutex<Vec<(wsx::ClientId, wsx::Sender)>>>;
        let all = Senders::default();
        return server
            .serve(move |mut c: Connected| {
                let all = all.clone();
                async move {
                    all.lock().unwrap().push((c.id, c.ws.sender()));
                    while let Some(Ok(msg)) = c.ws.recv().await {
                        if msg.is_data() {
                            for (id, s) in all.lock().unwrap().iter() {
                                if *id != c.id {
                                    s.send(msg.clone());
                                }
                            }
                        }
                    }
                    all.lock().unwrap().retain(|(id, _)| *id != c.id);
                }
            })
            .await;
    }
    if fanout {
        return server
            .serve(move |mut c: Connected| {
                let clients = clients.clone();
                async move {
                    while let Some(Ok(msg)) = c.ws.recv().await {
                        if msg.is_data() {
                            clients.broadcast_except(&msg, c.id);
                        }
                    }
                }
            })
            .await;
    }
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
