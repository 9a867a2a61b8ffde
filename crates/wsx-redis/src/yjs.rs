//! Yjs documents across processes: [`wsx_yjs::Cluster`] over Redis streams.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rand::Rng;
use tokio::sync::{Notify, mpsc};
use wsx_yjs::{BoxFuture, Cluster, RoomLink};

use crate::connection::{blocking_reader, connect};
use crate::error::Error;
use crate::setters::setters;
use crate::stream_reply;

/// Builds a [`YjsRedis`].
#[derive(Debug, Clone)]
pub struct YjsRedisBuilder {
    url: String,
    prefix: String,
    compact_after: u64,
    block: Duration,
    trim_margin: Duration,
}

impl YjsRedisBuilder {
    /// A cluster on the Redis at `url` (`redis://host:port/`).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "wsx-yjs".into(),
            compact_after: 1000,
            block: Duration::from_millis(200),
            trim_margin: Duration::from_secs(60),
        }
    }

    setters! {
        /// The prefix of the keys (default `wsx-yjs`).
        prefix(prefix: impl Into<String>) => prefix = prefix.into();
        /// After how many stream entries a process compacts a room into its hash (default 1,000).
        compact_after(entries: u64) => compact_after = entries.max(1);
        /// How long entries stay in a room's stream after a compaction covered them (default 60 s),
        /// so that a process reading behind the one that compacted still finds them; a process that
        /// falls further behind reads the room again from its hash.
        trim_margin(d: Duration) => trim_margin = d.max(Duration::from_millis(10));
    }

    /// Connects and starts the publishing and reading tasks.
    pub async fn connect(self) -> Result<YjsRedis, Error> {
        let (client, conn) =
            connect(&self.url, Duration::from_secs(1), Duration::from_secs(5)).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let node: String = {
            let mut rng = rand::rng();
            (0..12)
                .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
                .collect()
        };
        let shared = Arc::new(Shared {
            node,
            prefix: self.prefix,
            tx,
            rooms: Mutex::new(HashMap::new()),
            compact_after: self.compact_after,
            trim_margin: self.trim_margin,
            lost_contact: AtomicBool::new(false),
            wake: Arc::new(Notify::new()),
            conn: conn.clone(),
            metrics: YjsMetrics::default(),
        });
        tokio::spawn(publisher(conn, rx, Arc::downgrade(&shared)));
        tokio::spawn(reader(client, Arc::downgrade(&shared), self.block));
        Ok(YjsRedis(shared))
    }
}

/// Yjs rooms shared through Redis, as a [`wsx_yjs::Cluster`]. Clone it freely.
///
/// # Design
/// Each room has a Redis stream, `<prefix>:{<room>}:u`, and a hash, `<prefix>:{<room>}:s`
/// (the braces keep both in one Redis Cluster slot). A process that accepts an update (and has
/// stored it in its own store) adds it to the stream (`XADD`, fields `n` = the process's id,
/// `k` = `u` for a document update or `a` for awareness, `d` = the bytes as y-protocols encodes
/// them). Every process with the room open reads the room's stream from the last entry it saw
/// (`XREAD BLOCK` over all its open rooms on one connection) and applies what others added.
/// Every so many entries a process writes the room's whole state into the hash with the id of
/// the last entry it covers, and trims the stream of the entries it covers that are older than
/// a margin (60 s), in one script that refuses to go back (a state covering less than the one
/// stored is not written): the stream stays short, as in `@y/hub`, where a worker compacts it.
/// A process whose reading fell behind by half that margin reads its rooms again from their
/// hashes, so a trim never takes an entry from under a reader.
///
/// A process opening a room reads the hash's state and the stream after it, so it converges
/// whatever it missed; if its own store had the room, it also publishes its whole state once,
/// in case it died before publishing its last updates.
///
/// # Guarantees
/// Updates are idempotent and commute, so the cluster only needs every update to reach every
/// process at least once: an update Redis could not take stays queued, in order, and is
/// retried until Redis takes it; after any failure to reach Redis (a restart, with or without
/// its data), every process reads its open rooms again from the hash and publishes each room's
/// whole state, so whatever Redis lost is put back by whoever has it. Nothing accepted is lost
/// while at least one process that has it lives (and each process has it in its own store).
/// Awareness is ephemeral: entries older than 30 s are ignored, and states of a process that
/// died expire after 30 s without renewal, on every other process.
#[derive(Clone)]
pub struct YjsRedis(Arc<Shared>);

impl std::fmt::Debug for YjsRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YjsRedis")
            .field("node", &self.0.node)
            .finish_non_exhaustive()
    }
}

/// Counters of a [`YjsRedis`].
#[derive(Debug, Default)]
pub struct YjsMetrics {
    /// Whether the last command to Redis succeeded.
    pub connected: AtomicBool,
    /// Entries added to room streams.
    pub published: AtomicU64,
    /// Entries of other processes applied.
    pub received: AtomicU64,
    /// Commands that failed.
    pub failures: AtomicU64,
    /// Times every open room was read again and republished after a failure.
    pub resyncs: AtomicU64,
    /// Compactions written.
    pub compactions: AtomicU64,
}

struct Shared {
    node: String,
    prefix: String,
    tx: mpsc::UnboundedSender<Out>,
    rooms: Mutex<HashMap<String, RoomState>>,
    compact_after: u64,
    trim_margin: Duration,
    /// Set when a command failed; the next success reads and republishes every room.
    lost_contact: AtomicBool,
    /// Wakes the reader when a room opens.
    wake: Arc<Notify>,
    conn: redis::aio::ConnectionManager,
    metrics: YjsMetrics,
}

struct RoomState {
    link: RoomLink,
    /// The last stream entry applied; `None` until the room has been read from its hash.
    last: Option<String>,
    since_compaction: u64,
}

/// An entry waiting to be added to a room's stream.
struct Out {
    room: String,
    kind: &'static str,
    data: Bytes,
    queued: Instant,
}

/// Awareness older than this is not worth delivering.
const AWARENESS_TTL: Duration = Duration::from_secs(30);

const COMPACT: &str = r"
local cur = redis.call('HGET', KEYS[1], 'id')
if cur then
  local a = string.find(cur, '-', 1, true)
  local b = string.find(ARGV[2], '-', 1, true)
  local cm, cs = tonumber(string.sub(cur, 1, a - 1)), tonumber(string.sub(cur, a + 1))
  local nm, ns = tonumber(string.sub(ARGV[2], 1, b - 1)), tonumber(string.sub(ARGV[2], b + 1))
  if nm < cm or (nm == cm and ns <= cs) then return 0 end
end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'id', ARGV[2])
redis.call('XTRIM', KEYS[2], 'MINID', ARGV[3])
return 1
";

impl YjsRedis {
    /// This process's id in the stream entries.
    pub fn node(&self) -> &str {
        &self.0.node
    }

    /// The counters.
    pub fn metrics(&self) -> &YjsMetrics {
        &self.0.metrics
    }

    /// The stream key of `room`.
    pub fn stream_key(&self, room: &str) -> String {
        self.0.stream_key(room)
    }
}

impl Shared {
    fn stream_key(&self, room: &str) -> String {
        stream_key(&self.prefix, room)
    }

    fn state_key(&self, room: &str) -> String {
        format!("{}:{{{room}}}:s", self.prefix)
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, RoomState>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, room: &str, kind: &'static str, data: Bytes) {
        let _ = self.tx.send(Out {
            room: room.to_owned(),
            kind,
            data,
            queued: Instant::now(),
        });
    }

    fn failed(&self, e: &redis::RedisError) {
        self.metrics.failures.fetch_add(1, Ordering::Relaxed);
        self.metrics.connected.store(false, Ordering::Relaxed);
        if !self.lost_contact.swap(true, Ordering::AcqRel) {
            tracing::warn!(error = %e, "wsx-redis: yjs: Redis unreachable; keeping updates and retrying");
        }
    }

    fn succeeded(&self) {
        self.metrics.connected.store(true, Ordering::Relaxed);
        if self.lost_contact.swap(false, Ordering::AcqRel) {
            self.resync_all();
        }
    }

    /// After a failure: read every room again and publish its whole state, so whatever Redis
    /// lost is put back.
    fn resync_all(&self) {
        self.metrics.resyncs.fetch_add(1, Ordering::Relaxed);
        tracing::info!("wsx-redis: yjs: Redis is back; resynchronising the open rooms");
        let links: Vec<RoomLink> = {
            let mut rooms = self.rooms();
            rooms
                .values_mut()
                .map(|r| {
                    r.last = None;
                    r.link.clone()
                })
                .collect()
        };
        for link in links {
            if let Ok(state) = link.state() {
                self.publish(link.name(), "u", Bytes::from(state));
            }
        }
        self.wake.notify_one();
    }

    /// Reads every open room again from its hash (a reader that fell behind may have missed
    /// entries a compaction trimmed).
    fn reread_all(&self) {
        for r in self.rooms().values_mut() {
            r.last = None;
        }
    }

    /// Applies one stream entry to its room (not this process's own entries).
    fn apply(&self, link: &RoomLink, id: &str, fields: &Fields) {
        if fields.node.as_deref() == Some(self.node.as_str()) {
            return;
        }
        let r = match fields.kind.as_deref() {
            Some("u") => link.apply_update(&fields.data),
            Some("a") => {
                let fresh = entry_ms(id).is_some_and(|ms| {
                    now_ms().saturating_sub(ms) < AWARENESS_TTL.as_millis() as u64
                });
                if !fresh {
                    return;
                }
                link.apply_awareness(&fields.data)
            }
            _ => return,
        };
        self.metrics.received.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = r {
            tracing::warn!(
                room = link.name(),
                "wsx-redis: yjs: a stream entry does not apply: {e}"
            );
        }
    }

    /// Reads `room` from its hash and its whole stream; returns the last entry id.
    async fn catch_up(
        &self,
        conn: &mut impl redis::aio::ConnectionLike,
        link: &RoomLink,
    ) -> Result<String, redis::RedisError> {
        let room = link.name();
        let (state, covered): (Option<Vec<u8>>, Option<String>) = redis::cmd("HMGET")
            .arg(self.state_key(room))
            .arg("state")
            .arg("id")
            .query_async(conn)
            .await?;
        if let Some(Err(e)) = state.map(|state| link.apply_update(&state)) {
            tracing::warn!(room, "wsx-redis: yjs: the stored state does not apply: {e}");
        }
        let mut last = covered.unwrap_or_else(|| "0-0".to_owned());
        let stream = self.stream_key(room);
        let mut start = last.clone();
        loop {
            let v: redis::Value = redis::cmd("XRANGE")
                .arg(&stream)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(1000)
                .query_async(conn)
                .await?;
            let entries = stream_reply::entries(&v, Fields::read);
            let n = entries.len();
            for (id, fields) in entries {
                self.apply(link, &id, &fields);
                start = format!("({id}");
                last = id;
            }
            if n < 1000 {
                return Ok(last);
            }
        }
    }

    /// Writes the room's state as of entry `id` into its hash and trims its stream.
    async fn compact(&self, conn: &mut impl redis::aio::ConnectionLike, link: &RoomLink, id: &str) {
        let Ok(state) = link.state() else { return };
        let room = link.name();
        let r: Result<i64, _> = redis::cmd("EVAL")
            .arg(COMPACT)
            .arg(2)
            .arg(self.state_key(room))
            .arg(self.stream_key(room))
            .arg(state)
            .arg(id)
            .arg(format!(
                "{}-0",
                entry_ms(id)
                    .unwrap_or(0)
                    .saturating_sub(self.trim_margin.as_millis() as u64)
            ))
            .query_async(conn)
            .await;
        match r {
            Ok(_) => {
                self.metrics.compactions.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tracing::debug!(room, "wsx-redis: yjs: compaction failed: {e}"),
        }
    }
}

impl Cluster for YjsRedis {
    fn open(&self, link: RoomLink) -> BoxFuture<'_, wsx_yjs::Result<()>> {
        Box::pin(async move {
            let shared = &self.0;
            let name = link.name().to_owned();
            shared.rooms().insert(
                name.clone(),
                RoomState {
                    link: link.clone(),
                    last: None,
                    since_compaction: 0,
                },
            );
            if let Some(Ok(state)) = link.had_history().then(|| link.state()) {
                shared.publish(&name, "u", Bytes::from(state));
            }
            let mut conn = shared.conn.clone();
            match shared.catch_up(&mut conn, &link).await {
                Ok(last) => {
                    shared.succeeded();
                    if let Some(r) = shared.rooms().get_mut(&name) {
                        r.last.get_or_insert(last);
                    }
                    shared.wake.notify_one();
                    Ok(())
                }
                Err(e) => {
                    shared.failed(&e);
                    shared.wake.notify_one();
                    Err(wsx_yjs::Error::store(e))
                }
            }
        })
    }

    fn close(&self, room: &str) {
        self.0.rooms().remove(room);
    }

    fn publish_update(&self, room: &str, update: Bytes) {
        self.0.publish(room, "u", update);
    }

    fn publish_awareness(&self, room: &str, update: Bytes) {
        self.0.publish(room, "a", update);
    }
}

/// Adds queued entries to their streams, in order, a pipeline at a time; keeps and retries
/// them while Redis cannot be reached (document updates are never dropped).
async fn publisher(
    mut conn: redis::aio::ConnectionManager,
    mut rx: mpsc::UnboundedReceiver<Out>,
    shared: Weak<Shared>,
) {
    const BATCH: usize = 256;
    let mut queue: VecDeque<Out> = VecDeque::new();
    let mut backoff = Duration::from_millis(50);
    loop {
        if queue.is_empty() {
            match rx.recv().await {
                Some(o) => queue.push_back(o),
                None => return,
            }
        }
        while queue.len() < BATCH * 4 {
            match rx.try_recv() {
                Ok(o) => queue.push_back(o),
                Err(_) => break,
            }
        }
        let Some(sh) = shared.upgrade() else { return };
        // Stale awareness is not worth sending.
        queue.retain(|o| o.kind != "a" || o.queued.elapsed() < AWARENESS_TTL);
        let n = queue.len().min(BATCH);
        if n == 0 {
            continue;
        }
        let mut pipe = redis::pipe();
        for o in queue.iter().take(n) {
            pipe.cmd("XADD")
                .arg(sh.stream_key(&o.room))
                .arg("*")
                .arg("n")
                .arg(&sh.node)
                .arg("k")
                .arg(o.kind)
                .arg("d")
                .arg(&o.data[..])
                .ignore();
        }
        match pipe.query_async::<()>(&mut conn).await {
            Ok(()) => {
                queue.drain(..n);
                sh.metrics.published.fetch_add(n as u64, Ordering::Relaxed);
                sh.succeeded();
                backoff = Duration::from_millis(50);
            }
            Err(e) => {
                sh.failed(&e);
                drop(sh);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Reads the streams of every open room on a connection of its own and applies what other
/// processes added; reads rooms whose position is unknown from their hash first.
async fn reader(client: redis::Client, shared: Weak<Shared>, block: Duration) {
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut backoff = Duration::from_millis(50);
    let block_ms = u64::try_from(block.as_millis()).unwrap_or(1000);
    // When the last read came back: a reader that went longer without one may have been
    // passed by a compaction's trim.
    let mut last_read = Instant::now();
    loop {
        let Some(sh) = shared.upgrade() else { return };
        let behind = sh.trim_margin / 2;
        if last_read.elapsed() > behind {
            sh.reread_all();
            last_read = Instant::now();
        }
        let c = match &mut conn {
            Some(c) => c,
            None => match blocking_reader(&client, block).await {
                Ok(c) => {
                    backoff = Duration::from_millis(50);
                    conn.insert(c)
                }
                Err(e) => {
                    sh.failed(&e);
                    drop(sh);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
        };
        // Rooms to read from their hash.
        let unread: Vec<RoomLink> = sh
            .rooms()
            .values()
            .filter(|r| r.last.is_none())
            .map(|r| r.link.clone())
            .collect();
        let mut failed = None;
        for link in unread {
            match sh.catch_up(c, &link).await {
                Ok(last) => {
                    if let Some(r) = sh.rooms().get_mut(link.name()) {
                        r.last = Some(last);
                    }
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failed {
            sh.failed(&e);
            conn = None;
            drop(sh);
            tokio::time::sleep(backoff).await;
            continue;
        }
        let positions: Vec<(String, String)> = sh
            .rooms()
            .iter()
            .filter_map(|(name, r)| r.last.clone().map(|l| (name.clone(), l)))
            .collect();
        if positions.is_empty() {
            let wake = sh.wake.clone();
            drop(sh);
            let _ = tokio::time::timeout(Duration::from_secs(1), wake.notified()).await;
            continue;
        }
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(1000)
            .arg("BLOCK")
            .arg(block_ms)
            .arg("STREAMS");
        for (name, _) in &positions {
            cmd.arg(sh.stream_key(name));
        }
        for (_, last) in &positions {
            cmd.arg(last);
        }
        let issued = Instant::now();
        let res: Result<redis::Value, _> = cmd.query_async(c).await;
        match res {
            Ok(v) => {
                sh.succeeded();
                // Every entry added before this read was issued has now been read.
                last_read = issued;
                let mut to_compact = Vec::new();
                for (key, entries) in stream_reply::xread(&v, Fields::read) {
                    let Some(room) = room_of_stream_key(&sh.prefix, &key).map(str::to_owned) else {
                        continue;
                    };
                    let Some(link) = sh.rooms().get(&room).map(|r| r.link.clone()) else {
                        continue;
                    };
                    let mut last = None;
                    let n = entries.len() as u64;
                    for (id, fields) in entries {
                        sh.apply(&link, &id, &fields);
                        last = Some(id);
                    }
                    if let Some(last) = last {
                        // Still far behind after a full page: the entries after it may be
                        // trimmed before they are read, so read the room again from its hash.
                        let lagging = n >= 1000
                            && entry_ms(&last).is_some_and(|ms| {
                                now_ms().saturating_sub(ms) > behind.as_millis() as u64
                            });
                        let mut rooms = sh.rooms();
                        if let Some(r) = rooms.get_mut(&room) {
                            // A resync may have reset it meanwhile: then it is read again.
                            if lagging {
                                r.last = None;
                            } else if r.last.is_some() {
                                r.last = Some(last.clone());
                            }
                            r.since_compaction += n;
                            if r.since_compaction >= sh.compact_after {
                                r.since_compaction = 0;
                                to_compact.push((link.clone(), last));
                            }
                        }
                    }
                }
                for (link, id) in to_compact {
                    sh.compact(c, &link, &id).await;
                }
            }
            Err(e) => {
                sh.failed(&e);
                conn = None;
                drop(sh);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// The stream key of `room`: `<prefix>:{<room>}:u` (the braces make it a Redis Cluster hash
/// tag, so a room's stream and hash share a slot).
pub(crate) fn stream_key(prefix: &str, room: &str) -> String {
    format!("{prefix}:{{{room}}}:u")
}

/// The room whose [`stream_key`] `key` is (`None` for a key of another form).
pub(crate) fn room_of_stream_key<'k>(prefix: &str, key: &'k str) -> Option<&'k str> {
    key.strip_prefix(prefix)?
        .strip_prefix(":{")?
        .strip_suffix("}:u")
}

/// The fields of a stream entry this module writes.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    /// `n`: the process that added the entry.
    pub(crate) node: Option<String>,
    /// `k`: `u` for a document update, `a` for awareness.
    pub(crate) kind: Option<String>,
    /// `d`: the update's bytes.
    pub(crate) data: Vec<u8>,
}

impl Fields {
    /// This module's fields among an entry's.
    pub(crate) fn read(kv: &stream_reply::Fields<'_>) -> Fields {
        let mut f = Fields::default();
        for &(k, v) in kv {
            let (Some(k), Some(v)) = (stream_reply::bytes(k), stream_reply::bytes(v)) else {
                continue;
            };
            match k {
                b"n" => f.node = Some(String::from_utf8_lossy(v).into_owned()),
                b"k" => f.kind = Some(String::from_utf8_lossy(v).into_owned()),
                b"d" => f.data = v.to_vec(),
                _ => {}
            }
        }
        f
    }
}

/// The milliseconds part of a stream entry id.
pub(crate) fn entry_ms(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use redis::Value as V;

    #[test]
    fn reads_binary_entries_of_xread_and_xrange_replies() {
        let entry = V::Array(vec![
            V::BulkString(b"1700000000000-3".to_vec()),
            V::Array(vec![
                V::BulkString(b"n".to_vec()),
                V::BulkString(b"node".to_vec()),
                V::BulkString(b"k".to_vec()),
                V::BulkString(b"u".to_vec()),
                V::BulkString(b"d".to_vec()),
                V::BulkString(vec![0, 255, 1]),
            ]),
        ]);
        let e = stream_reply::entries(&V::Array(vec![entry.clone()]), Fields::read);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "1700000000000-3");
        assert_eq!(e[0].1.data, vec![0, 255, 1]);
        assert_eq!(e[0].1.node.as_deref(), Some("node"));
        let x = stream_reply::xread(
            &V::Array(vec![V::Array(vec![
                V::BulkString(b"wsx-yjs:{r}:u".to_vec()),
                V::Array(vec![entry]),
            ])]),
            Fields::read,
        );
        assert_eq!(x[0].0, "wsx-yjs:{r}:u");
        assert_eq!(x[0].1.len(), 1);
        assert!(stream_reply::xread(&V::Nil, Fields::read).is_empty());
        assert_eq!(entry_ms("1700000000000-3"), Some(1_700_000_000_000));
    }

    #[test]
    fn a_stream_key_names_its_room() {
        for room in ["r", "", "a}:u", "{x}", "ümlaut:{}:u"] {
            let key = stream_key("wsx-yjs", room);
            assert_eq!(room_of_stream_key("wsx-yjs", &key), Some(room), "{key}");
        }
        assert_eq!(stream_key("p", "r"), "p:{r}:u");
        assert_eq!(room_of_stream_key("p", "q:{r}:u"), None);
        assert_eq!(room_of_stream_key("p", "p:{r}:s"), None);
        assert_eq!(room_of_stream_key("p", "p:{r"), None);
    }
}
