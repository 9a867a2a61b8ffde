//! Harness for the cluster tests: a `redis-server` of our own on 127.0.0.1 (a free port), wsx
//! `SocketIo` nodes with the Redis adapter, Node `socket.io` nodes with
//! `@socket.io/redis-adapter` (`interop/node/sio_redis_cluster_server.js`) and `socket.io-client`
//! peers (`interop/node/sio_client.js`). Every process is killed on drop; every wait is
//! bounded by [`T`].
//!
//! `redis-server` (Debian's package) and the npm packages are installed by
//! `interop/setup.sh`; without them these tests fail, they never skip.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use http::Request;
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use wsx_redis::{RedisAdapterBuilder, RedisCluster, ShardedAdapterBuilder, ShardedCluster};
use wsx_socketio::{Config, Data, SocketIo};

/// Deadline for every single wait.
pub const T: Duration = Duration::from_secs(20);

/// The `interop/` directory of the repository.
pub fn interop_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop");
    d.canonicalize().unwrap_or(d)
}

fn require(path: &Path) {
    assert!(
        path.exists(),
        "{} is missing: run interop/setup.sh first (it runs `npm ci` in interop/ and installs \
         Debian's redis-server)",
        path.display()
    );
}

/// Kills the child on drop.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `redis-server` on 127.0.0.1, without persistence, killed on drop.
pub struct Redis {
    _child: Kill,
    pub port: u16,
}

impl Redis {
    pub async fn start() -> Redis {
        for _attempt in 0..5 {
            // A free port: bind port 0, read it, let it go, hand it to redis-server.
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            if let Some(redis) = Self::start_on(port).await {
                return redis;
            }
        }
        panic!("redis-server did not start on any of 5 ports");
    }

    /// Kills the server and starts a new one on the same port (its data is gone).
    pub async fn restart(&mut self) {
        self.stop();
        let port = self.port;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(redis) = Self::start_on(port).await {
                *self = redis;
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server does not restart on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the server (until [`restart`](Self::restart)).
    pub fn stop(&mut self) {
        let _ = self._child.0.kill();
        let _ = self._child.0.wait();
    }

    async fn start_on(port: u16) -> Option<Redis> {
        let bin = Path::new("/usr/bin/redis-server");
        require(bin);
        {
            let child = Command::new(bin)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--protected-mode",
                    "yes",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("redis-server does not start");
            let mut child = Kill(child);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(_)) = child.0.try_wait() {
                    return None; // exited (the port is taken)
                }
                if ping(port).await {
                    return Some(Redis {
                        _child: child,
                        port,
                    });
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "redis-server on port {port} does not answer PING"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

async fn ping(port: u16) -> bool {
    let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}/")) else {
        return false;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return false;
    };
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .is_ok()
}

/// A stream of JSON lines from a child process, waited on with [`Lines::expect`].
pub struct Lines {
    name: String,
    rx: UnboundedReceiver<Value>,
    backlog: VecDeque<Value>,
}

impl Lines {
    /// The first line matching `pred` (others are kept, in order); fails after [`T`], or on
    /// an `error` line that `pred` does not match.
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i).unwrap();
        }
        let deadline = tokio::time::Instant::now() + T;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(v)) => {
                    if pred(&v) {
                        return v;
                    }
                    assert!(v["ev"] != "error", "{}: {v}", self.name);
                    self.backlog.push_back(v);
                }
                Ok(None) => panic!("{} exited while waiting for {what}", self.name),
                Err(_) => panic!(
                    "{}: no {what} within {T:?}; got {:?}",
                    self.name, self.backlog
                ),
            }
        }
    }

    /// The first `n` lines matching `pred`, in order (others are kept); fails after [`T`].
    pub async fn take(
        &mut self,
        what: &str,
        n: usize,
        pred: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        let mut got = Vec::with_capacity(n);
        let mut rest = VecDeque::new();
        for v in self.backlog.drain(..) {
            if got.len() < n && pred(&v) {
                got.push(v);
            } else {
                rest.push_back(v);
            }
        }
        self.backlog = rest;
        let deadline = tokio::time::Instant::now() + T;
        while got.len() < n {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(v)) => {
                    assert!(v["ev"] != "error", "{}: {v}", self.name);
                    if pred(&v) {
                        got.push(v);
                    } else {
                        self.backlog.push_back(v);
                    }
                }
                Ok(None) => panic!("{} exited while waiting for {what}", self.name),
                Err(_) => panic!("{}: {} of {n} {what} within {T:?}", self.name, got.len()),
            }
        }
        got
    }

    /// Whether a line matching `pred` arrived (without waiting).
    pub fn seen(&mut self, pred: impl Fn(&Value) -> bool) -> bool {
        while let Ok(v) = self.rx.try_recv() {
            self.backlog.push_back(v);
        }
        self.backlog.iter().any(pred)
    }
}

/// A Node script speaking JSON lines on stdin/stdout.
pub struct NodeProc {
    stdin: ChildStdin,
    pub lines: Lines,
    seq: u64,
    _child: Kill,
}

impl NodeProc {
    pub fn spawn(script: &str, args: &[&str]) -> NodeProc {
        let dir = interop_dir();
        require(&dir.join("node_modules/socket.io/package.json"));
        require(&dir.join("node_modules/@socket.io/redis-adapter/package.json"));
        require(&dir.join("node_modules/socket.io-client/package.json"));
        let mut command = Command::new("node");
        command
            .arg(dir.join("node").join(script))
            .args(args)
            .current_dir(&dir);
        Self::spawn_command(script, command)
    }

    /// Any process printing JSON lines on stdout (`name` for messages).
    pub fn spawn_command(name: &str, mut command: Command) -> NodeProc {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the process does not start");
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        let (tx, rx) = unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
        NodeProc {
            stdin,
            lines: Lines {
                name: name.to_owned(),
                rx,
                backlog: VecDeque::new(),
            },
            seq: 0,
            _child: Kill(child),
        }
    }

    /// Sends signal `sig` (`STOP`, `KILL`, …) to the process.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self._child.0.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Freezes the process (SIGSTOP) and waits until every thread of it is stopped.
    pub fn freeze(&self) {
        self.signal("STOP");
        let task_dir = format!("/proc/{}/task", self._child.0.id());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let states: Vec<String> = std::fs::read_dir(&task_dir)
                .unwrap()
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("stat")).ok())
                .map(|stat| {
                    stat.rsplit_once(") ")
                        .map(|(_, rest)| rest[..1].to_owned())
                        .unwrap_or_default()
                })
                .collect();
            if states.iter().all(|s| s == "T" || s == "t") {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the process does not stop: thread states {states:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        let _ = self._child.0.kill();
        let _ = self._child.0.wait();
    }

    pub fn send(&mut self, cmd: Value) {
        let mut line = cmd.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).unwrap();
        self.stdin.flush().unwrap();
    }

    /// Sends a command with a sequence number and waits for its `ok` answer.
    pub async fn call(&mut self, mut cmd: Value) -> Value {
        self.seq += 1;
        let seq = self.seq;
        cmd["seq"] = json!(seq);
        let what = format!("the answer to {cmd}");
        self.send(cmd);
        self.lines
            .expect(&what, move |v| v["ev"] == "ok" && v["seq"] == seq)
            .await
    }

    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.lines.expect(what, pred).await
    }
}

/// `socket.io-client` in Node (several sockets, each on its own manager).
pub struct Clients(pub NodeProc);

impl Clients {
    pub async fn start() -> Clients {
        let mut p = NodeProc::spawn("sio_client.js", &[]);
        p.expect("the client driver's ready line", |v| v["ev"] == "ready")
            .await;
        Clients(p)
    }

    /// Connects socket `id` to `/` at `base` (websocket only); returns its sid.
    pub async fn connect(&mut self, id: &str, base: &str) -> String {
        self.0.send(json!({
            "op": "connect", "id": id, "url": base, "nsp": "/",
            "opts": { "transports": ["websocket"] },
        }));
        let c = self
            .0
            .expect(&format!("{id} to connect"), |v| {
                v["ev"] == "connect" && v["id"] == id
            })
            .await;
        c["sid"].as_str().unwrap().to_owned()
    }

    /// Socket `id` emits "join" with `room` and waits for the server's ack.
    pub async fn join(&mut self, id: &str, room: &str) {
        let tag = format!("join-{id}-{room}");
        self.0.send(json!({
            "op": "emit", "id": id, "event": "join", "args": [room], "ack": true, "tag": tag,
        }));
        let a = self
            .0
            .expect(&format!("{id} to join {room}"), |v| v["tag"] == tag)
            .await;
        assert_eq!(a["ev"], "ack", "{a}");
    }

    /// Socket `id` emits "leave" with `room` and waits for the server's ack.
    pub async fn leave(&mut self, id: &str, room: &str) {
        let tag = format!("leave-{id}-{room}");
        self.0.send(json!({
            "op": "emit", "id": id, "event": "leave", "args": [room], "ack": true, "tag": tag,
        }));
        let a = self
            .0
            .expect(&format!("{id} to leave {room}"), |v| v["tag"] == tag)
            .await;
        assert_eq!(a["ev"], "ack", "{a}");
    }

    /// Waits until socket `id` receives `event`; returns its args.
    pub async fn event(&mut self, id: &str, event: &str) -> Value {
        self.0
            .expect(&format!("{id} to receive {event}"), |v| {
                v["ev"] == "event" && v["id"] == id && v["event"] == event
            })
            .await["args"]
            .clone()
    }

    /// Whether socket `id` has received `event` so far.
    pub fn received(&mut self, id: &str, event: &str) -> bool {
        self.0
            .lines
            .seen(|v| v["ev"] == "event" && v["id"] == id && v["event"] == event)
    }
}

/// A wsx node: `SocketIo` with the Redis adapter, served on 127.0.0.1.
pub struct WsxNode {
    pub io: SocketIo,
    pub cluster: RedisCluster,
    pub base: String,
    /// Server-side emits received from other nodes (event name first).
    pub server_side: UnboundedReceiver<Vec<Data>>,
}

impl WsxNode {
    pub async fn start(redis_url: &str) -> WsxNode {
        let cluster = RedisAdapterBuilder::new(redis_url)
            .requests_timeout(Duration::from_secs(3))
            .connect()
            .await
            .expect("redis");
        let c = cluster.clone();
        let io = SocketIo::new(Config::default().adapter(move |nsp| c.adapter(nsp)));
        io.ns("/", |socket| async move { room_handlers(&socket, false) });
        let server_side = server_side_handlers(&io);
        let base = serve(io.clone()).await;
        WsxNode {
            io,
            cluster,
            base,
            server_side,
        }
    }
}

/// A wsx node with the sharded adapter on a Redis Cluster, served on 127.0.0.1.
pub struct ShardedNode {
    pub io: SocketIo,
    pub cluster: ShardedCluster,
    pub base: String,
    /// Server-side emits received from other nodes (event name first).
    pub server_side: UnboundedReceiver<Vec<Data>>,
}

impl ShardedNode {
    pub async fn start(urls: &[String]) -> ShardedNode {
        Self::start_with(urls, "socket.io", wsx_redis::SubscriptionMode::Dynamic).await
    }

    /// A node with this channel prefix and subscription mode.
    pub async fn start_with(
        urls: &[String],
        prefix: &str,
        mode: wsx_redis::SubscriptionMode,
    ) -> ShardedNode {
        let cluster = ShardedAdapterBuilder::new(urls.iter().cloned())
            .channel_prefix(prefix)
            .subscription_mode(mode)
            .requests_timeout(Duration::from_secs(3))
            .connect()
            .await
            .expect("redis cluster");
        let c = cluster.clone();
        let io = SocketIo::new(Config::default().adapter(move |nsp| c.adapter(nsp)));
        io.ns("/", |socket| async move { room_handlers(&socket, false) });
        let server_side = server_side_handlers(&io);
        let base = serve(io.clone()).await;
        ShardedNode {
            io,
            cluster,
            base,
            server_side,
        }
    }

    /// Waits (bounded) for the next server-side emit this node received.
    pub async fn next_server_side(&mut self) -> Vec<Data> {
        next_within(&mut self.server_side, "server-side emit").await
    }
}

/// Waits until `n` nodes listen to namespace `/` of a sharded cluster.
pub async fn wait_sharded_nodes(cluster: &ShardedCluster, n: usize) {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let now = cluster.nodes("/").await.unwrap();
        if now == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{now} nodes subscribed, not {n}, after {T:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The server-side handlers of a wsx test node: "srv" is recorded; "srv_ack" is recorded and
/// answered with `{"node":"wsx","got":[args]}`. Returns what they record (event name first).
pub fn server_side_handlers(io: &SocketIo) -> UnboundedReceiver<Vec<Data>> {
    let (tx, server_side) = unbounded_channel();
    let tx2 = tx.clone();
    io.of("/").on_server_side_emit("srv", move |args| {
        let mut all = vec![Data::from("srv")];
        all.extend(args);
        let _ = tx.send(all);
        async {}
    });
    io.of("/")
        .on_server_side_emit_with_ack("srv_ack", move |args, ack| {
            let got: Vec<Value> = args
                .iter()
                .map(|d| match d {
                    Data::Json(v) => v.clone(),
                    other => json!(format!("{other:?}")),
                })
                .collect();
            let mut all = vec![Data::from("srv_ack")];
            all.extend(args);
            let _ = tx2.send(all);
            if let Some(ack) = ack {
                ack.send(json!({"node": "wsx", "got": got}));
            }
            async {}
        });
    server_side
}

/// A Node `socket.io` node with `@socket.io/redis-adapter`.
pub struct NodeServer {
    pub proc: NodeProc,
    pub base: String,
}

impl NodeServer {
    /// A Node node with the classic adapter on the Redis at `redis_url`.
    pub async fn start(redis_url: &str) -> NodeServer {
        Self::start_cluster_script(&["classic", redis_url]).await
    }

    /// A Node node run by `interop/node/sio_redis_cluster_server.js` (`args`: the adapter,
    /// `classic` or `sharded`, then the Redis URL(s) and the key), which also answers
    /// server-side emits with acknowledgement ("srv_ack").
    pub async fn start_cluster_script(args: &[&str]) -> NodeServer {
        let mut proc = NodeProc::spawn("sio_redis_cluster_server.js", args);
        let l = proc
            .expect("the Node server to listen", |v| v["ev"] == "listening")
            .await;
        let base = format!("http://127.0.0.1:{}", l["port"]);
        NodeServer { proc, base }
    }
}

/// Waits until `n` nodes listen to namespace `/` (`PUBSUB NUMSUB` of its request channel).
pub async fn wait_nodes(cluster: &RedisCluster, n: usize) {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let now = cluster.nodes("/").await.unwrap();
        if now == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{now} nodes subscribed, not {n}, after {T:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Serves `io` on 127.0.0.1 (an ephemeral port) until the runtime ends; returns the base URL.
pub async fn serve(io: SocketIo) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let io = io.clone();
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                        let io = io.clone();
                        async move {
                            req.extensions_mut().insert(peer);
                            Ok::<_, std::convert::Infallible>(io.handle(req).await)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

/// Waits (bounded) for the next server-side emit a wsx node received.
pub async fn next_server_side(node: &mut WsxNode) -> Vec<Data> {
    next_within(&mut node.server_side, "server-side emit").await
}

/// The next item of `rx`, waited on at most [`T`].
pub async fn next_within<V>(rx: &mut UnboundedReceiver<V>, what: &str) -> V {
    tokio::time::timeout(T, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no {what} within {T:?}"))
        .unwrap_or_else(|| panic!("the {what} channel closed"))
}

/// The test nodes' room events: "join" (room; acked "joined") and "leave" (room; acked
/// "left"); with `set_data`, "join" also sets the socket's data to `{"joined": room}`.
pub fn room_handlers(socket: &wsx_socketio::Socket, set_data: bool) {
    socket.on("join", move |s, mut e| async move {
        let room: String = e.arg(0).unwrap();
        s.join([room.clone()]);
        if set_data {
            s.set_data(json!({ "joined": room }));
        }
        e.ack("joined");
    });
    socket.on("leave", |s, mut e| async move {
        let room: String = e.arg(0).unwrap();
        s.leave(&room);
        e.ack("left");
    });
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A 3-primary Redis Cluster on 127.0.0.1 (free ports for clients and the cluster bus, no
/// replicas, no persistence but the cluster's own `nodes-P.conf`, its files in a temporary
/// directory removed on drop); every server is killed on drop.
pub struct RedisClusterProcs {
    children: Vec<Kill>,
    pub ports: Vec<u16>,
    bus_ports: Vec<u16>,
    dir: PathBuf,
}

impl Drop for RedisClusterProcs {
    fn drop(&mut self) {
        self.children.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn_cluster_node(dir: &Path, port: u16, bus: u16) -> Kill {
    let child = Command::new("/usr/bin/redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--cluster-enabled", "yes"])
        .args(["--cluster-port", &bus.to_string()])
        .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
        .args(["--cluster-node-timeout", "2000"])
        .arg("--dir")
        .arg(dir)
        .args(["--save", "", "--appendonly", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("redis-server does not start");
    Kill(child)
}

/// Waits until the server answers PING; `None` if it exited (its port is taken).
async fn wait_ping(child: &mut Kill, port: u16) -> Option<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(_)) = child.0.try_wait() {
            return None;
        }
        if ping(port).await {
            return Some(());
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "redis-server on port {port} does not answer PING"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl RedisClusterProcs {
    pub async fn start() -> RedisClusterProcs {
        require(Path::new("/usr/bin/redis-server"));
        require(Path::new("/usr/bin/redis-cli"));
        let dir = std::env::temp_dir().join(format!(
            "wsx-redis-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (mut children, mut ports, mut bus_ports) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..3 {
            let mut started = false;
            for _attempt in 0..5 {
                let (port, bus) = (free_port(), free_port());
                let mut child = spawn_cluster_node(&dir, port, bus);
                if wait_ping(&mut child, port).await.is_some() {
                    children.push(child);
                    ports.push(port);
                    bus_ports.push(bus);
                    started = true;
                    break;
                }
            }
            assert!(
                started,
                "a cluster redis-server did not start on any of 5 ports"
            );
        }
        let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let out = tokio::time::timeout(
            T,
            tokio::process::Command::new("/usr/bin/redis-cli")
                .arg("--cluster")
                .arg("create")
                .args(&addrs)
                .args(["--cluster-replicas", "0", "--cluster-yes"])
                .stdin(Stdio::null())
                .output(),
        )
        .await
        .expect("redis-cli --cluster create hangs")
        .expect("redis-cli does not run");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let procs = RedisClusterProcs {
            children,
            ports,
            bus_ports,
            dir,
        };
        procs.wait_ok().await;
        procs
    }

    /// Kills every server of the cluster (until [`restart`](Self::restart)).
    pub fn stop(&mut self) {
        for child in &mut self.children {
            let _ = child.0.kill();
            let _ = child.0.wait();
        }
    }

    /// Starts the servers again on their ports with their cluster files (their data is gone,
    /// the cluster's shape is kept) and waits until the cluster is ok.
    pub async fn restart(&mut self) {
        self.stop();
        self.children.clear();
        for (port, bus) in self.ports.clone().into_iter().zip(self.bus_ports.clone()) {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                let mut child = spawn_cluster_node(&self.dir, port, bus);
                if wait_ping(&mut child, port).await.is_some() {
                    self.children.push(child);
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "redis-server does not restart on port {port}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        self.wait_ok().await;
    }

    /// Waits until every node says `cluster_state:ok` and knows all 3 primaries.
    async fn wait_ok(&self) {
        let deadline = tokio::time::Instant::now() + T;
        for port in &self.ports {
            loop {
                if let Some(info) = cluster_info(*port).await
                    && info.contains("cluster_state:ok")
                    && info.contains("cluster_known_nodes:3")
                    && info.contains("cluster_slots_assigned:16384")
                {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the Redis Cluster on port {port} is not ok after {T:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// The nodes' URLs (`redis://127.0.0.1:P/`).
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect()
    }
}

impl RedisClusterProcs {
    /// How many clients of the whole cluster subscribe to sharded channel `channel`.
    pub async fn shard_subscribers(&self, channel: &str) -> usize {
        let mut total = 0;
        for port in &self.ports {
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let (_, n): (String, usize) = redis::cmd("PUBSUB")
                .arg("SHARDNUMSUB")
                .arg(channel)
                .query_async(&mut conn)
                .await
                .unwrap();
            total += n;
        }
        total
    }

    /// Waits until `n` clients subscribe to sharded channel `channel`.
    pub async fn wait_shard_subscribers(&self, channel: &str, n: usize) {
        let deadline = tokio::time::Instant::now() + T;
        loop {
            let now = self.shard_subscribers(channel).await;
            if now == n {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{now} subscribers of {channel}, not {n}, after {T:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn cluster_info(port: u16) -> Option<String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?;
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async::<String>(&mut conn)
        .await
        .ok()
}

/// A wsx node with the streams adapter (`@socket.io/redis-streams-adapter`) and connection
/// state recovery on, served on 127.0.0.1. Its sockets may emit "join"/"leave" (room, ack);
/// "join" also sets the socket's data to `{"joined": room}`.
pub struct StreamsNode {
    pub io: SocketIo,
    pub cluster: wsx_redis::StreamsCluster,
    pub base: String,
    /// Server-side emits received from other nodes (event name first).
    pub server_side: UnboundedReceiver<Vec<Data>>,
    /// Each connection: (socket id, whether it was recovered).
    pub connections: UnboundedReceiver<(String, bool)>,
}

impl StreamsNode {
    pub async fn start(redis_url: &str) -> StreamsNode {
        let cluster = wsx_redis::StreamsAdapterBuilder::new(redis_url)
            .requests_timeout(Duration::from_secs(3))
            .connect()
            .await
            .expect("redis");
        let c = cluster.clone();
        let io = SocketIo::new(
            Config::default()
                .adapter(move |nsp| c.adapter(nsp))
                .recovery(wsx_socketio::RecoveryConfig::default()),
        );
        let (tx, connections) = unbounded_channel();
        io.ns("/", move |socket| {
            let _ = tx.send((socket.id().to_owned(), socket.recovered()));
            async move { room_handlers(&socket, true) }
        });
        let server_side = server_side_handlers(&io);
        let base = serve(io.clone()).await;
        StreamsNode {
            io,
            cluster,
            base,
            server_side,
            connections,
        }
    }

    /// Waits (bounded) for the next server-side emit this node received.
    pub async fn next_server_side(&mut self) -> Vec<Data> {
        next_within(&mut self.server_side, "server-side emit").await
    }

    /// Waits (bounded) for the next connection: (socket id, recovered).
    pub async fn next_connection(&mut self) -> (String, bool) {
        next_within(&mut self.connections, "connection").await
    }

    /// Waits until this node knows `n` nodes (itself included) serving `/`.
    pub async fn wait_nodes(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + T;
        loop {
            let now = self.cluster.nodes("/");
            if now == n {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{now} nodes known, not {n}, after {T:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl NodeServer {
    /// A Node node with `@socket.io/redis-streams-adapter` and connection state recovery
    /// (`interop/node/sio_redis_streams_server.js`).
    pub async fn start_streams(redis_url: &str) -> NodeServer {
        require(&interop_dir().join("node_modules/@socket.io/redis-streams-adapter/package.json"));
        let mut proc = NodeProc::spawn("sio_redis_streams_server.js", &[redis_url]);
        let l = proc
            .expect("the Node server to listen", |v| v["ev"] == "listening")
            .await;
        let base = format!("http://127.0.0.1:{}", l["port"]);
        NodeServer { proc, base }
    }

    /// Waits until this Node node counts `n` nodes (`serverCount()`).
    pub async fn wait_server_count(&mut self, n: u64) {
        let deadline = tokio::time::Instant::now() + T;
        loop {
            let r = self.proc.call(json!({ "op": "server_count" })).await;
            if r["count"] == n {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the Node node counts {} nodes, not {n}, after {T:?}",
                r["count"]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
