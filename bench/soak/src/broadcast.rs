//! Broadcast: subscribers of one chat room, split over both servers, and one publisher (on
//! the first server) saying numbered lines at a steady rate. Every subscriber checks every
//! number: the subscribers on the publisher's server get each line from their own process,
//! the others through Redis (the room's Pub/Sub channel, `wsx_redis::HubRelay`).
//!
//! Accepted: a line the publisher's own process sent back to the publisher (a member of the
//! room too): that process took it and delivered it to its members. Expected: every accepted
//! line at every subscriber that joined. Lost: expected but not received by the end of the
//! grace period (a subscriber whose connection drops loses everything after).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, MissedTickBehavior, interval, sleep_until};

use crate::chat::{ChatConn, Incoming};
use crate::ctx::Ctx;
use crate::seq::Seq;
use crate::stats::Kind;

const ROOM: &str = "soak-broadcast";
const PUBLISHER: &str = "pub";
/// Subscribers connecting and joining at once.
const JOINING: usize = 50;
const JOIN_LIMIT: Duration = Duration::from_secs(60);

/// What the publisher said, shared with the subscribers.
#[derive(Default)]
struct Published {
    /// Send time (µs on the run's clock) and whether its process echoed it, by number.
    lines: Mutex<Vec<(u64, bool)>>,
    /// Subscribers' missing lines: (number, server) → how many subscribers.
    missing: Mutex<BTreeMap<(u64, String), u64>>,
}

fn parse(text: &str) -> Option<(u64, u64)> {
    let (n, at) = text.split_once(' ')?;
    Some((n.parse().ok()?, at.parse().ok()?))
}

pub async fn run(ctx: Arc<Ctx>, kind: Arc<Kind>, subscribers: usize, rate: f64) {
    let published = Arc::new(Published::default());
    // The number of lines said, once the publisher is done.
    let (total_tx, total_rx) = watch::channel(None::<u64>);
    let joined = Arc::new(AtomicUsize::new(0));
    let settled = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(JOINING));
    let subs: Vec<_> = (0..subscribers)
        .map(|i| {
            tokio::spawn(subscriber(
                ctx.clone(),
                kind.clone(),
                i,
                published.clone(),
                total_rx.clone(),
                (joined.clone(), settled.clone(), gate.clone()),
            ))
        })
        .collect();
    let started = Instant::now();
    while settled.load(Ordering::Acquire) < subscribers && !ctx.stopped() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let members = joined.load(Ordering::Acquire);
    eprintln!(
        "soak: broadcast: {members} of {subscribers} subscribers joined {ROOM} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let total = publisher(&ctx, &kind, rate, &published).await;
    let _ = total_tx.send(Some(total));
    for s in subs {
        let _ = s.await;
    }
    let lines = published.lines.lock().unwrap_or_else(|e| e.into_inner());
    let accepted = lines.iter().filter(|l| l.1).count() as u64;
    Kind::add(&kind.expected, accepted * members as u64);
    for ((n, server), count) in published
        .missing
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        let (at, ok) = lines[*n as usize];
        if ok {
            let place = format!("{count} subscriber(s) on {server}, line {n}");
            kind.lose(ctx.clock.unix_ms_of(at), &place, *count);
        }
    }
}

/// Says numbered lines until the load stops, then waits for the last echoes; returns how
/// many it said.
async fn publisher(ctx: &Ctx, kind: &Kind, rate: f64, published: &Published) -> u64 {
    let server = ctx.server(0);
    let mut conn = match ChatConn::connect(&server.addr.to_string()).await {
        Ok(c) => c,
        Err(e) => {
            Kind::add(&kind.errors, 1);
            kind.note(format!("publisher: {e}"));
            return 0;
        }
    };
    if let Err(e) = conn.join(ROOM, PUBLISHER, JOIN_LIMIT).await {
        Kind::add(&kind.errors, 1);
        kind.note(format!("publisher: {e}"));
        return 0;
    }
    let mut tick = interval(Duration::from_secs_f64(1.0 / rate.max(0.001)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut deadline: Option<Instant> = None;
    let mut echoes = Seq::default();
    let mut said = 0u64;
    loop {
        if deadline.is_some() && echoes.has_all(said) {
            break;
        }
        tokio::select! {
            _ = tick.tick(), if deadline.is_none() => {
                let now = ctx.clock.now_us();
                if let Err(e) = conn.say(&format!("{said} {now}")).await {
                    Kind::add(&kind.errors, 1);
                    kind.note(format!("publisher: {e} at {}", ctx.clock.stamp()));
                    break;
                }
                published.lines.lock().unwrap_or_else(|e| e.into_inner()).push((now, false));
                said += 1;
                Kind::add(&kind.sent, 1);
            }
            m = conn.next() => match m {
                Incoming::Message(m) if m.nick == PUBLISHER => {
                    let Some((n, _)) = parse(&m.text) else { continue };
                    let mut lines = published.lines.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(line) = lines.get_mut(n as usize).filter(|l| !l.1) {
                        line.1 = true;
                        Kind::add(&kind.accepted, 1);
                    }
                    echoes.arrive(n);
                }
                Incoming::Message(_) | Incoming::Other => {}
                Incoming::Closed(e) => {
                    Kind::add(&kind.errors, 1);
                    kind.note(format!("publisher: {e} at {}", ctx.clock.stamp()));
                    break;
                }
            },
            d = ctx.stopping(), if deadline.is_none() => deadline = Some(d),
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => break,
        }
    }
    conn.close().await;
    said
}

type Gates = (Arc<AtomicUsize>, Arc<AtomicUsize>, Arc<Semaphore>);

async fn subscriber(
    ctx: Arc<Ctx>,
    kind: Arc<Kind>,
    i: usize,
    published: Arc<Published>,
    total: watch::Receiver<Option<u64>>,
    (joined, settled, gate): Gates,
) {
    let server = ctx.server(i);
    let place = format!("sub{i}@{}", server.name);
    let conn = async {
        let _permit = gate.acquire().await;
        let mut c = ChatConn::connect(&server.addr.to_string()).await?;
        c.join(ROOM, &format!("sub{i}"), JOIN_LIMIT).await?;
        Ok::<_, String>(c)
    };
    let mut conn = match conn.await {
        Ok(c) => {
            joined.fetch_add(1, Ordering::AcqRel);
            settled.fetch_add(1, Ordering::AcqRel);
            c
        }
        Err(e) => {
            settled.fetch_add(1, Ordering::AcqRel);
            Kind::add(&kind.errors, 1);
            kind.note(format!("{place}: {e}"));
            return;
        }
    };
    let mut seq = Seq::default();
    let mut deadline: Option<Instant> = None;
    let mut end: Option<u64> = None;
    loop {
        if end.is_some_and(|n| seq.has_all(n)) {
            break;
        }
        tokio::select! {
            m = conn.next() => match m {
                Incoming::Message(m) if m.nick == PUBLISHER => {
                    let Some((n, at)) = parse(&m.text) else { continue };
                    kind.arrived(&mut seq, n, ctx.clock.now_us().saturating_sub(at));
                }
                Incoming::Message(_) | Incoming::Other => {}
                Incoming::Closed(e) => {
                    Kind::add(&kind.errors, 1);
                    kind.note(format!("{place}: {e} at {}", ctx.clock.stamp()));
                    end = Some(final_count(total.clone()).await);
                    break;
                }
            },
            n = final_count(total.clone()), if end.is_none() => {
                end = Some(n);
                deadline.get_or_insert_with(|| Instant::now() + ctx.grace);
            }
            d = ctx.stopping(), if deadline.is_none() => deadline = Some(d),
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() && end.is_some() => break,
        }
    }
    let end = end.unwrap_or(0);
    kind.close_gaps(&seq);
    let missing: Vec<u64> = seq.missing(end).collect();
    if !missing.is_empty() {
        let mut m = published.missing.lock().unwrap_or_else(|e| e.into_inner());
        for n in missing {
            *m.entry((n, server.name.clone())).or_default() += 1;
        }
    }
    conn.close().await;
}

/// The number of lines the publisher said, once it is done.
async fn final_count(mut total: watch::Receiver<Option<u64>>) -> u64 {
    match total.wait_for(Option::is_some).await {
        Ok(n) => n.unwrap_or(0),
        Err(_) => 0,
    }
}
