//! `TopicFeed`: topics as Redis streams shared by several processes (feeds with connections of
//! their own), against a real `redis-server`: every entry once and in one order at every
//! follower, appends kept through a Redis restart that lost everything, copies of a retried
//! append left out (by followers and by `recent`), following from an entry id, a topic's
//! recent entries, and a full queue refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::{Redis, T, eventually};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use wsx_redis::{EntryId, FeedSink, TopicFeed, TopicFeedBuilder};

/// A process's sink: every entry it is handed, in order.
struct Sink(Mutex<UnboundedSender<(String, EntryId, String)>>);

impl FeedSink for Sink {
    fn entry(&self, topic: &str, id: EntryId, data: Bytes) {
        let text = String::from_utf8(data.to_vec()).unwrap();
        let _ = self.0.lock().unwrap().send((topic.to_owned(), id, text));
    }
}

async fn feed(redis: &Redis) -> (TopicFeed, UnboundedReceiver<(String, EntryId, String)>) {
    feed_with(TopicFeedBuilder::new(redis.url())).await
}

async fn feed_with(
    b: TopicFeedBuilder,
) -> (TopicFeed, UnboundedReceiver<(String, EntryId, String)>) {
    let (tx, rx) = unbounded_channel();
    let f = b.connect(Arc::new(Sink(Mutex::new(tx)))).await.unwrap();
    (f, rx)
}

/// The next `n` entries handed out.
async fn next(
    rx: &mut UnboundedReceiver<(String, EntryId, String)>,
    n: usize,
) -> Vec<(String, EntryId, String)> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let e = tokio::time::timeout(T, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} entries came: {out:?}", out.len()))
            .unwrap();
        out.push(e);
    }
    out
}

/// Adds to `t` a copy of `feed`'s append number `seq` (same process id and sequence number),
/// as a retry whose first answer was lost would.
async fn add_copy(
    conn: &mut redis::aio::MultiplexedConnection,
    feed: &TopicFeed,
    seq: u64,
    data: &str,
) {
    let _: String = redis::cmd("XADD")
        .arg(feed.stream_key("t"))
        .arg("*")
        .arg("n")
        .arg(feed.uid())
        .arg("s")
        .arg(seq)
        .arg("d")
        .arg(data)
        .query_async(conn)
        .await
        .unwrap();
}

fn texts(entries: &[(String, EntryId, String)]) -> Vec<&str> {
    entries.iter().map(|e| e.2.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_see_every_entry_once_in_one_order_across_a_redis_restart() {
    let mut redis = Redis::start().await;
    let (a, mut ra) = feed(&redis).await;
    let (b, mut rb) = feed(&redis).await;
    a.follow("room", EntryId::ZERO);
    b.follow("room", EntryId::ZERO);
    for i in 0..50 {
        a.append("room", format!("a{i}")).unwrap();
        b.append("room", format!("b{i}")).unwrap();
    }
    let mut seen_a = next(&mut ra, 100).await;
    let mut seen_b = next(&mut rb, 100).await;
    assert_eq!(seen_a, seen_b, "both processes see one order");

    // Redis goes away and comes back empty; appends made meanwhile wait and then go through.
    redis.stop();
    for i in 50..80 {
        a.append("room", format!("a{i}")).unwrap();
        b.append("room", format!("b{i}")).unwrap();
    }
    eventually("the appends to fail", || !a.metrics().connected).await;
    assert_eq!(a.queued(), 30, "nothing is taken while Redis is away");
    redis.restart().await;
    assert!(a.flush(T).await && b.flush(T).await);
    seen_a.extend(next(&mut ra, 60).await);
    seen_b.extend(next(&mut rb, 60).await);
    assert_eq!(
        seen_a, seen_b,
        "both processes see one order after the restart"
    );
    for who in ["a", "b"] {
        let mine: Vec<&str> = texts(&seen_a)
            .into_iter()
            .filter(|t| t.starts_with(who))
            .collect();
        let want: Vec<String> = (0..80).map(|i| format!("{who}{i}")).collect();
        assert_eq!(mine, want, "each process's appends once, in order");
    }
    let ids: Vec<EntryId> = seen_a.iter().map(|e| e.1).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids grow across the restart"
    );
    assert!(a.metrics().reconnects >= 1);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), ra.recv())
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_entries_then_following_from_the_last_leave_no_gap_and_no_copy() {
    let redis = Redis::start().await;
    let (a, _ra) = feed(&redis).await;
    for i in 0..30 {
        a.append("t", format!("m{i}")).unwrap();
    }
    assert!(a.flush(T).await);
    // A copy of an append whose answer was lost (same process id and sequence number), as a
    // retry would add it.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    add_copy(&mut conn, &a, 30, "m29").await;

    let (b, mut rb) = feed(&redis).await;
    let recent = b.recent("t", 10).await.unwrap();
    let got: Vec<String> = recent
        .entries
        .iter()
        .map(|(_, d)| String::from_utf8(d.to_vec()).unwrap())
        .collect();
    let want: Vec<String> = (20..30).map(|i| format!("m{i}")).collect();
    assert_eq!(got, want, "the last ten, the copy left out");
    assert!(
        recent.last > recent.entries.last().unwrap().0,
        "the copy is the stream's last"
    );
    b.follow("t", recent.last);
    for i in 30..40 {
        a.append("t", format!("m{i}")).unwrap();
    }
    // Another copy, now while b follows: left out too. (A retry's copy comes after its
    // original: the appends are in Redis before it.)
    assert!(a.flush(T).await);
    add_copy(&mut conn, &a, 35, "m34").await;
    a.append("t", "m40").unwrap();
    let live = next(&mut rb, 11).await;
    let want: Vec<String> = (30..41).map(|i| format!("m{i}")).collect();
    assert_eq!(texts(&live), want);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), rb.recv())
            .await
            .is_err()
    );

    // An empty topic: no entry, and its last id is zero.
    let none = b.recent("nothing", 10).await.unwrap();
    assert!(none.entries.is_empty());
    assert_eq!(none.last, EntryId::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_followed_later_reads_from_where_it_is_followed_and_unfollowed_ones_stop() {
    let redis = Redis::start().await;
    let (a, mut ra) = feed(&redis).await;
    a.follow("one", EntryId::ZERO);
    a.append("one", "x").unwrap();
    assert_eq!(texts(&next(&mut ra, 1).await), ["x"]);
    // While the reader blocks on "one", a second topic is followed: it is read at once.
    a.append("two", "before").unwrap();
    assert!(a.flush(T).await);
    let last = a.recent("two", 1).await.unwrap().last;
    a.follow("two", last);
    a.append("two", "after").unwrap();
    let got = next(&mut ra, 1).await;
    assert_eq!((got[0].0.as_str(), got[0].2.as_str()), ("two", "after"));
    a.unfollow("one");
    a.append("one", "unheard").unwrap();
    a.append("two", "heard").unwrap();
    assert_eq!(texts(&next(&mut ra, 1).await), ["heard"]);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), ra.recv())
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_appends_while_redis_is_away() {
    let mut redis = Redis::start().await;
    let (a, _ra) = feed_with(TopicFeedBuilder::new(redis.url()).queue(3)).await;
    redis.stop();
    for i in 0..3 {
        a.append("t", format!("m{i}")).unwrap();
    }
    assert!(a.append("t", "m3").is_err(), "the fourth is refused");
    // Or waits for room, which comes once Redis takes what is queued.
    let waiting = tokio::spawn({
        let a = a.clone();
        async move { a.append_when_room("t", "m3").await }
    });
    assert!(!a.flush(Duration::from_millis(200)).await);
    assert!(!waiting.is_finished(), "no room while Redis is away");
    redis.restart().await;
    tokio::time::timeout(T, waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(a.flush(T).await);
    let recent = a.recent("t", 10).await.unwrap();
    let got: Vec<&[u8]> = recent.entries.iter().map(|(_, d)| &d[..]).collect();
    assert_eq!(got, [&b"m0"[..], b"m1", b"m2", b"m3"]);
}
