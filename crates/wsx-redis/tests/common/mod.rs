//! Harness for the cluster tests: a `redis-server` of our own on 127.0.0.1 (a free port), wsx
//! `SocketIo` nodes with the Redis adapter, Node `socket.io` nodes with
//! `@socket.io/redis-adapter` (`interop/node/sio_redis_cluster_server.js`) and `socket.io-client`
//! peers (`interop/node/sio_client.js`). The processes, the Redis servers and the
//! `socket.io-client` peer are those of the workspace's `tests-support/` (shared with
//! `wsx-socketio`'s interop tests and `wsx-cli`'s); every process is killed on drop; every
//! wait ends at an event or fails after [`T`].
//!
//! `redis-server` (Debian's package) and the npm packages are installed by
//! `interop/setup.sh`; without them these tests fail, they never skip.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../../tests-support/procs.rs"]
pub mod procs;
#[path = "../../../../tests-support/redis.rs"]
pub mod redis_procs;
#[path = "../../../../tests-support/sio_peer.rs"]
pub mod sio_peer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use wsx_redis::{RedisAdapterBuilder, RedisCluster, ShardedAdapterBuilder, ShardedCluster};
use wsx_socketio::{Config, Data, SocketIo};

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use procs::{JsonProc, Patience, T, eventually, eventually_async, interop_dir, require};
#[allow(unused_imports)]
pub use redis_procs::{Redis, RedisClusterProcs};
#[allow(unused_imports)]
pub use sio_peer::{Peer, serve};

/// `socket.io-client` in Node (several sockets, each on its own manager).
pub struct Clients(pub Peer);

impl Clients {
    pub async fn start() -> Clients {
        Clients(Peer::node().await)
    }

    /// Connects socket `id` to `/` at `base` (websocket only); returns its sid.
    pub async fn connect(&mut self, id: &str, base: &str) -> String {
        let c = self
            .0
            .connected(
                id,
                base,
                "/",
                json!({ "transports": ["websocket"] }),
                Value::Null,
            )
            .await;
        c["sid"].as_str().unwrap().to_owned()
    }

    /// Socket `id` emits "join" with `room` and waits for the server's ack.
    pub async fn join(&mut self, id: &str, room: &str) {
        self.0.emit_ack_wait(id, "join", json!([room])).await;
    }

    /// Socket `id` emits "leave" with `room` and waits for the server's ack.
    pub async fn leave(&mut self, id: &str, room: &str) {
        self.0.emit_ack_wait(id, "leave", json!([room])).await;
    }

    /// Waits until socket `id` receives `event`; returns its args.
    pub async fn event(&mut self, id: &str, event: &str) -> Value {
        self.0
            .expect(
                &format!("{id} to receive {event}"),
                sio_peer::event(id, event),
            )
            .await["args"]
            .clone()
    }

    /// Whether socket `id` has received `event` so far (without waiting: after a
    /// [`barrier`](Self::barrier), whether it ever will from what was sent before).
    pub fn received(&mut self, id: &str, event: &str) -> bool {
        self.0.inbox.seen(sio_peer::event(id, event))
    }

    /// A positive barrier for "nothing else arrived": every node of `from` broadcasts a
    /// `barrier` event to the whole namespace, and every socket of `ids` waits for each of
    /// them. What a node broadcast before reaches a socket before its barrier (one Redis
    /// connection publishes a node's messages in order, and a node writes to a socket in
    /// order), so after this whatever those broadcasts were to bring to `ids` has come.
    /// (Not so across the sharded adapter's channels, which live on different shards.)
    pub async fn barrier(&mut self, from: &[&SocketIo], ids: &[&str]) {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let tokens: Vec<String> = from
            .iter()
            .map(|io| {
                let token = format!("b{}", NEXT.fetch_add(1, Ordering::Relaxed));
                io.of("/").broadcast().emit("barrier", token.as_str());
                token
            })
            .collect();
        for id in ids {
            for token in &tokens {
                let (id2, token2) = (id.to_string(), token.clone());
                self.0
                    .expect(&format!("{id} to receive barrier {token}"), move |v| {
                        sio_peer::event(&id2, "barrier")(v) && v["args"][0] == token2.as_str()
                    })
                    .await;
            }
        }
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

/// Waits until `n` nodes listen to namespace `/` of a sharded cluster (`PUBSUB SHARDNUMSUB`
/// of its channel: the adapters give no event for another node's subscription).
pub async fn wait_sharded_nodes(cluster: &ShardedCluster, n: usize) {
    eventually_async(&format!("{n} nodes subscribed to /"), || async {
        cluster.nodes("/").await.unwrap() == n
    })
    .await;
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
    pub proc: JsonProc,
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
        require(&interop_dir().join("node_modules/@socket.io/redis-adapter/package.json"));
        let mut proc = JsonProc::node("sio_redis_cluster_server.js", args);
        let l = proc
            .expect("the Node server to listen", |v| v["ev"] == "listening")
            .await;
        let base = format!("http://127.0.0.1:{}", l["port"]);
        NodeServer { proc, base }
    }
}

/// Waits until `n` nodes listen to namespace `/` (`PUBSUB NUMSUB` of its request channel: the
/// adapters give no event for another node's subscription).
pub async fn wait_nodes(cluster: &RedisCluster, n: usize) {
    eventually_async(&format!("{n} nodes subscribed to /"), || async {
        cluster.nodes("/").await.unwrap() == n
    })
    .await;
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

    /// Waits until this node knows `n` nodes (itself included) serving `/` (counted from
    /// the heartbeats it read: no event tells).
    pub async fn wait_nodes(&self, n: usize) {
        eventually(&format!("{n} nodes known"), || self.cluster.nodes("/") == n).await;
    }
}

impl NodeServer {
    /// A Node node with `@socket.io/redis-streams-adapter` and connection state recovery
    /// (`interop/node/sio_redis_streams_server.js`).
    pub async fn start_streams(redis_url: &str) -> NodeServer {
        require(&interop_dir().join("node_modules/@socket.io/redis-streams-adapter/package.json"));
        let mut proc = JsonProc::node("sio_redis_streams_server.js", &[redis_url]);
        let l = proc
            .expect("the Node server to listen", |v| v["ev"] == "listening")
            .await;
        let base = format!("http://127.0.0.1:{}", l["port"]);
        NodeServer { proc, base }
    }

    /// Waits until this Node node counts `n` nodes (`serverCount()`, from heartbeats).
    pub async fn wait_server_count(&mut self, n: u64) {
        let p = Patience::new(format!("the Node node to count {n} nodes"));
        while self.proc.call(json!({ "op": "server_count" })).await["count"] != n {
            p.again().await;
        }
    }
}

/// What is published on the channels matching a pattern, seen from a connection of the test's
/// own. It listens with PSUBSCRIBE, which `PUBSUB NUMSUB` does not count: the nodes do not
/// take it for one of theirs.
pub struct ChannelWatch {
    rx: UnboundedReceiver<(String, Vec<u8>)>,
    task: tokio::task::JoinHandle<()>,
}

impl ChannelWatch {
    /// Watches `pattern` on the Redis at `url` (listening when this returns).
    pub async fn start(url: &str, pattern: &str) -> ChannelWatch {
        use futures_util::StreamExt;
        let client = redis::Client::open(url).unwrap();
        let mut pubsub = client.get_async_pubsub().await.unwrap();
        pubsub.psubscribe(pattern).await.unwrap();
        let (tx, rx) = unbounded_channel();
        let task = tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            while let Some(m) = messages.next().await {
                let channel = m.get_channel_name().to_owned();
                if tx.send((channel, m.get_payload_bytes().to_vec())).is_err() {
                    break;
                }
            }
        });
        ChannelWatch { rx, task }
    }

    /// Waits (at most [`T`]) for the next message whose payload, read as JSON, `pred` accepts
    /// (others are dropped); returns it.
    pub async fn next_json(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let (_, payload) = next_within(&mut self.rx, what).await;
            if let Ok(v) = serde_json::from_slice::<Value>(&payload)
                && pred(&v)
            {
                return v;
            }
        }
    }
}

impl Drop for ChannelWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}
