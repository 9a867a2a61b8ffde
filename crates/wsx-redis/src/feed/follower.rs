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
        for (id, data) in out {
            sh.metrics.received();
            sh.sink.entry(&p.topic, id, data);
        }
    }
    sh.progress.notify_waiters();
    Ok(())
}
