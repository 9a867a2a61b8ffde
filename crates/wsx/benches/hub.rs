//! Broadcast to 10,000 connections: `Hub::publish` (one encode, the same bytes queued to every
//! receiver) against a loop of per-client `Sender::send` (an encode and a copy per receiver),
//! both writing to streams that accept every byte, so the cost measured is wsx's own.
//!
//! `cargo bench -p wsx --bench hub`
#![allow(missing_docs, clippy::unwrap_used)]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wsx::{Hub, Message, Options, Role, Sender, WebSocket};

const RECEIVERS: usize = 10_000;

/// A stream that never has anything to read and swallows every write.
struct Null;

impl AsyncRead for Null {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Pending
    }
}

impl AsyncWrite for Null {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(b.len()))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()))
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn broadcast(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let hub = Hub::new();
    let mut senders: Vec<Sender> = Vec::with_capacity(RECEIVERS);
    let mut sockets = Vec::with_capacity(RECEIVERS);
    for _ in 0..RECEIVERS {
        let ws = WebSocket::from_raw(Null, Role::Server, None, Options::default());
        let id = hub.add(ws.sender());
        hub.subscribe(id, "room");
        senders.push(ws.sender());
        sockets.push(ws);
    }
    let mut g = c.benchmark_group("broadcast_10k");
    g.throughput(Throughput::Elements(RECEIVERS as u64));
    for size in [100usize, 1024] {
        let msg = Message::text("x".repeat(size));
        // Each iteration ends with a yield so the batch flush runs (one write per receiver).
        g.bench_with_input(BenchmarkId::new("hub_publish", size), &msg, |b, msg| {
            b.iter(|| {
                rt.block_on(async {
                    assert_eq!(hub.publish("room", msg).queued, RECEIVERS);
                    tokio::task::yield_now().await;
                })
            })
        });
        g.bench_with_input(BenchmarkId::new("send_loop", size), &msg, |b, msg| {
            b.iter(|| {
                rt.block_on(async {
                    for s in &senders {
                        s.send(msg.clone());
                    }
                    tokio::task::yield_now().await;
                })
            })
        });
        // A burst of 8 publishes before the task yields: still one write per receiver.
        g.throughput(Throughput::Elements(8 * RECEIVERS as u64));
        g.bench_with_input(
            BenchmarkId::new("hub_publish_burst8", size),
            &msg,
            |b, msg| {
                b.iter(|| {
                    rt.block_on(async {
                        for _ in 0..8 {
                            hub.publish("room", msg);
                        }
                        tokio::task::yield_now().await;
                    })
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("send_loop_burst8", size),
            &msg,
            |b, msg| {
                b.iter(|| {
                    rt.block_on(async {
                        for _ in 0..8 {
                            for s in &senders {
                                s.send(msg.clone());
                            }
                        }
                        tokio::task::yield_now().await;
                    })
                })
            },
        );
        g.throughput(Throughput::Elements(RECEIVERS as u64));
    }
    g.finish();
    drop(sockets);
}

criterion_group!(benches, broadcast);
criterion_main!(benches);
