//! Two wsx nodes on one Redis with the classic adapter, `socket.io-client` peers connected to
//! each: broadcasts, remote joins, `fetchSockets` and `serverSideEmit` cross nodes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Clients, Redis, WsxNode, eventually, next_server_side, wait_nodes};
use serde_json::json;
use wsx_socketio::Data;

async fn two_nodes() -> (Redis, WsxNode, WsxNode, Clients) {
    let redis = Redis::start().await;
    let a = WsxNode::start(&redis.url()).await;
    let b = WsxNode::start(&redis.url()).await;
    wait_nodes(&a.cluster, 2).await;
    let clients = Clients::start().await;
    (redis, a, b, clients)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_broadcast_on_one_node_reaches_the_room_on_the_other_only() {
    let (_redis, a, b, mut c) = two_nodes().await;
    c.connect("a1", &a.base).await;
    c.connect("b1", &b.base).await;
    c.connect("b2", &b.base).await;
    c.join("b1", "news").await;

    a.io.to(["news"]).emit("news", json!({"n": 1, "pi": 3.5}));
    let args = c.event("b1", "news").await;
    assert_eq!(args, json!([{"n": 1, "pi": 3.5}]));

    // A namespace-wide broadcast with binary and an exception.
    b.io.except(["news"]).emit(
        "all",
        vec![Data::from("x"), Data::Binary(vec![1u8, 2, 3].into())],
    );
    let args = c.event("a1", "all").await;
    assert_eq!(args, json!(["x", {"$bin": "010203"}]));
    c.event("b2", "all").await;
    c.barrier(&[&a.io, &b.io], &["a1", "b1", "b2"]).await;
    assert!(!c.received("b1", "all"), "b1 is in the excepted room");
    assert!(!c.received("a1", "news") && !c.received("b2", "news"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_join_and_leave_reach_the_other_node() {
    let (_redis, a, b, mut c) = two_nodes().await;
    let sid = c.connect("b1", &b.base).await;

    a.io.to([sid.as_str()]).sockets_join(["vip"]);
    let in_vip = |b: &WsxNode| {
        b.io.of("/")
            .get_socket(&sid)
            .unwrap()
            .rooms()
            .contains(&"vip".to_owned())
    };
    eventually("the remote join", || in_vip(&b)).await;
    a.io.to(["vip"]).emit("vip", "welcome");
    assert_eq!(c.event("b1", "vip").await, json!(["welcome"]));

    a.io.to(["vip"]).sockets_leave(["vip"]);
    eventually("the remote leave", || !in_vip(&b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_sockets_sees_the_clients_of_both_nodes() {
    let (_redis, a, b, mut c) = two_nodes().await;
    let a1 = c.connect("a1", &a.base).await;
    let b1 = c.connect("b1", &b.base).await;
    let b2 = c.connect("b2", &b.base).await;
    c.join("b1", "room").await;
    c.join("a1", "room").await;

    let mut all: Vec<String> =
        a.io.of("/")
            .broadcast()
            .fetch_sockets()
            .await
            .into_iter()
            .map(|s| s.id)
            .collect();
    all.sort();
    let mut want = vec![a1.clone(), b1.clone(), b2];
    want.sort();
    assert_eq!(all, want);

    let in_room = b.io.to(["room"]).fetch_sockets().await;
    let mut ids: Vec<&str> = in_room.iter().map(|s| s.id.as_str()).collect();
    ids.sort();
    let mut want = vec![a1.as_str(), b1.as_str()];
    want.sort();
    assert_eq!(ids, want);
    let remote = in_room.iter().find(|s| s.id == a1).unwrap();
    assert!(remote.rooms.contains(&"room".to_owned()), "{remote:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_emit_reaches_the_other_node_only() {
    let (_redis, mut a, mut b, _c) = two_nodes().await;
    a.io.of("/")
        .server_side_emit("srv", vec![Data::from("hi"), Data::from(2)]);
    assert_eq!(
        next_server_side(&mut b).await,
        vec![Data::from("srv"), Data::from("hi"), Data::from(2)]
    );
    // A barrier: b's emit reaches a after a's own would have (b sent it after a's arrived).
    b.io.of("/").server_side_emit("srv", "after");
    assert_eq!(
        next_server_side(&mut a).await,
        vec![Data::from("srv"), Data::from("after")],
        "the sender does not receive its own emit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_with_acks_gathers_the_answers_of_both_nodes() {
    let (_redis, a, b, mut c) = two_nodes().await;
    let a1 = c.connect("a1", &a.base).await;
    c.connect("b1", &b.base).await;
    c.0.call(json!({"op": "auto_ack", "id": "a1", "event": "ask", "reply": ["from a1"]}))
        .await;
    c.0.call(json!({"op": "auto_ack", "id": "b1", "event": "ask",
        "reply": [{"from": "b1", "bin": {"$bin": "0102"}}, "ignored"]}))
        .await;

    let answers =
        a.io.of("/")
            .broadcast()
            .timeout(Duration::from_secs(5))
            .emit_with_ack("ask", "q?")
            .await;
    assert_eq!(answers.len(), 2, "{answers:?}");
    let local = answers.iter().find(|r| r.socket.is_some()).unwrap();
    assert_eq!(local.socket.as_deref(), Some(a1.as_str()));
    assert_eq!(local.result.as_ref().unwrap(), &vec![Data::from("from a1")]);
    let remote = answers.iter().find(|r| r.socket.is_none()).unwrap();
    let args = remote.result.as_ref().unwrap();
    let [Data::Object(fields)] = args.as_slice() else {
        panic!("the first argument of b1's ack, binary kept: {args:?}");
    };
    let bin = fields.iter().find(|(k, _)| k == "bin").map(|(_, v)| v);
    assert_eq!(bin, Some(&Data::Binary(vec![1u8, 2].into())), "{fields:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_malformed_messages_on_the_channels_are_ignored() {
    let (redis, a, b, mut c) = two_nodes().await;
    c.connect("b1", &b.base).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let junk: [(&str, &[u8]); 7] = [
        ("socket.io#/#", b"\xc1\xff not msgpack"),
        ("socket.io#/#", b"\x92\xa1x\x01"),
        ("socket.io#/#news#", b"\x93\xa1x\x80\x80"),
        ("socket.io-request#/#", b"{not json"),
        ("socket.io-request#/#", br#"{"uid":"other","type":99}"#),
        (
            "socket.io-request#/#",
            br#"{"uid":"other","type":7,"requestId":"r"}"#,
        ),
        ("socket.io-response#/#", b"[]"),
    ];
    for (channel, payload) in junk {
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async::<usize>(&mut conn)
            .await
            .unwrap();
    }
    a.io.emit("after", 1);
    assert_eq!(c.event("b1", "after").await, json!([1]));
    // Counted: the two bad broadcasts, the bad request, the bad response (the foreign
    // request type and the request without its packet are not malformed messages).
    let m = b.cluster.metrics();
    assert_eq!(m.malformed, 4, "{m:?}");
    assert!(m.connected && m.messages_in >= 8, "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_redis_restarts_the_nodes_resubscribe_and_broadcasts_cross_again() {
    let (mut redis, a, b, mut c) = two_nodes().await;
    c.connect("a1", &a.base).await;
    c.connect("b1", &b.base).await;

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
    let down = a.cluster.metrics();
    assert!(down.errors >= 1 || !down.connected, "{down:?}");

    redis.restart().await;
    wait_nodes(&a.cluster, 2).await;
    // The publisher reconnects at its first use after the outage: a tick either goes out
    // (then it reaches b1) or fails (then the next one is tried).
    let mut i = 0;
    loop {
        let before = a.cluster.metrics();
        a.io.emit("tick", i);
        eventually("the tick's publish to end", || {
            let m = a.cluster.metrics();
            m.messages_out > before.messages_out || m.errors > before.errors
        })
        .await;
        if a.cluster.metrics().messages_out > before.messages_out {
            break;
        }
        i += 1;
        assert!(i < 10, "no publish worked after the restart");
    }
    c.0.expect("the tick that went out to cross", move |v| {
        v["ev"] == "event" && v["id"] == "b1" && v["event"] == "tick" && v["args"] == json!([i])
    })
    .await;
    let after = a.cluster.metrics();
    assert!(after.connected && after.reconnects >= 1, "{after:?}");
    assert!(
        after.messages_out > before.messages_out,
        "{before:?} {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_sockets_times_out_cleanly_on_a_node_that_never_answers() {
    let (redis, a, b, mut c) = two_nodes().await;
    let a1 = c.connect("a1", &a.base).await;
    let b1 = c.connect("b1", &b.base).await;
    // A "node" that listens to the request channel but never answers (hung or dying).
    let client = redis::Client::open(redis.url()).unwrap();
    let mut mute = client.get_async_pubsub().await.unwrap();
    mute.subscribe("socket.io-request#/#").await.unwrap();
    wait_nodes(&a.cluster, 3).await;

    let started = tokio::time::Instant::now();
    let mut ids: Vec<String> =
        a.io.of("/")
            .broadcast()
            .fetch_sockets()
            .await
            .into_iter()
            .map(|s| s.id)
            .collect();
    let took = started.elapsed();
    ids.sort();
    let mut want = vec![a1, b1];
    want.sort();
    assert_eq!(ids, want, "the answers that came are kept");
    // requests_timeout is 3 s in the harness.
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(10),
        "{took:?}"
    );
    drop(mute);
}
