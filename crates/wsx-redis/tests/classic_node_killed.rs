//! Classic adapter: a node process killed with SIGKILL while another node's `fetchSockets`
//! waits for it. The node is frozen (SIGSTOP) first, so that the request is surely pending when
//! it dies (the test waits until every thread of the frozen process is stopped: a SIGSTOP takes
//! effect only when its threads are next scheduled); the request then ends at the requests
//! timeout (3 s here) with the answers that came, it never hangs. Both kinds die: a Node
//! `socket.io` node under a wsx request, and a wsx node process (this test binary run again as
//! a node, the `test_node` example) under a Node request and a wsx one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{ChannelWatch, Clients, JsonProc, NodeServer, Redis, WsxNode, wait_nodes};
use serde_json::{Value, json};

/// The requests timeout of every node here (WsxNode's and the Node script's).
const REQUESTS_TIMEOUT: Duration = Duration::from_secs(3);

/// The `test_node` example (built by `cargo test` with the tests) as a wsx node on
/// `redis_url`; returns it and its base URL.
async fn spawn_wsx_process(redis_url: &str) -> (JsonProc, String) {
    // This binary is target/<profile>/deps/classic_node_killed-<hash>.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let node = profile_dir.join("examples").join("test_node");
    if !node.exists() {
        // `cargo test` builds the examples with the tests; `cargo test --test …` does not.
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "wsx-redis", "--example", "test_node"])
            .status()
            .unwrap();
        assert!(status.success(), "cargo build --example test_node failed");
    }
    assert!(node.exists(), "{} not built", node.display());
    let mut command = Command::new(node);
    command.arg(redis_url);
    let mut proc = JsonProc::spawn("wsx node process", command);
    let l = proc
        .expect("the wsx node process to listen", |v| v["ev"] == "listening")
        .await;
    let base = l["base"].as_str().unwrap().to_owned();
    (proc, base)
}

fn sorted_ids(sockets: &Value) -> Vec<String> {
    let mut ids: Vec<String> = sockets
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_node_killed_during_a_wsx_fetch_sockets_ends_it_at_the_timeout() {
    let redis = Redis::start().await;
    let w = WsxNode::start(&redis.url()).await;
    let n1 = NodeServer::start(&redis.url()).await;
    let mut n2 = NodeServer::start(&redis.url()).await;
    wait_nodes(&w.cluster, 3).await;
    let mut c = Clients::start().await;
    let w1 = c.connect("w1", &w.base).await;
    let n1a = c.connect("n1", &n1.base).await;
    c.connect("n2", &n2.base).await;

    let mut requests = ChannelWatch::start(&redis.url(), "socket.io-request#/#").await;
    n2.proc.freeze();
    let io = w.io.clone();
    let start = Instant::now();
    let fetch = tokio::spawn(async move { io.of("/").broadcast().fetch_sockets().await });
    // Once the request is out (n2 still counts as subscribed), kill n2 while it waits.
    let uid = w.cluster.uid().to_owned();
    requests
        .next_json("wsx's fetchSockets request", |v| v["uid"] == uid.as_str())
        .await;
    assert!(
        !fetch.is_finished(),
        "fetchSockets did not wait for the frozen node"
    );
    n2.proc.kill();
    let found = tokio::time::timeout(common::T, fetch)
        .await
        .expect("fetchSockets hangs after a node died")
        .unwrap();
    let elapsed = start.elapsed();
    assert!(
        elapsed >= REQUESTS_TIMEOUT - Duration::from_millis(200)
            && elapsed < REQUESTS_TIMEOUT + Duration::from_secs(2),
        "fetchSockets ended after {elapsed:?}"
    );
    let mut ids: Vec<String> = found.into_iter().map(|s| s.id).collect();
    ids.sort();
    let mut want = vec![w1, n1a];
    want.sort();
    assert_eq!(
        ids, want,
        "the answers that came: this node's and n1's sockets"
    );

    // The dead node is no longer counted: the next request is answered at once.
    wait_nodes(&w.cluster, 2).await;
    let start = Instant::now();
    let found = w.io.of("/").broadcast().fetch_sockets().await;
    assert_eq!(found.len(), 2);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wsx_node_process_killed_during_fetch_sockets_ends_them_at_the_timeout() {
    let redis = Redis::start().await;
    let w = WsxNode::start(&redis.url()).await;
    let mut n = NodeServer::start(&redis.url()).await;
    let (mut victim, victim_base) = spawn_wsx_process(&redis.url()).await;
    wait_nodes(&w.cluster, 3).await;
    let mut c = Clients::start().await;
    let w1 = c.connect("w1", &w.base).await;
    let n1 = c.connect("n1", &n.base).await;
    c.connect("v1", &victim_base).await;
    let r = n.proc.call(json!({"op": "fetch_sockets"})).await;
    assert_eq!(sorted_ids(&r["sockets"]).len(), 3, "{r}");

    // A Node fetchSockets and a wsx one wait for the frozen wsx process; once both requests
    // are out, it is killed.
    let mut requests = ChannelWatch::start(&redis.url(), "socket.io-request#/#").await;
    victim.freeze();
    n.proc
        .send(json!({"op": "fetch_sockets", "seq": "during_kill"}));
    let io = w.io.clone();
    let start = Instant::now();
    let fetch = tokio::spawn(async move { io.of("/").broadcast().fetch_sockets().await });
    let uid = w.cluster.uid().to_owned();
    let first = requests
        .next_json("a fetchSockets request", |v| v["type"].is_number())
        .await;
    let second = requests
        .next_json("the other fetchSockets request", |v| {
            v["type"] == first["type"] && v["uid"] != first["uid"]
        })
        .await;
    assert!(
        [&first, &second].iter().any(|r| r["uid"] == uid.as_str()),
        "the requests: {first} {second}"
    );
    if fetch.is_finished() {
        let r = fetch.await;
        let nodes = w.cluster.nodes("/").await;
        panic!(
            "fetchSockets did not wait for the frozen node: {:?} after {:?}, nodes {nodes:?}",
            r.map(|v| v.into_iter().map(|s| s.id).collect::<Vec<_>>()),
            start.elapsed()
        );
    }
    victim.kill();

    // wsx: ends at its requests timeout with the Node node's answer.
    let found = tokio::time::timeout(common::T, fetch)
        .await
        .expect("fetchSockets hangs after a node died")
        .unwrap();
    let elapsed = start.elapsed();
    assert!(
        elapsed >= REQUESTS_TIMEOUT - Duration::from_millis(200)
            && elapsed < REQUESTS_TIMEOUT + Duration::from_secs(2),
        "fetchSockets ended after {elapsed:?}"
    );
    let mut ids: Vec<String> = found.into_iter().map(|s| s.id).collect();
    ids.sort();
    let mut want = vec![w1.clone(), n1.clone()];
    want.sort();
    assert_eq!(ids, want);

    // Node: @socket.io/redis-adapter rejects a fetchSockets that times out ("timeout reached:
    // only 1 responses received out of 2"); it does so at its timeout, it does not hang.
    let r = n
        .proc
        .expect("Node's fetchSockets to end", |v| v["seq"] == "during_kill")
        .await;
    assert!(start.elapsed() < REQUESTS_TIMEOUT + Duration::from_secs(2));
    assert_eq!(r["ev"], "error", "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("timeout reached"),
        "{r}"
    );

    // Without the dead node both kinds answer each other again at once.
    wait_nodes(&w.cluster, 2).await;
    let r = n.proc.call(json!({"op": "fetch_sockets"})).await;
    assert_eq!(sorted_ids(&r["sockets"]), want, "{r}");
}
