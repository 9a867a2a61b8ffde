//! The streams adapter (`@socket.io/redis-streams-adapter` 0.2.x: one Redis stream,
//! heartbeats) with connection state recovery on, on a `redis-server` of our own on loopback:
//! two wsx nodes; a wsx node and a Node `socket.io` node with the npm adapter
//! (`interop/node/sio_redis_streams_server.js`), `socket.io-client` peers on each; a client
//! that loses its connection to one node and comes back through a switch (a TCP proxy, as a
//! load balancer would) to another, in every direction; Redis restarted during a stream of
//! broadcasts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Clients, NodeServer, Patience, Redis, StreamsNode, eventually, eventually_async};
use serde_json::{Value, json};
use wsx_socketio::Data;

/// Whether `v` is a stream entry id (`<ms>-<seq>`), the offset of a recoverable packet.
fn is_offset(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.split_once('-').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        })
    })
}

/// An event's arguments without the trailing offset (which must be there).
fn without_offset(args: &Value) -> Value {
    let mut a = args.as_array().unwrap().clone();
    let last = a.pop().unwrap();
    assert!(is_offset(&last), "no offset at the end of {args}");
    Value::Array(a)
}

fn ids(sockets: &[wsx_socketio::RemoteSocket]) -> Vec<String> {
    let mut ids: Vec<String> = sockets.iter().map(|s| s.id.clone()).collect();
    ids.sort();
    ids
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn redis_conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// How many BROADCAST entries the stream holds.
async fn stream_broadcasts(url: &str) -> usize {
    let mut conn = redis_conn(url).await;
    let v: redis::Value = redis::cmd("XRANGE")
        .arg("socket.io")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    let redis::Value::Array(entries) = v else {
        return 0;
    };
    entries
        .iter()
        .filter(|e| {
            let redis::Value::Array(pair) = e else {
                return false;
            };
            let Some(redis::Value::Array(kv)) = pair.get(1) else {
                return false;
            };
            kv.chunks(2).any(|c| {
                c[0] == redis::Value::BulkString(b"type".to_vec())
                    && c[1] == redis::Value::BulkString(b"3".to_vec())
            })
        })
        .count()
}

async fn wait_stream_broadcasts(url: &str, n: usize) {
    eventually_async(&format!("{n} broadcasts in the stream"), || async {
        stream_broadcasts(url).await >= n
    })
    .await;
}

/// The entries (id, fields) of the stream after `last`, which moves past them; waits (a
/// little, XREAD BLOCK) for new ones when there are none.
async fn next_entries(
    conn: &mut redis::aio::MultiplexedConnection,
    last: &mut String,
) -> Vec<(String, Vec<(String, String)>)> {
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("not a string: {other:?}"),
    };
    // (Under the connection's 500 ms response timeout.)
    let v: redis::Value = redis::cmd("XREAD")
        .arg("BLOCK")
        .arg(200)
        .arg("STREAMS")
        .arg("socket.io")
        .arg(last.as_str())
        .query_async(conn)
        .await
        .unwrap();
    let redis::Value::Array(streams) = v else {
        return Vec::new(); // none within the block time
    };
    let mut out = Vec::new();
    for stream in streams {
        let redis::Value::Array(key_entries) = stream else {
            panic!("{stream:?}");
        };
        let Some(redis::Value::Array(entries)) = key_entries.get(1) else {
            panic!("{key_entries:?}");
        };
        for entry in entries {
            let redis::Value::Array(pair) = entry else {
                panic!("{entry:?}");
            };
            let id = text(&pair[0]);
            let redis::Value::Array(kv) = &pair[1] else {
                panic!("{pair:?}");
            };
            let fields = kv.chunks(2).map(|c| (text(&c[0]), text(&c[1]))).collect();
            *last = id.clone();
            out.push((id, fields));
        }
    }
    out
}

/// The keys of the persisted sessions.
async fn session_keys(url: &str) -> Vec<String> {
    let mut conn = redis_conn(url).await;
    redis::cmd("KEYS")
        .arg("sio:session:*")
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// Waits until a session is persisted (the node saw its client's connection drop).
async fn wait_session_kept(url: &str) {
    eventually_async("the session to be persisted", || async {
        !session_keys(url).await.is_empty()
    })
    .await;
}

/// A TCP switch in front of the nodes, as a load balancer: forwards new connections to the
/// current target (or closes them when there is none) and can cut the open ones.
struct Switch {
    target: Arc<Mutex<Option<SocketAddr>>>,
    open: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    base: String,
}

impl Switch {
    async fn start(target: &str) -> Switch {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let target = Arc::new(Mutex::new(Some(addr(target))));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (t, o) = (target.clone(), open.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let to = *t.lock().unwrap();
                let Some(to) = to else {
                    drop(inbound);
                    continue;
                };
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                        let _ = inbound.set_nodelay(true);
                        let _ = outbound.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                o.lock().unwrap().push(task.abort_handle());
            }
        });
        Switch { target, open, base }
    }

    /// Closes every open connection and refuses new ones until [`to`](Self::to).
    fn cut(&self) {
        *self.target.lock().unwrap() = None;
        for task in self.open.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// New connections go to `base`.
    fn to(&self, base: &str) {
        *self.target.lock().unwrap() = Some(addr(base));
    }
}

fn addr(base: &str) -> SocketAddr {
    base.trim_start_matches("http://").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wsx_nodes_share_broadcasts_rooms_fetch_sockets_and_server_side_emits() {
    let redis = Redis::start().await;
    let a = StreamsNode::start(&redis.url()).await;
    let mut b = StreamsNode::start(&redis.url()).await;
    a.wait_nodes(2).await;
    b.wait_nodes(2).await;
    let mut c = Clients::start().await;
    let a1 = c.connect("a1", &a.base).await;
    let b1 = c.connect("b1", &b.base).await;
    let b2 = c.connect("b2", &b.base).await;
    c.join("b1", "news").await;

    // A room broadcast reaches the other node's member only, offset appended (recovery on).
    a.io.to(["news"]).emit("news", json!({"n": 1, "pi": 3.5}));
    let args = c.event("b1", "news").await;
    assert_eq!(without_offset(&args), json!([{"n": 1, "pi": 3.5}]));

    // Namespace-wide, with binary (base64 msgpack in the stream) and an exception.
    b.io.except(["news"]).emit(
        "all",
        vec![Data::from("x"), Data::Binary(vec![1u8, 2, 3].into())],
    );
    assert_eq!(
        without_offset(&c.event("a1", "all").await),
        json!(["x", {"$bin": "010203"}])
    );
    without_offset(&c.event("b2", "all").await);

    // fetchSockets across nodes (rooms and data), from either side.
    let all = a.io.of("/").broadcast().fetch_sockets().await;
    assert_eq!(ids(&all), sorted(vec![a1.clone(), b1.clone(), b2.clone()]));
    let in_room = a.io.to(["news"]).fetch_sockets().await;
    assert_eq!(ids(&in_room), vec![b1.clone()]);
    assert!(in_room[0].rooms.contains(&"news".to_owned()));
    assert_eq!(in_room[0].data, json!({"joined": "news"}));

    // socketsJoin / socketsLeave across nodes.
    a.io.to([b2.as_str()]).sockets_join(["vip"]);
    eventually("the remote join", || {
        b.io.of("/")
            .get_socket(&b2)
            .is_some_and(|s| s.rooms().contains(&"vip".to_owned()))
    })
    .await;
    a.io.to(["vip"]).emit("vip", "welcome");
    assert_eq!(
        without_offset(&c.event("b2", "vip").await),
        json!(["welcome"])
    );
    a.io.to(["vip"]).sockets_leave(["vip"]);
    eventually("the remote leave", || {
        b.io.of("/")
            .get_socket(&b2)
            .is_some_and(|s| !s.rooms().contains(&"vip".to_owned()))
    })
    .await;

    // serverSideEmit, with and without acknowledgement.
    a.io.of("/").server_side_emit("srv", json!({"from": "a"}));
    assert_eq!(
        b.next_server_side().await,
        vec![Data::from("srv"), Data::Json(json!({"from": "a"}))]
    );
    let acks = a.io.of("/").server_side_emit_with_ack("srv_ack", 7).await;
    assert!(!acks.timed_out(), "{acks:?}");
    assert_eq!(acks.expected, 1);
    assert_eq!(
        acks.answers,
        vec![Data::Json(json!({"node": "wsx", "got": [7]}))]
    );
    b.next_server_side().await;

    // A broadcast with acknowledgements gathers the other node's clients' answers.
    c.0.send(json!({"op": "auto_ack", "id": "b1", "event": "ask", "reply": ["yes-b1"]}));
    let answers =
        a.io.to(["news"])
            .timeout(Duration::from_secs(3))
            .emit_with_ack("ask", 1)
            .await;
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(
        answers[0].result.as_ref().unwrap(),
        &vec![Data::from("yes-b1")]
    );

    // disconnectSockets across nodes.
    a.io.to(["news"]).disconnect_sockets(false);
    let d =
        c.0.expect("b1 to be disconnected", |v| {
            v["ev"] == "disconnect" && v["id"] == "b1"
        })
        .await;
    assert_eq!(d["reason"], "io server disconnect");
    assert!(!c.received("a1", "news") && !c.received("b2", "news"));
    assert!(!c.received("b1", "all"), "b1 is in the excepted room");
    // Each node's entries went through the one stream.
    assert!(stream_broadcasts(&redis.url()).await >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wsx_and_node_nodes_serve_each_others_clients() {
    let redis = Redis::start().await;
    let mut w = StreamsNode::start(&redis.url()).await;
    let mut n = NodeServer::start_streams(&redis.url()).await;
    w.wait_nodes(2).await;
    n.wait_server_count(2).await;
    let mut c = Clients::start().await;
    let w1 = c.connect("w1", &w.base).await;
    let n1 = c.connect("n1", &n.base).await;
    c.join("w1", "news").await;
    c.join("n1", "news").await;
    c.join("n1", "nodeonly").await;

    // Broadcasts both ways: rooms, binary, exceptions; the offset is the same stream id on
    // both nodes.
    w.io.to(["news"]).emit("from_wsx", json!({"k": [1, 2]}));
    let on_n = c.event("n1", "from_wsx").await;
    let on_w = c.event("w1", "from_wsx").await;
    assert_eq!(without_offset(&on_n), json!([{"k": [1, 2]}]));
    assert_eq!(on_n, on_w, "one offset for every receiver");
    n.proc
        .call(
            json!({"op": "broadcast", "rooms": ["news"], "event": "from_node",
                     "args": ["hi", {"$bin": "0a0b"}]}),
        )
        .await;
    let on_w = c.event("w1", "from_node").await;
    assert_eq!(without_offset(&on_w), json!(["hi", {"$bin": "0a0b"}]));
    assert_eq!(c.event("n1", "from_node").await, on_w);
    n.proc
        .call(json!({"op": "broadcast", "except": ["nodeonly"], "event": "exc", "args": [1]}))
        .await;
    without_offset(&c.event("w1", "exc").await);
    w.io.to(["nodeonly"]).emit("only", 2);
    without_offset(&c.event("n1", "only").await);

    // fetchSockets both ways.
    let fetched = w.io.of("/").broadcast().fetch_sockets().await;
    assert_eq!(ids(&fetched), sorted(vec![w1.clone(), n1.clone()]));
    let remote = fetched.iter().find(|s| s.id == n1).unwrap();
    assert!(remote.rooms.contains(&"nodeonly".to_owned()), "{remote:?}");
    assert_eq!(remote.data, json!({"joined": "nodeonly"}));
    let r = n
        .proc
        .call(json!({"op": "fetch_sockets", "rooms": ["news"]}))
        .await;
    let mut got: Vec<String> = r["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    got.sort();
    assert_eq!(got, sorted(vec![w1.clone(), n1.clone()]));
    let from_w = r["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == w1)
        .unwrap()
        .clone();
    assert_eq!(from_w["data"], json!({"joined": "news"}));

    // serverSideEmit both ways, with and without acknowledgement.
    w.io.of("/").server_side_emit("srv", "from wsx");
    let s = n
        .proc
        .expect("Node's server-side handler", |v| v["ev"] == "server_side")
        .await;
    assert_eq!(s["args"], json!(["from wsx"]));
    n.proc
        .call(json!({"op": "server_side_emit", "event": "srv", "args": ["from node", 2]}))
        .await;
    assert_eq!(
        w.next_server_side().await,
        vec![Data::from("srv"), Data::from("from node"), Data::from(2)]
    );
    let acks = w.io.of("/").server_side_emit_with_ack("srv_ack", "q").await;
    assert_eq!(
        acks.answers,
        vec![Data::Json(json!({"node": "node", "got": ["q"]}))]
    );
    let r = n
        .proc
        .call(json!({"op": "server_side_emit_ack", "event": "srv_ack", "args": ["q2"]}))
        .await;
    assert_eq!(
        r["responses"],
        json!([{"node": "wsx", "got": ["q2"]}]),
        "{r}"
    );
    w.next_server_side().await;

    // socketsJoin both ways.
    w.io.to([n1.as_str()]).sockets_join(["joined_by_wsx"]);
    until_node_room(&mut n, &n1, "joined_by_wsx").await;
    n.proc
        .call(json!({"op": "sockets_join", "rooms": [w1], "join": ["joined_by_node"]}))
        .await;
    eventually("Node's remote join", || {
        w.io.of("/")
            .get_socket(&w1)
            .is_some_and(|s| s.rooms().contains(&"joined_by_node".to_owned()))
    })
    .await;

    // Broadcasts with acknowledgements both ways.
    c.0.send(json!({"op": "auto_ack", "id": "n1", "event": "ask", "reply": ["n1-yes"]}));
    c.0.send(json!({"op": "auto_ack", "id": "w1", "event": "ask", "reply": ["w1-yes"]}));
    let answers =
        w.io.to(["news"])
            .timeout(Duration::from_secs(3))
            .emit_with_ack("ask", 1)
            .await;
    let mut got: Vec<String> = answers
        .iter()
        .map(|a| match &a.result.as_ref().unwrap()[0] {
            Data::Json(Value::String(s)) => s.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    got.sort();
    assert_eq!(got, vec!["n1-yes", "w1-yes"]);
    let r = n
        .proc
        .call(json!({"op": "broadcast_ack", "rooms": ["news"], "event": "ask", "args": [2]}))
        .await;
    let mut got: Vec<String> = r["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    got.sort();
    assert_eq!(got, vec!["n1-yes", "w1-yes"], "{r}");

    // disconnectSockets from Node reaches the wsx node's client.
    n.proc
        .call(json!({"op": "disconnect_sockets", "rooms": [w1], "close": false}))
        .await;
    c.0.expect("w1 to be disconnected", |v| {
        v["ev"] == "disconnect" && v["id"] == "w1"
    })
    .await;
}

/// Waits until the Node node's socket `sid` is in `room`.
async fn until_node_room(n: &mut NodeServer, sid: &str, room: &str) {
    let p = Patience::new(format!("{sid} in {room} on the Node node"));
    loop {
        let r = n
            .proc
            .call(json!({"op": "fetch_sockets", "rooms": [room]}))
            .await;
        if r["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == sid)
        {
            return;
        }
        p.again().await;
    }
}

/// One side of a recovery test.
enum Side {
    Wsx(StreamsNode),
    Node(NodeServer),
}

impl Side {
    async fn start(wsx: bool, url: &str) -> Side {
        if wsx {
            Side::Wsx(StreamsNode::start(url).await)
        } else {
            Side::Node(NodeServer::start_streams(url).await)
        }
    }

    fn base(&self) -> &str {
        match self {
            Side::Wsx(w) => &w.base,
            Side::Node(n) => &n.base,
        }
    }

    async fn wait_nodes(&mut self, count: usize) {
        match self {
            Side::Wsx(w) => w.wait_nodes(count).await,
            Side::Node(n) => n.wait_server_count(count as u64).await,
        }
    }

    async fn broadcast(&mut self, rooms: &[&str], event: &str, arg: i64) {
        match self {
            Side::Wsx(w) => {
                let op = if rooms.is_empty() {
                    w.io.of("/").broadcast()
                } else {
                    w.io.to(rooms.iter().copied())
                };
                assert!(op.emit(event, arg));
            }
            Side::Node(n) => {
                n.proc
                    .call(json!({"op": "broadcast", "rooms": rooms, "event": event, "args": [arg]}))
                    .await;
            }
        }
    }

    /// Broadcasts `event` with `[n, <bytes of hex>]`.
    async fn broadcast_binary(&mut self, rooms: &[&str], event: &str, n: i64, hex: &str) {
        match self {
            Side::Wsx(w) => {
                let bytes: Vec<u8> = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect();
                assert!(
                    w.io.to(rooms.iter().copied())
                        .emit(event, vec![Data::from(n), Data::Binary(bytes.into())])
                );
            }
            Side::Node(n_) => {
                n_.proc
                    .call(json!({"op": "broadcast", "rooms": rooms, "event": event,
                                 "args": [n, {"$bin": hex}]}))
                    .await;
            }
        }
    }

    /// The connection of `sid` on this node: whether it was recovered.
    async fn connection(&mut self, sid: &str) -> bool {
        match self {
            Side::Wsx(w) => loop {
                let (id, recovered) = w.next_connection().await;
                if id == sid {
                    return recovered;
                }
            },
            Side::Node(n) => {
                let c = n
                    .proc
                    .expect("the connection on the Node node", |v| {
                        v["ev"] == "connection" && v["sid"] == sid
                    })
                    .await;
                c["recovered"].as_bool().unwrap()
            }
        }
    }

    /// The socket `sid` as this node's fetchSockets of room `room` sees it (rooms, data).
    async fn fetch(&mut self, room: &str, sid: &str) -> Option<(Vec<String>, Value)> {
        match self {
            Side::Wsx(w) => {
                w.io.to([room])
                    .local()
                    .fetch_sockets()
                    .await
                    .into_iter()
                    .find(|s| s.id == sid)
                    .map(|s| (sorted(s.rooms), s.data))
            }
            Side::Node(n) => {
                let r = n
                    .proc
                    .call(json!({"op": "fetch_sockets", "rooms": [room]}))
                    .await;
                r["sockets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|s| s["id"] == sid)
                    .map(|s| {
                        let rooms = s["rooms"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|r| r.as_str().unwrap().to_owned())
                            .collect();
                        (sorted(rooms), s["data"].clone())
                    })
            }
        }
    }
}

/// A client with recovery connects to `from` (through a switch), joins a room, loses its
/// connection; packets are broadcast meanwhile from both nodes, to its rooms and to others;
/// it comes back through the switch to `to`: recovered, same id, rooms and data kept, every
/// missed packet once, in order.
async fn recovery_across(from_wsx: bool, to_wsx: bool) {
    let redis = Redis::start().await;
    let url = redis.url();
    let mut from = Side::start(from_wsx, &url).await;
    let mut to = Side::start(to_wsx, &url).await;
    from.wait_nodes(2).await;
    to.wait_nodes(2).await;
    let switch = Switch::start(from.base()).await;
    let mut c = Clients::start().await;
    c.0.send(json!({
        "op": "connect", "id": "c", "url": switch.base, "nsp": "/",
        "opts": { "transports": ["websocket"], "reconnection": true,
                  "reconnectionDelay": 100, "reconnectionDelayMax": 200 },
    }));
    let first =
        c.0.expect("c to connect", |v| v["ev"] == "connect" && v["id"] == "c")
            .await;
    assert_eq!(first["recovered"], false);
    let sid = first["sid"].as_str().unwrap().to_owned();
    assert!(
        !from.connection(&sid).await,
        "a new socket on the first node"
    );
    c.join("c", "news").await;

    from.broadcast(&["news"], "tick", 1).await;
    let t1 = c.event("c", "tick").await;
    assert_eq!(without_offset(&t1), json!([1]));

    // The connection drops (no clean disconnect): the first node keeps the session in Redis.
    switch.cut();
    let gone =
        c.0.expect("c to lose its connection", |v| {
            v["ev"] == "disconnect" && v["id"] == "c"
        })
        .await;
    assert_eq!(gone["reason"], "transport close", "{gone}");
    wait_session_kept(&url).await;

    // Missed: 2 (from the first node), 3 (from the second, with binary), 5 (to everyone);
    // not 4 (another room).
    // Each in the stream before the next: two nodes' publishes have no order of their own.
    from.broadcast(&["news"], "tick", 2).await;
    wait_stream_broadcasts(&url, 2).await;
    to.broadcast_binary(&["news"], "tick", 3, "0a0b").await;
    wait_stream_broadcasts(&url, 3).await;
    from.broadcast(&["elsewhere"], "tick", 4).await;
    wait_stream_broadcasts(&url, 4).await;
    to.broadcast(&[], "tick", 5).await;
    wait_stream_broadcasts(&url, 5).await;

    switch.to(to.base());
    let back =
        c.0.expect("c to reconnect", |v| v["ev"] == "connect" && v["id"] == "c")
            .await;
    assert_eq!(back["recovered"], true, "{back}");
    assert_eq!(back["sid"], sid, "the same socket id");
    assert!(to.connection(&sid).await, "recovered on the second node");
    let mut offsets = vec![t1.as_array().unwrap().last().unwrap().clone()];
    for want in [json!([2]), json!([3, {"$bin": "0a0b"}]), json!([5])] {
        let e = c.event("c", "tick").await;
        assert_eq!(
            without_offset(&e),
            want,
            "missed packets in order, binary kept"
        );
        offsets.push(e.as_array().unwrap().last().unwrap().clone());
    }
    let mut increasing = offsets.clone();
    increasing.sort_by_key(|o| {
        let (ms, seq) = o.as_str().unwrap().split_once('-').unwrap();
        (ms.parse::<u64>().unwrap(), seq.parse::<u64>().unwrap())
    });
    assert_eq!(offsets, increasing, "offsets in stream order");

    // Rooms and data came back with it, on the second node.
    let (rooms, data) = to
        .fetch("news", &sid)
        .await
        .expect("c in news on the second node");
    assert_eq!(rooms, sorted(vec![sid.clone(), "news".to_owned()]));
    assert_eq!(data, json!({"joined": "news"}));
    // Live again, through the second node, from the first.
    from.broadcast(&["news"], "tick", 6).await;
    assert_eq!(without_offset(&c.event("c", "tick").await), json!([6]));
    // A barrier from both nodes: one stream orders every node's entries, and a node delivers
    // them in that order, so a tick sent twice or to elsewhere would have come before.
    from.broadcast(&["news"], "barrier", 1).await;
    to.broadcast(&["news"], "barrier", 2).await;
    for n in [1, 2] {
        c.0.expect(&format!("barrier {n}"), move |v| {
            v["ev"] == "event" && v["id"] == "c" && v["event"] == "barrier" && v["args"][0] == n
        })
        .await;
    }
    assert!(
        !c.received("c", "tick"),
        "no packet twice, none for elsewhere"
    );
    assert!(session_keys(&url).await.is_empty(), "the session was taken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_from_a_wsx_node_on_a_node_node() {
    recovery_across(true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_from_a_node_node_on_a_wsx_node() {
    recovery_across(false, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_from_a_wsx_node_on_another_wsx_node() {
    recovery_across(true, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_loses_no_broadcast() {
    const N: i64 = 60;
    let mut redis = Redis::start().await;
    let a = StreamsNode::start(&redis.url()).await;
    let b = StreamsNode::start(&redis.url()).await;
    a.wait_nodes(2).await;
    b.wait_nodes(2).await;
    let mut c = Clients::start().await;
    c.connect("b1", &b.base).await;
    c.join("b1", "news").await;

    let io = a.io.clone();
    let (sent_tx, mut sent) = tokio::sync::watch::channel(0);
    let sender = tokio::spawn(async move {
        for i in 0..N {
            io.to(["news"]).emit("tick", i);
            sent_tx.send_replace(i + 1);
            // Pacing, not synchronization: the broadcasts go on before, during and after the
            // outage.
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    });
    // A third of them through, then Redis restarts (its stream is gone with it): a short
    // outage, while the sender broadcasts eight more.
    for i in 0..N / 3 {
        let e = c.event("b1", "tick").await;
        assert_eq!(without_offset(&e), json!([i]), "every tick once, in order");
    }
    redis.stop();
    let at_stop = *sent.borrow();
    tokio::time::timeout(common::T, sent.wait_for(|&n| n >= at_stop + 8))
        .await
        .expect("the sender stalled")
        .unwrap();
    redis.restart().await;
    sender.await.unwrap();
    for i in N / 3..N {
        let e = c.event("b1", "tick").await;
        assert_eq!(without_offset(&e), json!([i]), "every tick once, in order");
    }
    c.barrier(&[&a.io], &["b1"]).await;
    assert!(!c.received("b1", "tick"), "no tick twice");
    let m = a.cluster.metrics();
    assert!(m.reconnects >= 1 && m.errors >= 1, "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_while_broadcasts_go_on_misses_and_repeats_nothing() {
    const N: i64 = 400;
    let redis = Redis::start().await;
    let url = redis.url();
    let a = StreamsNode::start(&url).await;
    let b = StreamsNode::start(&url).await;
    a.wait_nodes(2).await;
    b.wait_nodes(2).await;
    let switch = Switch::start(&a.base).await;
    let mut c = Clients::start().await;
    c.0.send(json!({
        "op": "connect", "id": "c", "url": switch.base, "nsp": "/",
        "opts": { "transports": ["websocket"], "reconnection": true,
                  "reconnectionDelay": 50, "reconnectionDelayMax": 100 },
    }));
    let first =
        c.0.expect("c to connect", |v| v["ev"] == "connect" && v["id"] == "c")
            .await;
    c.join("c", "news").await;

    // Node a broadcasts all along, every millisecond; the client loses its connection to a and
    // comes back on b in the middle of it.
    let io = a.io.clone();
    let sender = tokio::spawn(async move {
        for i in 0..N {
            io.to(["news"]).emit("tick", i);
            // Pacing, not synchronization: the broadcasts go on while the client moves.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    for i in 0..20 {
        assert_eq!(without_offset(&c.event("c", "tick").await), json!([i]));
    }
    switch.cut();
    wait_session_kept(&url).await;
    switch.to(&b.base);
    let back =
        c.0.expect("c to reconnect", |v| v["ev"] == "connect" && v["id"] == "c")
            .await;
    assert_eq!(back["recovered"], true, "{back}");
    assert_eq!(back["sid"], first["sid"]);
    sender.await.unwrap();
    for i in 20..N {
        let e = c.event("c", "tick").await;
        assert_eq!(without_offset(&e), json!([i]), "every tick once, in order");
    }
    c.barrier(&[&a.io, &b.io], &["c"]).await;
    assert!(!c.received("c", "tick"), "no tick twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_to_a_node_that_died_ends_at_the_requests_timeout() {
    let redis = Redis::start().await;
    let w = StreamsNode::start(&redis.url()).await;
    let mut n = NodeServer::start_streams(&redis.url()).await;
    w.wait_nodes(2).await;
    n.wait_server_count(2).await;
    let mut c = Clients::start().await;
    let w1 = c.connect("w1", &w.base).await;
    c.connect("n1", &n.base).await;
    assert_eq!(w.io.of("/").broadcast().fetch_sockets().await.len(), 2);

    // Killed: no ADAPTER_CLOSE, so the wsx node still counts it (until the heartbeat
    // timeout) and its requests end at the requests timeout (3 s here) with what came.
    drop(n);
    let started = tokio::time::Instant::now();
    let fetched = w.io.of("/").broadcast().fetch_sockets().await;
    assert_eq!(ids(&fetched), vec![w1]);
    let acks = w.io.of("/").server_side_emit_with_ack("srv_ack", 1).await;
    assert!(acks.timed_out() && acks.answers.is_empty(), "{acks:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(8),
        "{took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_are_counted_by_heartbeat_and_forgotten_when_they_leave_or_fall_silent() {
    let redis = Redis::start().await;
    let builder = || {
        wsx_redis::StreamsAdapterBuilder::new(redis.url())
            .heartbeat_interval(Duration::from_millis(100))
            .heartbeat_timeout(Duration::from_millis(500))
    };
    let node = |cluster: wsx_redis::StreamsCluster| {
        let io = wsx_socketio::SocketIo::new(
            wsx_socketio::Config::default().adapter(move |nsp| cluster.adapter(nsp)),
        );
        io.ns("/", |_socket| async {});
        io
    };
    let a = builder().connect().await.unwrap();
    let b = builder().connect().await.unwrap();
    let c = builder().connect().await.unwrap();
    let (_io_a, io_b, io_c) = (node(a.clone()), node(b.clone()), node(c.clone()));
    eventually("a knows b and c", || a.nodes("/") == 3).await;
    // Silent nodes publish heartbeats: still counted well past the timeout. The stream shows
    // the heartbeats as they come (its ids are Redis's clock): b and c publish nothing else
    // for 1.2 s (over twice the timeout), and a and b count three nodes all along.
    let mut conn = redis_conn(&redis.url()).await;
    let mut last = "$".to_owned();
    let (mut first_ms, mut beats) = (None, std::collections::HashMap::new());
    let p = Patience::new("1.2 s of heartbeats from b and c");
    loop {
        for (id, fields) in next_entries(&mut conn, &mut last).await {
            let ms: u64 = id.split_once('-').unwrap().0.parse().unwrap();
            let field = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
            let uid = field("uid").unwrap_or_default();
            if uid == b.uid() || uid == c.uid() {
                assert_eq!(
                    field("type").as_deref(),
                    Some("2"),
                    "only heartbeats: {fields:?}"
                );
                let first = *first_ms.get_or_insert(ms);
                beats.insert(uid, ms - first);
            }
        }
        assert_eq!(a.nodes("/"), 3);
        assert_eq!(b.nodes("/"), 3);
        if beats.len() == 2 && beats.values().all(|&since| since >= 1200) {
            break;
        }
        p.again().await;
    }
    // b leaves (its adapter publishes ADAPTER_CLOSE): forgotten at once.
    drop(io_b);
    eventually("a forgets b", || a.nodes("/") == 2).await;
    drop(io_c);
    eventually("a forgets c", || a.nodes("/") == 1).await;
    // A node that falls silent without a goodbye (here one heartbeat written by hand) is
    // forgotten after the heartbeat timeout.
    let mut conn = redis_conn(&redis.url()).await;
    let _: String = redis::cmd("XADD")
        .arg("socket.io")
        .arg("*")
        .arg(&["uid", "ghost", "nsp", "/", "type", "2"])
        .query_async(&mut conn)
        .await
        .unwrap();
    eventually("a hears the ghost", || a.nodes("/") == 2).await;
    let heard = tokio::time::Instant::now();
    eventually("a forgets the ghost", || a.nodes("/") == 1).await;
    assert!(
        heard.elapsed() >= Duration::from_millis(300),
        "{:?}",
        heard.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_entries_in_the_stream_are_ignored() {
    let redis = Redis::start().await;
    let a = StreamsNode::start(&redis.url()).await;
    let mut c = Clients::start().await;
    c.connect("a1", &a.base).await;
    let mut conn = redis_conn(&redis.url()).await;
    let bad: [&[&str]; 5] = [
        &[
            "uid",
            "x",
            "nsp",
            "/",
            "type",
            "3",
            "data",
            "!!not base64!!",
        ],
        &["uid", "x", "nsp", "/", "type", "three", "data", "{}"],
        &[
            "uid",
            "x",
            "nsp",
            "/",
            "type",
            "3",
            "data",
            "{\"packet\":7}",
        ],
        &["uid", "x", "nsp", "/", "type", "7", "data", "{not json"],
        &["hello", "world"],
    ];
    for fields in bad {
        let _: String = redis::cmd("XADD")
            .arg("socket.io")
            .arg("*")
            .arg(fields)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    // A foreign node's well-formed broadcast still gets through, after the garbage.
    let _: String = redis::cmd("XADD")
        .arg("socket.io")
        .arg("*")
        .arg(&[
            "uid",
            "emitter",
            "nsp",
            "/",
            "type",
            "3",
            "data",
            r#"{"packet":{"type":2,"data":["hello",1]},"opts":{"rooms":[],"except":[],"flags":{}}}"#,
        ])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(without_offset(&c.event("a1", "hello").await), json!([1]));
    assert!(
        a.cluster.metrics().malformed >= 2,
        "{:?}",
        a.cluster.metrics()
    );
    // "x" counts as a node (as in Node: its decodable entries say it exists); "emitter" not.
    assert_eq!(a.cluster.nodes("/"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_offset_is_gone_connects_as_new() {
    let redis = Redis::start().await;
    let url = redis.url();
    let a = StreamsNode::start(&url).await;
    let b = StreamsNode::start(&url).await;
    a.wait_nodes(2).await;
    let switch = Switch::start(&a.base).await;
    let mut c = Clients::start().await;
    c.0.send(json!({
        "op": "connect", "id": "c", "url": switch.base, "nsp": "/",
        "opts": { "transports": ["websocket"], "reconnection": true,
                  "reconnectionDelay": 50, "reconnectionDelayMax": 100 },
    }));
    let first =
        c.0.expect("c to connect", |v| v["ev"] == "connect" && v["id"] == "c")
            .await;
    c.join("c", "news").await;
    a.io.to(["news"]).emit("tick", 1);
    without_offset(&c.event("c", "tick").await);
    switch.cut();
    wait_session_kept(&url).await;
    // The stream is trimmed past the client's offset (MAXLEN, or a Redis that lost it).
    let mut conn = redis_conn(&url).await;
    let _: usize = redis::cmd("XTRIM")
        .arg("socket.io")
        .arg("MAXLEN")
        .arg(0)
        .query_async(&mut conn)
        .await
        .unwrap();
    switch.to(&b.base);
    let back =
        c.0.expect("c to reconnect", |v| v["ev"] == "connect" && v["id"] == "c")
            .await;
    assert_eq!(back["recovered"], false, "{back}");
    assert_ne!(back["sid"], first["sid"], "a new socket");
    assert!(
        session_keys(&url).await.is_empty(),
        "the session was taken anyway, as Node does"
    );
}
