//! The feed's reading task: every followed topic read with one `XREAD BLOCK`, on a connection
//! of its own, from the last entry handed out; entries go to the sink in each stream's order,
//! copies of retried appends left out.

use std::collections::HashMap;
use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use super::Shared;
use super::fields::Fields;
use super::link::{Link, Target};
use crate::entry_id::EntryId;
use crate::lock::lock;
use crate::stream_reply;

/// Entries read per stream and read at most.
const COUNT: usize = 1000;
/// How many entries before a newly followed position are read for their sequence numbers.
const SEED: usize = 512;

/// How long entries stay in a stream after a follower read past them, at least: a follower on
/// another process that is this far behind still finds them.
const TRIM_MARGIN_MS: u64 = 60_000;

/// Trims a stream longer than the feed's `max_len` of the entries older than
/// [`TRIM_MARGIN_MS`] before the last one read (so history stays while a room is quiet, and
/// no follower loses what it has not read unless it is a minute behind).
const TRIM: &str = r"
if redis.call('XLEN', KEYS[1]) > tonumber(ARGV[1]) then
  return redis.call('XTRIM', KEYS[1], 'MINID', '~', ARGV[2])
end
return 0
";

/// Trims `p`'s stream now and then (every tenth of `max_len` entries read).
async fn trim(sh: &Shared, c: &Link, p: &Position, last: EntryId, read: usize) {
    let due = {
        let mut since = lock(&sh.since_trim);
        let n = since.entry(p.topic.clone()).or_insert(0);
        *n += read;
        if *n * 10 < sh.max_len {
            false
        } else {
            *n = 0;
            true
        }
    };
    if !due {
        return;
    }
    let floor = format!("{}-0", last.ms.saturating_sub(TRIM_MARGIN_MS));
    let r: redis::RedisResult<redis::Value> = c
        .query(
            redis::cmd("EVAL")
                .arg(TRIM)
                .arg(1)
                .arg(&p.key)
                .arg(sh.max_len)
                .arg(floor),
        )
        .await;
    if let Err(e) = r {
        tracing::debug!(topic = p.topic, error = %e, "wsx-redis: feed: trim failed");
    }
}

/// What one read covers for one topic.
struct Position {
    topic: String,
    key: String,
    after: EntryId,
    generation: u64,
    seeded: bool,
}

pub(super) async fn run(
    target: Target,
    client: Option<redis::Client>,
    shared: Weak<Shared>,
    block: Duration,
) {
    let block_ms = u64::try_from(block.as_millis()).unwrap_or(1000);
    let mut conn: Option<Link> = None;
    let mut backoff = Duration::from_millis(50);
    loop {
        let Some(sh) = shared.upgrade() else { return };
        let positions: Vec<Position> = lock(&sh.followed)
            .iter()
            .map(|(topic, f)| Position {
                topic: topic.clone(),
                key: sh.stream_key(topic),
                after: f.after,
                generation: f.generation,
                seeded: f.seeded,
            })
            .collect();
        if positions.is_empty() {
            // `follow` and `close` leave a permit when nobody waits.
            let _ = tokio::time::timeout(Duration::from_secs(1), sh.wake.notified()).await;
            continue;
        }
        let c = match &conn {
            Some(c) => c.clone(),
            None => match target.reader(client.as_ref(), block).await {
                Ok(c) => {
                    // Its id, so that following a new topic can cut a blocked read short
                    // (one Redis only: on a cluster the read just ends with its block).
                    let id: u64 = if matches!(c, Link::Reader(_)) {
                        c.query(redis::cmd("CLIENT").arg("ID")).await.unwrap_or(0)
                    } else {
                        0
                    };
                    sh.reader_id.store(id, Ordering::Release);
                    conn.insert(c).clone()
                }
                Err(e) => {
                    sh.metrics.failed(&e);
                    drop(sh);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
        };
        let res = read(&sh, &c, &positions, block_ms).await;
        match res {
            Ok(()) => {
                sh.metrics.connected();
                backoff = Duration::from_millis(50);
            }
            Err(e) => {
                sh.metrics.failed(&e);
                tracing::debug!(error = %e, "wsx-redis: feed: XREAD failed; reconnecting");
                sh.reader_id.store(0, Ordering::Release);
                conn = None;
                drop(sh);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// One round: the sequence numbers before newly followed positions, then one `XREAD`, whose
/// entries go to the sink.
async fn read(
    sh: &Shared,
    c: &Link,
    positions: &[Position],
    block_ms: u64,
) -> redis::RedisResult<()> {
    for p in positions.iter().filter(|p| !p.seeded) {
        let v: redis::Value = c
            .query(
                redis::cmd("XREVRANGE")
                    .arg(&p.key)
                    .arg(p.after.to_string())
                    .arg("-")
                    .arg("COUNT")
                    .arg(SEED),
            )
            .await?;
        let mut seen = HashMap::new();
        for (_, f) in stream_reply::entries(&v, Fields::read).into_iter().rev() {
            f.first_copy(&mut seen);
        }
        if let Some(f) = lock(&sh.followed)
            .get_mut(&p.topic)
            .filter(|f| f.generation == p.generation)
        {
            f.seeded = true;
            for (node, seq) in seen {
                let last = f.seen.entry(node).or_insert(seq);
                *last = (*last).max(seq);
            }
        }
    }
    let mut cmd = redis::cmd("XREAD");
    cmd.arg("COUNT")
        .arg(COUNT)
        .arg("BLOCK")
        .arg(block_ms)
        .arg("STREAMS");
    for p in positions {
        cmd.arg(&p.key);
    }
    for p in positions {
        cmd.arg(p.after.to_string());
    }
    let v: redis::Value = c.query(&cmd).await?;
    let by_topic: HashMap<&str, &Position> =
        positions.iter().map(|p| (p.topic.as_str(), p)).collect();
    for (key, entries) in stream_reply::xread(&v, Fields::read) {
        let Some(p) = sh.topic_of_key(&key).and_then(|t| by_topic.get(t)) else {
            continue;
        };
        // Which entries are new, decided under the lock; handed out after it.
        let mut out: Vec<(EntryId, Bytes)> = Vec::with_capacity(entries.len());
        {
            let mut followed = lock(&sh.followed);
            let Some(f) = followed.get_mut(&p.topic) else {
                continue;
            };
            if f.generation != p.generation {
                continue;
            }
            for (id, fields) in entries {
                let Some(id) = EntryId::parse(&id) else {
                    continue;
                };
                if id <= f.after {
                    continue;
                }
                f.after = id;
                if !fields.first_copy(&mut f.seen) {
                    continue;
                }
                match fields.data {
                    Some(data) => out.push((id, data)),
                    None => sh.metrics.malformed(),
                }
            }
        }
        let read = out.len();
        let last = out.last().map(|(id, _)| *id);
        for (id, data) in out {
            sh.metrics.received();
            sh.sink.entry(&p.topic, id, data);
        }
        if let Some(last) = last {
            trim(sh, c, p, last, read).await;
        }
    }
    sh.progress.notify_waiters();
    Ok(())
}
