//! `wsx serve --redis`: several `wsx serve` processes on one Redis share the chat's rooms,
//! presence, history and live comments, between raw WebSocket (`/chat`) and Socket.IO
//! members; a process that dies leaves the others' presence within the TTL; Redis going away
//! and coming back shows in `/metrics` and loses no message; the streams adapter on
//! one Redis and the sharded adapter on a 3-node Redis Cluster share the chat too.
//!
//! `redis-server` (Debian's package) is installed by `interop/setup.sh`; without it these
//! tests fail, they never skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wsx::{ClientBuilder, Message};

/// Deadline of every single wait.
const T: Duration = Duration::from_secs(10);

mod common;

use common::{Patience, Redis, RedisClusterProcs, ServeProc, free_port};

/// A `wsx serve --redis` process.
struct Serve {
    proc: ServeProc,
    port: u16,
    _data: tempfile::TempDir,
}

fn serve(redis: &Redis, extra: &[&str]) -> Serve {
    serve_on(&redis.url(), extra)
}

fn serve_on(redis_url: &str, extra: &[&str]) -> Serve {
    let data = tempfile::tempdir().unwrap();
    let mut args: Vec<&str> = vec!["--log", "warn", "--data-dir"];
    args.push(data.path().to_str().unwrap());
    args.extend(["--redis", redis_url]);
    args.extend(extra);
    if !extra.contains(&"--redis-presence-ttl") {
        args.extend(["--redis-presence-ttl", "2s"]);
    }
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    let proc = ServeProc::start(0, &args);
    Serve {
        port: proc.port,
        proc,
        _data: data,
    }
}

impl Serve {
    /// Kills the process at once (SIGKILL): it says goodbye to nobody.
    fn kill(&mut self) {
        self.proc.child.kill();
    }
}

/// `/metrics` of a process.
fn metrics(port: u16) -> String {
    common::metrics(port)
}

/// Waits until `/metrics` of `port` contains every one of `lines` (asked again and again: the
/// process tells no one when its Redis side changes).
async fn wait_metrics(port: u16, lines: &[&str]) -> String {
    let p = Patience::new(format!("/metrics of {port} to show {lines:?}"));
    loop {
        let m = metrics(port);
        if lines.iter().all(|l| m.contains(l)) {
            return m;
        }
        p.again().await;
    }
}

type Ws = wsx::WebSocket<wsx::MaybeTlsStream>;

/// A chat member over a raw WebSocket (`/chat`) or over Socket.IO (event `chat`, spoken
/// directly on the Engine.IO websocket transport).
struct Member {
    ws: Ws,
    sio: bool,
    id: u64,
}

impl Member {
    async fn ws(port: u16) -> Member {
        let url = format!("ws://127.0.0.1:{port}/chat");
        let (ws, _) = ClientBuilder::new(&url)
            .protocol("wsx.chat.v1")
            .connect()
            .await
            .unwrap();
        Member::welcomed(ws, false).await
    }

    async fn sio(port: u16) -> Member {
        let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
        let (mut ws, _) = ClientBuilder::new(&url).connect().await.unwrap();
        let open = next_text(&mut ws).await;
        assert!(open.starts_with("0{"), "{open}");
        ws.send(Message::text("40")).await.unwrap();
        let connect = next_text(&mut ws).await;
        assert!(connect.starts_with("40{"), "{connect}");
        Member::welcomed(ws, true).await
    }

    async fn welcomed(ws: Ws, sio: bool) -> Member {
        let mut m = Member { ws, sio, id: 0 };
        let welcome = m.next().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        m.id = welcome["id"].as_u64().unwrap();
        m
    }

    async fn send(&mut self, v: Value) {
        let text = if self.sio {
            format!("42{}", json!(["chat", v]))
        } else {
            v.to_string()
        };
        self.ws.send(Message::text(text)).await.unwrap();
    }

    async fn join(&mut self, room: &str, nick: &str) -> Value {
        self.send(json!({"type": "join", "room": room, "nick": nick}))
            .await;
        let joined = self.next_where(|v| v["type"] == "joined").await;
        assert_eq!(joined["room"], room);
        joined
    }

    async fn say(&mut self, text: &str) {
        self.send(json!({"type": "say", "text": text})).await;
    }

    /// The next chat object.
    async fn next(&mut self) -> Value {
        loop {
            let t = next_text(&mut self.ws).await;
            if !self.sio {
                return serde_json::from_str(&t).unwrap();
            }
            if t == "2" {
                self.ws.send(Message::text("3")).await.unwrap();
            } else if let Some(event) = t.strip_prefix("42") {
                let v: Value = serde_json::from_str(event).unwrap();
                assert_eq!(v[0], "chat", "{t}");
                return v[1].clone();
            }
        }
    }

    /// The next chat object that `pred` accepts (others are skipped).
    async fn next_where(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let v = self.next().await;
            if pred(&v) {
                return v;
            }
        }
    }

    /// The next chat message (presence updates are skipped).
    async fn message(&mut self) -> Value {
        let m = self.next_where(|v| v["type"] != "presence").await;
        assert_eq!(m["type"], "message", "{m}");
        m
    }

    /// Waits for a presence update listing exactly `nicks`.
    async fn presence(&mut self, nicks: &[&str]) -> Value {
        self.next_where(|v| v["type"] == "presence" && nicks_of(v) == nicks)
            .await
    }

    /// The texts of the next `n` chat messages (presence updates are skipped), sorted.
    async fn texts(&mut self, n: usize) -> Vec<String> {
        let mut texts = Vec::with_capacity(n);
        for _ in 0..n {
            texts.push(self.message().await["text"].as_str().unwrap().to_owned());
        }
        texts.sort();
        texts
    }
}

async fn next_text(ws: &mut Ws) -> String {
    let m = tokio::time::timeout(T, ws.recv())
        .await
        .expect("timed out")
        .expect("closed")
        .unwrap();
    m.as_text().unwrap().to_owned()
}

fn nicks_of(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["nick"].as_str().unwrap().to_owned())
        .collect();
    n.sort();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_rooms_presence_history_and_messages() {
    let redis = Redis::start().await;
    let a = serve(&redis, &[]);
    let mut b = serve(&redis, &[]);

    // ada: WebSocket on A; bob: Socket.IO on B; cy: WebSocket on B.
    let mut ada = Member::ws(a.port).await;
    let joined = ada.join("lobby", "ada").await;
    assert_eq!(nicks_of(&joined), ["ada"]);
    let mut bob = Member::sio(b.port).await;
    let joined = bob.join("lobby", "bob").await;
    assert_eq!(nicks_of(&joined), ["ada", "bob"]);
    assert_ne!(ada.id, bob.id);
    ada.presence(&["ada", "bob"]).await;
    let mut cy = Member::ws(b.port).await;
    cy.join("lobby", "cy").await;
    ada.presence(&["ada", "bob", "cy"]).await;
    bob.presence(&["ada", "bob", "cy"]).await;

    // Each says something: everyone gets each message once, in order per sender.
    for i in 0..20 {
        ada.say(&format!("ada {i}")).await;
    }
    bob.say("bob here").await;
    cy.say("cy here").await;
    for m in [&mut ada, &mut bob, &mut cy] {
        let mut got = Vec::new();
        for _ in 0..22 {
            let v = m.message().await;
            assert_eq!(v["room"], "lobby");
            got.push(format!(
                "{}: {}",
                v["nick"].as_str().unwrap(),
                v["text"].as_str().unwrap()
            ));
        }
        let from_ada: Vec<&String> = got.iter().filter(|g| g.starts_with("ada:")).collect();
        let want: Vec<String> = (0..20).map(|i| format!("ada: ada {i}")).collect();
        assert_eq!(from_ada, want.iter().collect::<Vec<_>>());
        assert!(got.contains(&"bob: bob here".to_owned()), "{got:?}");
        assert!(got.contains(&"cy: cy here".to_owned()), "{got:?}");
    }
    // Nothing more (no message twice): a marker from each process, now that every message went
    // through, must be what comes next (a process delivers what it relays in order).
    ada.say("end-a").await;
    bob.say("end-b").await;
    for m in [&mut ada, &mut bob, &mut cy] {
        assert_eq!(m.texts(2).await, ["end-a", "end-b"]);
    }

    // Another room on B does not hear the lobby; a late joiner gets the shared history, which
    // holds every message anyone has seen (a message is stored before it is delivered).
    let mut dee = Member::sio(a.port).await;
    dee.join("other", "dee").await;
    let mut eve = Member::ws(b.port).await;
    let joined = eve.join("lobby", "eve").await;
    let history: Vec<&str> = joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["text"].as_str().unwrap())
        .collect();
    // The 22 messages and the two markers.
    assert_eq!(history.len(), 24, "{history:?}");
    assert!(
        history.contains(&"end-a") && history.contains(&"end-b"),
        "{history:?}"
    );
    let from_ada: Vec<&str> = history
        .iter()
        .copied()
        .filter(|h| h.starts_with("ada"))
        .collect();
    let want: Vec<String> = (0..20).map(|i| format!("ada {i}")).collect();
    assert_eq!(from_ada, want);
    ada.presence(&["ada", "bob", "cy", "eve"]).await;
    // A barrier through Redis from B, where eve joined: the next message dee gets is fay's.
    let mut fay = Member::ws(b.port).await;
    fay.join("other", "fay").await;
    fay.say("end-fay").await;
    assert_eq!(
        dee.message().await["text"],
        "end-fay",
        "dee hears only its room"
    );

    // Leaving is seen everywhere.
    cy.send(json!({"type": "leave"})).await;
    ada.presence(&["ada", "bob", "eve"]).await;

    // /metrics shows the Redis side of both.
    let m = wait_metrics(
        a.port,
        &[
            "wsx_redis_connected{part=\"classic\"} 1",
            "wsx_redis_connected{part=\"chat\"} 1",
            "wsx_redis_malformed_total{part=\"chat\"} 0",
        ],
    )
    .await;
    assert!(m.contains("wsx_redis_messages_published_total{part=\"chat\"}"));
    assert!(m.contains("wsx_redis_reconnects_total{part=\"classic\"} 0"));

    // B dies without a word: its members leave A's presence within the TTL (2 s) and a third.
    let killed = Instant::now();
    b.kill();
    ada.presence(&["ada"]).await;
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "{:?}",
        killed.elapsed()
    );
}

/// Messages a joiner gets from a room's history (the server's `HISTORY`).
const HISTORY: usize = 50;

/// The texts of a `joined` reply's history, oldest first.
fn history_texts(joined: &Value) -> Vec<String> {
    joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["text"].as_str().unwrap().to_owned())
        .collect()
}

/// In room `room`: ada (WebSocket on A) says `n` messages as fast as she can, and right after
/// the last one is written a member waiting on B (Socket.IO with `late_sio`) asks to join,
/// without waiting for anything. The joiner must see the end of the burst exactly once and in
/// order across its `joined` history and the live messages after it: the history is the
/// room's last messages up to some point (50 of them, or all if fewer), the live ones continue
/// from the next, to the last. Members there all along (on A, and on B over both transports)
/// get every message once, in order. Returns how many messages the history held and how many
/// came live.
async fn burst_then_late_join(
    a: u16,
    b: u16,
    room: &str,
    n: usize,
    late_sio: bool,
) -> (usize, usize) {
    let mut ada = Member::ws(a).await;
    ada.join(room, "ada").await;
    let mut bob = Member::ws(b).await;
    bob.join(room, "bob").await;
    let mut cy = Member::sio(b).await;
    cy.join(room, "cy").await;
    ada.presence(&["ada", "bob", "cy"]).await;
    let mut eve = if late_sio {
        Member::sio(b).await
    } else {
        Member::ws(b).await
    };
    let burst: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    for text in &burst {
        ada.say(text).await;
    }
    eve.send(json!({"type": "join", "room": room, "nick": "eve"}))
        .await;

    let joined = eve.next_where(|v| v["type"] == "joined").await;
    let history = history_texts(&joined);
    let mut seen = history.clone();
    while seen.last() != burst.last() {
        seen.push(eve.message().await["text"].as_str().unwrap().to_owned());
        assert!(seen.len() <= n, "more than the burst: {seen:?}");
    }
    // Where the history ends, the live messages begin.
    let next = history
        .last()
        .map_or(0, |last| burst.iter().position(|t| t == last).unwrap() + 1);
    assert_eq!(
        history.len(),
        next.min(HISTORY),
        "the history is the room's last messages up to m{next}: {history:?}"
    );
    assert_eq!(
        seen,
        burst[next - history.len()..],
        "history ({} messages) then live: a gap, a duplicate or a swap",
        history.len()
    );
    for m in [&mut ada, &mut bob, &mut cy] {
        let mut got = Vec::with_capacity(n);
        for _ in 0..n {
            got.push(m.message().await["text"].as_str().unwrap().to_owned());
        }
        assert_eq!(got, burst, "a member there all along");
    }
    // Nothing twice: the next message anyone gets is a new one.
    ada.say("end").await;
    for m in [&mut ada, &mut bob, &mut cy, &mut eve] {
        assert_eq!(m.message().await["text"], "end");
    }
    (history.len(), n - next)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_on_another_process_gets_the_history_then_the_rest_live() {
    let redis = Redis::start().await;
    let a = serve(&redis, &[]);
    let b = serve(&redis, &[]);
    for (room, late_sio) in [
        ("burst-ws", false),
        ("burst-sio", true),
        ("burst-ws-2", false),
    ] {
        let started = Instant::now();
        let (stored, live) = burst_then_late_join(a.port, b.port, room, 300, late_sio).await;
        eprintln!(
            "{room}: the late joiner got {stored} messages from the history and {live} live ({:?})",
            started.elapsed()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_stops_gracefully_takes_its_members_out_at_once() {
    let redis = Redis::start().await;
    let ttl = ["--redis-presence-ttl", "60s", "--shutdown-timeout", "1s"];
    let a = serve(&redis, &ttl);
    let b = serve(&redis, &ttl);
    let mut ada = Member::ws(a.port).await;
    ada.join("g", "ada").await;
    let mut bob = Member::sio(b.port).await;
    bob.join("g", "bob").await;
    let mut cy = Member::ws(b.port).await;
    cy.join("g", "cy").await;
    ada.presence(&["ada", "bob", "cy"]).await;
    // SIGINT, as Ctrl-C: B closes its clients, which leave, and exits.
    let stopped = Instant::now();
    b.proc.child.signal("INT");
    ada.presence(&["ada"]).await;
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "{:?}",
        stopped.elapsed()
    );
    // The history of the room survives B; what ada saw is in it.
    ada.say("still here").await;
    assert_eq!(ada.message().await["text"], "still here");
    let mut dee = Member::ws(a.port).await;
    let joined = dee.join("g", "dee").await;
    assert_eq!(joined["history"][0]["text"], "still here");
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_delivers_through_redis_what_was_accepted_before_1001() {
    let redis = Redis::start().await;
    let data = tempfile::tempdir().unwrap();
    let url = redis.url();
    let args: Vec<&OsStr> = [
        "--log",
        "info",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--redis",
        &url,
        "--shutdown-timeout",
        "10s",
    ]
    .into_iter()
    .map(OsStr::new)
    .collect();
    let mut proc = ServeProc::start(0, &args);
    // Chat messages reach even this process's members through Redis: the shutdown waits for
    // those it accepted to come back before the close.
    let outcome = common::sigterm_under_load(&proc, 2, 4).await;
    let log = tokio::task::spawn_blocking(move || {
        assert!(proc.wait_exit().success());
        proc.stderr_to_end()
    })
    .await
    .unwrap();
    let received = common::assert_all_accepted_answered(&log, &outcome);
    eprintln!(
        "{received} messages received: {:?} echoes, {} chat messages through Redis to 4 members and the sayer",
        outcome.echoed, outcome.broadcast
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_shows_in_metrics_and_loses_no_message() {
    let mut redis = Redis::start().await;
    let a = serve(&redis, &[]);
    let b = serve(&redis, &[]);
    let mut ada = Member::ws(a.port).await;
    ada.join("r", "ada").await;
    let mut bob = Member::ws(b.port).await;
    bob.join("r", "bob").await;
    ada.presence(&["ada", "bob"]).await;
    ada.say("before").await;
    assert_eq!(bob.message().await["text"], "before");
    assert_eq!(ada.message().await["text"], "before");

    redis.stop();
    wait_metrics(a.port, &["wsx_redis_connected{part=\"chat\"} 0"]).await;
    // Said while Redis is away: kept by each process, in order, until Redis takes them.
    for i in 0..5 {
        ada.say(&format!("a during {i}")).await;
        bob.say(&format!("b during {i}")).await;
    }
    wait_metrics(a.port, &["wsx_redis_chat_messages_waiting 5"]).await;
    wait_metrics(b.port, &["wsx_redis_chat_messages_waiting 5"]).await;
    // A member who joins meanwhile gets no history (there is none to read) and is a member.
    let mut ann = Member::sio(a.port).await;
    let joined = ann.join("r", "ann").await;
    assert_eq!(history_texts(&joined), Vec::<String>::new());

    // Redis comes back empty: every message said during the outage reaches every member,
    // each process's in the order said, then what is said after.
    redis.restart().await;
    let m = wait_metrics(
        a.port,
        &[
            "wsx_redis_connected{part=\"chat\"} 1",
            "wsx_redis_connected{part=\"classic\"} 1",
            "wsx_redis_chat_messages_waiting 0",
        ],
    )
    .await;
    assert!(
        !m.contains("wsx_redis_reconnects_total{part=\"chat\"} 0"),
        "{m}"
    );
    wait_metrics(b.port, &["wsx_redis_chat_messages_waiting 0"]).await;
    ada.say("a after").await;
    bob.say("b after").await;
    // Both processes also write their members again (Redis came back empty): each member
    // gets the whole list, before, among or after the messages.
    let everyone = ["ada", "ann", "bob"];
    for m in [&mut ada, &mut bob, &mut ann] {
        let mut got = Vec::new();
        let mut listed = false;
        while got.len() < 12 {
            let v = m.next().await;
            match v["type"].as_str() {
                Some("presence") => listed = nicks_of(&v) == everyone,
                Some("message") => got.push(v["text"].as_str().unwrap().to_owned()),
                _ => panic!("{v}"),
            }
        }
        if !listed {
            m.presence(&everyone).await;
        }
        for who in ["a", "b"] {
            let mine: Vec<&str> = got
                .iter()
                .map(String::as_str)
                .filter(|t| t.starts_with(who))
                .collect();
            let want: Vec<String> = (0..5)
                .map(|i| format!("{who} during {i}"))
                .chain([format!("{who} after")])
                .collect();
            assert_eq!(mine, want, "{got:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_streams_adapter_shares_the_chat_too() {
    let redis = Redis::start().await;
    let a = serve(&redis, &["--redis-adapter", "streams"]);
    let b = serve(&redis, &["--redis-adapter", "streams"]);
    let mut ada = Member::sio(a.port).await;
    ada.join("s", "ada").await;
    let mut bob = Member::sio(b.port).await;
    bob.join("s", "bob").await;
    let mut cy = Member::ws(b.port).await;
    cy.join("s", "cy").await;
    ada.presence(&["ada", "bob", "cy"]).await;
    ada.say("one").await;
    bob.say("two").await;
    for m in [&mut ada, &mut bob, &mut cy] {
        let mut got = vec![
            m.message().await["text"].clone(),
            m.message().await["text"].clone(),
        ];
        got.sort_by_key(|v| v.to_string());
        assert_eq!(got, [json!("one"), json!("two")]);
    }
    // Nothing twice: a marker from each process comes next.
    ada.say("end-a").await;
    bob.say("end-b").await;
    for m in [&mut ada, &mut bob, &mut cy] {
        assert_eq!(m.texts(2).await, ["end-a", "end-b"]);
    }
    wait_metrics(a.port, &["wsx_redis_connected{part=\"streams\"} 1"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sharded_adapter_shares_the_chat_on_a_redis_cluster() {
    let cluster = RedisClusterProcs::start().await;
    // Each process knows a different node of the cluster.
    let a = serve_on(
        &format!("redis://127.0.0.1:{}/", cluster.ports[0]),
        &["--redis-adapter", "sharded"],
    );
    let b = serve_on(
        &format!("redis://127.0.0.1:{}/", cluster.ports[1]),
        &["--redis-adapter", "sharded"],
    );
    let mut ada = Member::sio(a.port).await;
    ada.join("sh", "ada").await;
    let mut bob = Member::sio(b.port).await;
    bob.join("sh", "bob").await;
    let mut cy = Member::ws(b.port).await;
    cy.join("sh", "cy").await;
    ada.presence(&["ada", "bob", "cy"]).await;
    // A join completes once its process listens to the room's channel: ada's message reaches
    // both processes' members.
    ada.say("probe").await;
    assert_eq!(bob.message().await["text"], "probe");
    cy.say("from cy").await;
    for m in [&mut ada, &mut bob] {
        let v = m.next_where(|v| v["text"] == "from cy").await;
        assert_eq!(v["nick"], "cy");
    }
    wait_metrics(a.port, &["wsx_redis_connected{part=\"sharded\"} 1"]).await;
}

#[tokio::test]
async fn unreachable_redis_and_a_sharded_adapter_without_a_cluster_fail_clearly() {
    let port = free_port();
    let out = Command::new(env!("CARGO_BIN_EXE_wsx"))
        .args(["serve", "--listen", "127.0.0.1:0", "--redis"])
        .arg(format!("redis://127.0.0.1:{port}/"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--redis redis://127.0.0.1:"), "{err}");

    let redis = Redis::start().await;
    let out = Command::new(env!("CARGO_BIN_EXE_wsx"))
        .args(["serve", "--listen", "127.0.0.1:0", "--redis", &redis.url()])
        .args(["--redis-adapter", "sharded"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Redis Cluster"), "{err}");

    // --redis-adapter needs --redis.
    let out = Command::new(env!("CARGO_BIN_EXE_wsx"))
        .args(["serve", "--redis-adapter", "classic"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// Types `n` tokens into `c`'s text, each its own update; returns them.
async fn yjs_type(c: &mut wsx_yjs::client::YjsClient, tag: &str, n: usize) -> Vec<String> {
    use wsx_yjs::yrs::Text;
    let t = c.doc().get_or_insert_text("t");
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        let token = format!("[{tag}.{i}]");
        c.edit(|txn| t.push(txn, &token)).await.unwrap();
        tokens.push(token);
    }
    tokens
}

async fn yjs_wait_all(c: &mut wsx_yjs::client::YjsClient, tokens: &[String]) -> String {
    use wsx_yjs::yrs::{GetString, Transact};
    let t = c.doc().get_or_insert_text("t");
    tokio::time::timeout(
        Duration::from_secs(30),
        c.wait_until(|d| {
            let s = t.get_string(&d.transact());
            tokens.iter().all(|k| s.contains(k.as_str()))
        }),
    )
    .await
    .expect("every edit arrives")
    .unwrap();
    t.get_string(&c.doc().transact())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_yjs_documents_and_a_redis_restart_loses_nothing() {
    use wsx_yjs::client::YjsClient;
    let mut redis = Redis::start().await;
    let (a, b) = (serve(&redis, &[]), serve(&redis, &[]));
    let url = |s: &Serve| format!("ws://127.0.0.1:{}/yjs/shared-pad", s.port);
    let mut ca = YjsClient::connect(&url(&a)).await.unwrap();
    ca.wait_synced().await.unwrap();
    let mut cb = YjsClient::connect(&url(&b)).await.unwrap();
    cb.wait_synced().await.unwrap();
    let mut all = yjs_type(&mut ca, "a", 40).await;
    all.extend(yjs_type(&mut cb, "b", 40).await);
    yjs_wait_all(&mut ca, &all).await;
    yjs_wait_all(&mut cb, &all).await;

    // Redis restarts (empty) in the middle of the editing.
    redis.stop();
    all.extend(yjs_type(&mut ca, "a-outage", 20).await);
    all.extend(yjs_type(&mut cb, "b-outage", 20).await);
    redis.restart().await;
    all.extend(yjs_type(&mut ca, "a-after", 20).await);
    all.extend(yjs_type(&mut cb, "b-after", 20).await);
    let ta = yjs_wait_all(&mut ca, &all).await;
    let tb = yjs_wait_all(&mut cb, &all).await;
    assert_eq!(ta, tb, "both processes' clients converge");
}
