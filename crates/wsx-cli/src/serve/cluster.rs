//! `wsx serve --redis`: the demo chat shared by every `wsx serve` process on one Redis.
//!
//! - **Messages**: a `say` is delivered at once to this process's WebSocket members, to the
//!   Socket.IO members of every process through the namespace's cluster adapter (classic or
//!   sharded), and published on the room's channel `wsx-chat#<room>` (a [`HubRelay`],
//!   subscribed only while this process has members in the room), from which the other
//!   processes deliver the same bytes to their WebSocket members.
//! - **Presence**: a Redis hash per room, `wsx-chat:{<room>}:members`, member id → `{"node",
//!   "nick"}`. Each process refreshes a heartbeat key `wsx-chat:node:<uid>` (expiring after
//!   `--redis-presence-ttl`) every third of the TTL and writes its members again (so they come
//!   back after Redis restarts). After any join or leave, a `presence` signal on the room's
//!   channel makes every process read the hash again, drop the entries of processes whose
//!   heartbeat expired, and send the list to its own members when it changed; the heartbeat
//!   does the same, so a dead process's members vanish within the TTL and a third.
//! - **History**: a capped list per room, `wsx-chat:{<room>}:history` (LPUSH + LTRIM, 50).
//! - **Ids**: a member's id is this process's random 20-bit tag above its local connection
//!   number, so ids stay unique across processes (and below 2^53 for JavaScript).
//!
//! When Redis is away, local delivery goes on, presence shows this process's members, and
//! the outage shows in the log and in `/metrics`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use redis::FromRedisValue;
use tokio::sync::mpsc;
use wsx::{Message, PreparedFrame, Relay};
use wsx_redis::{HubRelay, HubRelayBuilder, TopicSink};
use wsx_socketio::Namespace;

use super::member::{Member, Outlet, Session};
use super::messages::{ChatLine, MemberInfo, ServerMsg, encode, json_value, now_ms};
use super::metrics::Metrics;
use super::room::{HISTORY, Rooms, lock_rooms, sio_room};
use crate::RedisAdapterKind;

/// Key prefix of the chat's Redis state.
const PREFIX: &str = "wsx-chat";
/// The signal "this room's presence changed" on a room's channel (text messages there are
/// chat messages, encoded as for the members).
const PRESENCE: &[u8] = b"presence";

/// The Socket.IO cluster adapter chosen with `--redis-adapter`.
#[derive(Clone)]
pub enum AdapterCluster {
    Classic(wsx_redis::RedisCluster),
    Sharded(wsx_redis::ShardedCluster),
    Streams(wsx_redis::StreamsCluster),
}

impl AdapterCluster {
    /// Joins the Socket.IO cluster on `url`.
    pub async fn connect(url: &str, kind: RedisAdapterKind) -> Result<Self, String> {
        match kind {
            RedisAdapterKind::Classic => wsx_redis::RedisAdapterBuilder::new(url)
                .connect()
                .await
                .map(AdapterCluster::Classic)
                .map_err(|e| format!("--redis {url}: {e}")),
            RedisAdapterKind::Sharded => wsx_redis::ShardedAdapterBuilder::new([url])
                .connect()
                .await
                .map(AdapterCluster::Sharded)
                .map_err(|e| {
                    format!("--redis {url} (sharded adapter, needs a Redis Cluster): {e}")
                }),
            RedisAdapterKind::Streams => wsx_redis::StreamsAdapterBuilder::new(url)
                .connect()
                .await
                .map(AdapterCluster::Streams)
                .map_err(|e| format!("--redis {url} (streams adapter): {e}")),
        }
    }

    /// `config` with this adapter for every namespace.
    pub fn config(&self, config: wsx_socketio::Config) -> wsx_socketio::Config {
        match self.clone() {
            AdapterCluster::Classic(c) => config.adapter(move |nsp| c.adapter(nsp)),
            AdapterCluster::Sharded(c) => config.adapter(move |nsp| c.adapter(nsp)),
            // The streams adapter keeps what was sent, so a client that reconnects to any
            // process within the window gets its session and missed messages back.
            AdapterCluster::Streams(c) => config
                .adapter(move |nsp| c.adapter(nsp))
                .recovery(wsx_socketio::RecoveryConfig::default()),
        }
    }

    fn metrics(&self) -> wsx_redis::Metrics {
        match self {
            AdapterCluster::Classic(c) => c.metrics(),
            AdapterCluster::Sharded(c) => c.metrics(),
            AdapterCluster::Streams(c) => c.metrics(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            AdapterCluster::Classic(_) => "classic",
            AdapterCluster::Sharded(_) => "sharded",
            AdapterCluster::Streams(_) => "streams",
        }
    }
}

/// Where the chat state lives: one Redis, or a Redis Cluster (with the sharded adapter).
enum Store {
    Single(redis::aio::ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Store {
    async fn connect(url: &str, cluster: bool) -> redis::RedisResult<Store> {
        if cluster {
            let client = redis::cluster::ClusterClientBuilder::new(vec![url.to_owned()])
                .connection_timeout(Duration::from_secs(2))
                .response_timeout(Duration::from_secs(1))
                .build()?;
            return Ok(Store::Cluster(client.get_async_connection().await?));
        }
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1))
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(1)));
        Ok(Store::Single(
            client.get_connection_manager_with_config(config).await?,
        ))
    }

    async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        match self {
            Store::Single(c) => cmd.query_async(&mut c.clone()).await,
            Store::Cluster(c) => cmd.query_async(&mut c.clone()).await,
        }
    }
}

/// This process's part of the shared chat.
pub struct Cluster {
    relay: HubRelay,
    adapter: AdapterCluster,
    store: Store,
    /// The Socket.IO namespace of the chat (`/`).
    ns: Namespace,
    rooms: Rooms,
    metrics: Arc<Metrics>,
    tag: u64,
    ttl: Duration,
    refresh: mpsc::UnboundedSender<String>,
    history: mpsc::UnboundedSender<(String, String)>,
    store_errors: AtomicU64,
    store_ok: std::sync::atomic::AtomicBool,
}

/// The relay's view of this process's rooms: a room's channel is subscribed while the room
/// exists here; messages from other processes go to the WebSocket members.
struct ChatSink {
    rooms: Rooms,
    refresh: mpsc::UnboundedSender<String>,
    metrics: Arc<Metrics>,
}

impl TopicSink for ChatSink {
    fn wants(&self, topic: &str) -> bool {
        lock_rooms(&self.rooms).contains_key(topic)
    }

    fn topics(&self) -> Vec<String> {
        lock_rooms(&self.rooms).keys().cloned().collect()
    }

    fn deliver(&self, topic: &str, msg: Message) {
        match msg {
            Message::Text(text) => {
                let rooms = lock_rooms(&self.rooms);
                if let Some(r) = rooms.get(topic) {
                    send_ws(&r.members, text.as_str(), &self.metrics);
                }
            }
            Message::Binary(b) if &b[..] == PRESENCE => {
                let _ = self.refresh.send(topic.to_owned());
            }
            _ => tracing::debug!(topic, "chat cluster: ignored an unknown room signal"),
        }
    }
}

/// Sends an encoded chat message to the WebSocket members among `members` (one encode).
fn send_ws(members: &BTreeMap<u64, Member>, text: &str, metrics: &Metrics) {
    let frame = PreparedFrame::new(&Message::text(text));
    let mut n = 0;
    for m in members.values() {
        if let Outlet::Ws(sender) = &m.outlet {
            if matches!(
                sender.send_prepared(&frame),
                wsx::SendStatus::Queued | wsx::SendStatus::Backpressure
            ) {
                n += 1;
            }
        }
    }
    metrics.sent(n, text.len());
}

fn members_key(room: &str) -> String {
    format!("{PREFIX}:{{{room}}}:members")
}

fn history_key(room: &str) -> String {
    format!("{PREFIX}:{{{room}}}:history")
}

fn node_key(uid: &str) -> String {
    format!("{PREFIX}:node:{uid}")
}

fn entry(node: &str, nick: &str) -> String {
    serde_json::json!({ "node": node, "nick": nick }).to_string()
}

impl Cluster {
    /// Connects the chat's Redis state and relay, and starts the heartbeat.
    pub async fn start(
        url: &str,
        adapter: AdapterCluster,
        ttl: Duration,
        rooms: Rooms,
        ns: Namespace,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Cluster>, String> {
        let err = |e: wsx_redis::Error| format!("--redis {url}: {e}");
        let store = Store::connect(url, matches!(adapter, AdapterCluster::Sharded(_)))
            .await
            .map_err(|e| format!("--redis {url}: {e}"))?;
        let (refresh, refresh_rx) = mpsc::unbounded_channel();
        let (history, history_rx) = mpsc::unbounded_channel();
        let sink = Arc::new(ChatSink {
            rooms: rooms.clone(),
            refresh: refresh.clone(),
            metrics: metrics.clone(),
        });
        let relay = HubRelayBuilder::new(url)
            .prefix(format!("{PREFIX}#"))
            .connect_sink(sink)
            .await
            .map_err(err)?;
        let cluster = Arc::new(Cluster {
            relay,
            adapter,
            store,
            ns,
            rooms,
            metrics,
            tag: rand::rng().random_range(1..1u64 << 20),
            ttl: ttl.max(Duration::from_millis(300)),
            refresh,
            history,
            store_errors: AtomicU64::new(0),
            store_ok: std::sync::atomic::AtomicBool::new(true),
        });
        cluster.heartbeat_once().await;
        tokio::spawn(heartbeat(cluster.clone()));
        tokio::spawn(refresher(cluster.clone(), refresh_rx));
        tokio::spawn(history_writer(cluster.clone(), history_rx));
        tracing::info!(
            node = cluster.relay.uid(),
            adapter = cluster.adapter.name(),
            "chat shared through Redis at {url}"
        );
        Ok(cluster)
    }

    /// The chat id of local connection number `local`.
    pub fn member_id(&self, local: u64) -> u64 {
        (self.tag << 33) | (local & ((1 << 33) - 1))
    }

    fn uid(&self) -> &str {
        self.relay.uid()
    }

    /// Runs a command; a failure is logged and counted (`None`). While Redis is known to be
    /// away, commands fail at once (the chat goes on locally) until the heartbeat's probe
    /// works again.
    async fn run<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Option<T> {
        if !self.store_ok.load(Ordering::Relaxed) {
            return None;
        }
        self.probe(cmd).await
    }

    /// Runs a command even while Redis is known to be away (at most one second).
    async fn probe<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Option<T> {
        let res = match tokio::time::timeout(Duration::from_secs(1), self.store.query(cmd)).await {
            Ok(r) => r,
            Err(_) => Err(redis::RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no answer within 1 s",
            ))),
        };
        match res {
            Ok(v) => {
                if !self.store_ok.swap(true, Ordering::Relaxed) {
                    tracing::info!("chat cluster: Redis answers again");
                }
                Some(v)
            }
            Err(e) => {
                self.store_errors.fetch_add(1, Ordering::Relaxed);
                if self.store_ok.swap(false, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "chat cluster: Redis command failed; chat state is local until it answers");
                } else {
                    tracing::debug!(error = %e, "chat cluster: Redis command failed");
                }
                None
            }
        }
    }

    /// Joins `s` to `room` as `nick`: shared presence, the room's history, then "joined" to
    /// the joiner and a presence update to everyone.
    pub async fn join(
        &self,
        rooms: &Rooms,
        s: &mut Session,
        room: String,
        nick: String,
        metrics: &Metrics,
    ) {
        lock_rooms(rooms).entry(room.clone()).or_default();
        // Listen to the room's channel before telling anyone we are here.
        self.relay.subscribed(&room);
        let wait = if self.relay.metrics().connected {
            Duration::from_secs(2)
        } else {
            Duration::ZERO
        };
        if !self.relay.wait_subscribed(&room, wait).await {
            tracing::warn!(room, "chat cluster: room channel not subscribed yet");
        }
        let _: Option<()> = self
            .run(
                redis::cmd("HSET")
                    .arg(members_key(&room))
                    .arg(s.id)
                    .arg(entry(self.uid(), &nick)),
            )
            .await;
        let roster = self.roster(&room).await;
        let history = self.history(&room).await;
        {
            let mut g = lock_rooms(rooms);
            let created = !g.contains_key(&room);
            let r = g.entry(room.clone()).or_default();
            r.members.insert(
                s.id,
                Member {
                    nick: nick.clone(),
                    outlet: s.outlet.clone(),
                },
            );
            let members = roster.unwrap_or_else(|| r.roster());
            let reply = encode(&ServerMsg::Joined {
                room: &room,
                nick: &nick,
                members: &members,
                history: history.iter().collect(),
            });
            metrics.sent(1, reply.len());
            s.outlet.send_text(reply);
            // Room broadcasts reach a Socket.IO member from now on, after "joined".
            if let Outlet::Sio(socket) = &s.outlet {
                socket.join([sio_room(&room)]);
            }
            if created {
                self.relay.subscribed(&room);
            }
        }
        s.room = Some(room.clone());
        self.presence_changed(&room);
    }

    /// Takes member `id` out of `room` and tells everyone.
    pub async fn leave(&self, rooms: &Rooms, id: u64, room: String) {
        let emptied = {
            let mut g = lock_rooms(rooms);
            match g.get_mut(&room) {
                Some(r) => {
                    r.members.remove(&id);
                    let empty = r.members.is_empty();
                    if empty {
                        g.remove(&room);
                    }
                    empty
                }
                None => false,
            }
        };
        if emptied {
            self.relay.unsubscribed(&room);
        }
        let _: Option<()> = self
            .run(redis::cmd("HDEL").arg(members_key(&room)).arg(id))
            .await;
        self.presence_changed(&room);
    }

    /// Says `text` in `room` as member `id`.
    pub fn say(&self, rooms: &Rooms, id: u64, room: &str, text: String, metrics: &Metrics) {
        let encoded = {
            let g = lock_rooms(rooms);
            let Some(r) = g.get(room) else { return };
            let nick = r
                .members
                .get(&id)
                .map(|m| m.nick.clone())
                .unwrap_or_default();
            let line = ChatLine {
                room: room.to_owned(),
                id,
                nick,
                text,
                ts: now_ms(),
            };
            let encoded = encode(&ServerMsg::Message(&line));
            send_ws(&r.members, &encoded, metrics);
            let _ = self.history.send((
                room.to_owned(),
                serde_json::to_string(&line).unwrap_or_default(),
            ));
            encoded
        };
        // Every process's Socket.IO members, through the adapter.
        self.ns
            .to([sio_room(room)])
            .emit("chat", json_value(&encoded));
        // Every other process's WebSocket members, through the room's channel.
        self.relay.publish(room, &Message::text(encoded));
    }

    fn presence_changed(&self, room: &str) {
        self.relay.publish(room, &Message::binary(PRESENCE));
        let _ = self.refresh.send(room.to_owned());
    }

    /// The room's members on every live process, by id; `None` when Redis does not answer.
    /// Entries of processes whose heartbeat expired are removed on the way.
    async fn roster(&self, room: &str) -> Option<Vec<MemberInfo>> {
        let key = members_key(room);
        let all: HashMap<String, String> = self.run(redis::cmd("HGETALL").arg(&key)).await?;
        let mut parsed = Vec::with_capacity(all.len());
        for (field, value) in &all {
            let v: serde_json::Value = serde_json::from_str(value).unwrap_or_default();
            match (field.parse::<u64>(), v["node"].as_str(), v["nick"].as_str()) {
                (Ok(id), Some(node), Some(nick)) => {
                    parsed.push((id, node.to_owned(), nick.to_owned()))
                }
                _ => tracing::debug!(room, field, "chat cluster: ignored a malformed member"),
            }
        }
        let mut alive = HashSet::new();
        alive.insert(self.uid().to_owned());
        let mut dead = HashSet::new();
        for (_, node, _) in &parsed {
            if alive.contains(node) || dead.contains(node) {
                continue;
            }
            let exists: bool = self.run(redis::cmd("EXISTS").arg(node_key(node))).await?;
            if exists {
                alive.insert(node.clone());
            } else {
                dead.insert(node.clone());
            }
        }
        let mut members = Vec::with_capacity(parsed.len());
        let mut gone = Vec::new();
        for (id, node, nick) in parsed {
            if alive.contains(&node) {
                members.push(MemberInfo { id, nick });
            } else {
                gone.push(id);
            }
        }
        if !gone.is_empty() {
            tracing::info!(
                room,
                members = gone.len(),
                "chat cluster: removing the members of processes that stopped"
            );
            let _: Option<()> = self.run(redis::cmd("HDEL").arg(&key).arg(&gone)).await;
        }
        members.sort_by_key(|m| m.id);
        Some(members)
    }

    /// The room's recent messages, oldest first.
    async fn history(&self, room: &str) -> Vec<ChatLine> {
        let lines: Vec<String> = self
            .run(
                redis::cmd("LRANGE")
                    .arg(history_key(room))
                    .arg(0)
                    .arg(HISTORY - 1),
            )
            .await
            .unwrap_or_default();
        let mut out: Vec<ChatLine> = lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        out.reverse();
        out
    }

    /// Refreshes this process's heartbeat and writes its members again.
    async fn heartbeat_once(&self) {
        let ttl = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let alive: Option<()> = self
            .probe(
                redis::cmd("SET")
                    .arg(node_key(self.uid()))
                    .arg(1)
                    .arg("PX")
                    .arg(ttl),
            )
            .await;
        if alive.is_none() {
            return;
        }
        let rooms: Vec<(String, Vec<(u64, String)>)> = lock_rooms(&self.rooms)
            .iter()
            .map(|(name, r)| {
                let m = r
                    .members
                    .iter()
                    .map(|(&id, m)| (id, entry(self.uid(), &m.nick)))
                    .collect();
                (name.clone(), m)
            })
            .collect();
        for (room, members) in rooms {
            if !members.is_empty() {
                let _: Option<()> = self
                    .run(redis::cmd("HSET").arg(members_key(&room)).arg(&members))
                    .await;
            }
            let _ = self.refresh.send(room);
        }
    }

    /// Leaves the cluster: this process's heartbeat goes, and so do its members.
    pub async fn shutdown(&self) {
        let rooms: Vec<(String, Vec<u64>)> = lock_rooms(&self.rooms)
            .iter()
            .map(|(n, r)| (n.clone(), r.members.keys().copied().collect()))
            .collect();
        for (room, ids) in rooms {
            if !ids.is_empty() {
                let _: Option<()> = self
                    .run(redis::cmd("HDEL").arg(members_key(&room)).arg(&ids))
                    .await;
                self.relay.publish(&room, &Message::binary(PRESENCE));
            }
        }
        let _: Option<()> = self.run(redis::cmd("DEL").arg(node_key(self.uid()))).await;
        // Let the relay send what is queued.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.relay.close();
    }

    /// `/metrics` lines: the Socket.IO adapter's and the chat relay's Redis traffic.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let parts = [
            (self.adapter.name(), self.adapter.metrics()),
            ("chat", self.relay.metrics()),
        ];
        let mut metric =
            |name: &str, kind: &str, help: &str, f: &dyn Fn(&wsx_redis::Metrics) -> u64| {
                let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
                for (part, m) in &parts {
                    let _ = writeln!(s, "{name}{{part=\"{part}\"}} {}", f(m));
                }
            };
        metric(
            "wsx_redis_connected",
            "gauge",
            "Whether Redis answered the last command (1) or is away (0): the Socket.IO adapter and the chat relay.",
            &|m| u64::from(m.connected),
        );
        metric(
            "wsx_redis_reconnects_total",
            "counter",
            "Times the connection to Redis came back after being lost.",
            &|m| m.reconnects,
        );
        metric(
            "wsx_redis_messages_received_total",
            "counter",
            "Messages received on Redis channels.",
            &|m| m.messages_in,
        );
        metric(
            "wsx_redis_messages_published_total",
            "counter",
            "Messages published to Redis.",
            &|m| m.messages_out,
        );
        metric(
            "wsx_redis_malformed_total",
            "counter",
            "Messages on Redis channels ignored because they could not be decoded.",
            &|m| m.malformed,
        );
        metric(
            "wsx_redis_errors_total",
            "counter",
            "Redis commands that failed.",
            &|m| m.errors,
        );
        let _ = writeln!(
            s,
            "# HELP wsx_redis_chat_state_errors_total Chat state commands (presence, history) that failed.\n# TYPE wsx_redis_chat_state_errors_total counter\nwsx_redis_chat_state_errors_total {}",
            self.store_errors.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP wsx_redis_chat_rooms Chat rooms with members in this process.\n# TYPE wsx_redis_chat_rooms gauge\nwsx_redis_chat_rooms {}",
            lock_rooms(&self.rooms).len()
        );
        s
    }
}

async fn heartbeat(cluster: Arc<Cluster>) {
    let mut tick = tokio::time::interval(cluster.ttl / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        cluster.heartbeat_once().await;
    }
}

/// Reads the presence of the rooms it is told about and sends it to this process's members
/// of each when it changed.
async fn refresher(cluster: Arc<Cluster>, mut rx: mpsc::UnboundedReceiver<String>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        let rooms: HashSet<String> = batch.drain(..).collect();
        for room in rooms {
            if !lock_rooms(&cluster.rooms).contains_key(&room) {
                continue;
            }
            let roster = cluster.roster(&room).await;
            let mut g = lock_rooms(&cluster.rooms);
            let Some(r) = g.get_mut(&room) else { continue };
            // Without Redis, this process's own members.
            let members = roster.unwrap_or_else(|| r.roster());
            if r.members.is_empty() || r.shown.as_ref() == Some(&members) {
                continue;
            }
            let text = encode(&ServerMsg::Presence {
                room: &room,
                members: &members,
            });
            r.send_encoded(&room, &text, false, &cluster.metrics);
            r.shown = Some(members);
        }
    }
}

/// Appends said messages to their room's history, in order.
async fn history_writer(cluster: Arc<Cluster>, mut rx: mpsc::UnboundedReceiver<(String, String)>) {
    while let Some((room, line)) = rx.recv().await {
        let key = history_key(&room);
        let _: Option<()> = cluster.run(redis::cmd("LPUSH").arg(&key).arg(line)).await;
        let _: Option<()> = cluster
            .run(redis::cmd("LTRIM").arg(&key).arg(0).arg(HISTORY - 1))
            .await;
    }
}
