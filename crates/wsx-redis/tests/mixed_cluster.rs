//! A wsx node and a Node `socket.io` 4.8 node with `@socket.io/redis-adapter` 8.3 on one Redis
//! (classic adapter), a `socket.io-client` peer on each: operations started on either kind of
//! node reach the clients and answers of both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    Clients, NodeServer, Patience, Redis, WsxNode, eventually, next_server_side, wait_nodes,
};
use serde_json::json;
use wsx_socketio::Data;

async fn mixed() -> (Redis, WsxNode, NodeServer, Clients) {
    let redis = Redis::start().await;
    let w = WsxNode::start(&redis.url()).await;
    let n = NodeServer::start(&redis.url()).await;
    wait_nodes(&w.cluster, 2).await;
    let clients = Clients::start().await;
    (redis, w, n, clients)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_cross_between_wsx_and_node_both_ways() {
    let (_redis, w, mut n, mut c) = mixed().await;
    c.connect("w1", &w.base).await;
    c.connect("n1", &n.base).await;
    c.join("w1", "news").await;
    c.join("n1", "news").await;

    // wsx → both nodes' clients, to a room (the room channel) and with binary.
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

    // Node → both nodes' clients, to the whole namespace and to a room.
    n.proc
        .call(
            json!({"op": "broadcast", "event": "from_node", "args": ["hi", 2, {"three": [true]}]}),
        )
        .await;
    let want = json!(["hi", 2, {"three": [true]}]);
    assert_eq!(c.event("w1", "from_node").await, want);
    assert_eq!(c.event("n1", "from_node").await, want);
    n.proc.call(json!({"op": "broadcast", "rooms": ["news"], "except": [], "event": "node_room", "args": [1]})).await;
    assert_eq!(c.event("w1", "node_room").await, json!([1]));
    assert_eq!(c.event("n1", "node_room").await, json!([1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_sockets_and_joins_cross_between_wsx_and_node() {
    let (_redis, w, mut n, mut c) = mixed().await;
    let w1 = c.connect("w1", &w.base).await;
    let n1 = c.connect("n1", &n.base).await;

    // Node asks: wsx answers with its socket.
    let r = n.proc.call(json!({"op": "fetch_sockets"})).await;
    let mut ids: Vec<String> = r["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut want = vec![w1.clone(), n1.clone()];
    want.sort();
    assert_eq!(ids, want, "{r}");

    // wsx asks: Node answers with its socket.
    let mut ids: Vec<String> =
        w.io.of("/")
            .broadcast()
            .fetch_sockets()
            .await
            .into_iter()
            .map(|s| s.id)
            .collect();
    ids.sort();
    assert_eq!(ids, want);

    // Node makes the wsx client join a room; a wsx broadcast to that room reaches it.
    n.proc
        .call(json!({"op": "sockets_join", "rooms": [w1], "join": ["from_node"]}))
        .await;
    eventually("Node's socketsJoin to reach wsx", || {
        w.io.of("/")
            .get_socket(&w1)
            .unwrap()
            .rooms()
            .contains(&"from_node".to_owned())
    })
    .await;

    // wsx makes the Node client join a room; Node's fetchSockets sees it there.
    w.io.to([n1.as_str()]).sockets_join(["from_wsx"]);
    let p = Patience::new("wsx's socketsJoin to reach Node");
    loop {
        let r = n
            .proc
            .call(json!({"op": "fetch_sockets", "rooms": ["from_wsx"]}))
            .await;
        let ids: Vec<&str> = r["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["id"].as_str())
            .collect();
        if ids == [n1.as_str()] {
            break;
        }
        p.again().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_emit_crosses_between_wsx_and_node() {
    let (_redis, mut w, mut n, _c) = mixed().await;
    n.proc
        .call(json!({"op": "server_side_emit", "event": "srv", "args": ["from node", 1]}))
        .await;
    assert_eq!(
        next_server_side(&mut w).await,
        vec![Data::from("srv"), Data::from("from node"), Data::from(1)]
    );
    w.io.of("/").server_side_emit(
        "srv",
        vec![Data::from("from wsx"), Data::from(json!({"k": [1]}))],
    );
    let got = n
        .proc
        .expect("Node's serverSideEmit handler", |v| {
            v["ev"] == "server_side"
        })
        .await;
    assert_eq!(got["args"], json!(["from wsx", {"k": [1]}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_with_acks_cross_between_wsx_and_node_both_ways() {
    let (_redis, w, mut n, mut c) = mixed().await;
    c.connect("w1", &w.base).await;
    c.connect("n1", &n.base).await;
    c.0.call(json!({"op": "auto_ack", "id": "w1", "event": "ask", "reply": ["w"]}))
        .await;
    c.0.call(json!({"op": "auto_ack", "id": "n1", "event": "ask", "reply": ["n"]}))
        .await;

    // wsx asks: the Node node's client answers through Redis.
    let answers =
        w.io.of("/")
            .broadcast()
            .timeout(std::time::Duration::from_secs(5))
            .emit_with_ack("ask", "from wsx")
            .await;
    let mut got: Vec<String> = answers
        .iter()
        .map(|r| match r.result.as_ref().unwrap().as_slice() {
            [Data::Json(serde_json::Value::String(s))] => s.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    got.sort();
    assert_eq!(got, ["n", "w"]);

    // Node asks: the wsx node's client answers through Redis.
    let r = n
        .proc
        .call(
            json!({"op": "broadcast_ack", "event": "ask", "args": ["from node"], "timeout": 5000}),
        )
        .await;
    let mut got: Vec<&str> = r["responses"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    got.sort();
    assert_eq!(got, ["n", "w"], "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_rooms_and_disconnect_sockets_cross_between_wsx_and_node() {
    let (_redis, w, mut n, mut c) = mixed().await;
    let w1 = c.connect("w1", &w.base).await;
    let n1 = c.connect("n1", &n.base).await;
    c.join("w1", "wsx_room").await;

    // Node's allRooms() asks every node (type 1): the wsx node's rooms are in the answer.
    let r = n.proc.call(json!({"op": "all_rooms"})).await;
    let rooms: Vec<&str> = r["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for room in [w1.as_str(), n1.as_str(), "wsx_room"] {
        assert!(rooms.contains(&room), "{room} missing from {r}");
    }

    // Node disconnects the wsx client, wsx disconnects the Node client (type 4).
    n.proc
        .call(json!({"op": "disconnect_sockets", "rooms": ["wsx_room"], "close": false}))
        .await;
    let d =
        c.0.expect("w1 to be disconnected", |v| {
            v["ev"] == "disconnect" && v["id"] == "w1"
        })
        .await;
    assert_eq!(d["reason"], "io server disconnect", "{d}");
    w.io.to([n1.as_str()]).disconnect_sockets(false);
    let d =
        c.0.expect("n1 to be disconnected", |v| {
            v["ev"] == "disconnect" && v["id"] == "n1"
        })
        .await;
    assert_eq!(d["reason"], "io server disconnect", "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_emit_with_ack_gathers_wsx_and_node_answers_both_ways() {
    let redis = Redis::start().await;
    let mut w1 = WsxNode::start(&redis.url()).await;
    let mut w2 = WsxNode::start(&redis.url()).await;
    let mut n = NodeServer::start_cluster_script(&["classic", &redis.url()]).await;
    wait_nodes(&w1.cluster, 3).await;

    // wsx asks: the other wsx node and the Node node answer.
    let acks = w1
        .io
        .of("/")
        .server_side_emit_with_ack("srv_ack", vec![Data::from("from wsx"), Data::from(1)])
        .await;
    assert_eq!(acks.expected, 2);
    assert!(!acks.timed_out(), "{acks:?}");
    let mut nodes: Vec<String> = acks
        .answers
        .iter()
        .map(|a| match a {
            Data::Json(v) => {
                assert_eq!(v["got"], json!(["from wsx", 1]), "{v}");
                v["node"].as_str().unwrap().to_owned()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    nodes.sort();
    assert_eq!(nodes, ["node", "wsx"]);
    assert_eq!(
        next_server_side(&mut w2).await,
        vec![Data::from("srv_ack"), Data::from("from wsx"), Data::from(1)]
    );
    n.proc
        .expect("Node's srv_ack handler", |v| {
            v["ev"] == "server_side" && v["event"] == "srv_ack"
        })
        .await;

    // Node asks: both wsx nodes answer.
    let r = n
        .proc
        .call(json!({"op": "server_side_emit_ack", "event": "srv_ack", "args": ["from node"]}))
        .await;
    assert!(r.get("timeout").is_none(), "{r}");
    let responses = r["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 2, "{r}");
    for answer in responses {
        assert_eq!(answer, &json!({"node": "wsx", "got": ["from node"]}), "{r}");
    }
    assert_eq!(
        next_server_side(&mut w1).await,
        vec![Data::from("srv_ack"), Data::from("from node")]
    );
    assert_eq!(
        next_server_side(&mut w2).await,
        vec![Data::from("srv_ack"), Data::from("from node")]
    );

    // Nobody answers an event without an acknowledging handler: the requests timeout (3 s)
    // ends the wait with what came (nothing), it does not hang.
    let start = std::time::Instant::now();
    let acks = w1
        .io
        .of("/")
        .server_side_emit_with_ack("srv", "no answer")
        .await;
    assert_eq!(acks.expected, 2);
    assert!(acks.timed_out() && acks.answers.is_empty(), "{acks:?}");
    assert!(start.elapsed() < std::time::Duration::from_secs(6));
}
