//! Topics as Redis streams: [`TopicFeed`], an ordered log per topic that every process
//! appends to and follows, for messages that must reach every process even across a Redis
//! restart (where [`HubRelay`](crate::HubRelay)'s Pub/Sub drops what is published while a
//! subscriber is away).
//!
//! # Design
//! A topic is a Redis stream, `<prefix>:{feed}:<topic>`: every stream of a feed shares the
//! hash tag `{feed}`, so on a Redis Cluster they live in one slot and one `XREAD` reads them
//! all. An append is `XADD <key> * n <process> s <seq> d <data>`, sent by
//! one task, in order, a pipeline at a time. A process follows a topic from an entry id on: one
//! task, on a connection of its own, reads every followed topic with `XREAD BLOCK` from the
//! last entry it handed out, and hands each entry to the [`FeedSink`] in the stream's order.
//! Streams are not trimmed as they are appended to: a follower trims a stream longer than
//! [`max_len`](TopicFeedBuilder::max_len) of the entries a minute older than what it read, so
//! a follower on another process that falls behind still finds them.
//!
//! # Guarantees
//! - **Nothing appended is dropped**: an append Redis could not take (it is restarting, the
//!   connection broke) stays queued, in order, and is retried until Redis takes it. The queue
//!   is bounded ([`TopicFeedBuilder::queue`]); [`TopicFeed::append`] refuses when it is full,
//!   so a caller knows what was not accepted.
//! - **No duplicate**: an append whose answer was lost may have been carried out and is sent
//!   again; its process id and sequence number (`n`, `s`) let every reader drop the second
//!   copy ([`TopicFeed::recent`] too).
//! - **In order, no gap**: a follower reads from the last entry it handed out, so an entry
//!   added while its connection was away is read when it comes back. Redis restarting without
//!   its data restarts the streams empty; the entries added after that have greater ids (they
//!   come from the Redis clock), so followers go on. A follower more than a minute behind
//!   another on a stream longer than [`max_len`](TopicFeedBuilder::max_len) may miss what that
//!   one trimmed.

mod appender;
mod fields;
mod follower;
mod link;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

use crate::entry_id::EntryId;
use crate::error::Error;
use crate::ids::random_hex;
use crate::lock::lock;
use crate::metrics::{Metrics, MetricsInner};
use crate::setters::setters;
use crate::stream_reply;
use fields::Fields;
use link::{Link, Target};

/// Builds a [`TopicFeed`]: the Redis URL, the key prefix (`wsx-feed`), how many entries a
/// stream keeps (10,000) and how many appends may wait for Redis (65,536).
///
/// ```no_run
/// # use std::sync::Arc;
/// # async fn f() -> Result<(), wsx_redis::Error> {
/// struct Print;
/// impl wsx_redis::FeedSink for Print {
///     fn entry(&self, topic: &str, id: wsx_redis::EntryId, data: bytes::Bytes) {
///         println!("{topic} {id}: {data:?}");
///     }
/// }
/// let feed = wsx_redis::TopicFeedBuilder::new("redis://127.0.0.1:6379/")
///     .connect(Arc::new(Print))
///     .await?;
/// let recent = feed.recent("news", 10).await?;
/// feed.follow("news", recent.last);
/// feed.append("news", "hello").expect("the queue has room");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TopicFeedBuilder {
    url: String,
    prefix: String,
    cluster: bool,
    max_len: usize,
    queue: usize,
    block: Duration,
    metrics_part: String,
}

impl TopicFeedBuilder {
    /// A feed on the Redis at `url` (`redis://host:port/`).
    pub fn new(url: impl Into<String>) -> Self {
        TopicFeedBuilder {
            url: url.into(),
            prefix: "wsx-feed".into(),
            cluster: false,
            max_len: 10_000,
            queue: 65_536,
            block: Duration::from_secs(1),
            metrics_part: "feed".into(),
        }
    }

    setters! {
        /// The prefix of the streams' keys; every process of one feed must use the same.
        prefix(prefix: impl Into<String>) => prefix = prefix.into();
        /// The `part` label of the feed's series in the `metrics` facade (feature `metrics`;
        /// default `feed`).
        metrics_part(part: impl Into<String>) => metrics_part = part.into();
        /// `url` is a node of a Redis Cluster (default: one Redis).
        cluster(cluster: bool) => cluster = cluster;
        /// How many entries a stream keeps at least (default 10,000, at least 100): past that,
        /// followers trim the entries a minute older than what they read (`XTRIM MINID ~`).
        max_len(entries: usize) => max_len = entries.max(100);
        /// How many appends may wait for Redis at most (default 65,536).
        queue(appends: usize) => queue = appends.max(1);
    }

    /// Connects to Redis and starts the appending and following tasks; `sink` gets the
    /// entries of the followed topics. Must be called inside a tokio runtime.
    pub async fn connect(self, sink: Arc<dyn FeedSink>) -> Result<TopicFeed, Error> {
        let target = Target {
            url: self.url,
            cluster: self.cluster,
        };
        let (link, client) = target.connect().await?;
        // Fail early when Redis cannot be reached at all.
        let _: redis::Value = link.query(&redis::cmd("PING")).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            prefix: self.prefix,
            uid: random_hex(),
            max_len: self.max_len,
            queue_cap: self.queue,
            link: link.clone(),
            tx,
            queued: AtomicUsize::new(0),
            seq: AtomicU64::new(0),
            followed: Mutex::new(HashMap::new()),
            appended: Mutex::new(HashMap::new()),
            next_gen: AtomicU64::new(1),
            since_trim: Mutex::new(HashMap::new()),
            progress: Notify::new(),
            wake: Notify::new(),
            reader_id: AtomicU64::new(0),
            metrics: MetricsInner::new_connected(&self.metrics_part),
            sink,
        });
        tokio::spawn(appender::run(link, rx, Arc::downgrade(&shared)));
        tokio::spawn(follower::run(
            target,
            client,
            Arc::downgrade(&shared),
            self.block,
        ));
        Ok(TopicFeed(shared))
    }
}

/// Where a [`TopicFeed`]'s entries go: the followed topics' entries, each once, in each
/// stream's order (this process's own appends included).
pub trait FeedSink: Send + Sync + 'static {
    /// Entry `id` of `topic`, with the data it was appended with. Called from the feed's
    /// reading task, one entry at a time; keep it short.
    fn entry(&self, topic: &str, id: EntryId, data: Bytes);
}

/// The feed refused an append: its queue for Redis is full (Redis has been away a while).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the feed's queue for Redis is full")]
pub struct QueueFull;

/// A topic's last entries, as [`TopicFeed::recent`] reads them.
#[derive(Debug, Clone, Default)]
pub struct Recent {
    /// The entries, oldest first (copies of a retried append left out).
    pub entries: Vec<(EntryId, Bytes)>,
    /// The id of the stream's last entry ([`EntryId::ZERO`] when it has none): follow from
    /// here to get what comes after these entries.
    pub last: EntryId,
}

/// Topics shared by every process through Redis streams (see the [module](self) for the
/// design and its guarantees). Clone it freely; the tasks stop when the last clone is
/// dropped or on [`close`](TopicFeed::close).
#[derive(Clone)]
pub struct TopicFeed(Arc<Shared>);

impl std::fmt::Debug for TopicFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicFeed")
            .field("uid", &self.0.uid)
            .field("prefix", &self.0.prefix)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared {
    prefix: String,
    /// This process's id in the entries (`n`).
    uid: String,
    max_len: usize,
    queue_cap: usize,
    link: Link,
    tx: mpsc::UnboundedSender<Append>,
    /// Appends not yet taken by Redis.
    queued: AtomicUsize,
    /// The sequence number of this process's last append (`s`).
    seq: AtomicU64,
    followed: Mutex<HashMap<String, Follow>>,
    /// The id of this process's last append to each topic that Redis took.
    appended: Mutex<HashMap<String, EntryId>>,
    next_gen: AtomicU64,
    /// Entries read per topic since its stream was last trimmed.
    since_trim: Mutex<HashMap<String, usize>>,
    /// Told when appends were taken or entries handed out (for [`TopicFeed::flush`]).
    progress: Notify,
    /// Wakes the reader when there is a topic to follow.
    wake: Notify,
    /// The reader connection's `CLIENT ID` (0 until known), to unblock it when a topic is
    /// followed.
    reader_id: AtomicU64,
    metrics: MetricsInner,
    sink: Arc<dyn FeedSink>,
}

/// A followed topic.
struct Follow {
    /// The last entry handed out (or the one followed from).
    after: EntryId,
    /// Which follow this is: a read issued for an earlier one is not handed out.
    generation: u64,
    /// Whether the process sequence numbers of the entries up to `after` were read yet.
    seeded: bool,
    /// The last sequence number handed out per process, to drop copies of retried appends.
    seen: HashMap<String, u64>,
}

/// An append waiting for Redis.
struct Append {
    topic: String,
    seq: u64,
    data: Bytes,
}

impl TopicFeed {
    /// This process's id in the entries it appends.
    pub fn uid(&self) -> &str {
        &self.0.uid
    }

    /// The Redis key of `topic`'s stream.
    pub fn stream_key(&self, topic: &str) -> String {
        self.0.stream_key(topic)
    }

    /// Appends `data` to `topic`'s stream, after everything this process appended before; it
    /// is kept and retried while Redis cannot take it. Refused only when the queue is full
    /// (see [`append_when_room`](Self::append_when_room) to wait instead).
    pub fn append(&self, topic: &str, data: impl Into<Bytes>) -> Result<(), QueueFull> {
        if !self.0.reserve() {
            self.0.metrics.errors_inc();
            return Err(QueueFull);
        }
        self.enqueue(topic, data.into())
    }

    /// [`append`](Self::append), waiting while the queue is full (until Redis takes what is
    /// queued) rather than refusing: the caller slows down to what Redis takes, as a reader
    /// that stops reading its socket puts TCP backpressure on its peer.
    pub async fn append_when_room(
        &self,
        topic: &str,
        data: impl Into<Bytes>,
    ) -> Result<(), QueueFull> {
        let sh = &self.0;
        loop {
            let progress = sh.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            if sh.reserve() {
                return self.enqueue(topic, data.into());
            }
            progress.await;
        }
    }

    fn enqueue(&self, topic: &str, data: Bytes) -> Result<(), QueueFull> {
        let sh = &self.0;
        let seq = sh.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let append = Append {
            topic: topic.to_owned(),
            seq,
            data,
        };
        if sh.tx.send(append).is_err() {
            sh.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(QueueFull);
        }
        Ok(())
    }

    /// Hands `topic`'s entries after `after` to the sink from now on, in order (a topic
    /// followed already starts again from `after`).
    pub fn follow(&self, topic: &str, after: EntryId) {
        let sh = &self.0;
        let generation = sh.next_gen.fetch_add(1, Ordering::Relaxed);
        lock(&sh.followed).insert(
            topic.to_owned(),
            Follow {
                after,
                generation,
                seeded: false,
                seen: HashMap::new(),
            },
        );
        sh.wake.notify_one();
        // The reader may be blocked on the other topics: have it read again.
        let id = sh.reader_id.load(Ordering::Acquire);
        if id != 0 {
            let link = sh.link.clone();
            tokio::spawn(async move {
                let _: redis::RedisResult<redis::Value> = link
                    .query(redis::cmd("CLIENT").arg("UNBLOCK").arg(id))
                    .await;
            });
        }
    }

    /// Stops handing out `topic`'s entries.
    pub fn unfollow(&self, topic: &str) {
        lock(&self.0.followed).remove(topic);
        lock(&self.0.appended).remove(topic);
    }

    /// Whether `topic` is followed.
    pub fn is_followed(&self, topic: &str) -> bool {
        lock(&self.0.followed).contains_key(topic)
    }

    /// `topic`'s last `count` entries (oldest first) and the id of its last entry.
    pub async fn recent(&self, topic: &str, count: usize) -> Result<Recent, Error> {
        // A little more than asked, so that copies of retried appends can be left out.
        let v: redis::Value = self
            .0
            .link
            .query(
                redis::cmd("XREVRANGE")
                    .arg(self.0.stream_key(topic))
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(count + count / 4 + 8),
            )
            .await
            .inspect_err(|e| self.0.metrics.failed(e))?;
        let mut newest_first = stream_reply::entries(&v, Fields::read);
        let last = newest_first
            .first()
            .and_then(|(id, _)| EntryId::parse(id))
            .unwrap_or(EntryId::ZERO);
        newest_first.reverse();
        let mut seen = HashMap::new();
        let mut entries: Vec<(EntryId, Bytes)> = newest_first
            .into_iter()
            .filter_map(|(id, f)| {
                let id = EntryId::parse(&id)?;
                if !f.first_copy(&mut seen) {
                    return None;
                }
                Some((id, f.data?))
            })
            .collect();
        let extra = entries.len().saturating_sub(count);
        entries.drain(..extra);
        Ok(Recent { entries, last })
    }

    /// Waits (at most `timeout`) until every append made so far is in Redis and, for the
    /// followed topics, has come back to the sink. Returns whether it got there.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let sh = &self.0;
        tokio::time::timeout(timeout, async {
            loop {
                let progress = sh.progress.notified();
                tokio::pin!(progress);
                progress.as_mut().enable();
                if sh.queued.load(Ordering::Acquire) == 0 && sh.caught_up() {
                    return;
                }
                progress.await;
            }
        })
        .await
        .is_ok()
    }

    /// How many appends wait for Redis.
    pub fn queued(&self) -> usize {
        self.0.queued.load(Ordering::Acquire)
    }

    /// The feed's Redis traffic: appends as `messages_out`, entries handed out as
    /// `messages_in`.
    pub fn metrics(&self) -> Metrics {
        self.0.metrics.snapshot()
    }

    /// Stops following every topic (the tasks end when the last clone is dropped).
    pub fn close(&self) {
        lock(&self.0.followed).clear();
        self.0.wake.notify_one();
    }
}

impl Shared {
    /// Takes a place in the queue, if there is one.
    fn reserve(&self) -> bool {
        self.queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.queue_cap).then_some(n + 1)
            })
            .is_ok()
    }

    fn stream_key(&self, topic: &str) -> String {
        format!("{}:{{feed}}:{topic}", self.prefix)
    }

    fn topic_of_key<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(self.prefix.as_str())?
            .strip_prefix(":{feed}:")
    }

    /// Whether every followed topic has handed out this process's last append to it.
    fn caught_up(&self) -> bool {
        let appended = lock(&self.appended);
        let followed = lock(&self.followed);
        appended
            .iter()
            .all(|(topic, id)| followed.get(topic).is_none_or(|f| f.after >= *id))
    }
}
