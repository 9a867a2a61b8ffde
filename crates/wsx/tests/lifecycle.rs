//! Closing handshake from either side, close timeout, heartbeat, graceful shutdown, split
//! halves and the browser-like accessors.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsx::{ClientBuilder, CloseCode, Error, Message, Options, ReadyState, Server};

#[tokio::test]
async fn client_initiated_close_completes_and_recv_ends() {
    let (addr, ..) = echo_server(Server::builder()).await;
    let (mut ws, _) = within(wsx::connect(&url(addr, "/"))).await.unwrap();
    assert_eq!(ws.ready_state(), ReadyState::Open);
    ws.close(4000u16, "bye").await.unwrap();
    assert_eq!(ws.ready_state(), ReadyState::Closing);
    assert!(ws.send(text("late")).await.is_err(), "no sends after close");
    match within(ws.recv()).await {
        Some(Ok(Message::Close(Some(f)))) => assert_eq!(f.code, CloseCode(4000)),
        other => panic!("expected the echoed close, got {other:?}"),
    }
    assert!(within(ws.recv()).await.is_none());
    assert_eq!(ws.ready_state(), ReadyState::Closed);
}

#[tokio::test]
async fn server_initiated_close_reaches_the_client_with_code_and_reason() {
    let server = Server::builder().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve(|mut c: wsx::Connected| async move {
        c.ws.close(CloseCode::POLICY, "go away").await.unwrap();
        while c.ws.recv().await.is_some() {}
    }));
    let (mut ws, _) = within(wsx::connect(&url(addr, "/"))).await.unwrap();
    match within(ws.recv()).await {
        Some(Ok(Message::Close(Some(f)))) => {
            assert_eq!(f.code, CloseCode::POLICY);
            assert_eq!(f.reason.as_str(), "go away");
        }
        other => panic!("{other:?}"),
    }
    assert!(within(ws.recv()).await.is_none());
}

#[tokio::test]
async fn close_arguments_are_validated() {
    let (addr, ..) = echo_server(Server::builder()).await;
    let (mut ws, _) = within(wsx::connect(&url(addr, "/"))).await.unwrap();
    assert!(ws.close(1005u16, "").await.is_err());
    assert!(ws.close(1000u16, &"x".repeat(124)).await.is_err());
    assert_eq!(
        ws.ready_state(),
        ReadyState::Open,
        "a rejected close changes nothing"
    );
}

#[tokio::test]
async fn peer_that_never_answers_close_is_dropped_after_the_close_timeout() {
    // A raw server that completes the handshake, then ignores everything.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        let req = String::from_utf8_lossy(&buf[..n]).to_string();
        let key = req
            .lines()
            .find_map(|l| l.strip_prefix("sec-websocket-key: "))
            .unwrap()
            .trim()
            .to_string();
        let accept = wsx::proto::handshake::accept_key(key.as_bytes());
        s.write_all(format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").as_bytes()).await.unwrap();
        while s.read(&mut buf).await.unwrap_or(0) > 0 {}
        // Holds the socket open and says nothing, ever.
        std::future::pending::<()>().await;
    });
    let mut opts = Options::default();
    opts.close_timeout = Duration::from_millis(300);
    let (mut ws, _) = within(ClientBuilder::new(url(addr, "/")).options(opts).connect())
        .await
        .unwrap();
    ws.close(1000u16, "").await.unwrap();
    let started = std::time::Instant::now();
    let r = within(ws.recv()).await;
    assert!(matches!(r, Some(Err(Error::CloseTimeout(_)))), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn heartbeat_terminates_a_peer_that_does_not_answer_pings() {
    let (addr, _sh, _t, clients) = echo_server(
        Server::builder().heartbeat(Duration::from_millis(100), Duration::from_millis(100)),
    )
    .await;
    // A live client (auto-pong) stays connected...
    let (mut live, _) = within(wsx::connect(&url(addr, "/"))).await.unwrap();
    let live_task = tokio::spawn(async move {
        let mut pings = 0;
        while let Some(Ok(m)) = live.recv().await {
            if matches!(m, Message::Ping(_)) {
                pings += 1;
                if pings == 5 {
                    break;
                }
            }
        }
        pings
    });
    // ...a raw TCP peer that never answers is dropped.
    let (_h, mut dead) = raw_request(addr, &upgrade_head("/", "")).await;
    let mut buf = [0u8; 64];
    let closed = within(async {
        loop {
            match dead.read(&mut buf).await {
                Ok(0) | Err(_) => break true,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed, "dead peer's connection was closed by the server");
    assert_eq!(
        within(live_task).await.unwrap(),
        5,
        "live peer kept being pinged"
    );
    assert!(clients.len() <= 1);
}

#[tokio::test]
async fn graceful_shutdown_sends_1001_to_every_client_and_returns() {
    let (addr, sh, task, clients) = echo_server(Server::builder()).await;
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(within(wsx::connect(&url(addr, "/"))).await.unwrap().0);
    }
    // The server lists a connection just after its handshake answer has gone out.
    wait_until(|| clients.len() == 3).await;
    sh.shutdown();
    for ws in &mut conns {
        match within(ws.recv()).await {
            Some(Ok(Message::Close(Some(f)))) => assert_eq!(f.code, CloseCode::GOING_AWAY),
            other => panic!("{other:?}"),
        }
        assert!(within(ws.recv()).await.is_none());
    }
    within(task).await.unwrap().unwrap();
    assert!(
        wsx::connect(&url(addr, "/")).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn split_read_half_answers_pings_while_write_half_sends() {
    let server = Server::builder().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve(|c: wsx::Connected| async move {
        let (mut rx, mut tx) = c.ws.split();
        let reader = tokio::spawn(async move {
            let mut n = 0;
            while let Some(Ok(m)) = rx.recv().await {
                if m.is_data() {
                    n += 1;
                }
            }
            n
        });
        for i in 0..100 {
            tx.send(Message::text(format!("m{i}"))).await.unwrap();
        }
        let _ = reader.await;
    }));
    let (ws, _) = within(wsx::connect(&url(addr, "/"))).await.unwrap();
    let (mut sink, mut stream) = (ws.sender(), ws);
    // Ping the server; its read half must answer on its own.
    assert_eq!(
        sink.send(Message::Ping("are you there".into())),
        wsx::SendStatus::Queued
    );
    let mut got_pong = false;
    let mut texts = 0;
    while let Some(Ok(m)) = within(stream.next()).await {
        match m {
            Message::Pong(p) => {
                assert_eq!(&p[..], b"are you there");
                got_pong = true;
            }
            Message::Text(_) => texts += 1,
            _ => {}
        }
        if got_pong && texts == 100 {
            break;
        }
    }
    assert!(got_pong);
    assert_eq!(texts, 100, "messages arrive complete and in order");
    let _ = &mut sink;
}

#[tokio::test]
async fn stream_and_sink_traits_work_with_futures_combinators() {
    let (addr, ..) = echo_server(Server::builder()).await;
    let (mut ws, _) = within(wsx::connect(&url(addr, "/"))).await.unwrap();
    for i in 0..10 {
        ws.feed(Message::text(format!("{i}"))).await.unwrap();
    }
    ws.flush().await.unwrap();
    let got: Vec<_> = within(ws.by_ref().take(10).collect::<Vec<_>>()).await;
    let got: Vec<String> = got
        .into_iter()
        .map(|m| m.unwrap().as_text().unwrap().to_owned())
        .collect();
    assert_eq!(got, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
    SinkExt::close(&mut ws).await.unwrap();
}

#[tokio::test]
async fn accessors_report_handshake_results() {
    let (addr, ..) = echo_server(Server::builder().protocols(["p1"])).await;
    let u = url(addr, "/x?y=1");
    let (ws, _) = within(ClientBuilder::new(&u).protocol("p1").connect())
        .await
        .unwrap();
    assert_eq!(ws.protocol(), "p1");
    assert_eq!(ws.extensions(), "permessage-deflate");
    assert_eq!(ws.url(), Some(u.as_str()));
    assert_eq!(ws.buffered_amount(), 0);
    let (ws, _) = within(ClientBuilder::new(&u).deflate(None).connect())
        .await
        .unwrap();
    assert_eq!(ws.extensions(), "");
}

#[tokio::test]
async fn protocol_error_from_peer_closes_with_its_code() {
    let (addr, ..) = echo_server(Server::builder().max_payload(1024)).await;
    let (mut ws, _) = within(wsx::connect(&url(addr, "/"))).await.unwrap();
    ws.send(Message::binary(vec![0u8; 2048])).await.unwrap();
    match within(ws.recv()).await {
        Some(Ok(Message::Close(Some(f)))) => assert_eq!(f.code, CloseCode::TOO_BIG),
        other => panic!("{other:?}"),
    }
}
