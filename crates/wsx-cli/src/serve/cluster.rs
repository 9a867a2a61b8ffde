//! `wsx serve --redis`: the demo chat shared by every `wsx serve` process on one Redis.
//!
//! - **Messages**: each room is a Redis stream ([`TopicFeed`], `wsx-chat:{feed}:<room>`, at
//!   least 1,000 entries kept), which is both its history and its live feed. A `say` is
//!   appended to the room's stream; every process following the room, the sayer's included,
//!   reads the stream from the last entry it handed out and delivers each message to its own
//!   members, WebSocket and Socket.IO (one encode per kind), in the stream's order. So a message
//!   is in the history before anyone sees it, and what a process misses while Redis restarts
//!   it reads when Redis is back. A message Redis cannot take is kept and retried, in order
//!   (it reaches everyone, its sayer too, once Redis takes it); only when that queue is full is
//!   a `say` refused, with an error to its sayer.
//! - **Joining**: the joiner is listed as joining, so the room's entries are kept for it from
//!   then on; then the room's last 50 entries are read, with the id of the last one. The joiner
//!   gets `joined` (with that history) once this process has handed out the room's entries up
//!   to that id, then the kept entries after it, then the room's next messages like everyone
//!   else, all under the rooms' lock: each message once, in the stream's order, no gap, no
//!   duplicate. The first joiner of a room on a process starts following it from there.
//! - **Presence**: a Redis hash per room, `wsx-chat:{<room>}:members`, member id → `{"node",
//!   "nick"}`. Each process refreshes a heartbeat key `wsx-chat:node:<uid>` (expiring after
//!   `--redis-presence-ttl`) every third of the TTL and writes its members again (so they come
//!   back after Redis restarts). After any join or leave, a `presence` signal on the room's
//!   channel makes every process read the hash again, drop the entries of processes whose
//!   heartbeat expired, and send the list to its own members when it changed; the heartbeat
//!   does the same, so a dead process's members vanish within the TTL and a third.
//! - **Ids**: a member's id is this process's random 20-bit tag above its local connection
//!   number, so ids stay unique across processes (and below 2^53 for JavaScript).
//!
//! When Redis is away, messages wait for it (see above), presence shows this process's
//! members, and the outage shows in the log and in `/metrics`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use redis::FromRedisValue;
use tokio::sync::mpsc;
use wsx::{Message, Relay};
use wsx_redis::{
    EntryId, FeedSink, HubRelay, HubRelayBuilder, QueueFull, TopicFeed, TopicFeedBuilder, TopicSink,
};

use super::RedisAdapterKind;
use super::member::{Member, Session};
use super::messages::{
    ChatLine, MemberInfo, ServerMsg, encode, member_entry, now_ms, parse_history_line,
    parse_member_entry,
};
use super::metrics::Metrics;
use super::room::{HISTORY, Joining, Rooms, lock_rooms};

/// Key prefix of the chat's Redis state.
const PREFIX: &str = "wsx-chat";
/// The signal "this room's presence changed" on a room's Pub/Sub channel.
const PRESENCE: &[u8] = b"presence";

/// How many messages a room's stream keeps at least (the history a joiner gets is 50); past
/// that, what every process read a minute before is trimmed.
const ROOM_ENTRIES: usize = 1_000;

/// How long a join waits for its room's entries up to its history's end to be handed out
/// (they normally are within a round trip to Redis); past that it completes anyway.
const CATCH_UP_WAIT: Duration = Duration::from_secs(5);

/// How long a join tries to read its room's history while Redis does not answer.
const HISTORY_WAIT: Duration = Duration::from_secs(5);

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
            // The streams adapter keeps sessions and what was broadcast through it, so a
            // client that reconnects to any process within the window gets its session back.
            // Chat messages are each process's local broadcasts (see the module's
            // documentation): missed ones come back on the same process only.
            AdapterCluster::Streams(c) => config
                .adapter(move |nsp| c.adapter(nsp))
                .recovery(wsx_socketio::RecoveryConfig::default()),
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
    /// The rooms' streams: history and messages.
    feed: TopicFeed,
    /// The rooms' Pub/Sub channels: presence signals.
    relay: HubRelay,
    adapter: AdapterCluster,
    store: Store,
    rooms: Rooms,
    metrics: Arc<Metrics>,
    tag: u64,
    ttl: Duration,
    refresh: mpsc::UnboundedSender<String>,
    store_errors: AtomicU64,
    store_ok: std::sync::atomic::AtomicBool,
}

/// The relay's view of this process's rooms: a room's channel is subscribed while the room
/// exists here; a presence signal on it has the room's presence read again.
struct PresenceSink {
    rooms: Rooms,
    refresh: mpsc::UnboundedSender<String>,
}

impl TopicSink for PresenceSink {
    fn wants(&self, topic: &str) -> bool {
        lock_rooms(&self.rooms).contains_key(topic)
    }

    fn topics(&self) -> Vec<String> {
        lock_rooms(&self.rooms).keys().cloned().collect()
    }

    fn deliver(&self, topic: &str, msg: Message) {
        match msg {
            Message::Binary(b) if &b[..] == PRESENCE => {
                let _ = self.refresh.send(topic.to_owned());
            }
            _ => tracing::debug!(topic, "chat cluster: ignored an unknown room signal"),
        }
    }
}

/// The feed's view of this process's rooms: a room's entries go to its members.
struct MessageSink {
    rooms: Rooms,
    metrics: Arc<Metrics>,
}

impl FeedSink for MessageSink {
    fn entry(&self, topic: &str, id: EntryId, data: Bytes) {
        let line = std::str::from_utf8(&data).ok().and_then(parse_history_line);
        let Some(line) = line else {
            tracing::debug!(topic, %id, "chat cluster: ignored a malformed room entry");
            return;
        };
        let text = encode(&ServerMsg::Message(&line));
        if let Some(r) = lock_rooms(&self.rooms).get_mut(topic) {
            r.deliver_entry(topic, id, &text, &self.metrics);
        }
    }
}

fn members_key(room: &str) -> String {
    format!("{PREFIX}:{{{room}}}:members")
}

fn node_key(uid: &str) -> String {
    format!("{PREFIX}:node:{uid}")
}

impl Cluster {
    /// Connects the chat's Redis state and relay, and starts the heartbeat.
    pub async fn start(
        url: &str,
        adapter: AdapterCluster,
        ttl: Duration,
        rooms: Rooms,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Cluster>, String> {
        let err = |e: wsx_redis::Error| format!("--redis {url}: {e}");
        let store = Store::connect(url, matches!(adapter, AdapterCluster::Sharded(_)))
            .await
            .map_err(|e| format!("--redis {url}: {e}"))?;
        let (refresh, refresh_rx) = mpsc::unbounded_channel();
        let cluster_mode = matches!(adapter, AdapterCluster::Sharded(_));
        let feed = TopicFeedBuilder::new(url)
            .prefix(PREFIX)
            .metrics_part("chat")
            .max_len(ROOM_ENTRIES)
            .cluster(cluster_mode)
            .connect(Arc::new(MessageSink {
                rooms: rooms.clone(),
                metrics: metrics.clone(),
            }))
            .await
            .map_err(err)?;
        let relay = HubRelayBuilder::new(url)
            .prefix(format!("{PREFIX}#"))
            .metrics_part("chat_presence")
            .connect_sink(Arc::new(PresenceSink {
                rooms: rooms.clone(),
                refresh: refresh.clone(),
            }))
            .await
            .map_err(err)?;
        let cluster = Arc::new(Cluster {
            feed,
            relay,
            adapter,
            store,
            rooms,
            metrics,
            tag: rand::rng().random_range(1..1u64 << 20),
            ttl: ttl.max(Duration::from_millis(300)),
            refresh,
            store_errors: AtomicU64::new(0),
            store_ok: std::sync::atomic::AtomicBool::new(true),
        });
        cluster.heartbeat_once().await;
        tokio::spawn(heartbeat(cluster.clone()));
        tokio::spawn(refresher(cluster.clone(), refresh_rx));
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
        self.attempt(cmd).await.ok()
    }

    /// Runs a command even while Redis is known to be away (at most one second).
    async fn probe<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Option<T> {
        self.attempt(cmd).await.ok()
    }

    /// Runs a command (at most one second), keeping track of whether Redis answers.
    async fn attempt<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        let res = match tokio::time::timeout(Duration::from_secs(1), self.store.query(cmd)).await {
            Ok(r) => r,
            Err(_) => Err(redis::RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no answer within 1 s",
            ))),
        };
        match &res {
            Ok(_) => {
                if !self.store_ok.swap(true, Ordering::Relaxed) {
                    tracing::info!("chat cluster: Redis answers again");
                }
            }
            Err(e) => {
                self.store_errors.fetch_add(1, Ordering::Relaxed);
                if self.store_ok.swap(false, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "chat cluster: Redis command failed; chat state is local until it answers");
                } else {
                    tracing::debug!(error = %e, "chat cluster: Redis command failed");
                }
            }
        }
        res
    }

    /// Joins `s` to `room` as `nick`: shared presence, the room's history, then "joined" to
    /// the joiner (and the messages since its history, see the module's documentation) and a
    /// presence update to everyone.
    pub async fn join(
        &self,
        rooms: &Rooms,
        s: &mut Session,
        room: String,
        nick: String,
        metrics: &Metrics,
    ) {
        let (done, joined) = tokio::sync::oneshot::channel();
        lock_rooms(rooms)
            .entry(room.clone())
            .or_default()
            .joining
            .insert(s.id, Joining::new(done));
        // Presence signals of the room from now on.
        self.relay.subscribed(&room);
        let _: Option<()> = self
            .run(
                redis::cmd("HSET")
                    .arg(members_key(&room))
                    .arg(s.id)
                    .arg(member_entry(self.uid(), &nick)),
            )
            .await;
        let roster = self.roster(&room).await;
        let (history, last) = self.history(&room).await;
        {
            let mut g = lock_rooms(rooms);
            let r = g.entry(room.clone()).or_default();
            // The first join here follows the room from where its history ends. (Without
            // Redis, from now.)
            let last = last.or(r.position).unwrap_or_else(|| EntryId {
                ms: now_ms(),
                seq: 0,
            });
            if r.position.is_none() {
                r.position = Some(last);
                self.feed.follow(&room, last);
            }
            let members = roster.unwrap_or_else(|| r.roster());
            let reply = encode(&ServerMsg::Joined {
                room: &room,
                nick: &nick,
                members: &members,
                history: history.iter().collect(),
            });
            let member = Member {
                nick: nick.clone(),
                outlet: s.outlet.clone(),
            };
            r.ready(&room, s.id, member, reply, last, metrics);
        }
        if tokio::time::timeout(CATCH_UP_WAIT, joined).await.is_err() {
            tracing::warn!(
                room,
                "chat cluster: the room's messages up to a join's history did not come; joining anyway"
            );
            if let Some(r) = lock_rooms(rooms).get_mut(&room) {
                r.complete(&room, s.id, metrics);
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
                    let empty = r.members.is_empty() && r.joining.is_empty();
                    if empty {
                        g.remove(&room);
                        self.feed.unfollow(&room);
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

    /// Says `text` in `room` as member `id`: the message goes to the room's stream, then to
    /// everyone (see the module's documentation). While too many messages wait for Redis it
    /// waits too, so the sayer's connection is not read meanwhile (TCP backpressure).
    pub async fn say(
        &self,
        rooms: &Rooms,
        id: u64,
        room: &str,
        text: String,
    ) -> Result<(), QueueFull> {
        let nick = {
            let g = lock_rooms(rooms);
            let Some(r) = g.get(room) else { return Ok(()) };
            r.members
                .get(&id)
                .map(|m| m.nick.clone())
                .unwrap_or_default()
        };
        let line = ChatLine {
            room: room.to_owned(),
            id,
            nick,
            text,
            ts: now_ms(),
        };
        self.feed
            .append_when_room(room, serde_json::to_string(&line).unwrap_or_default())
            .await
    }

    /// Waits (at most `timeout`) until every message said here so far is in its room's
    /// stream and has reached this process's members. For a graceful shutdown, between
    /// stopping the clients' input and closing them.
    pub async fn flush(&self, timeout: Duration) {
        if !self.feed.flush(timeout).await {
            tracing::warn!(
                queued = self.feed.queued(),
                "chat cluster: messages said here did not all reach Redis and come back in time"
            );
        }
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
            match parse_member_entry(field, value) {
                Some(member) => parsed.push(member),
                None => tracing::debug!(room, field, "chat cluster: ignored a malformed member"),
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

    /// The room's recent messages, oldest first, and the id of its stream's last entry
    /// (`None` when Redis did not answer for a while). A process that follows the room
    /// already reads again a history that ends before where it started following (another
    /// join read the room after this one).
    async fn history(&self, room: &str) -> (Vec<ChatLine>, Option<EntryId>) {
        let deadline = tokio::time::Instant::now() + HISTORY_WAIT;
        let mut again = true;
        loop {
            match self.feed.recent(room, HISTORY).await {
                Ok(recent) => {
                    let behind = lock_rooms(&self.rooms)
                        .get(room)
                        .and_then(|r| r.position)
                        .is_some_and(|p| recent.last < p);
                    if behind && std::mem::take(&mut again) {
                        continue;
                    }
                    let lines = recent
                        .entries
                        .iter()
                        .filter_map(|(_, d)| {
                            std::str::from_utf8(d).ok().and_then(parse_history_line)
                        })
                        .collect();
                    return (lines, Some(recent.last));
                }
                Err(e) => {
                    if tokio::time::Instant::now() >= deadline {
                        tracing::warn!(room, error = %e, "chat cluster: no history (Redis does not answer)");
                        return (Vec::new(), None);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
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
                    .map(|(&id, m)| (id, member_entry(self.uid(), &m.nick)))
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
        self.feed.close();
    }

    /// The chat's Redis state for `/metrics`, read at scrape time (the Redis traffic of the
    /// adapter, the chat's streams and its presence channels, labelled `part`, comes from
    /// wsx-redis itself).
    pub fn record(&self) {
        use metrics::{counter, describe_counter, describe_gauge, gauge};
        describe_counter!(
            "wsx_redis_chat_state_errors_total",
            "Chat state commands (presence, history, messages) that failed."
        );
        describe_counter!(
            "wsx_redis_chat_messages_stored_total",
            "Chat messages added to their room's stream (history and every process's live feed)."
        );
        describe_gauge!(
            "wsx_redis_chat_messages_waiting",
            "Chat messages said here that wait for Redis to take them."
        );
        describe_gauge!(
            "wsx_redis_chat_rooms",
            "Chat rooms with members in this process."
        );
        counter!("wsx_redis_chat_state_errors_total")
            .absolute(self.store_errors.load(Ordering::Relaxed));
        counter!("wsx_redis_chat_messages_stored_total").absolute(self.feed.metrics().messages_out);
        gauge!("wsx_redis_chat_messages_waiting").set(self.feed.queued() as f64);
        gauge!("wsx_redis_chat_rooms").set(lock_rooms(&self.rooms).len() as f64);
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
            r.send_encoded(&room, &text, &cluster.metrics);
            r.shown = Some(members);
        }
    }
}
