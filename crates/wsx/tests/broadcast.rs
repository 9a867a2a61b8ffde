//! Client tracking, sending to one client by id, broadcast with one encode, and the bounded
//! send queue with its slow-consumer policy.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use wsx::{Message, Options, PreparedFrame, SendStatus, Server, SlowConsumer};

#[tokio::test]
async fn clients_are_tracked_and_reached_by_id_and_broadcast() {
    let (addr, _sh, _t, clients) = echo_server(Server::builder()).await;
    let mut conns = Vec::new();
    for _ in 0..5 {
        conns.push(within(wsx::connect(&url(addr, "/"))).await.unwrap().0);
    }
    wait_until(|| clients.len() >= 5).await;
    let ids = clients.ids();
    assert_eq!(ids.len(), 5);

    let report = clients.broadcast(&Message::text("to all"));
    assert_eq!(report.queued, 5);
    for ws in &mut conns {
        assert_eq!(
            within(ws.recv()).await.unwrap().unwrap(),
            Message::text("to all")
        );
    }

    let frame = PreparedFrame::new(&Message::binary(vec![1u8, 2, 3]));
    let r = clients.broadcast_prepared(&frame, Some(ids[0]));
    assert_eq!(r.queued, 4);

    // Close one client: it leaves the registry.
    let mut gone = conns.pop().unwrap();
    gone.close(1000u16, "").await.unwrap();
    while within(gone.recv()).await.is_some() {}
    wait_until(|| clients.len() == 4).await;
}

#[tokio::test]
async fn send_to_one_client_by_id() {
    let server = Server::builder().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let clients = server.clients();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(server.serve(move |mut c: wsx::Connected| {
        let tx = tx.clone();
        async move {
            tx.send(c.id).unwrap();
            while let Some(Ok(_)) = c.ws.recv().await {}
        }
    }));
    let (mut a, _) = within(wsx::connect(&url(addr, "/"))).await.unwrap();
    let id_a = within(rx.recv()).await.unwrap();
    let (mut b, _) = within(wsx::connect(&url(addr, "/"))).await.unwrap();
    let id_b = within(rx.recv()).await.unwrap();
    assert_eq!(
        clients.send_to(id_b, Message::text("only b")),
        SendStatus::Queued
    );
    assert_eq!(
        within(b.recv()).await.unwrap().unwrap(),
        Message::text("only b")
    );
    assert_eq!(
        clients.send_to(id_a, Message::text("only a")),
        SendStatus::Queued
    );
    assert_eq!(
        within(a.recv()).await.unwrap().unwrap(),
        Message::text("only a")
    );
}

/// A server with a 64 KiB send limit and one raw client that never reads.
async fn slow_consumer(
    policy: SlowConsumer,
) -> (wsx::Clients, wsx::ClientId, tokio::net::TcpStream) {
    let mut opts = Options::default();
    opts.max_buffered = 64 * 1024;
    opts.slow_consumer = policy;
    let (addr, _sh, _t, clients) = echo_server(Server::builder().options(opts)).await;
    let (_head, stream) = raw_request(addr, &upgrade_head("/", "")).await;
    wait_until(|| !clients.is_empty()).await;
    let id = clients.ids()[0];
    (clients, id, stream)
}

#[tokio::test]
async fn a_consumer_that_never_reads_is_dropped_not_buffered_forever() {
    let (clients, id, _stream) = slow_consumer(SlowConsumer::Drop).await;
    let big = Message::binary(vec![0u8; 256 * 1024]);
    let mut dropped = 0;
    for _ in 0..200 {
        if clients.send_to(id, big.clone()) == SendStatus::Dropped {
            dropped += 1;
        }
    }
    assert!(dropped > 0, "sends past the limit are dropped");
    let buffered = clients.get(id).unwrap().buffered_amount();
    // Bounded: at most the limit plus one message over it.
    assert!(
        buffered <= 64 * 1024 + 256 * 1024 + 16,
        "buffered {buffered}"
    );
}

#[tokio::test]
async fn slow_consumer_policy_close_terminates_the_connection() {
    let (clients, id, _stream) = slow_consumer(SlowConsumer::Close).await;
    let big = Message::binary(vec![0u8; 256 * 1024]);
    let mut closed = false;
    for _ in 0..200 {
        if clients.send_to(id, big.clone()) == SendStatus::Closed {
            closed = true;
            break;
        }
    }
    assert!(closed);
    wait_until(|| clients.is_empty()).await;
}
