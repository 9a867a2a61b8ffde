//! `wsx serve --redis`: several `wsx serve` processes on one Redis share the chat's rooms,
//! presence, history and live comments, between raw WebSocket (`/chat`) and Socket.IO
//! members; a process that dies leaves the others' presence within the TTL; Redis going away
//! and coming back shows in `/metrics` while local delivery goes on; the streams adapter on
//! one Redis and the sharded adapter on a 3-node Redis Cluster share the chat too.
//!
//! `redis-server` (Debian's package) is installed by `interop/setup.sh`; without it these
//! tests fail, they never skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wsx::{ClientBuilder, Message};

/// Deadline of every single wait.
const T: Duration = Duration::from_secs(10);

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + T;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `redis-server` on 127.0.0.1 (a free port), without persistence.
struct Redis {
    child: Option<Kill>,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let mut r = Redis {
            child: None,
            port: free_port(),
        };
        r.restart();
        r
    }

    fn restart(&mut self) {
        let bin = "/usr/bin/redis-server";
        assert!(
            std::path::Path::new(bin).exists(),
            "{bin} is missing: run interop/setup.sh first (it installs Debian's redis-server)"
        );
        let child = Command::new(bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(Kill(child));
        wait_port(self.port, "redis-server");
    }

    fn stop(&mut self) {
        self.child = None;
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

/// A 3-node Redis Cluster on 127.0.0.1 (for the sharded adapter), its files in a temporary
/// directory.
struct RedisCluster {
    _nodes: Vec<Kill>,
    ports: Vec<u16>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    fn start() -> RedisCluster {
        let dir = tempfile::tempdir().unwrap();
        let (mut nodes, mut ports) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let (port, bus) = (free_port(), free_port());
            let child = Command::new("/usr/bin/redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-port", &bus.to_string()])
                .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
                .args(["--cluster-node-timeout", "2000"])
                .arg("--dir")
                .arg(dir.path())
                .args(["--save", "", "--appendonly", "no"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            nodes.push(Kill(child));
            wait_port(port, "a cluster redis-server");
            ports.push(port);
        }
        let out = Command::new("/usr/bin/redis-cli")
            .args(["--cluster", "create"])
            .args(ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let deadline = Instant::now() + T;
        for port in &ports {
            loop {
                let out = Command::new("/usr/bin/redis-cli")
                    .args(["-p", &port.to_string(), "cluster", "info"])
                    .output()
                    .unwrap();
                let info = String::from_utf8_lossy(&out.stdout);
                if info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the Redis Cluster is not ok: {info}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        RedisCluster {
            _nodes: nodes,
            ports,
            _dir: dir,
        }
    }
}

/// A `wsx serve --redis` process.
struct Serve {
    child: Kill,
    port: u16,
    _data: tempfile::TempDir,
}

fn serve(redis: &Redis, extra: &[&str]) -> Serve {
    serve_on(&redis.url(), extra)
}

fn serve_on(redis_url: &str, extra: &[&str]) -> Serve {
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_wsx"))
        .args(["serve", "--log", "warn", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data.path())
        .args(["--redis", redis_url])
        .args(extra)
        .args(if extra.contains(&"--redis-presence-ttl") {
            &[][..]
        } else {
            &["--redis-presence-ttl", "2s"][..]
        })
        .stdout(Stdio::null())
        // WSX_TEST_LOG=1 shows the processes' warnings (Redis outages are logged).
        .stderr(if std::env::var_os("WSX_TEST_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .unwrap();
    wait_port(port, "wsx serve");
    Serve {
        child: Kill(child),
        port,
        _data: data,
    }
}

impl Serve {
    /// Kills the process at once (SIGKILL): it says goodbye to nobody.
    fn kill(&mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
    }
}

/// `/metrics` of a process.
fn metrics(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    buf
}

/// Waits until `/metrics` of `port` contains every one of `lines`.
async fn wait_metrics(port: u16, lines: &[&str]) -> String {
    let deadline = Instant::now() + T;
    loop {
        let m = metrics(port);
        if lines.iter().all(|l| m.contains(l)) {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "/metrics never showed {lines:?}:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
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

    /// Nothing but presence updates arrives within `d`.
    async fn no_message(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(v) = tokio::time::timeout_at(deadline, self.next()).await {
            assert_eq!(v["type"], "presence", "unexpected {v}");
        }
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
    let redis = Redis::start();
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
        m.no_message(Duration::from_millis(300)).await;
    }

    // Another room on B does not hear the lobby; a late joiner gets the shared history.
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
    assert_eq!(history.len(), 22, "{history:?}");
    let from_ada: Vec<&str> = history
        .iter()
        .copied()
        .filter(|h| h.starts_with("ada"))
        .collect();
    let want: Vec<String> = (0..20).map(|i| format!("ada {i}")).collect();
    assert_eq!(from_ada, want);
    ada.presence(&["ada", "bob", "cy", "eve"]).await;
    dee.no_message(Duration::from_millis(200)).await;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_stops_gracefully_takes_its_members_out_at_once() {
    let redis = Redis::start();
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
    let status = Command::new("kill")
        .args(["-INT", &b.child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    ada.presence(&["ada"]).await;
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "{:?}",
        stopped.elapsed()
    );
    // The history of the room survives B.
    ada.say("still here").await;
    let mut dee = Member::ws(a.port).await;
    let joined = dee.join("g", "dee").await;
    assert_eq!(joined["history"][0]["text"], "still here");
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_shows_in_metrics_and_local_delivery_goes_on() {
    let mut redis = Redis::start();
    let a = serve(&redis, &[]);
    let b = serve(&redis, &[]);
    let mut ada = Member::ws(a.port).await;
    ada.join("r", "ada").await;
    let mut bob = Member::ws(b.port).await;
    bob.join("r", "bob").await;
    ada.presence(&["ada", "bob"]).await;

    redis.stop();
    wait_metrics(a.port, &["wsx_redis_connected{part=\"chat\"} 0"]).await;
    // A's own members still talk.
    let mut ann = Member::sio(a.port).await;
    ann.join("r", "ann").await;
    ada.say("during").await;
    assert_eq!(ada.message().await["text"], "during");
    assert_eq!(ann.message().await["text"], "during");

    redis.restart();
    let m = wait_metrics(
        a.port,
        &[
            "wsx_redis_connected{part=\"chat\"} 1",
            "wsx_redis_connected{part=\"classic\"} 1",
        ],
    )
    .await;
    assert!(
        !m.contains("wsx_redis_reconnects_total{part=\"chat\"} 0"),
        "{m}"
    );
    // Both processes write their members again (Redis came back empty) and messages cross.
    ada.presence(&["ada", "ann", "bob"]).await;
    let deadline = Instant::now() + T;
    let mut i = 0;
    loop {
        ada.say(&format!("after {i}")).await;
        // ("during" may come late: A's publisher may still hold it when Redis is back.)
        let after = bob.next_where(|v| {
            v["type"] == "message" && v["text"].as_str().is_some_and(|t| t.starts_with("after"))
        });
        if tokio::time::timeout(Duration::from_millis(500), after)
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "messages do not cross after the outage"
        );
        i += 1;
    }
    // The other way (B's adapter to A's Socket.IO member) too.
    let deadline = Instant::now() + T;
    loop {
        bob.say("bob again").await;
        let seen = tokio::time::timeout(
            Duration::from_millis(500),
            ann.next_where(|v| v["text"] == "bob again"),
        )
        .await;
        if seen.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "messages do not cross after the outage"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_streams_adapter_shares_the_chat_too() {
    let redis = Redis::start();
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
        m.no_message(Duration::from_millis(300)).await;
    }
    wait_metrics(a.port, &["wsx_redis_connected{part=\"streams\"} 1"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sharded_adapter_shares_the_chat_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
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
    // The adapter's room channel is subscribed on B once bob joined; wait for it to carry.
    let deadline = Instant::now() + T;
    let mut i = 0;
    loop {
        ada.say(&format!("probe {i}")).await;
        let crossed = tokio::time::timeout(
            Duration::from_millis(500),
            bob.next_where(|v| v["type"] == "message"),
        )
        .await;
        if crossed.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "nothing crosses");
        i += 1;
    }
    while tokio::time::timeout(Duration::from_millis(300), bob.next())
        .await
        .is_ok()
    {}
    cy.say("from cy").await;
    for m in [&mut ada, &mut bob] {
        let v = m.next_where(|v| v["text"] == "from cy").await;
        assert_eq!(v["nick"], "cy");
    }
    wait_metrics(a.port, &["wsx_redis_connected{part=\"sharded\"} 1"]).await;
}

#[test]
fn unreachable_redis_and_a_sharded_adapter_without_a_cluster_fail_clearly() {
    let port = free_port();
    let out = Command::new(env!("CARGO_BIN_EXE_wsx"))
        .args(["serve", "--listen", "127.0.0.1:0", "--redis"])
        .arg(format!("redis://127.0.0.1:{port}/"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--redis redis://127.0.0.1:"), "{err}");

    let redis = Redis::start();
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
    let mut redis = Redis::start();
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
    redis.restart();
    all.extend(yjs_type(&mut ca, "a-after", 20).await);
    all.extend(yjs_type(&mut cb, "b-after", 20).await);
    let ta = yjs_wait_all(&mut ca, &all).await;
    let tb = yjs_wait_all(&mut cb, &all).await;
    assert_eq!(ta, tb, "both processes' clients converge");
}
