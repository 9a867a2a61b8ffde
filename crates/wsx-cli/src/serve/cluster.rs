//! `wsx serve --redis`: the demo chat shared by every `wsx serve` process on one Redis.
//!
//! - **Messages**: a `say` is in the room's history before anyone sees it. One Lua script
//!   pushes it onto the history (`wsx-chat:{<room>}:history`, a list capped at 50) and
//!   publishes it on the room's channel `wsx-chat#<room>`, atomically and in the order the
//!   process said its messages, so the history and the channel hold the same messages in the
//!   same order. Every process, the sayer's included, delivers what comes on the channel to
//!   its own members, WebSocket and Socket.IO (one encode per kind). The channel is a
//!   [`HubRelay`]'s, subscribed only while this process has members in the room; the script
//!   publishes in the relay's format with no process id, so no process skips it.
//! - **Joining**: the joiner is listed as joining and the room's channel subscribed; then a
//!   second script reads the history and publishes a marker naming the joiner on the
//!   channel, atomically. What the channel carries before the marker is in that history; what
//!   comes after is kept for the joiner, who gets `joined` (with the history), then what was
//!   kept, then the room's next messages like everyone else, all under the rooms' lock. So a
//!   joiner sees each message once, in the channel's order: no gap, no duplicate.
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
//! When Redis is away, a message that could not be sent to it is delivered to this process's
//! members only (it is in no history), presence shows this process's members, and the outage
//! shows in the log and in `/metrics`. A message sent that Redis did not answer for in time
//! may still be stored and published: it is not delivered locally as well (never twice).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use redis::FromRedisValue;
use tokio::sync::mpsc;
use wsx::{Message, Relay};
use wsx_redis::{HubRelay, HubRelayBuilder, TopicSink};

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
/// The signal "this room's presence changed" on a room's channel (text messages there are
/// chat messages, encoded as for the members).
const PRESENCE: &[u8] = b"presence";
/// The marker of a join on a room's channel, followed by the joiner's id.
const JOINED: &[u8] = b"joined ";
/// The marker of a flush on a room's channel, followed by its token (see [`Cluster::flush`]).
const FLUSHED: &[u8] = b"flushed ";
/// The header of a [`HubRelay`] text and binary message from no process (the uid is empty:
/// see the relay's wire format), which every process delivers, the publisher's too.
const RELAY_TEXT: &[u8] = b"WSXH\x01\x01\x00";
const RELAY_BINARY: &[u8] = b"WSXH\x01\x02\x00";

/// Stores and publishes messages of one room, atomically. KEYS[1]: the room's history;
/// ARGV[1]: its channel; ARGV[2]: the history's length; then, for each message in order, its
/// history entry and its relay message.
const SAY: &str = r"
for i = 3, #ARGV, 2 do
  redis.call('LPUSH', KEYS[1], ARGV[i])
  redis.call('PUBLISH', ARGV[1], ARGV[i + 1])
end
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return 0
";

/// Reads a room's history, newest first, and publishes a joiner's marker, atomically.
/// KEYS[1]: the history; ARGV[1]: the room's channel; ARGV[2]: the marker (a relay message);
/// ARGV[3]: the history's length.
const READ_AND_MARK: &str = r"
local lines = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)
redis.call('PUBLISH', ARGV[1], ARGV[2])
return lines
";

/// Publishes a marker on a room's channel from the node that holds the room (KEYS[1]: its
/// history, for a Redis Cluster to route it there; ARGV[1]: the channel; ARGV[2]: the marker).
const MARK: &str = "return redis.call('PUBLISH', ARGV[1], ARGV[2])";

/// Flushes waiting for their marker, by token.
type Flushes = Arc<std::sync::Mutex<HashMap<String, tokio::sync::oneshot::Sender<()>>>>;

fn lock_flushes(
    f: &Flushes,
) -> std::sync::MutexGuard<'_, HashMap<String, tokio::sync::oneshot::Sender<()>>> {
    f.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long a join waits for its marker to come back on the room's channel (it is normally
/// there within a round trip to Redis); past that it completes anyway.
const MARKER_WAIT: Duration = Duration::from_secs(2);

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
    rooms: Rooms,
    metrics: Arc<Metrics>,
    tag: u64,
    ttl: Duration,
    refresh: mpsc::UnboundedSender<String>,
    /// Said messages on their way to Redis, in order.
    said: mpsc::UnboundedSender<Said>,
    /// How many of them are not through yet, and a wake-up when none is.
    unsent: AtomicU64,
    all_sent: tokio::sync::Notify,
    flushes: Flushes,
    next_flush: AtomicU64,
    store_errors: AtomicU64,
    store_ok: std::sync::atomic::AtomicBool,
    /// Messages stored and published.
    stored: AtomicU64,
    /// Messages delivered to this process's members only, Redis being away.
    local_only: AtomicU64,
}

/// A message said by a member of this process, to store and publish.
struct Said {
    room: String,
    line: ChatLine,
}

/// What became of a command sent to Redis.
enum Outcome<T> {
    Done(T),
    /// It was not carried out (Redis is away, the command failed).
    Failed,
    /// No answer in time: it may still be carried out.
    Unknown,
}

/// The relay's view of this process's rooms: a room's channel is subscribed while the room
/// exists here; its chat messages go to the room's members, its markers to its joiners.
struct ChatSink {
    rooms: Rooms,
    refresh: mpsc::UnboundedSender<String>,
    metrics: Arc<Metrics>,
    flushes: Flushes,
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
                let mut rooms = lock_rooms(&self.rooms);
                if let Some(r) = rooms.get_mut(topic) {
                    r.deliver(topic, text.as_str(), true, &self.metrics);
                }
            }
            Message::Binary(b) if &b[..] == PRESENCE => {
                let _ = self.refresh.send(topic.to_owned());
            }
            Message::Binary(b) if b.starts_with(FLUSHED) => {
                if let Ok(token) = std::str::from_utf8(&b[FLUSHED.len()..]) {
                    if let Some(done) = lock_flushes(&self.flushes).remove(token) {
                        let _ = done.send(());
                    }
                }
            }
            Message::Binary(b) if b.starts_with(JOINED) => {
                let id = std::str::from_utf8(&b[JOINED.len()..])
                    .ok()
                    .and_then(|id| id.parse().ok());
                let mut rooms = lock_rooms(&self.rooms);
                if let (Some(id), Some(r)) = (id, rooms.get_mut(topic)) {
                    r.caught_up(topic, id, &self.metrics);
                }
            }
            _ => tracing::debug!(topic, "chat cluster: ignored an unknown room signal"),
        }
    }
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
        let (said, said_rx) = mpsc::unbounded_channel();
        let flushes = Flushes::default();
        let sink = Arc::new(ChatSink {
            rooms: rooms.clone(),
            refresh: refresh.clone(),
            metrics: metrics.clone(),
            flushes: flushes.clone(),
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
            rooms,
            metrics,
            tag: rand::rng().random_range(1..1u64 << 20),
            ttl: ttl.max(Duration::from_millis(300)),
            refresh,
            said,
            unsent: AtomicU64::new(0),
            all_sent: tokio::sync::Notify::new(),
            flushes,
            next_flush: AtomicU64::new(0),
            store_errors: AtomicU64::new(0),
            store_ok: std::sync::atomic::AtomicBool::new(true),
            stored: AtomicU64::new(0),
            local_only: AtomicU64::new(0),
        });
        cluster.heartbeat_once().await;
        tokio::spawn(heartbeat(cluster.clone()));
        tokio::spawn(refresher(cluster.clone(), refresh_rx));
        tokio::spawn(publisher(cluster.clone(), said_rx));
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
        match self.send(cmd).await {
            Outcome::Done(v) => Some(v),
            Outcome::Failed | Outcome::Unknown => None,
        }
    }

    /// [`run`](Self::run), telling a command that was not carried out from one that may be.
    async fn send<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Outcome<T> {
        if !self.store_ok.load(Ordering::Relaxed) {
            return Outcome::Failed;
        }
        match self.attempt(cmd).await {
            Ok(v) => Outcome::Done(v),
            Err(e) if e.is_timeout() => Outcome::Unknown,
            Err(_) => Outcome::Failed,
        }
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
        // Listen to the room's channel before reading its history or telling anyone.
        self.relay.subscribed(&room);
        let wait = if self.relay.metrics().connected {
            Duration::from_secs(2)
        } else {
            Duration::ZERO
        };
        let listening = self.relay.wait_subscribed(&room, wait).await;
        if !listening {
            tracing::warn!(room, "chat cluster: room channel not subscribed yet");
        }
        let _: Option<()> = self
            .run(
                redis::cmd("HSET")
                    .arg(members_key(&room))
                    .arg(s.id)
                    .arg(member_entry(self.uid(), &nick)),
            )
            .await;
        let roster = self.roster(&room).await;
        let history = self.history(&room, s.id).await;
        // Without a marker on its way (Redis away, the channel not listened to), the join
        // completes at once.
        let marked = listening && history.is_some();
        {
            let mut g = lock_rooms(rooms);
            let r = g.entry(room.clone()).or_default();
            let members = roster.unwrap_or_else(|| r.roster());
            let history = history.unwrap_or_default();
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
            r.ready(&room, s.id, member, reply, !marked, metrics);
        }
        if marked && tokio::time::timeout(MARKER_WAIT, joined).await.is_err() {
            tracing::warn!(
                room,
                "chat cluster: a join's marker did not come back; joining anyway"
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

    /// Says `text` in `room` as member `id`: the message goes to Redis, then to everyone
    /// (see the module's documentation).
    pub fn say(&self, rooms: &Rooms, id: u64, room: &str, text: String) {
        let nick = {
            let g = lock_rooms(rooms);
            let Some(r) = g.get(room) else { return };
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
        self.unsent.fetch_add(1, Ordering::AcqRel);
        if self
            .said
            .send(Said {
                room: room.to_owned(),
                line,
            })
            .is_err()
        {
            self.sent(1);
        }
    }

    /// `n` said messages went through (to Redis, or to this process's members only).
    fn sent(&self, n: u64) {
        if self.unsent.fetch_sub(n, Ordering::AcqRel) == n {
            self.all_sent.notify_waiters();
        }
    }

    /// Waits (at most `timeout`) until every message said here so far has reached this
    /// process's members: through Redis, then back on its room's channel (a marker published
    /// on each room's channel after them comes back after them), or directly when Redis is
    /// away. For a graceful shutdown, between stopping the clients' input and closing them.
    pub async fn flush(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, async {
            loop {
                let sent = self.all_sent.notified();
                tokio::pin!(sent);
                sent.as_mut().enable();
                if self.unsent.load(Ordering::Acquire) == 0 {
                    break;
                }
                sent.await;
            }
            let rooms: Vec<String> = lock_rooms(&self.rooms)
                .keys()
                .filter(|r| self.relay.is_subscribed(r))
                .cloned()
                .collect();
            let mut waits = Vec::with_capacity(rooms.len());
            for room in rooms {
                let token = format!(
                    "{}:{}",
                    self.uid(),
                    self.next_flush.fetch_add(1, Ordering::Relaxed)
                );
                let (done, back) = tokio::sync::oneshot::channel();
                lock_flushes(&self.flushes).insert(token.clone(), done);
                let mut marker =
                    Vec::with_capacity(RELAY_BINARY.len() + FLUSHED.len() + token.len());
                marker.extend_from_slice(RELAY_BINARY);
                marker.extend_from_slice(FLUSHED);
                marker.extend_from_slice(token.as_bytes());
                let published: Option<i64> = self
                    .run(
                        redis::cmd("EVAL")
                            .arg(MARK)
                            .arg(1)
                            .arg(history_key(&room))
                            .arg(self.relay.channel(&room))
                            .arg(marker),
                    )
                    .await;
                if published.is_some() {
                    waits.push(back);
                } else {
                    lock_flushes(&self.flushes).remove(&token);
                }
            }
            for back in waits {
                let _ = back.await;
            }
        })
        .await;
        lock_flushes(&self.flushes).clear();
    }

    /// Stores and publishes `said`, messages of `room`, in order (one script); when Redis
    /// cannot take them, delivers them to this process's members only.
    async fn store_and_publish(&self, room: &str, said: &[Said]) {
        let live: Vec<String> = said
            .iter()
            .map(|s| encode(&ServerMsg::Message(&s.line)))
            .collect();
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SAY)
            .arg(1)
            .arg(history_key(room))
            .arg(self.relay.channel(room))
            .arg(HISTORY);
        for (s, text) in said.iter().zip(&live) {
            let mut relayed = Vec::with_capacity(RELAY_TEXT.len() + text.len());
            relayed.extend_from_slice(RELAY_TEXT);
            relayed.extend_from_slice(text.as_bytes());
            cmd.arg(serde_json::to_string(&s.line).unwrap_or_default())
                .arg(relayed);
        }
        match self.send::<i64>(&cmd).await {
            Outcome::Done(_) => {
                self.stored.fetch_add(said.len() as u64, Ordering::Relaxed);
            }
            Outcome::Unknown => tracing::warn!(
                room,
                messages = said.len(),
                "chat cluster: Redis did not answer in time; these messages reach the room if it stores them"
            ),
            Outcome::Failed => {
                self.local_only
                    .fetch_add(said.len() as u64, Ordering::Relaxed);
                let mut g = lock_rooms(&self.rooms);
                if let Some(r) = g.get_mut(room) {
                    for text in &live {
                        r.deliver(room, text, false, &self.metrics);
                    }
                }
            }
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

    /// The room's recent messages, oldest first, read as joiner `id`'s marker is published on
    /// the room's channel; `None` when Redis does not answer.
    async fn history(&self, room: &str, id: u64) -> Option<Vec<ChatLine>> {
        let mut marker = Vec::with_capacity(RELAY_BINARY.len() + JOINED.len() + 20);
        marker.extend_from_slice(RELAY_BINARY);
        marker.extend_from_slice(JOINED);
        marker.extend_from_slice(id.to_string().as_bytes());
        let lines: Vec<String> = self
            .run(
                redis::cmd("EVAL")
                    .arg(READ_AND_MARK)
                    .arg(1)
                    .arg(history_key(room))
                    .arg(self.relay.channel(room))
                    .arg(marker)
                    .arg(HISTORY),
            )
            .await?;
        let mut out: Vec<ChatLine> = lines.iter().filter_map(|l| parse_history_line(l)).collect();
        out.reverse();
        Some(out)
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
            "# HELP wsx_redis_chat_state_errors_total Chat state commands (presence, history, messages) that failed.\n# TYPE wsx_redis_chat_state_errors_total counter\nwsx_redis_chat_state_errors_total {}",
            self.store_errors.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP wsx_redis_chat_messages_stored_total Chat messages stored in their room's history and published to every process.\n# TYPE wsx_redis_chat_messages_stored_total counter\nwsx_redis_chat_messages_stored_total {}",
            self.stored.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP wsx_redis_chat_messages_local_total Chat messages delivered to this process's members only (Redis away).\n# TYPE wsx_redis_chat_messages_local_total counter\nwsx_redis_chat_messages_local_total {}",
            self.local_only.load(Ordering::Relaxed)
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
            r.send_encoded(&room, &text, &cluster.metrics);
            r.shown = Some(members);
        }
    }
}

/// Stores and publishes said messages in order, those of one room in a row with one script.
async fn publisher(cluster: Arc<Cluster>, mut rx: mpsc::UnboundedReceiver<Said>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        let mut rest = &batch[..];
        while let Some(first) = rest.first() {
            let n = rest.iter().take_while(|s| s.room == first.room).count();
            let (run, tail) = rest.split_at(n);
            cluster.store_and_publish(&first.room, run).await;
            cluster.sent(n as u64);
            rest = tail;
        }
        batch.clear();
    }
}
