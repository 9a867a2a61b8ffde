//! `HubRelay`: `wsx::Hub` topics shared by several wsx servers (nodes) over one Redis, with
//! real WebSocket clients: exactly-once in-order delivery per publisher, SUBSCRIBE only where
//! there are subscribers, text and binary kept, a Redis restart survived, foreign bytes ignored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::{Redis, T, eventually, eventually_async};
use wsx::{Hub, Message, Server, WebSocket};
use wsx_redis::{HubRelay, HubRelayBuilder};

/// A wsx server with its own hub and relay (its own Redis connections), as a process would be.
/// Its clients send `sub:T` / `unsub:T` (answered `ok`) or `pub:T:text` (not answered); a
/// binary message is published as is to topic `bin`.
struct Node {
    hub: Hub,
    relay: HubRelay,
    addr: SocketAddr,
}

impl Node {
    async fn start(redis_url: &str) -> Node {
        let hub = Hub::new();
        let relay = HubRelayBuilder::new(redis_url).connect(&hub).await.unwrap();
        let server = Server::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let h = hub.clone();
        tokio::spawn(server.serve(move |mut c: wsx::Connected| {
            let hub = h.clone();
            async move {
                let id = hub.add(c.ws.sender());
                while let Some(Ok(msg)) = c.ws.recv().await {
                    match msg {
                        Message::Text(t) => {
                            if let Some(topic) = t.strip_prefix("sub:") {
                                hub.subscribe(id, topic);
                            } else if let Some(topic) = t.strip_prefix("unsub:") {
                                hub.unsubscribe(id, topic);
                            } else if let Some(rest) = t.strip_prefix("pub:") {
                                let (topic, text) = rest.split_once(':').unwrap();
                                hub.publish_except(topic, &Message::text(text), Some(id));
                                continue;
                            }
                            if c.ws.send(Message::text("ok")).await.is_err() {
                                break;
                            }
                        }
                        Message::Binary(_) => {
                            hub.publish_except("bin", &msg, Some(id));
                        }
                        _ => {}
                    }
                }
                hub.remove(id);
            }
        }));
        Node { hub, relay, addr }
    }

    async fn client(&self) -> Client {
        let (ws, _) = within(wsx::connect(&format!("ws://{}/", self.addr)))
            .await
            .unwrap();
        Client(ws)
    }
}

struct Client(WebSocket<wsx::MaybeTlsStream>);

impl Client {
    async fn say(&mut self, what: &str) {
        self.0.send(Message::text(what)).await.unwrap();
        assert_eq!(self.next().await, Message::text("ok"));
    }

    async fn send(&mut self, msg: Message) {
        self.0.send(msg).await.unwrap();
    }

    async fn next(&mut self) -> Message {
        within(self.0.recv()).await.unwrap().unwrap()
    }

    async fn next_text(&mut self) -> String {
        match self.next().await {
            Message::Text(t) => t.to_string(),
            m => panic!("unexpected {m:?}"),
        }
    }
}

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(T, f).await.expect("timed out")
}

/// Waits until `PUBSUB NUMSUB` of `topic`'s channel is `n` (another node's subscription has
/// no event here).
async fn wait_nodes(relay: &HubRelay, topic: &str, n: usize) {
    eventually_async(&format!("{n} nodes subscribed to {topic}"), || async {
        relay.nodes(topic).await.ok() == Some(n)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_reach_every_node_once_and_in_order_per_publisher() {
    let redis = Redis::start().await;
    let nodes = [
        Node::start(&redis.url()).await,
        Node::start(&redis.url()).await,
        Node::start(&redis.url()).await,
    ];
    // Two subscribers on node 0, one on each of nodes 1 and 2.
    let mut subs = Vec::new();
    for n in [0, 0, 1, 2] {
        let mut c = nodes[n].client().await;
        c.say("sub:t").await;
        subs.push(c);
    }
    wait_nodes(&nodes[0].relay, "t", 3).await;
    // A publisher on node 0 and one on node 2 (not subscribed), 500 numbered messages each,
    // at the same time.
    const N: usize = 500;
    let mut pubs = [nodes[0].client().await, nodes[2].client().await];
    let (p0, p1) = pubs.split_at_mut(1);
    tokio::join!(
        async {
            for i in 0..N {
                p0[0].send(Message::text(format!("pub:t:a{i}"))).await;
            }
        },
        async {
            for i in 0..N {
                p1[0].send(Message::text(format!("pub:t:b{i}"))).await;
            }
        },
    );
    for (k, sub) in subs.iter_mut().enumerate() {
        let mut next: HashMap<char, usize> = HashMap::new();
        for _ in 0..2 * N {
            let t = sub.next_text().await;
            let (who, i) = t.split_at(1);
            let want = next.entry(who.chars().next().unwrap()).or_default();
            assert_eq!(i.parse::<usize>().unwrap(), *want, "subscriber {k}: {t}");
            *want += 1;
        }
        assert_eq!(next.values().copied().collect::<Vec<_>>(), [N, N]);
    }
    // Exactly once: nothing more comes. Each publisher sends a marker now that everything
    // before it went through Redis; a node's subscribers get the other node's marker through
    // Redis after any copy of their own node's messages, and each publisher's own in order
    // after its messages: the markers must be the next two messages everywhere.
    p0[0].send(Message::text("pub:t:end-a")).await;
    p1[0].send(Message::text("pub:t:end-b")).await;
    for (k, sub) in subs.iter_mut().enumerate() {
        let mut ends = [sub.next_text().await, sub.next_text().await];
        ends.sort();
        assert_eq!(ends, ["end-a", "end-b"], "subscriber {k}");
    }
    for n in &nodes {
        let m = n.relay.metrics();
        assert!(m.connected && m.malformed == 0 && m.errors == 0, "{m:?}");
    }
    // Nodes 0 and 2 published 500 each and a marker; every subscribed node heard all 1002
    // (its own too).
    assert_eq!(nodes[0].relay.metrics().messages_out, N as u64 + 1);
    assert_eq!(nodes[1].relay.metrics().messages_out, 0);
    assert_eq!(nodes[1].relay.metrics().messages_in, 2 * N as u64 + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_nodes_with_subscribers_subscribe() {
    let redis = Redis::start().await;
    let a = Node::start(&redis.url()).await;
    let b = Node::start(&redis.url()).await;
    let c = Node::start(&redis.url()).await;
    assert_eq!(a.relay.nodes("x").await.unwrap(), 0);

    let mut a1 = a.client().await;
    a1.say("sub:x").await;
    assert!(a.relay.wait_subscribed("x", T).await);
    assert_eq!(a.relay.nodes("x").await.unwrap(), 1);
    assert!(!b.relay.is_subscribed("x"));
    let mut b1 = b.client().await;
    let mut b2 = b.client().await;
    // A barrier: b's relay handles its hub's changes in order, so once it subscribed to
    // another topic, anything that would have subscribed it to x was handled.
    b2.say("sub:other").await;
    assert!(b.relay.wait_subscribed("other", T).await);
    assert!(!b.relay.is_subscribed("x"));
    assert!(!b.relay.wait_subscribed("x", Duration::ZERO).await);
    b1.say("sub:x").await;
    b2.say("sub:x").await;
    wait_nodes(&a.relay, "x", 2).await;
    // A third node without subscribers publishes: both subscribed nodes deliver.
    let mut c1 = c.client().await;
    c1.send(Message::text("pub:x:hello")).await;
    for s in [&mut a1, &mut b1, &mut b2] {
        assert_eq!(s.next_text().await, "hello");
    }
    assert_eq!(c.relay.metrics().messages_in, 0);

    // The last subscriber of a node leaving unsubscribes it; another one staying does not.
    a1.say("unsub:x").await;
    wait_nodes(&a.relay, "x", 1).await;
    b1.say("unsub:x").await;
    // A barrier as above: an unsubscription from x would have been sent before this.
    b2.say("sub:other2").await;
    assert!(b.relay.wait_subscribed("other2", T).await);
    assert_eq!(b.relay.nodes("x").await.unwrap(), 1);
    drop(b2); // closing the connection removes it from the hub
    wait_nodes(&a.relay, "x", 0).await;
    assert_eq!(b.hub.subscribers("x"), 0);

    // Quick subscribe/unsubscribe/subscribe churn ends subscribed.
    for _ in 0..5 {
        a1.say("sub:y").await;
        a1.say("unsub:y").await;
    }
    a1.say("sub:y").await;
    wait_nodes(&a.relay, "y", 1).await;
    // A barrier: every (un)subscription of the churn was sent before this one.
    a1.say("sub:after-churn").await;
    assert!(a.relay.wait_subscribed("after-churn", T).await);
    assert_eq!(a.relay.nodes("y").await.unwrap(), 1);
    assert!(a.relay.is_subscribed("y"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_and_text_are_kept() {
    let redis = Redis::start().await;
    let a = Node::start(&redis.url()).await;
    let b = Node::start(&redis.url()).await;
    let mut sub = b.client().await;
    sub.say("sub:bin").await;
    sub.say("sub:txt").await;
    wait_nodes(&a.relay, "bin", 1).await;
    wait_nodes(&a.relay, "txt", 1).await;
    let mut p = a.client().await;
    // Every byte value (not UTF-8), an empty message, a large one.
    let all: Vec<u8> = (0..=255).collect();
    p.send(Message::binary(all.clone())).await;
    p.send(Message::binary(Vec::new())).await;
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    p.send(Message::binary(big.clone())).await;
    p.send(Message::text("pub:txt:héllo wörld ✓ 🎉")).await;
    p.send(Message::text("pub:txt:")).await;
    assert_eq!(sub.next().await, Message::binary(all));
    assert_eq!(sub.next().await, Message::binary(Vec::new()));
    assert_eq!(sub.next().await, Message::binary(big));
    assert_eq!(sub.next().await, Message::text("héllo wörld ✓ 🎉"));
    assert_eq!(sub.next().await, Message::text(""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_after_redis_restarts() {
    let mut redis = Redis::start().await;
    let a = Node::start(&redis.url()).await;
    let b = Node::start(&redis.url()).await;
    let mut sub_a = a.client().await;
    let mut sub_b = b.client().await;
    sub_a.say("sub:t").await;
    sub_b.say("sub:t").await;
    wait_nodes(&a.relay, "t", 2).await;
    let mut p = a.client().await;
    p.send(Message::text("pub:t:before")).await;
    assert_eq!(sub_a.next_text().await, "before");
    assert_eq!(sub_b.next_text().await, "before");

    // Redis goes away: local delivery goes on, the outage shows in the metrics.
    redis.stop();
    eventually("the outage to show", || {
        !a.relay.metrics().connected && !b.relay.metrics().connected
    })
    .await;
    p.send(Message::text("pub:t:during")).await;
    assert_eq!(sub_a.next_text().await, "during");

    // Redis comes back (empty): both nodes resubscribe by themselves.
    redis.restart().await;
    wait_nodes(&a.relay, "t", 2).await;
    assert!(a.relay.ready(T).await && b.relay.ready(T).await);
    // The publisher's connection comes back at its first use after the outage: a probe is
    // either published (then it crosses) or dropped (then the next one is tried).
    let mut probe = 0;
    loop {
        let before = a.relay.metrics();
        p.send(Message::text(format!("pub:t:probe{probe}"))).await;
        assert_eq!(sub_a.next_text().await, format!("probe{probe}"));
        eventually("the probe's publish to end", || {
            let m = a.relay.metrics();
            m.messages_out > before.messages_out || m.errors > before.errors
        })
        .await;
        if a.relay.metrics().messages_out > before.messages_out {
            break;
        }
        probe += 1;
        assert!(probe < 20, "nothing crosses");
    }
    // From now on every message crosses, once, in order: a marker ends what crossed of the
    // probes (and "during", which the publisher may have kept and sent once Redis was back).
    p.send(Message::text("pub:t:sync")).await;
    assert_eq!(sub_a.next_text().await, "sync");
    loop {
        let t = sub_b.next_text().await;
        if t == "sync" {
            break;
        }
        assert!(t.starts_with("probe") || t == "during", "{t}");
    }
    for i in 0..100 {
        p.send(Message::text(format!("pub:t:after{i}"))).await;
    }
    for i in 0..100 {
        assert_eq!(sub_a.next_text().await, format!("after{i}"));
        assert_eq!(sub_b.next_text().await, format!("after{i}"));
    }
    p.send(Message::text("pub:t:end")).await;
    assert_eq!(sub_b.next_text().await, "end", "nothing twice");
    for n in [&a, &b] {
        let m = n.relay.metrics();
        assert!(m.connected && m.reconnects >= 1, "{m:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_bytes_on_a_channel_are_ignored() {
    let redis = Redis::start().await;
    let a = Node::start(&redis.url()).await;
    let mut sub = a.client().await;
    sub.say("sub:t").await;
    wait_nodes(&a.relay, "t", 1).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let channel = a.relay.channel("t");
    let foreign: [&[u8]; 6] = [
        b"hello",
        b"",
        b"WSXH\x02\x01\x00x",       // another version
        b"WSXH\x01\x07\x00x",       // unknown opcode
        b"WSXH\x01\x01\x09abc",     // uid longer than the message
        b"WSXH\x01\x01\x03xyz\xff", // text that is not UTF-8
    ];
    for raw in foreign {
        let _: usize = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(raw)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    // A well-formed message from a node that is not there is delivered: the format is open.
    let _: usize = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(&b"WSXH\x01\x01\x03xyzfrom elsewhere"[..])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(sub.next_text().await, "from elsewhere");
    let m = a.relay.metrics();
    assert_eq!((m.malformed, m.messages_in), (6, 7), "{m:?}");
    // And the node goes on relaying.
    let b = Node::start(&redis.url()).await;
    let mut p = b.client().await;
    p.send(Message::text("pub:t:still here")).await;
    assert_eq!(sub.next_text().await, "still here");
    p.send(Message::text("pub:t:end")).await;
    assert_eq!(sub.next_text().await, "end", "nothing else was delivered");
}
