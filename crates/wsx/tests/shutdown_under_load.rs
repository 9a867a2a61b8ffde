//! A graceful shutdown under load: clients pipeline echoes and a broadcast burst is in flight
//! when the server is told to shut down; every message the server accepted (its handler got
//! it) is answered or delivered before the 1001 close that ends each connection, with both
//! ways of serving (a task per connection, the callback driver).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use wsx::{CloseCode, Connected, Hub, Message, Server, ShutdownHandle};

/// Connections that pipeline echoes, and receivers of the broadcast burst.
const ECHOERS: usize = 4;
const RECEIVERS: usize = 4;
/// Messages each writer sends at most (it stops at the close).
const MAX_SENT: usize = 200_000;
/// What every echoer and receiver has got before the shutdown starts.
const BEFORE: usize = 200;

/// What the server's handlers accepted: echoes answered or to answer, broadcasts published.
#[derive(Default)]
struct Accepted {
    echoes: AtomicU64,
    broadcasts: AtomicU64,
}

/// A server whose `/echo` connections echo each message, whose `/say` connection publishes
/// each message to the `/listen` connections (topic "room").
async fn start(
    events: bool,
) -> (
    SocketAddr,
    ShutdownHandle,
    Hub,
    Arc<Accepted>,
    tokio::task::JoinHandle<wsx::Result<()>>,
) {
    let server = Server::builder()
        .shutdown_timeout(Duration::from_secs(10))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let sh = server.shutdown_handle();
    let hub = server.hub();
    let accepted = Arc::new(Accepted::default());
    let task = if events {
        tokio::spawn(server.serve_events(Events {
            hub: hub.clone(),
            accepted: accepted.clone(),
        }))
    } else {
        let (hub, accepted) = (hub.clone(), accepted.clone());
        tokio::spawn(server.serve(move |mut c: Connected| {
            let (hub, accepted) = (hub.clone(), accepted.clone());
            async move {
                let path = c.request.uri().path().to_owned();
                if path == "/listen" {
                    hub.subscribe(c.id, "room");
                }
                while let Some(Ok(m)) = c.ws.recv().await {
                    if !m.is_data() {
                        continue;
                    }
                    match path.as_str() {
                        "/echo" => {
                            accepted.echoes.fetch_add(1, Ordering::Relaxed);
                            if c.ws.send(m).await.is_err() {
                                break;
                            }
                        }
                        "/say" => {
                            accepted.broadcasts.fetch_add(1, Ordering::Relaxed);
                            hub.publish("room", &m);
                        }
                        _ => {}
                    }
                }
            }
        }))
    };
    (addr, sh, hub, accepted, task)
}

/// The same handlers as callbacks.
struct Events {
    hub: Hub,
    accepted: Arc<Accepted>,
}

impl wsx::Handler for Events {
    type State = String;

    fn open(&self, conn: &wsx::Conn<'_>, request: &http::Request<()>) -> String {
        let path = request.uri().path().to_owned();
        if path == "/listen" {
            self.hub.subscribe(conn.id(), "room");
        }
        path
    }

    fn message(&self, path: &mut String, conn: &wsx::Conn<'_>, msg: Message) {
        if !msg.is_data() {
            return;
        }
        match path.as_str() {
            "/echo" => {
                self.accepted.echoes.fetch_add(1, Ordering::Relaxed);
                conn.send(msg);
            }
            "/say" => {
                self.accepted.broadcasts.fetch_add(1, Ordering::Relaxed);
                self.hub.publish("room", &msg);
            }
            _ => {}
        }
    }
}

/// What a client got: the texts, and the close code that ended them (`None`: no close frame).
struct Got {
    texts: Vec<String>,
    close: Option<CloseCode>,
}

/// Connects to `path`; if `tag` is given, sends `tag0`, `tag1`, … as fast as the connection
/// takes them until it closes (at most [`MAX_SENT`]). Reads everything until the connection
/// ends; `progress` counts the texts read.
async fn client(
    addr: SocketAddr,
    path: &str,
    tag: Option<&'static str>,
    progress: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<Got> {
    let (ws, _) = within(wsx::connect(&url(addr, path))).await.unwrap();
    let (mut read, mut write) = ws.split();
    if let Some(tag) = tag {
        tokio::spawn(async move {
            for i in 0..MAX_SENT {
                if write
                    .send(Message::text(format!("{tag}{i}")))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
    tokio::spawn(async move {
        let mut got = Got {
            texts: Vec::new(),
            close: None,
        };
        loop {
            match within(read.recv()).await {
                Some(Ok(Message::Text(t))) => {
                    assert!(got.close.is_none(), "a message after the close frame: {t}");
                    got.texts.push(t.to_string());
                    progress.fetch_add(1, Ordering::Relaxed);
                }
                Some(Ok(Message::Close(f))) => got.close = f.map(|f| f.code),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return got,
            }
        }
    })
}

/// `tag0`, `tag1`, … `tag{n-1}`.
fn numbered(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{tag}{i}")).collect()
}

async fn shutdown_under_load(events: bool) {
    let (addr, sh, hub, accepted, server) = start(events).await;
    let mut echoers = Vec::new();
    let mut receivers = Vec::new();
    let progress: Vec<Arc<AtomicU64>> = (0..ECHOERS + RECEIVERS).map(|_| Arc::default()).collect();
    for p in &progress[ECHOERS..] {
        receivers.push(client(addr, "/listen", None, p.clone()).await);
    }
    wait_until(|| hub.subscribers("room") == RECEIVERS).await;
    let sayer = client(addr, "/say", Some("b"), Arc::default()).await;
    const TAGS: [&str; ECHOERS] = ["e0-", "e1-", "e2-", "e3-"];
    for (tag, p) in TAGS.iter().zip(&progress) {
        echoers.push(client(addr, "/echo", Some(tag), p.clone()).await);
    }
    // Everyone is getting messages, and more are in flight: shut down.
    wait_until(|| {
        progress
            .iter()
            .all(|p| p.load(Ordering::Relaxed) >= BEFORE as u64)
    })
    .await;
    let signalled = Instant::now();
    sh.shutdown();
    within(server).await.unwrap().unwrap();
    let took = signalled.elapsed();
    // The closing handshakes complete: none is cut by the close timeout (5 s).
    assert!(took < Duration::from_secs(5), "the shutdown took {took:?}");

    let mut answered = 0;
    for (tag, e) in TAGS.iter().zip(echoers) {
        let got = within(e).await.unwrap();
        assert_eq!(got.close, Some(CloseCode::GOING_AWAY), "echoer {tag}");
        assert!(
            got.texts == numbered(tag, got.texts.len()),
            "echoer {tag}: the echoes are not its first messages in order"
        );
        answered += got.texts.len() as u64;
    }
    assert_eq!(
        answered,
        accepted.echoes.load(Ordering::Relaxed),
        "every echo accepted is answered before the close"
    );
    let published = accepted.broadcasts.load(Ordering::Relaxed) as usize;
    for (i, r) in receivers.into_iter().enumerate() {
        let got = within(r).await.unwrap();
        assert_eq!(got.close, Some(CloseCode::GOING_AWAY), "receiver {i}");
        assert_eq!(
            got.texts.len(),
            published,
            "receiver {i}: every broadcast accepted before the close"
        );
        assert!(
            got.texts == numbered("b", published),
            "receiver {i}: in order"
        );
    }
    assert_eq!(
        within(sayer).await.unwrap().close,
        Some(CloseCode::GOING_AWAY)
    );
    eprintln!(
        "{}: {answered} echoes and {published} broadcasts × {RECEIVERS} accepted and delivered; shutdown took {took:?}",
        if events { "serve_events" } else { "serve" }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_message_is_answered_before_1001_with_a_task_per_connection() {
    shutdown_under_load(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_message_is_answered_before_1001_with_the_callback_driver() {
    shutdown_under_load(true).await;
}
