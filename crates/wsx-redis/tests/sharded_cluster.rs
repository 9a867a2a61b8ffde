//! The sharded adapter (Node's `createShardedAdapter`: SPUBLISH/SSUBSCRIBE, dynamic room
//! channels) on a 3-primary Redis Cluster on loopback: two wsx nodes, then a wsx node and a
//! Node `socket.io` node with `@socket.io/redis-adapter`'s sharded adapter on node-redis's
//! cluster client, `socket.io-client` peers on each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{
    Clients, NodeServer, Patience, RedisClusterProcs, ShardedNode, eventually, wait_sharded_nodes,
};
use serde_json::{Value, json};
use wsx_socketio::Data;

async fn two_nodes() -> (RedisClusterProcs, ShardedNode, ShardedNode, Clients) {
    let redis = RedisClusterProcs::start().await;
    let a = ShardedNode::start(&redis.urls()).await;
    let b = ShardedNode::start(&redis.urls()).await;
    wait_sharded_nodes(&a.cluster, 2).await;
    let clients = Clients::start().await;
    (redis, a, b, clients)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_and_dynamic_room_channels_cross_wsx_nodes() {
    let (redis, a, b, mut c) = two_nodes().await;
    c.connect("a1", &a.base).await;
    c.connect("b1", &b.base).await;
    let b2 = c.connect("b2", &b.base).await;

    // Joining a public room subscribes its channel on that node (one subscriber: node b);
    // socket-id rooms get none.
    c.join("b1", "news").await;
    redis.wait_shard_subscribers("socket.io#/#news#", 1).await;

    // A room broadcast goes on the room channel and reaches the room only.
    a.io.to(["news"]).emit("news", json!({"n": 1, "pi": 3.5}));
    assert_eq!(c.event("b1", "news").await, json!([{"n": 1, "pi": 3.5}]));

    // A namespace-wide broadcast with binary (msgpack on the wire) and an exception.
    b.io.except(["news"]).emit(
        "all",
        vec![Data::from("x"), Data::Binary(vec![1u8, 2, 3].into())],
    );
    assert_eq!(c.event("a1", "all").await, json!(["x", {"$bin": "010203"}]));
    c.event("b2", "all").await;

    // Both nodes in the room: two subscribers; a broadcast from b reaches a's member.
    c.join("a1", "news").await;
    redis.wait_shard_subscribers("socket.io#/#news#", 2).await;
    b.io.to(["news"]).emit("news2", 2);
    assert_eq!(c.event("a1", "news2").await, json!([2]));
    assert_eq!(c.event("b1", "news2").await, json!([2]));

    // The last local member leaves: the node unsubscribes the room's channel.
    c.leave("b1", "news").await;
    redis.wait_shard_subscribers("socket.io#/#news#", 1).await;
    a.io.to(["news"]).emit("news3", 3);
    assert_eq!(c.event("a1", "news3").await, json!([3]));

    // A broadcast to a socket id (20 characters, no channel of its own) goes on the
    // namespace channel.
    assert_eq!(b2.len(), 20);
    a.io.to([b2.as_str()]).emit("direct", "to b2");
    assert_eq!(c.event("b2", "direct").await, json!(["to b2"]));
    // (A barrier on the namespace channel: "all" and "direct" went there.)
    c.barrier(&[&a.io, &b.io], &["a1", "b1", "b2"]).await;
    assert!(!c.received("b1", "news3") && !c.received("b2", "news"));
    assert!(!c.received("b1", "direct"));
    assert!(!c.received("b1", "all"), "b1 is in the excepted room");
    assert_eq!(redis.shard_subscribers("socket.io#/#").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_sockets_joins_and_disconnects_cross_wsx_nodes() {
    let (_redis, a, b, mut c) = two_nodes().await;
    let a1 = c.connect("a1", &a.base).await;
    let b1 = c.connect("b1", &b.base).await;
    c.join("b1", "room").await;

    let all = a.io.of("/").broadcast().fetch_sockets().await;
    assert_eq!(ids(&all), sorted(vec![a1.clone(), b1.clone()]));
    let in_room = a.io.to(["room"]).fetch_sockets().await;
    assert_eq!(ids(&in_room), vec![b1.clone()]);
    assert!(in_room[0].rooms.contains(&"room".to_owned()), "{in_room:?}");

    // socketsJoin from a reaches b's socket (and subscribes the room's channel there).
    a.io.to([b1.as_str()]).sockets_join(["vip"]);
    eventually("the remote join", || {
        b.io.of("/")
            .get_socket(&b1)
            .is_some_and(|s| s.rooms().contains(&"vip".to_owned()))
    })
    .await;
    a.io.to(["vip"]).emit("vip", "welcome");
    assert_eq!(c.event("b1", "vip").await, json!(["welcome"]));
    a.io.to(["vip"]).sockets_leave(["vip"]);
    eventually("the remote leave", || {
        b.io.of("/")
            .get_socket(&b1)
            .is_some_and(|s| !s.rooms().contains(&"vip".to_owned()))
    })
    .await;

    // disconnectSockets from b disconnects a's socket.
    b.io.to([a1.as_str()]).disconnect_sockets(false);
    let d =
        c.0.expect("a1 to be disconnected", |v| {
            v["ev"] == "disconnect" && v["id"] == "a1"
        })
        .await;
    assert_eq!(d["reason"], "io server disconnect", "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_emits_and_broadcast_acks_cross_wsx_nodes() {
    let (_redis, mut a, mut b, mut c) = two_nodes().await;
    a.io.of("/").server_side_emit(
        "srv",
        vec![Data::from("hi"), Data::Binary(vec![9u8].into())],
    );
    assert_eq!(
        b.next_server_side().await,
        vec![
            Data::from("srv"),
            Data::from("hi"),
            Data::Binary(vec![9u8].into())
        ]
    );

    let acks = b.io.of("/").server_side_emit_with_ack("srv_ack", "q").await;
    assert_eq!(acks.expected, 1);
    assert_eq!(
        acks.answers,
        vec![Data::from(json!({"node": "wsx", "got": ["q"]}))]
    );
    assert_eq!(
        a.next_server_side().await,
        vec![Data::from("srv_ack"), Data::from("q")]
    );

    // A broadcast with acknowledgements gathers the other node's client's answer.
    c.connect("a1", &a.base).await;
    c.connect("b1", &b.base).await;
    c.0.call(json!({"op": "auto_ack", "id": "a1", "event": "ask", "reply": ["a"]}))
        .await;
    c.0.call(json!({"op": "auto_ack", "id": "b1", "event": "ask", "reply": ["b"]}))
        .await;
    let answers =
        b.io.of("/")
            .broadcast()
            .timeout(Duration::from_secs(5))
            .emit_with_ack("ask", "?")
            .await;
    let got: Vec<String> = answers
        .iter()
        .map(|r| match r.result.as_ref().unwrap().as_slice() {
            [Data::Json(Value::String(s))] => s.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sorted(got), ["a", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wsx_and_node_sharded_nodes_serve_each_others_clients() {
    let redis = RedisClusterProcs::start().await;
    let mut w = ShardedNode::start(&redis.urls()).await;
    let urls = redis.urls().join(",");
    let mut n = NodeServer::start_cluster_script(&["sharded", &urls]).await;
    wait_sharded_nodes(&w.cluster, 2).await;
    let r = n.proc.call(json!({"op": "server_count"})).await;
    assert_eq!(r["count"], 2, "Node's SHARDNUMSUB count: {r}");
    let mut c = Clients::start().await;
    let w1 = c.connect("w1", &w.base).await;
    let n1 = c.connect("n1", &n.base).await;
    c.join("w1", "news").await;
    c.join("n1", "news").await;
    redis.wait_shard_subscribers("socket.io#/#news#", 2).await;

    // Broadcasts, wsx → both: to a room (its dynamic channel) with binary, and to all.
    w.io.to(["news"]).emit(
        "from_wsx",
        vec![
            Data::from("hello"),
            Data::from(json!({"n": 1, "f": 1.5})),
            Data::Binary(vec![7u8, 8].into()),
        ],
    );
    let want = json!(["hello", {"n": 1, "f": 1.5}, {"$bin": "0708"}]);
    assert_eq!(c.event("w1", "from_wsx").await, want);
    assert_eq!(c.event("n1", "from_wsx").await, want);
    w.io.of("/").emit("wsx_all", 1);
    assert_eq!(c.event("n1", "wsx_all").await, json!([1]));

    // Node → both: to all, to the room, with binary.
    n.proc
        .call(
            json!({"op": "broadcast", "event": "from_node", "args": ["hi", 2, {"three": [true]}]}),
        )
        .await;
    let want = json!(["hi", 2, {"three": [true]}]);
    assert_eq!(c.event("w1", "from_node").await, want);
    assert_eq!(c.event("n1", "from_node").await, want);
    n.proc
        .call(json!({"op": "broadcast", "rooms": ["news"], "event": "node_room", "args": [{"$bin": "0a0b"}]}))
        .await;
    assert_eq!(c.event("w1", "node_room").await, json!([{"$bin": "0a0b"}]));
    assert_eq!(c.event("n1", "node_room").await, json!([{"$bin": "0a0b"}]));

    // fetchSockets both ways.
    let want = sorted(vec![w1.clone(), n1.clone()]);
    assert_eq!(ids(&w.io.of("/").broadcast().fetch_sockets().await), want);
    let r = n
        .proc
        .call(json!({"op": "fetch_sockets", "rooms": ["news"]}))
        .await;
    let got: Vec<String> = r["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sorted(got), want, "{r}");

    // socketsJoin both ways.
    n.proc
        .call(json!({"op": "sockets_join", "rooms": [w1], "join": ["from_node"]}))
        .await;
    eventually("Node's socketsJoin to reach wsx", || {
        w.io.of("/")
            .get_socket(&w1)
            .is_some_and(|s| s.rooms().contains(&"from_node".to_owned()))
    })
    .await;
    w.io.to([n1.as_str()]).sockets_join(["from_wsx"]);
    let p = Patience::new("wsx's socketsJoin to reach Node");
    loop {
        let r = n
            .proc
            .call(json!({"op": "fetch_sockets", "rooms": ["from_wsx"]}))
            .await;
        if r["sockets"].as_array().unwrap().len() == 1 {
            assert_eq!(r["sockets"][0]["id"], json!(n1), "{r}");
            break;
        }
        p.again().await;
    }

    // serverSideEmit, with and without ack, both ways.
    n.proc
        .call(json!({"op": "server_side_emit", "event": "srv", "args": ["from node", 1]}))
        .await;
    assert_eq!(
        w.next_server_side().await,
        vec![Data::from("srv"), Data::from("from node"), Data::from(1)]
    );
    w.io.of("/")
        .server_side_emit("srv", vec![Data::from("from wsx")]);
    let got = n
        .proc
        .expect("Node's srv handler", |v| {
            v["ev"] == "server_side" && v["event"] == "srv"
        })
        .await;
    assert_eq!(got["args"], json!(["from wsx"]));
    let acks = w.io.of("/").server_side_emit_with_ack("srv_ack", "q").await;
    assert_eq!(acks.expected, 1);
    assert_eq!(
        acks.answers,
        vec![Data::from(json!({"node": "node", "got": ["q"]}))]
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

    // Broadcasts with acknowledgements both ways.
    c.0.call(json!({"op": "auto_ack", "id": "w1", "event": "ask", "reply": ["w"]}))
        .await;
    c.0.call(json!({"op": "auto_ack", "id": "n1", "event": "ask", "reply": ["n"]}))
        .await;
    let answers =
        w.io.of("/")
            .broadcast()
            .timeout(Duration::from_secs(5))
            .emit_with_ack("ask", "from wsx")
            .await;
    let got: Vec<String> = answers
        .iter()
        .map(|r| match r.result.as_ref().unwrap().as_slice() {
            [Data::Json(Value::String(s))] => s.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sorted(got), ["n", "w"]);
    let r = n
        .proc
        .call(
            json!({"op": "broadcast_ack", "event": "ask", "args": ["from node"], "timeout": 5000}),
        )
        .await;
    let got: Vec<String> = r["responses"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(sorted(got), ["n", "w"], "{r}");

    // disconnectSockets both ways.
    n.proc
        .call(json!({"op": "disconnect_sockets", "rooms": [w1], "close": false}))
        .await;
    c.0.expect("w1 to be disconnected", |v| {
        v["ev"] == "disconnect" && v["id"] == "w1"
    })
    .await;
    w.io.to([n1.as_str()]).disconnect_sockets(false);
    c.0.expect("n1 to be disconnected", |v| {
        v["ev"] == "disconnect" && v["id"] == "n1"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_redis_cluster_restarts_sharded_nodes_resubscribe_and_broadcasts_cross_again() {
    let (mut redis, a, b, mut c) = two_nodes().await;
    c.connect("a1", &a.base).await;
    c.connect("b1", &b.base).await;
    c.join("b1", "news").await;
    redis.wait_shard_subscribers("socket.io#/#news#", 1).await;
    let before = a.cluster.metrics();
    assert!(before.connected && before.reconnects == 0, "{before:?}");

    redis.stop();
    // Local delivery goes on while Redis is down, and the outage shows in the metrics.
    a.io.emit("local", 1);
    assert_eq!(c.event("a1", "local").await, json!([1]));
    eventually("the outage to show in the metrics", || {
        !a.cluster.metrics().connected
    })
    .await;

    redis.restart().await;
    // redis-rs's cluster connection reconnects and subscribes again by itself, the room
    // channel included.
    wait_sharded_nodes(&a.cluster, 2).await;
    redis.wait_shard_subscribers("socket.io#/#news#", 1).await;
    // A broadcast to all and one to the room either go out (then they reach b1) or fail
    // (then the next two are tried).
    let mut i = 0;
    loop {
        let before = a.cluster.metrics();
        a.io.emit("tick", i);
        a.io.to(["news"]).emit("room_tick", i);
        let ended = |m: wsx_redis::Metrics| {
            m.messages_out - before.messages_out + m.errors - before.errors >= 2
        };
        eventually("both publishes to end", || ended(a.cluster.metrics())).await;
        if a.cluster.metrics().messages_out - before.messages_out == 2 {
            break;
        }
        i += 1;
        assert!(i < 10, "no publish worked after the restart");
    }
    for event in ["tick", "room_tick"] {
        c.0.expect(&format!("the {event} that went out to cross"), move |v| {
            v["ev"] == "event" && v["id"] == "b1" && v["event"] == event && v["args"] == json!([i])
        })
        .await;
    }
    let after = a.cluster.metrics();
    assert!(after.connected && after.reconnects >= 1, "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_malformed_messages_on_the_sharded_channels_are_ignored() {
    let (redis, a, b, mut c) = two_nodes().await;
    c.connect("b1", &b.base).await;
    let client = redis::cluster::ClusterClient::new(redis.urls()).unwrap();
    let mut conn = client.get_async_connection().await.unwrap();
    let junk: [&[u8]; 6] = [
        b"\xc1\xff not msgpack",
        b"{not json",
        b"[1,2]",
        br#"{"type":3,"uid":"other","nsp":"/"}"#,
        br#"{"type":99,"data":{},"uid":"other","nsp":"/"}"#,
        br#"{"type":3,"data":{"packet":{"type":2,"data":["x"]},"opts":{"rooms":[],"except":[]}},"uid":"other","nsp":"/other"}"#,
    ];
    for payload in junk {
        redis::cmd("SPUBLISH")
            .arg("socket.io#/#")
            .arg(payload)
            .query_async::<redis::Value>(&mut conn)
            .await
            .unwrap();
    }
    a.io.emit("after", 1);
    assert_eq!(c.event("b1", "after").await, json!([1]));
    assert!(
        !c.received("b1", "x"),
        "a message of another namespace was delivered"
    );
    // Counted: the undecodable three and the broadcast without data (the unknown type and
    // the other namespace's message are foreign, not malformed).
    let m = b.cluster.metrics();
    assert_eq!(m.malformed, 4, "{m:?}");
    assert!(m.connected && m.messages_in >= 7, "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_and_dynamic_private_modes_match_node_in_the_same_mode() {
    use wsx_redis::SubscriptionMode;
    let redis = RedisClusterProcs::start().await;
    let urls = redis.urls().join(",");
    // Two clusters side by side on one Redis Cluster, told apart by their channel prefix.
    let wp = ShardedNode::start_with(&redis.urls(), "priv", SubscriptionMode::DynamicPrivate).await;
    let mut np =
        NodeServer::start_cluster_script(&["sharded", &urls, "priv", "dynamic-private"]).await;
    let ws = ShardedNode::start_with(&redis.urls(), "stat", SubscriptionMode::Static).await;
    let mut ns = NodeServer::start_cluster_script(&["sharded", &urls, "stat", "static"]).await;
    wait_sharded_nodes(&wp.cluster, 2).await;
    wait_sharded_nodes(&ws.cluster, 2).await;
    let mut c = Clients::start().await;

    // dynamic-private: every room has a channel, socket ids included, and a broadcast to one
    // room of any kind goes there.
    let p1 = c.connect("p1", &wp.base).await;
    let q1 = c.connect("q1", &np.base).await;
    redis
        .wait_shard_subscribers(&format!("priv#/#{p1}#"), 1)
        .await;
    redis
        .wait_shard_subscribers(&format!("priv#/#{q1}#"), 1)
        .await;
    np.proc
        .call(json!({"op": "broadcast", "rooms": [p1], "event": "to_p1", "args": [1]}))
        .await;
    assert_eq!(c.event("p1", "to_p1").await, json!([1]));
    wp.io.to([q1.as_str()]).emit("to_q1", 2);
    assert_eq!(c.event("q1", "to_q1").await, json!([2]));

    // static: no room channels at all; room broadcasts go on the namespace channel.
    c.connect("s1", &ws.base).await;
    c.connect("t1", &ns.base).await;
    c.join("s1", "news").await;
    c.join("t1", "news").await;
    ws.io.to(["news"]).emit("static_news", "w");
    assert_eq!(c.event("t1", "static_news").await, json!(["w"]));
    assert_eq!(c.event("s1", "static_news").await, json!(["w"]));
    ns.proc
        .call(json!({"op": "broadcast", "rooms": ["news"], "event": "static_news2", "args": ["n"]}))
        .await;
    assert_eq!(c.event("s1", "static_news2").await, json!(["n"]));
    assert_eq!(redis.shard_subscribers("stat#/#news#").await, 0);
    assert_eq!(redis.shard_subscribers("stat#/#").await, 2);
    // The two clusters do not hear each other.
    assert!(!c.received("p1", "static_news") && !c.received("q1", "static_news"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_time_out_cleanly_on_a_sharded_node_that_never_answers() {
    let (redis, a, b, mut c) = two_nodes().await;
    let a1 = c.connect("a1", &a.base).await;
    let b1 = c.connect("b1", &b.base).await;
    // A "node" that listens to the namespace channel but never answers (hung or dying).
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let client = redis::cluster::ClusterClientBuilder::new(redis.urls())
        .use_protocol(redis::ProtocolVersion::RESP3)
        .push_sender(tx)
        .build()
        .unwrap();
    let mut mute = client.get_async_connection().await.unwrap();
    mute.ssubscribe("socket.io#/#").await.unwrap();
    wait_sharded_nodes(&a.cluster, 3).await;

    let started = tokio::time::Instant::now();
    let got = a.io.of("/").broadcast().fetch_sockets().await;
    let took = started.elapsed();
    assert_eq!(
        ids(&got),
        sorted(vec![a1, b1]),
        "the answers that came are kept"
    );
    // requests_timeout is 3 s in the harness.
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(10),
        "{took:?}"
    );

    let started = tokio::time::Instant::now();
    let acks = b.io.of("/").server_side_emit_with_ack("srv_ack", "q").await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(acks.expected, 2);
    assert!(acks.timed_out(), "{acks:?}");
    assert_eq!(
        acks.answers,
        vec![Data::from(json!({"node": "wsx", "got": ["q"]}))]
    );
    drop(mute);
}
