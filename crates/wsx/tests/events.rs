//! `Server::serve_events`: connections driven by callbacks on a few driver tasks instead of a
//! task each. Open, message, close with per-connection state; order under load; broadcast
//! through `Server::clients`; heartbeats; a panicking callback; graceful shutdown.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use wsx::{CloseCode, Conn, Error, Handler, Message, Server, ShutdownHandle};

/// What the handler saw, in order.
#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Log {
    fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
    fn snapshot(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Echoes data with a per-connection counter; "panic" panics; "broadcast:X" sends X to every
/// client; logs open (with the path) and close (with the count and the error).
struct Echo {
    log: Arc<Log>,
    clients: wsx::Clients,
}

impl Handler for Echo {
    type State = (String, u64);

    fn open(&self, conn: &Conn<'_>, request: &http::Request<()>) -> Self::State {
        if request.uri().path() == "/slow" {
            // A slow open handler: the client must not see the handshake done before it ends.
            std::thread::sleep(Duration::from_millis(30));
        }
        self.log
            .push(format!("open {} {}", conn.id().0, request.uri().path()));
        conn.send(Message::text(format!("hello {}", conn.protocol())));
        assert!(conn.peer_addr().is_some());
        (request.uri().path().to_owned(), 0)
    }

    fn message(&self, state: &mut Self::State, conn: &Conn<'_>, msg: Message) {
        if !msg.is_data() {
            return;
        }
        state.1 += 1;
        if let Message::Text(t) = &msg {
            if t.as_str() == "peer" {
                conn.send(Message::text(format!("{:?}", conn.peer_addr())));
                return;
            }
            if t.as_str() == "panic" {
                panic!("handler asked to panic");
            }
            if let Some(x) = t.as_str().strip_prefix("broadcast:") {
                self.clients.broadcast(&Message::text(x.to_owned()));
                return;
            }
        }
        conn.send(msg);
    }

    fn close(&self, state: Self::State, conn: &Conn<'_>, error: Option<Error>) {
        self.log.push(format!(
            "close {} {} {} {}",
            conn.id().0,
            state.0,
            state.1,
            error.map(|e| e.to_string()).unwrap_or_default()
        ));
    }
}

async fn start(builder: wsx::ServerBuilder) -> (SocketAddr, Arc<Log>, ShutdownHandle, Server) {
    let server = builder.bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.shutdown_handle();
    (addr, Arc::new(Log::default()), handle, server)
}

fn spawn(server: Server, log: &Arc<Log>) -> tokio::task::JoinHandle<wsx::Result<()>> {
    let clients = server.clients();
    tokio::spawn(server.serve_events(Echo {
        log: log.clone(),
        clients,
    }))
}

async fn next_text(ws: &mut wsx::WebSocket<wsx::MaybeTlsStream>) -> String {
    match within(ws.recv()).await {
        Some(Ok(Message::Text(t))) => t.as_str().to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

#[tokio::test]
async fn open_message_close_with_state() {
    let (addr, log, _h, server) = start(Server::builder().protocols(["chat"])).await;
    spawn(server, &log);
    let (mut ws, _) = within(
        wsx::ClientBuilder::new(url(addr, "/room/1"))
            .protocol("chat")
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(next_text(&mut ws).await, "hello chat");
    for i in 0..3 {
        ws.send(text(&format!("m{i}"))).await.unwrap();
        assert_eq!(next_text(&mut ws).await, format!("m{i}"));
    }
    ws.send(Message::Binary(vec![1u8, 2, 3].into()))
        .await
        .unwrap();
    match within(ws.recv()).await {
        Some(Ok(Message::Binary(b))) => assert_eq!(&b[..], &[1, 2, 3]),
        other => panic!("{other:?}"),
    }
    ws.send(text("peer")).await.unwrap();
    assert!(next_text(&mut ws).await.starts_with("Some(127.0.0.1:"));
    ws.close(CloseCode::NORMAL, "bye").await.unwrap();
    while within(ws.recv()).await.is_some() {}
    wait_until(|| log.snapshot().len() == 2).await;
    let l = log.snapshot();
    assert!(
        l[0].starts_with("open ") && l[0].ends_with(" /room/1"),
        "{l:?}"
    );
    assert!(
        l[1].ends_with(" /room/1 5 "),
        "clean close, 5 data messages: {l:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_pipelined_messages_arrive_in_order() {
    let (addr, log, _h, server) = start(Server::builder()).await;
    spawn(server, &log);
    let mut tasks = Vec::new();
    for c in 0..20 {
        let u = url(addr, "/");
        tasks.push(tokio::spawn(async move {
            let (ws, _) = wsx::connect(&u).await.unwrap();
            let (mut rx, mut tx) = ws.split();
            let sender = tokio::spawn(async move {
                for i in 0..500 {
                    // More than a driver gives one connection in a row.
                    tx.send(Message::text(format!("{c}:{i}"))).await.unwrap();
                }
                tx
            });
            assert!(matches!(rx.next().await, Some(Ok(Message::Text(_)))));
            for i in 0..500 {
                match rx.next().await {
                    Some(Ok(Message::Text(t))) => assert_eq!(t.as_str(), format!("{c}:{i}")),
                    other => panic!("{other:?}"),
                }
            }
            sender.await.unwrap();
        }));
    }
    for t in tasks {
        within(t).await.unwrap();
    }
}

#[tokio::test]
async fn broadcast_reaches_every_event_driven_client() {
    let (addr, log, _h, server) = start(Server::builder()).await;
    let clients = server.clients();
    spawn(server, &log);
    let mut socks = Vec::new();
    for _ in 0..5 {
        let (mut ws, _) = within(wsx::connect(&url(addr, "/"))).await.unwrap();
        next_text(&mut ws).await;
        socks.push(ws);
    }
    wait_until(|| clients.len() == 5).await;
    socks[0].send(text("broadcast:all")).await.unwrap();
    for ws in &mut socks {
        assert_eq!(next_text(ws).await, "all");
    }
    // From outside the handler too.
    let report = clients.broadcast(&text("outside"));
    assert_eq!(report.queued, 5);
    for ws in &mut socks {
        assert_eq!(next_text(ws).await, "outside");
    }
    drop(socks);
    wait_until(|| clients.is_empty()).await;
}

/// The connection is registered, and its `open` handler has run, before its `101` goes out:
/// once a client's handshake is done, the server counts it and a broadcast reaches it, with
/// nothing to wait for. (Two worker threads, so the client could see a `101` written early
/// while the slow `open` handler still runs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_is_registered_before_its_handshake_completes() {
    let (addr, log, _h, server) = start(Server::builder()).await;
    let clients = server.clients();
    spawn(server, &log);
    let mut socks = Vec::new();
    for n in 1..=10 {
        let (ws, _) = within(wsx::connect(&url(addr, "/slow"))).await.unwrap();
        assert_eq!(
            clients.len(),
            n,
            "client {n} not registered at its handshake"
        );
        assert_eq!(
            log.snapshot().len(),
            n,
            "open handler {n} not run at its handshake"
        );
        let report = clients.broadcast(&text(&format!("b{n}")));
        assert_eq!(report.queued, n);
        socks.push(ws);
    }
    for (i, ws) in socks.iter_mut().enumerate() {
        assert_eq!(next_text(ws).await, "hello ");
        for n in i + 1..=10 {
            assert_eq!(next_text(ws).await, format!("b{n}"));
        }
    }
}

#[tokio::test]
async fn a_panicking_callback_ends_its_connection_only() {
    let (addr, log, _h, server) = start(Server::builder()).await;
    spawn(server, &log);
    let (mut a, _) = within(wsx::connect(&url(addr, "/a"))).await.unwrap();
    let (mut b, _) = within(wsx::connect(&url(addr, "/b"))).await.unwrap();
    next_text(&mut a).await;
    next_text(&mut b).await;
    a.send(text("panic")).await.unwrap();
    assert!(
        matches!(within(a.recv()).await, None | Some(Err(_))),
        "the panicking connection is dropped"
    );
    b.send(text("still here")).await.unwrap();
    assert_eq!(next_text(&mut b).await, "still here");
    wait_until(|| log.snapshot().iter().any(|l| l.contains(" /a "))).await;
}

#[tokio::test]
async fn heartbeat_finds_a_dead_peer() {
    let (addr, log, _h, server) =
        start(Server::builder().heartbeat(Duration::from_millis(100), Duration::from_millis(100)))
            .await;
    spawn(server, &log);
    // A raw client that completes the handshake and then never answers a ping.
    let (resp, _tcp) = raw_request(addr, &upgrade_head("/dead", "")).await;
    assert!(resp.starts_with("HTTP/1.1 101"), "{resp}");
    wait_until(|| log.snapshot().iter().any(|l| l.contains(" /dead "))).await;
    let l = log.snapshot();
    let close = l.iter().find(|l| l.starts_with("close")).unwrap();
    assert!(
        close.contains("no pong"),
        "closed for the heartbeat: {close}"
    );
}

#[tokio::test]
async fn graceful_shutdown_closes_clients_with_1001_and_returns() {
    let (addr, log, handle, server) = start(Server::builder()).await;
    let served = spawn(server, &log);
    let (mut ws, _) = within(wsx::connect(&url(addr, "/"))).await.unwrap();
    next_text(&mut ws).await;
    handle.shutdown();
    match within(ws.recv()).await {
        Some(Ok(Message::Close(Some(f)))) => assert_eq!(f.code, CloseCode::GOING_AWAY),
        other => panic!("{other:?}"),
    }
    while within(ws.recv()).await.is_some() {}
    within(served).await.unwrap().unwrap();
    assert!(log.snapshot().iter().any(|l| l.starts_with("close")));
}

#[tokio::test]
async fn max_connections_counts_event_driven_connections_until_they_end() {
    let (addr, log, _h, server) = start(Server::builder().max_connections(1)).await;
    spawn(server, &log);
    let (mut a, _) = within(wsx::connect(&url(addr, "/"))).await.unwrap();
    next_text(&mut a).await;
    let refused = within(wsx::connect(&url(addr, "/"))).await.unwrap_err();
    assert!(wsx::is_refused(&refused, 503), "{refused}");
    a.close(CloseCode::NORMAL, "").await.unwrap();
    while within(a.recv()).await.is_some() {}
    // The slot is given back when the connection ends.
    within(async {
        loop {
            if let Ok((mut b, _)) = wsx::connect(&url(addr, "/")).await {
                next_text(&mut b).await;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}
