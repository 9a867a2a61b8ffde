//! Hub topics across processes: [`HubRelay`], a [`wsx::Relay`] over Redis Pub/Sub, so a
//! message published to a [`wsx::Hub`] topic on any node reaches the topic's subscribers on
//! every node, still encoded once per node.
//!
//! # Wire format
//! One Redis channel per topic, `<prefix><topic>` (prefix `wsx-hub#`). A node SUBSCRIBEs to a
//! topic's channel when its first local subscriber joins and UNSUBSCRIBEs when the last one
//! leaves, so a publish costs one `PUBLISH` and reaches only the nodes that care. A message is
//!
//! ```text
//! "WSXH" | version 1 | opcode (1 text, 2 binary: WebSocket's) | uid length (u8) | uid | payload
//! ```
//!
//! where `uid` is the publishing node's id: a node ignores its own messages (it delivered them
//! locally when they were published). Anything else on a channel is counted as malformed and
//! ignored with a log line.
//!
//! # Order and faults
//! A node publishes in order through one queue (pipelined), and Redis delivers one channel's
//! messages to a subscriber in order, so each publisher's messages arrive in order. When
//! Redis goes away, local delivery goes on, publishes fail (counted, logged, dropped: Pub/Sub
//! keeps nothing), and the relay reconnects with backoff and SUBSCRIBEs again to every topic
//! that has local subscribers.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::sync::{Notify, mpsc, watch};
use wsx::{Hub, Message, Relay, Utf8Bytes};

use crate::connection::connect;
use crate::error::Error;
use crate::flag::set_within;
use crate::ids::random_id;
use crate::lock::lock;
use crate::metrics::{Metrics, MetricsInner};
use crate::pubsub::numsub;
use crate::setters::setters;

const MAGIC: &[u8; 4] = b"WSXH";
const VERSION: u8 = 1;
const OP_TEXT: u8 = 1;
const OP_BINARY: u8 = 2;
/// Messages waiting for Redis at most; beyond, a publish is dropped (and counted as an error).
const QUEUE: usize = 65_536;
/// `PUBLISH`es sent in one pipeline at most.
const BATCH: usize = 256;

/// Builds a [`HubRelay`]: the Redis URL and the channel prefix (`wsx-hub#`).
///
/// ```no_run
/// # async fn f() -> Result<(), wsx_redis::Error> {
/// let hub = wsx::Hub::new();
/// let relay = wsx_redis::HubRelayBuilder::new("redis://127.0.0.1:6379/")
///     .connect(&hub)
///     .await?;
/// // From now on hub.publish("news", &msg) reaches "news" subscribers on every node.
/// println!("node {} relays {:?}", relay.uid(), relay.metrics());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct HubRelayBuilder {
    url: String,
    prefix: String,
    metrics_part: String,
}

impl HubRelayBuilder {
    /// A builder for the Redis server at `url` (`redis://host:port/`).
    pub fn new(url: impl Into<String>) -> Self {
        HubRelayBuilder {
            url: url.into(),
            prefix: "wsx-hub#".into(),
            metrics_part: "relay".into(),
        }
    }

    setters! {
        /// The prefix of the topics' channels; every node must use the same.
        prefix(prefix: impl Into<String>) => prefix = prefix.into();
        /// The `part` label of the relay's series in the `metrics` facade (feature `metrics`;
        /// default `relay`).
        metrics_part(part: impl Into<String>) => metrics_part = part.into();
    }

    /// Connects to Redis and installs the relay on `hub` ([`Hub::set_relay`]). Must be called
    /// inside a tokio runtime, which the relay's tasks then run on.
    pub async fn connect(self, hub: &Hub) -> Result<HubRelay, Error> {
        let relay = self.connect_sink(Arc::new(hub.clone())).await?;
        hub.set_relay(Arc::new(relay.clone()));
        Ok(relay)
    }

    /// Connects to Redis for topics whose local side is `sink` rather than a [`Hub`]: publish
    /// with [`Relay::publish`], and call [`Relay::subscribed`] (or
    /// [`unsubscribed`](Relay::unsubscribed)) whenever [`TopicSink::wants`] may have changed
    /// for a topic. Must be called inside a tokio runtime.
    pub async fn connect_sink(self, sink: Arc<dyn TopicSink>) -> Result<HubRelay, Error> {
        let (client, conn) =
            connect(&self.url, Duration::from_secs(2), Duration::from_secs(5)).await?;
        // Fail early (as the classic adapter does) when Redis cannot be reached at all.
        let pubsub = client.get_async_pubsub().await?;
        let metrics = Arc::new(MetricsInner::new_connected(&self.metrics_part));
        let (publish, publish_rx) = mpsc::channel(QUEUE);
        let (control, control_rx) = mpsc::unbounded_channel();
        let (ready, _) = watch::channel(false);
        let shared = Arc::new(RelayShared {
            prefix: self.prefix,
            uid: random_id(),
            publish,
            control,
            metrics,
            conn: conn.clone(),
            subscribed: Mutex::new(HashSet::new()),
            subscribed_changed: Notify::new(),
            ready,
        });
        tokio::spawn(publisher(conn, publish_rx, shared.metrics.clone()));
        tokio::spawn(subscriber(
            shared.clone(),
            client,
            Some(pubsub),
            sink,
            control_rx,
        ));
        Ok(HubRelay(shared))
    }
}

/// The local side of topics shared over Redis by a [`HubRelay`]: which topics this process
/// listens to, and where what other processes publish goes. A [`Hub`] is one (its topics with
/// subscribers, delivered with [`Hub::publish_local`]); an application with its own rooms can
/// be another ([`HubRelayBuilder::connect_sink`]).
pub trait TopicSink: Send + Sync + 'static {
    /// Whether this process has listeners on `topic` (its channel is subscribed while so).
    fn wants(&self, topic: &str) -> bool;
    /// Every topic with listeners here (subscribed again after a reconnection).
    fn topics(&self) -> Vec<String>;
    /// A message another process published to `topic`.
    fn deliver(&self, topic: &str, msg: Message);
}

impl TopicSink for Hub {
    fn wants(&self, topic: &str) -> bool {
        self.subscribers(topic) > 0
    }

    fn topics(&self) -> Vec<String> {
        Hub::topics(self)
    }

    fn deliver(&self, topic: &str, msg: Message) {
        self.publish_local(topic, &msg);
    }
}

/// This node's end of the Hub topics shared over Redis (made by [`HubRelayBuilder`]); it is
/// the [`Relay`] installed on the hub. Cheap to clone.
///
/// One Redis channel per topic, `<prefix><topic>`, subscribed while the topic has local
/// subscribers. A message on it is `"WSXH" | 1 | opcode (1 text, 2 binary) | uid length (u8)
/// | uid | payload`, `uid` being the publishing node's (a node skips its own); anything else is
/// counted as malformed and ignored with a log line.
///
/// The relay's task holds the hub (or sink); [`close`](Self::close) stops it (and ends the
/// relaying).
#[derive(Clone)]
pub struct HubRelay(Arc<RelayShared>);

struct RelayShared {
    prefix: String,
    uid: String,
    publish: mpsc::Sender<(String, Bytes)>,
    control: mpsc::UnboundedSender<Control>,
    metrics: Arc<MetricsInner>,
    conn: redis::aio::ConnectionManager,
    /// The topics whose channels the subscriber connection has subscribed to (confirmed).
    subscribed: Mutex<HashSet<String>>,
    /// Notified when `subscribed` changes.
    subscribed_changed: Notify,
    /// Whether the subscriber connection is up and subscribed to every wanted topic.
    ready: watch::Sender<bool>,
}

enum Control {
    /// A topic gained its first or lost its last local subscriber: (un)subscribe to match.
    Check(String),
    Close,
}

impl std::fmt::Debug for HubRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubRelay")
            .field("prefix", &self.0.prefix)
            .field("uid", &self.0.uid)
            .finish_non_exhaustive()
    }
}

impl HubRelay {
    /// This node's id (6 URL-safe characters), carried by every message it publishes.
    pub fn uid(&self) -> &str {
        &self.0.uid
    }

    /// The Redis channel of `topic`.
    pub fn channel(&self, topic: &str) -> String {
        format!("{}{topic}", self.0.prefix)
    }

    /// Counters of the relay's Redis traffic (see [`Metrics`]): `messages_in` counts every
    /// message received (this node's own included), `malformed` the foreign ones ignored.
    pub fn metrics(&self) -> Metrics {
        self.0.metrics.snapshot()
    }

    /// Whether this node's subscriber connection is subscribed to `topic`'s channel.
    pub fn is_subscribed(&self, topic: &str) -> bool {
        lock(&self.0.subscribed).contains(topic)
    }

    /// Waits until this node's subscriber connection is subscribed to `topic`'s channel (after
    /// its first local listener joined); `false` if that takes longer than `timeout`. A
    /// message published before then by another node does not reach this one.
    pub async fn wait_subscribed(&self, topic: &str, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.0.subscribed_changed.notified();
            if self.is_subscribed(topic) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.is_subscribed(topic);
            }
        }
    }

    /// Waits until the subscriber connection is up and subscribed to every topic that has
    /// local subscribers; `false` if that takes longer than `timeout`.
    pub async fn ready(&self, timeout: Duration) -> bool {
        set_within(&self.0.ready, timeout).await
    }

    /// How many nodes subscribe to `topic` (`PUBSUB NUMSUB` of its channel).
    pub async fn nodes(&self, topic: &str) -> Result<usize, Error> {
        Ok(numsub(&self.0.conn, &self.channel(topic)).await?)
    }

    /// Stops relaying: the subscriber connection closes (its task drops the hub) and publishes
    /// are no longer sent.
    pub fn close(&self) {
        let _ = self.0.control.send(Control::Close);
    }
}

impl Relay for HubRelay {
    fn publish(&self, topic: &str, msg: &Message) {
        let (op, payload) = match msg {
            Message::Text(t) => (OP_TEXT, t.as_bytes()),
            Message::Binary(b) => (OP_BINARY, &b[..]),
            _ => return,
        };
        let frame = encode(&self.0.uid, op, payload);
        match self.0.publish.try_send((self.channel(topic), frame)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.0.metrics.errors_inc();
                tracing::warn!(
                    topic,
                    "wsx-redis hub: publish queue full (Redis too slow or away); message dropped"
                );
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn subscribed(&self, topic: &str) {
        let _ = self.0.control.send(Control::Check(topic.to_owned()));
    }

    fn unsubscribed(&self, topic: &str) {
        let _ = self.0.control.send(Control::Check(topic.to_owned()));
    }
}

/// One relay message (see the module's wire format).
pub(crate) fn encode(uid: &str, op: u8, payload: &[u8]) -> Bytes {
    let uid = &uid.as_bytes()[..uid.len().min(255)];
    let mut b = BytesMut::with_capacity(MAGIC.len() + 3 + uid.len() + payload.len());
    b.put_slice(MAGIC);
    b.put_u8(VERSION);
    b.put_u8(op);
    b.put_u8(uid.len() as u8);
    b.put_slice(uid);
    b.put_slice(payload);
    b.freeze()
}

/// Splits a relay message into (uid, message); `None` if it is not one.
pub(crate) fn decode(raw: &[u8]) -> Option<(&[u8], Message)> {
    let rest = raw.strip_prefix(MAGIC)?;
    let (&version, rest) = rest.split_first()?;
    let (&op, rest) = rest.split_first()?;
    let (&len, rest) = rest.split_first()?;
    if version != VERSION || rest.len() < usize::from(len) {
        return None;
    }
    let (uid, payload) = rest.split_at(usize::from(len));
    let payload = Bytes::copy_from_slice(payload);
    let msg = match op {
        OP_TEXT => Message::Text(Utf8Bytes::try_from(payload).ok()?),
        OP_BINARY => Message::Binary(payload),
        _ => return None,
    };
    Some((uid, msg))
}

/// Sends the queued publishes in order, each batch in one pipeline.
async fn publisher(
    mut conn: redis::aio::ConnectionManager,
    mut rx: mpsc::Receiver<(String, Bytes)>,
    metrics: Arc<MetricsInner>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let mut pipe = redis::pipe();
        for (channel, payload) in &batch {
            pipe.cmd("PUBLISH").arg(channel).arg(&payload[..]).ignore();
        }
        let mut res = pipe.query_async::<()>(&mut conn).await;
        if let Err(e) = &res {
            // A connection found dead on write (Redis restarted) is replaced by the manager:
            // try once more on the new one, so the first publishes after a restart are not lost.
            if e.is_connection_dropped() || e.is_io_error() {
                tokio::time::sleep(Duration::from_millis(50)).await;
                res = pipe.query_async::<()>(&mut conn).await;
            }
        }
        match res {
            Ok(()) => {
                metrics.connected();
                for _ in 0..batch.len() {
                    metrics.published();
                }
            }
            Err(e) => {
                metrics.failed(&e);
                tracing::warn!(error = %e, dropped = batch.len(), "wsx-redis hub: PUBLISH failed");
            }
        }
        batch.clear();
    }
}

/// Owns the subscriber connection: (un)subscribes as topics gain and lose local subscribers,
/// delivers what other nodes published, and reconnects (then resubscribes to every topic with
/// local subscribers) when the connection is lost.
async fn subscriber(
    shared: Arc<RelayShared>,
    client: redis::Client,
    mut first: Option<redis::aio::PubSub>,
    local: Arc<dyn TopicSink>,
    mut control: mpsc::UnboundedReceiver<Control>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let subscribed = subscribe_all(&shared, &client, first.take(), &*local).await;
        let (mut sink, mut stream) = match subscribed {
            Ok(halves) => halves,
            Err((e, what)) => {
                shared.metrics.failed(&e);
                tracing::warn!(error = %e, "wsx-redis hub: {what}");
                if pause(&mut control, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        shared.metrics.connected();
        shared.ready.send_replace(true);
        tracing::debug!(uid = %shared.uid, "wsx-redis hub: subscribed");
        let lost = loop {
            tokio::select! {
                msg = stream.next() => {
                    let Some(msg) = msg else { break true };
                    deliver(&shared, &*local, &msg);
                }
                cmd = control.recv() => match cmd {
                    Some(Control::Check(topic)) => {
                        if let Err(e) = reconcile(&shared, &*local, &mut sink, topic).await {
                            shared.metrics.failed(&e);
                            tracing::warn!(error = %e, "wsx-redis hub: (un)subscribing failed");
                            break true;
                        }
                    }
                    Some(Control::Close) | None => break false,
                },
            }
        };
        shared.ready.send_replace(false);
        lock(&shared.subscribed).clear();
        if !lost {
            return;
        }
        shared.metrics.disconnected();
        tracing::warn!(uid = %shared.uid, "wsx-redis hub: subscriber connection lost; reconnecting");
        if pause(&mut control, backoff).await {
            return;
        }
    }
}

/// Opens the subscriber connection (or takes `first`, opened already) and subscribes to the
/// channels of every topic with local subscribers; on a failure, says what failed.
async fn subscribe_all(
    shared: &RelayShared,
    client: &redis::Client,
    first: Option<redis::aio::PubSub>,
    local: &dyn TopicSink,
) -> Result<(redis::aio::PubSubSink, redis::aio::PubSubStream), (redis::RedisError, &'static str)> {
    let pubsub = match first {
        Some(p) => p,
        None => (client.get_async_pubsub().await)
            .map_err(|e| (e, "cannot open the subscriber connection"))?,
    };
    let (mut sink, stream) = pubsub.split();
    lock(&shared.subscribed).clear();
    let topics = local.topics();
    if !topics.is_empty() {
        let channels: Vec<String> = topics
            .iter()
            .map(|t| format!("{}{t}", shared.prefix))
            .collect();
        (sink.subscribe(&channels).await).map_err(|e| (e, "subscribing failed"))?;
        lock(&shared.subscribed).extend(topics);
        shared.subscribed_changed.notify_waiters();
    }
    Ok((sink, stream))
}

/// Sleeps `d` unless told to close meanwhile (then `true`); checks are kept for later.
async fn pause(control: &mut mpsc::UnboundedReceiver<Control>, d: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + d;
    loop {
        match tokio::time::timeout_at(deadline, control.recv()).await {
            Err(_) => return false,
            Ok(Some(Control::Check(_))) => {} // the resubscription reads the hub's topics
            Ok(Some(Control::Close) | None) => return true,
        }
    }
}

/// Subscribes to `topic` if it has local subscribers and is not subscribed, unsubscribes if
/// it has none and is (the hub's notifications may arrive out of order; the hub is the truth).
async fn reconcile(
    shared: &RelayShared,
    local: &dyn TopicSink,
    sink: &mut redis::aio::PubSubSink,
    topic: String,
) -> redis::RedisResult<()> {
    let want = local.wants(&topic);
    let have = lock(&shared.subscribed).contains(&topic);
    let channel = format!("{}{topic}", shared.prefix);
    if want && !have {
        sink.subscribe(&channel).await?;
        lock(&shared.subscribed).insert(topic);
        shared.subscribed_changed.notify_waiters();
    } else if !want && have {
        lock(&shared.subscribed).remove(&topic);
        sink.unsubscribe(&channel).await?;
    }
    Ok(())
}

fn deliver(shared: &RelayShared, local: &dyn TopicSink, msg: &redis::Msg) {
    shared.metrics.received();
    let channel = msg.get_channel_name();
    let Some(topic) = channel.strip_prefix(shared.prefix.as_str()) else {
        return;
    };
    match decode(msg.get_payload_bytes()) {
        Some((uid, _)) if uid == shared.uid.as_bytes() => {} // delivered when published
        Some((_, message)) => local.deliver(topic, message),
        None => {
            shared.metrics.malformed();
            tracing::warn!(
                channel,
                len = msg.get_payload_bytes().len(),
                "wsx-redis hub: ignored a message that is not a relay message"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let b = encode("abc123", OP_TEXT, "héllo".as_bytes());
        assert_eq!(&b[..], b"WSXH\x01\x01\x06abc123h\xc3\xa9llo");
        let (uid, msg) = decode(&b).unwrap();
        assert_eq!((uid, msg), (&b"abc123"[..], Message::text("héllo")));
        let b = encode("n", OP_BINARY, &[0xff, 0]);
        assert_eq!(decode(&b).unwrap().1, Message::binary(vec![0xff, 0]));
    }

    #[test]
    fn foreign_bytes_are_not_relay_messages() {
        for raw in [
            &b""[..],
            b"hello",
            b"WSXH",
            b"WSXH\x02\x01\x00x",
            b"WSXH\x01\x09\x00x",
            b"WSXH\x01\x01\x09abc",
            b"WSXH\x01\x01\x00\xff",
        ] {
            assert!(decode(raw).is_none(), "{raw:?}");
        }
    }
}
