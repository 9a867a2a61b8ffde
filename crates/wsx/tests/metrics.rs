//! The server's metrics through the `metrics` facade, read back through a real exporter
//! (metrics-exporter-prometheus) as a scrape would: connections, messages, bytes, close codes,
//! refusals by reason, the handshake histogram, the send-queue gauge and the slow-consumer
//! counters. One test, in phases: the recorder and its counters are per process.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use common::*;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use wsx::{ClientBuilder, CloseCode, Message, Options, SendStatus, Server, SlowConsumer};

/// The value of the series `series` (name and labels as rendered), 0 if absent.
fn value(handle: &PrometheusHandle, series: &str) -> f64 {
    let text = handle.render();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, v) = l.rsplit_once(' ')?;
            (name == series).then(|| v.parse().unwrap())
        })
        .unwrap_or(0.0)
}

/// An echo server whose handler reports on `done` once its connection is dropped.
async fn echo(builder: wsx::ServerBuilder) -> (SocketAddr, mpsc::UnboundedReceiver<()>) {
    let server = builder.bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(server.serve(move |mut c: wsx::Connected| {
        let tx = tx.clone();
        async move {
            while let Some(Ok(m)) = c.ws.recv().await {
                if m.is_data() && c.ws.send(m).await.is_err() {
                    break;
                }
            }
            drop(c);
            let _ = tx.send(());
        }
    }));
    (addr, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_metrics_reach_a_prometheus_exporter() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).unwrap();
    let v = |s: &str| value(&handle, s);

    // Three messages echoed, then a normal close: exact counts and wire bytes.
    let (addr, mut done) = echo(Server::builder().deflate(None)).await;
    let (mut ws, _) = within(ClientBuilder::new(url(addr, "/")).deflate(None).connect())
        .await
        .unwrap();
    for _ in 0..3 {
        within(ws.send(Message::text("0123456789"))).await.unwrap();
        assert!(matches!(
            within(ws.recv()).await,
            Some(Ok(Message::Text(_)))
        ));
    }
    assert_eq!(v("wsx_connections_open"), 1.0);
    within(ws.close(CloseCode::NORMAL, "")).await.unwrap();
    while within(ws.recv()).await.is_some() {}
    within(done.recv()).await.unwrap();
    assert_eq!(v("wsx_connections_accepted_total"), 1.0);
    assert_eq!(v("wsx_connections_open"), 0.0);
    assert_eq!(v("wsx_messages_received_total"), 3.0);
    assert_eq!(v("wsx_messages_sent_total"), 3.0);
    assert_eq!(v("wsx_connections_closed_total{code=\"1000\"}"), 1.0);
    // In: three masked 10-byte frames (16 bytes each) and a masked close with a code (8).
    // Out: three 12-byte frames and the close reply (4).
    assert_eq!(v("wsx_received_bytes_total"), 3.0 * 16.0 + 8.0);
    assert_eq!(v("wsx_sent_bytes_total"), 3.0 * 12.0 + 4.0);
    assert_eq!(v("wsx_handshake_duration_seconds_count"), 1.0);
    assert!(v("wsx_handshake_duration_seconds_sum") > 0.0);

    // A peer that goes away without a close frame (1006), one that breaks the protocol with
    // an unmasked frame (1002).
    let (_, s) = raw_request(addr, &upgrade_head("/", "")).await;
    drop(s);
    within(done.recv()).await.unwrap();
    assert_eq!(v("wsx_connections_closed_total{code=\"1006\"}"), 1.0);
    let (_, mut s) = raw_request(addr, &upgrade_head("/", "")).await;
    s.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
    let mut rest = Vec::new();
    within(s.read_to_end(&mut rest)).await.unwrap();
    assert_eq!(
        (rest[0], &rest[2..4]),
        (0x88, &[0x03, 0xea][..]),
        "close 1002"
    );
    within(done.recv()).await.unwrap();
    assert_eq!(v("wsx_connections_closed_total{code=\"1002\"}"), 1.0);
    assert_eq!(v("wsx_connections_accepted_total"), 3.0);
    assert_eq!(v("wsx_connections_open"), 0.0);

    // Refusals, by reason.
    let (addr, _done) = echo(
        Server::builder()
            .path("/ws")
            .allow_origins(["https://ok.example"])
            .max_connections(1),
    )
    .await;
    let refused = |path: &str, origin: &str| {
        ClientBuilder::new(url(addr, path))
            .header("Origin", origin)
            .connect()
    };
    assert!(
        within(refused("/nope", "https://ok.example"))
            .await
            .is_err()
    );
    assert!(
        within(refused("/ws", "https://evil.example"))
            .await
            .is_err()
    );
    let (resp, _) = raw_request(addr, "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    let (held, _) = within(refused("/ws", "https://ok.example")).await.unwrap();
    assert!(within(refused("/ws", "https://ok.example")).await.is_err());
    drop(held);
    for (reason, n) in [
        ("not_found", 1.0),
        ("origin", 1.0),
        ("handshake", 1.0),
        ("max_connections", 1.0),
        ("verify", 0.0),
    ] {
        let series = format!("wsx_connections_rejected_total{{reason=\"{reason}\"}}");
        assert_eq!(v(&series), n, "{series}");
    }

    // A peer that does not read: its unwritten bytes show in the send-queue gauge, the
    // messages past its queue limit are dropped and counted; all of it goes with it.
    let mut opts = Options::default();
    opts.max_buffered = 64 << 10;
    opts.slow_consumer = SlowConsumer::Drop;
    let server = Server::builder()
        .options(opts)
        .deflate(None)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let (dropped_tx, mut dropped) = mpsc::unbounded_channel();
    tokio::spawn(server.serve(move |mut c: wsx::Connected| {
        let tx = dropped_tx.clone();
        async move {
            let chunk = Message::binary(vec![7u8; 16 << 10]);
            let mut drops = 0;
            // Until the kernel's buffers and the queue are full and three sends were dropped.
            for _ in 0..100_000 {
                if c.ws.sender().send(chunk.clone()) == SendStatus::Dropped {
                    drops += 1;
                    if drops == 3 {
                        break;
                    }
                }
                tokio::task::yield_now().await;
            }
            let _ = tx.send(drops);
            while let Some(Ok(_)) = c.ws.recv().await {}
        }
    }));
    let (_, sleeper) = raw_request(addr, &upgrade_head("/", "")).await;
    assert_eq!(within(dropped.recv()).await, Some(3));
    assert_eq!(v("wsx_slow_consumer_dropped_messages_total"), 3.0);
    let queued = v("wsx_send_queue_bytes");
    assert!(queued >= f64::from(64 << 10), "send queue gauge {queued}");
    drop(sleeper);
    wait_until(|| v("wsx_connections_open") == 0.0).await;
    assert_eq!(v("wsx_send_queue_bytes"), 0.0);
}
