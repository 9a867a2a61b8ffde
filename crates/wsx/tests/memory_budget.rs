//! The server-wide memory budget: clients that try to make the server hold more than its
//! budget are closed (1013) before it does, while the others are served throughout.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsx::{ClientBuilder, DeflateConfig, MemoryBudget, Message, Server};

/// A permessage-deflate payload that inflates to `n` zero bytes.
fn bomb(n: usize) -> Vec<u8> {
    let mut d = wsx::proto::deflate::Deflater::new(false, 15, 9, 0);
    let mut out = Vec::new();
    d.compress(&vec![0u8; n], &mut out).unwrap();
    out
}

/// A client frame (masked) with the first header byte `first`.
fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x5a, 0x13, 0xc7, 0x08];
    let mut f = vec![first];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// Upgrades with permessage-deflate, sends `frame`, and returns the close code of the close
/// frame the server answers with (the first frame it sends), read until the server closes.
async fn send_and_read_close(addr: SocketAddr, frame: &[u8]) -> Option<u16> {
    let head = upgrade_head("/", "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    let (resp, mut s) = raw_request(addr, &head).await;
    assert!(resp.starts_with("HTTP/1.1 101"), "{resp}");
    assert!(resp.contains("permessage-deflate"), "{resp}");
    s.write_all(frame).await.unwrap();
    let mut got = Vec::new();
    within(s.read_to_end(&mut got)).await.ok()?;
    // An unmasked close frame with a short body: 0x88, length, code.
    (got.len() >= 4 && got[0] == 0x88).then(|| u16::from_be_bytes([got[2], got[3]]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_inflate_bombs_at_once_leave_the_server_under_its_budget_and_serving_others() {
    const LIMIT: usize = 16 << 20;
    const BOMBS: usize = 100;
    let budget = MemoryBudget::new(LIMIT);
    let (addr, _sh, _task, clients) = echo_server(
        Server::builder()
            .deflate(Some(DeflateConfig::default()))
            .memory_budget(budget.clone()),
    )
    .await;
    // Each bomb is within the message limit (64 MiB) but twice the whole budget.
    let payload = bomb(2 * LIMIT);
    assert!(
        payload.len() < 64 << 10,
        "{} bytes on the wire",
        payload.len()
    );
    let frame = masked_frame(0xC2, &payload); // FIN, RSV1, binary

    let (mut good, _) = within(ClientBuilder::new(url(addr, "/")).deflate(None).connect())
        .await
        .unwrap();
    let bombs: Vec<_> = (0..BOMBS)
        .map(|_| {
            let frame = frame.clone();
            tokio::spawn(async move { send_and_read_close(addr, &frame).await })
        })
        .collect();
    // Served while the bombs go off, in order.
    for i in 0..200 {
        let m = Message::text(format!("still here {i}"));
        within(good.send(m.clone())).await.unwrap();
        assert_eq!(within(good.recv()).await.unwrap().unwrap(), m);
    }
    for b in bombs {
        assert_eq!(
            b.await.unwrap(),
            Some(1013),
            "each bomb is refused: try again later"
        );
    }
    assert!(
        budget.peak() <= LIMIT,
        "the connections held up to {} bytes with a budget of {LIMIT}",
        budget.peak()
    );
    // And after.
    let m = Message::binary(vec![7u8; 100 << 10]);
    within(good.send(m.clone())).await.unwrap();
    assert_eq!(within(good.recv()).await.unwrap().unwrap(), m);
    wait_until(|| clients.len() == 1).await;
    drop(good);
    wait_until(|| budget.used() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_does_not_read_is_closed_when_its_send_queue_fills_the_budget() {
    const LIMIT: usize = 4 << 20;
    let budget = MemoryBudget::new(LIMIT);
    let server = Server::builder()
        .memory_budget(budget.clone())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    // Sends as many 64 KiB messages as a connection asks for, as fast as it may.
    tokio::spawn(server.serve(|mut c: wsx::Connected| async move {
        if let Some(Ok(Message::Text(n))) = c.ws.recv().await {
            let n: usize = n.parse().unwrap_or(0);
            let chunk = Message::binary(vec![1u8; 64 << 10]);
            for _ in 0..n {
                if c.ws.sender().send(chunk.clone()) == wsx::SendStatus::Closed {
                    return;
                }
                tokio::task::yield_now().await;
            }
        }
        while let Some(Ok(_)) = c.ws.recv().await {}
    }));
    // A peer that asks and never reads: its queue grows past the budget's soft limit.
    let head = upgrade_head("/", "");
    let (resp, mut sleeper) = raw_request(addr, &head).await;
    assert!(resp.starts_with("HTTP/1.1 101"), "{resp}");
    sleeper
        .write_all(&masked_frame(0x81, b"1024"))
        .await
        .unwrap();
    wait_until(|| budget.evictions() >= 1).await;
    // A reader is served after it, and the budget is released.
    let (mut reader, _) = within(ClientBuilder::new(url(addr, "/")).connect())
        .await
        .unwrap();
    within(reader.send(Message::text("16"))).await.unwrap();
    let mut got = 0;
    while got < 16 {
        match within(reader.recv()).await {
            Some(Ok(Message::Binary(b))) => {
                assert_eq!(b.len(), 64 << 10);
                got += 1;
            }
            other => panic!("after {got} messages: {other:?}"),
        }
    }
    // A send queue grows without asking: it may pass the limit by what one send adds.
    assert!(
        budget.peak() <= LIMIT + (64 << 10),
        "peak {}",
        budget.peak()
    );
    drop(sleeper);
    drop(reader);
    wait_until(|| budget.used() == 0).await;
}
