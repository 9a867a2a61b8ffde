//! `Hub`: topics over real connections, publish with an exception, subscriptions dropped
//! with the client, the slow-consumer policy under publish, and a `Relay` joining two hubs as
//! two processes would be.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use wsx::{ClientId, Hub, Message, Options, Relay, Server, SlowConsumer, WebSocket};

/// A server whose clients send `sub:T`, `unsub:T` or `pub:T:text`, with the hub over its
/// clients; each connection's id (the server's) is reported on `ids` once it is registered.
/// The handler never removes anything from the hub: a connection's subscriptions end with it.
async fn hub_server(
    opts: Options,
) -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<ClientId>,
    Hub,
) {
    let server = Server::builder()
        .options(opts)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let hub = server.hub();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let h = hub.clone();
    tokio::spawn(server.serve(move |mut c: wsx::Connected| {
        let hub = h.clone();
        let tx = tx.clone();
        async move {
            let id = c.id;
            tx.send(id).unwrap();
            while let Some(Ok(Message::Text(t))) = c.ws.recv().await {
                if let Some(topic) = t.strip_prefix("sub:") {
                    hub.subscribe(id, topic);
                } else if let Some(topic) = t.strip_prefix("unsub:") {
                    hub.unsubscribe(id, topic);
                } else if let Some(rest) = t.strip_prefix("pub:") {
                    let (topic, text) = rest.split_once(':').unwrap();
                    hub.publish_except(topic, &Message::text(text), Some(id));
                }
                c.ws.send(Message::text("ok")).await.unwrap();
            }
        }
    }));
    (addr, rx, hub)
}

type Client = WebSocket<wsx::MaybeTlsStream>;

async fn client(
    addr: std::net::SocketAddr,
    ids: &mut tokio::sync::mpsc::UnboundedReceiver<ClientId>,
) -> (Client, ClientId) {
    let (ws, _) = within(wsx::connect(&url(addr, "/"))).await.unwrap();
    (ws, within(ids.recv()).await.unwrap())
}

async fn say(ws: &mut Client, what: &str) {
    ws.send(Message::text(what)).await.unwrap();
    assert_eq!(
        within(ws.recv()).await.unwrap().unwrap(),
        Message::text("ok")
    );
}

async fn next_text(ws: &mut Client) -> String {
    match within(ws.recv()).await.unwrap().unwrap() {
        Message::Text(t) => t.to_string(),
        m => panic!("unexpected {m:?}"),
    }
}

#[tokio::test]
async fn topics_route_publishes_to_their_subscribers_only() {
    let (addr, mut ids, hub) = hub_server(Options::default()).await;
    let (mut a, ia) = client(addr, &mut ids).await;
    let (mut b, ib) = client(addr, &mut ids).await;
    let (mut c, _ic) = client(addr, &mut ids).await;
    // One registry: the hub's clients are the server's, each under the id the server gave it.
    assert_eq!(hub.len(), 3);
    assert!(hub.get(ia).is_some() && hub.clients().get(ib).is_some());
    say(&mut a, "sub:news").await;
    say(&mut b, "sub:news").await;
    say(&mut b, "sub:sport").await;
    assert_eq!(hub.subscribers("news"), 2);
    assert!(hub.is_subscribed(ib, "sport") && !hub.is_subscribed(ia, "sport"));
    let mut t = hub.topics_of(ib);
    t.sort();
    assert_eq!(t, ["news", "sport"]);

    // From c (not subscribed): both subscribers get it, c only its "ok".
    say(&mut c, "pub:news:headline").await;
    assert_eq!(next_text(&mut a).await, "headline");
    assert_eq!(next_text(&mut b).await, "headline");
    // From a: everyone on the topic but a.
    say(&mut a, "pub:news:from a").await;
    assert_eq!(next_text(&mut b).await, "from a");
    // From the server: a publish reports who got it.
    let r = hub.publish("sport", &Message::text("goal"));
    assert_eq!((r.queued, r.dropped, r.closed), (1, 0, 0));
    assert_eq!(next_text(&mut b).await, "goal");

    say(&mut b, "unsub:news").await;
    assert!(!hub.is_subscribed(ib, "news"));
    say(&mut c, "pub:news:second").await;
    assert_eq!(next_text(&mut a).await, "second");
    // b got nothing more on news: the next thing it sees is its own "ok".
    say(&mut b, "sub:x").await;

    // A client that leaves takes its subscriptions with it; an empty topic disappears.
    b.close(1000u16, "").await.unwrap();
    while within(b.recv()).await.is_some() {}
    wait_until(|| hub.len() == 2).await;
    assert_eq!(hub.subscribers("sport"), 0);
    assert!(!hub.topics().iter().any(|t| t == "sport" || t == "x"));
    assert_eq!(hub.publish("sport", &Message::text("nobody")).queued, 0);
}

#[tokio::test]
async fn a_subscriber_that_stops_reading_is_bounded_and_does_not_hold_up_the_others() {
    for policy in [SlowConsumer::Drop, SlowConsumer::Close] {
        let mut opts = Options::default();
        opts.max_buffered = 64 * 1024;
        opts.slow_consumer = policy;
        let (addr, mut ids, hub) = hub_server(opts).await;
        let (mut fast, _) = client(addr, &mut ids).await;
        let (mut slow, islow) = client(addr, &mut ids).await;
        say(&mut fast, "sub:t").await;
        say(&mut slow, "sub:t").await;

        // The slow client never reads again; the fast one reads everything as it comes.
        let payload = "x".repeat(16 * 1024);
        let (mut dropped, mut closed) = (0, 0);
        for i in 0..400 {
            let r = hub.publish("t", &Message::text(format!("{i}:{payload}")));
            dropped += r.dropped;
            closed += r.closed;
            let got = next_text(&mut fast).await;
            assert!(
                got.starts_with(&format!("{i}:")),
                "fast reader got {got:.10}"
            );
        }
        let queued = hub.get(islow).map(|s| s.buffered_amount()).unwrap_or(0);
        assert!(
            queued <= 64 * 1024 + 17 * 1024,
            "slow queue grew to {queued}"
        );
        match policy {
            SlowConsumer::Drop => assert!(dropped > 0 && closed == 0, "{dropped} {closed}"),
            SlowConsumer::Close => assert!(closed > 0 && dropped == 0, "{dropped} {closed}"),
        }
        drop(slow);
    }
}

#[derive(Default)]
struct Wire {
    hubs: Mutex<Vec<Hub>>,
    log: Mutex<Vec<String>>,
}

/// Links hubs the way a Redis relay would: a publish on one is delivered locally by the others.
struct TestRelay {
    me: usize,
    wire: Arc<Wire>,
}

impl Relay for TestRelay {
    fn publish(&self, topic: &str, msg: &Message) {
        let hubs = self.wire.hubs.lock().unwrap().clone();
        for (i, h) in hubs.iter().enumerate() {
            if i != self.me {
                h.publish_local(topic, msg);
            }
        }
    }
    fn subscribed(&self, topic: &str) {
        self.wire
            .log
            .lock()
            .unwrap()
            .push(format!("{}+{topic}", self.me));
    }
    fn unsubscribed(&self, topic: &str) {
        self.wire
            .log
            .lock()
            .unwrap()
            .push(format!("{}-{topic}", self.me));
    }
}

#[tokio::test]
async fn a_relay_carries_publishes_between_hubs_and_hears_of_topics() {
    let wire = Arc::new(Wire::default());
    let (addr0, mut ids0, h0) = hub_server(Options::default()).await;
    let (addr1, mut ids1, h1) = hub_server(Options::default()).await;
    *wire.hubs.lock().unwrap() = vec![h0.clone(), h1.clone()];
    let (mut a, _) = client(addr0, &mut ids0).await;
    say(&mut a, "sub:room").await;
    // Installed after a subscription: the relay hears of the topic already there.
    h0.set_relay(Arc::new(TestRelay {
        me: 0,
        wire: wire.clone(),
    }));
    h1.set_relay(Arc::new(TestRelay {
        me: 1,
        wire: wire.clone(),
    }));
    let (mut b, _) = client(addr1, &mut ids1).await;
    let (mut c, _) = client(addr1, &mut ids1).await;
    say(&mut b, "sub:room").await;
    say(&mut c, "sub:room").await;

    // Published on process 1 by b: a (process 0) and c get it, b does not.
    say(&mut b, "pub:room:hello").await;
    assert_eq!(next_text(&mut a).await, "hello");
    assert_eq!(next_text(&mut c).await, "hello");
    // Published on process 0 by the server: everyone on 1 gets it once.
    h0.publish("room", &Message::text("from 0"));
    assert_eq!(next_text(&mut a).await, "from 0");
    assert_eq!(next_text(&mut b).await, "from 0");
    assert_eq!(next_text(&mut c).await, "from 0");

    say(&mut b, "unsub:room").await;
    // `say` returns once the server answered, after the unsubscription.
    say(&mut c, "unsub:room").await;
    // Only the first join and the last leave of a process reach the relay.
    assert_eq!(*wire.log.lock().unwrap(), ["0+room", "1+room", "1-room"]);
}
