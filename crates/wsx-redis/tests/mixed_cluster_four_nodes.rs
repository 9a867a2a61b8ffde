//! Two wsx nodes and two Node `socket.io` 4.8 nodes on one Redis, two `socket.io-client` peers
//! on each node: with the classic adapter (`@socket.io/redis-adapter` 8.3) and with the streams
//! adapter (`@socket.io/redis-streams-adapter` 0.2.3), broadcasts started on all four nodes at
//! once reach every client exactly once and in order per sender; a room join started on either
//! kind, `fetchSockets` and `serverSideEmit` with acknowledgement from each node span all four.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::{Clients, NodeServer, Patience, Redis, StreamsNode, WsxNode, wait_nodes};
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;
use wsx_socketio::{Data, SocketIo};

/// Messages each node broadcasts in the ordering test.
const PER_NODE: u64 = 200;

#[derive(Clone, Copy)]
enum Kind {
    Classic,
    Streams,
}

/// A wsx node of either adapter.
struct Wsx {
    name: &'static str,
    io: SocketIo,
    base: String,
    server_side: UnboundedReceiver<Vec<Data>>,
}

struct Four {
    _redis: Redis,
    wsx: Vec<Wsx>,
    node: Vec<(&'static str, NodeServer)>,
    clients: Clients,
    /// Every client's sid, by client name (`w1a`: the first client of node w1).
    sids: BTreeMap<String, String>,
}

impl Four {
    async fn start(kind: Kind) -> Four {
        let redis = Redis::start().await;
        let url = redis.url();
        let mut wsx = Vec::new();
        let mut node;
        match kind {
            Kind::Classic => {
                let (w1, w2) = (WsxNode::start(&url).await, WsxNode::start(&url).await);
                let (n1, n2) = (NodeServer::start(&url).await, NodeServer::start(&url).await);
                wait_nodes(&w1.cluster, 4).await;
                for (name, w) in [("w1", w1), ("w2", w2)] {
                    wsx.push(Wsx {
                        name,
                        io: w.io,
                        base: w.base,
                        server_side: w.server_side,
                    });
                }
                node = vec![("n1", n1), ("n2", n2)];
            }
            Kind::Streams => {
                let (w1, w2) = (
                    StreamsNode::start(&url).await,
                    StreamsNode::start(&url).await,
                );
                let n1 = NodeServer::start_streams(&url).await;
                let n2 = NodeServer::start_streams(&url).await;
                w1.wait_nodes(4).await;
                w2.wait_nodes(4).await;
                for (name, w) in [("w1", w1), ("w2", w2)] {
                    wsx.push(Wsx {
                        name,
                        io: w.io,
                        base: w.base,
                        server_side: w.server_side,
                    });
                }
                node = vec![("n1", n1), ("n2", n2)];
                for (_, n) in &mut node {
                    n.wait_server_count(4).await;
                }
            }
        }
        let mut clients = Clients::start().await;
        let mut sids = BTreeMap::new();
        let bases: Vec<(&str, String)> = wsx
            .iter()
            .map(|w| (w.name, w.base.clone()))
            .chain(node.iter().map(|(name, n)| (*name, n.base.clone())))
            .collect();
        for (name, base) in bases {
            for suffix in ["a", "b"] {
                let id = format!("{name}{suffix}");
                let sid = clients.connect(&id, &base).await;
                sids.insert(id, sid);
            }
        }
        Four {
            _redis: redis,
            wsx,
            node,
            clients,
            sids,
        }
    }

    fn all_sids(&self) -> Vec<String> {
        let mut all: Vec<String> = self.sids.values().cloned().collect();
        all.sort();
        all
    }
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

async fn broadcasts_reach_every_client_once_in_order(kind: Kind) {
    let mut four = Four::start(kind).await;
    // All four nodes at once: the Node nodes get their command first (answered later), the
    // wsx nodes emit from tasks of their own.
    for (name, n) in &mut four.node {
        n.proc.send(json!({
            "op": "broadcast_many", "event": "seq", "from": name, "count": PER_NODE,
        }));
    }
    let tasks: Vec<_> = four
        .wsx
        .iter()
        .map(|w| {
            let (io, name) = (w.io.clone(), w.name);
            tokio::spawn(async move {
                for i in 0..PER_NODE {
                    io.emit("seq", vec![Data::from(name), Data::from(i)]);
                    if i % 50 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let n_clients = four.sids.len();
    let total = n_clients * 4 * PER_NODE as usize;
    let got = four
        .clients
        .0
        .inbox
        .take("seq events", total, |v| {
            v["ev"] == "event" && v["event"] == "seq"
        })
        .await;
    // Per client and sender: 0, 1, …, PER_NODE-1, each once, in order.
    let mut seen: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
    for v in &got {
        let client = v["id"].as_str().unwrap().to_owned();
        let from = v["args"][0].as_str().unwrap().to_owned();
        seen.entry((client, from))
            .or_default()
            .push(v["args"][1].as_u64().unwrap());
    }
    let want: Vec<u64> = (0..PER_NODE).collect();
    assert_eq!(seen.len(), n_clients * 4, "{:?}", seen.keys());
    for ((client, from), numbers) in &seen {
        assert_eq!(numbers, &want, "{client} got from {from}");
    }
    // Nothing more comes (no duplicates): a barrier from each of the four nodes to every
    // client comes after whatever that node sent before.
    for (_, n) in &mut four.node {
        n.proc
            .call(json!({"op": "broadcast", "event": "barrier", "args": ["node"]}))
            .await;
    }
    let wsx_ios: Vec<&SocketIo> = four.wsx.iter().map(|w| &w.io).collect();
    let ids: Vec<String> = four.sids.keys().cloned().collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    four.clients.barrier(&wsx_ios, &ids).await;
    let from_nodes = four
        .clients
        .0
        .inbox
        .take("the Node nodes' barriers", n_clients * 2, |v| {
            v["ev"] == "event" && v["event"] == "barrier" && v["args"][0] == "node"
        })
        .await;
    for id in &ids {
        let n = from_nodes.iter().filter(|v| v["id"] == *id).count();
        assert_eq!(n, 2, "{id}: the barriers of both Node nodes");
    }
    assert!(
        !four
            .clients
            .0
            .inbox
            .seen(|v| v["ev"] == "event" && v["event"] == "seq"),
        "a client received a message twice"
    );
}

async fn joins_fetch_sockets_and_server_side_emit_span_four_nodes(kind: Kind) {
    let mut four = Four::start(kind).await;
    let all = four.all_sids();

    // fetchSockets from each of the four nodes returns the clients of all four.
    for w in &four.wsx {
        let mut ids: Vec<String> =
            w.io.of("/")
                .broadcast()
                .fetch_sockets()
                .await
                .into_iter()
                .map(|s| s.id)
                .collect();
        ids.sort();
        assert_eq!(ids, all, "fetchSockets from {}", w.name);
    }
    for (name, n) in &mut four.node {
        let r = n.proc.call(json!({"op": "fetch_sockets"})).await;
        assert_eq!(
            sorted_ids(&r["sockets"]),
            all,
            "fetchSockets from {name}: {r}"
        );
    }

    // A room join started on a Node node puts every client in the room; wsx sees it, and a
    // broadcast from the other wsx node to that room reaches all.
    four.node[0]
        .1
        .proc
        .call(json!({"op": "sockets_join", "join": ["from_node"]}))
        .await;
    let p = Patience::new("Node's socketsJoin to reach every client");
    loop {
        let mut ids: Vec<String> = four.wsx[1]
            .io
            .to(["from_node"])
            .fetch_sockets()
            .await
            .into_iter()
            .map(|s| s.id)
            .collect();
        ids.sort();
        if ids == all {
            break;
        }
        p.again().await;
    }
    four.wsx[1].io.to(["from_node"]).emit("room_a", "r");
    for id in four.sids.keys() {
        // (The streams adapter adds the offset to a broadcast's arguments.)
        assert_eq!(four.clients.event(id, "room_a").await[0], json!("r"));
    }

    // A room join started on a wsx node; Node's fetchSockets sees every client in it, and a
    // Node broadcast to that room reaches all.
    four.wsx[0]
        .io
        .of("/")
        .broadcast()
        .sockets_join(["from_wsx"]);
    let p = Patience::new("wsx's socketsJoin to reach every client");
    loop {
        let r = four.node[1]
            .1
            .proc
            .call(json!({"op": "fetch_sockets", "rooms": ["from_wsx"]}))
            .await;
        if sorted_ids(&r["sockets"]) == all {
            break;
        }
        p.again().await;
    }
    four.node[1]
        .1
        .proc
        .call(json!({"op": "broadcast", "rooms": ["from_wsx"], "event": "room_b", "args": ["r"]}))
        .await;
    for id in four.sids.keys() {
        assert_eq!(four.clients.event(id, "room_b").await[0], json!("r"));
    }

    // serverSideEmit with acknowledgement from each node: the three others answer.
    for i in 0..four.wsx.len() {
        let name = four.wsx[i].name;
        let acks = four.wsx[i]
            .io
            .of("/")
            .server_side_emit_with_ack("srv_ack", vec![Data::from(name)])
            .await;
        assert_eq!(acks.expected, 3, "{name}");
        assert!(!acks.timed_out(), "{name}: {acks:?}");
        let mut nodes: Vec<String> = acks
            .answers
            .iter()
            .map(|a| match a {
                Data::Json(v) => {
                    assert_eq!(v["got"], json!([name]), "{v}");
                    v["node"].as_str().unwrap().to_owned()
                }
                other => panic!("{other:?}"),
            })
            .collect();
        nodes.sort();
        assert_eq!(nodes, ["node", "node", "wsx"], "answers to {name}");
        let other = &mut four.wsx[1 - i];
        let got = tokio::time::timeout(common::T, other.server_side.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, vec![Data::from("srv_ack"), Data::from(name)]);
    }
    for (name, n) in &mut four.node {
        let r = n
            .proc
            .call(json!({"op": "server_side_emit_ack", "event": "srv_ack", "args": [name]}))
            .await;
        assert!(r.get("timeout").is_none(), "{name}: {r}");
        let responses = r["responses"].as_array().unwrap();
        let mut nodes: Vec<&str> = responses
            .iter()
            .map(|a| {
                assert_eq!(a["got"], json!([name]), "{r}");
                a["node"].as_str().unwrap()
            })
            .collect();
        nodes.sort();
        assert_eq!(nodes, ["node", "wsx", "wsx"], "answers to {name}: {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_broadcasts_from_four_nodes_reach_every_client_once_in_order() {
    broadcasts_reach_every_client_once_in_order(Kind::Classic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_joins_fetch_sockets_and_server_side_emit_span_four_nodes() {
    joins_fetch_sockets_and_server_side_emit_span_four_nodes(Kind::Classic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_broadcasts_from_four_nodes_reach_every_client_once_in_order() {
    broadcasts_reach_every_client_once_in_order(Kind::Streams).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_joins_fetch_sockets_and_server_side_emit_span_four_nodes() {
    joins_fetch_sockets_and_server_side_emit_span_four_nodes(Kind::Streams).await;
}
