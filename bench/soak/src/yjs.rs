//! Collaborative editing: a few editors (y-websocket replicas, `replica.rs`) on one document
//! `/yjs/soak-<round>`, spread over both servers, each typing a token of its own (`[b17]`:
//! editor b's 17th edit) at a random place between tokens, steadily. Every round (a minute by
//! default, and when the load stops) they stop typing, wait until every replica has every
//! edit, and compare: all replicas must hold the same text, containing every accepted edit.
//! Then the next round starts on a new document, so no document grows for the whole run.
//!
//! Accepted: an edit whose update the editor's own server sent back to it: wsx-yjs stores an
//! update before it sends it to anyone, the sender included. Expected: every accepted edit at
//! every other replica. Lost: an accepted edit missing from a replica's text at the end of
//! the round (after the grace period). Reordered: a frame holding blocks that came before
//! what they depend on (yrs holds them back); duplicated: blocks of other editors a replica
//! had already.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior, interval, sleep, timeout};

use crate::ctx::Ctx;
use crate::replica::{Got, Replica};
use crate::stats::Kind;

const SYNC_LIMIT: Duration = Duration::from_secs(15);

/// One edit as its editor made it.
struct Edit {
    token: String,
    /// The clock range of its block.
    end: u32,
    sent_us: u64,
}

/// One editor as the round knows it.
struct Editor {
    client: u64,
    place: String,
    edits: Vec<Edit>,
    /// Edits its server echoed (the first `accepted` of `edits`).
    accepted: usize,
    /// Whether this replica holds every edit made so far and its own are all echoed.
    caught_up: bool,
    /// Whether it has stopped typing for the round (it saw the settling phase): only then
    /// can the round tell that every edit is in.
    stopped: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Typing,
    Settling,
    Done,
}

type Round = Arc<Mutex<Vec<Editor>>>;

fn lock(round: &Round) -> std::sync::MutexGuard<'_, Vec<Editor>> {
    round.lock().unwrap_or_else(|e| e.into_inner())
}

pub async fn run(ctx: Arc<Ctx>, kind: Arc<Kind>, editors: usize, rate: f64, length: Duration) {
    let mut n = 0;
    while !ctx.stopped() {
        let room = format!("soak-{n}");
        if let Err(e) = round(&ctx, &kind, &room, editors, rate, length).await {
            Kind::add(&kind.errors, 1);
            kind.note(format!("{room}: {e}"));
            sleep(Duration::from_secs(1)).await;
        }
        n += 1;
    }
}

async fn round(
    ctx: &Arc<Ctx>,
    kind: &Arc<Kind>,
    room: &str,
    editors: usize,
    rate: f64,
    length: Duration,
) -> Result<(), String> {
    let mut replicas = Vec::with_capacity(editors);
    let mut log = Vec::with_capacity(editors);
    for i in 0..editors {
        let server = ctx.server(i);
        let place = format!("{}@{}", letter(i), server.name);
        let mut r = Replica::connect(&server.addr.to_string(), room)
            .await
            .map_err(|e| format!("{place}: {e}"))?;
        timeout(SYNC_LIMIT, async {
            loop {
                if r.next().await?.synced {
                    return Ok::<_, String>(());
                }
            }
        })
        .await
        .map_err(|_| format!("{place}: not synced within {SYNC_LIMIT:?}"))?
        .map_err(|e| format!("{place}: {e}"))?;
        log.push(Editor {
            client: r.client_id(),
            place,
            edits: Vec::new(),
            accepted: 0,
            caught_up: true,
            stopped: false,
        });
        replicas.push(r);
    }
    let log: Round = Arc::new(Mutex::new(log));
    let (phase_tx, phase_rx) = watch::channel(Phase::Typing);
    let tasks: Vec<_> = replicas
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            tokio::spawn(editor(
                ctx.clone(),
                kind.clone(),
                i,
                r,
                log.clone(),
                rate,
                phase_rx.clone(),
            ))
        })
        .collect();
    // Type for the round's length (or until the load stops), then let every replica catch up.
    let _ = timeout(length, ctx.stopping()).await;
    let _ = phase_tx.send(Phase::Settling);
    let deadline = Instant::now() + ctx.grace;
    // An editor may send one last edit as the phase changes: wait until each has stopped
    // typing, then until every edit is everywhere.
    while Instant::now() < deadline && !lock(&log).iter().all(|e| e.stopped && e.caught_up) {
        sleep(Duration::from_millis(50)).await;
    }
    let _ = phase_tx.send(Phase::Done);
    let mut done = Vec::new();
    for t in tasks {
        match t.await {
            Ok(r) => done.push(r),
            Err(e) => return Err(format!("an editor failed: {e}")),
        }
    }
    check(ctx, kind, room, &lock(&log), &done);
    for r in done.into_iter().flatten() {
        r.close().await;
    }
    Ok(())
}

fn letter(i: usize) -> String {
    let letters = b"abcdefghijklmnopqrstuvwxyz";
    match letters.get(i) {
        Some(&c) => char::from(c).to_string(),
        None => format!("e{i}-"),
    }
}

/// The places between tokens: the start, and after each `]`.
fn boundaries(text: &str) -> Vec<u32> {
    std::iter::once(0)
        .chain(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b']')
                .map(|(i, _)| i as u32 + 1),
        )
        .collect()
}

/// The tokens of a text (`[b17]` → `b17`).
fn tokens(text: &str) -> Vec<&str> {
    text.split(']')
        .filter_map(|t| t.strip_prefix('['))
        .collect()
}

/// A small random generator (xorshift64*), seeded per editor.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

/// One editor: types while the round is typing, applies what the server sends, and says when
/// it has caught up; returns its replica when the round is done (`None` if it was lost).
async fn editor(
    ctx: Arc<Ctx>,
    kind: Arc<Kind>,
    i: usize,
    mut r: Replica,
    log: Round,
    rate: f64,
    mut phase: watch::Receiver<Phase>,
) -> Option<Replica> {
    let mut tick = interval(Duration::from_secs_f64(1.0 / rate.max(0.001)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (r.client_id() | 1));
    let place = lock(&log)[i].place.clone();
    loop {
        let now = *phase.borrow();
        if now == Phase::Done {
            return Some(r);
        }
        if now != Phase::Typing {
            lock(&log)[i].stopped = true;
        }
        tokio::select! {
            _ = tick.tick(), if now == Phase::Typing => {
                let text = r.text();
                let spots = boundaries(&text);
                let at = spots[rng.below(spots.len())];
                let n = lock(&log)[i].edits.len();
                let token = format!("[{}{n}]", letter(i));
                let sent_us = ctx.clock.now_us();
                let (range, frame) = r.insert(at, &token);
                {
                    let mut g = lock(&log);
                    g[i].edits.push(Edit { token, end: range.end, sent_us });
                    g[i].caught_up = false;
                }
                Kind::add(&kind.sent, 1);
                if let Err(e) = r.send_update(frame).await {
                    Kind::add(&kind.errors, 1);
                    kind.note(format!("{place}: {e} at {}", ctx.clock.stamp()));
                    return None;
                }
            }
            got = r.next() => match got {
                Ok(got) => received(&ctx, &kind, i, &r, &log, &got),
                Err(e) => {
                    Kind::add(&kind.errors, 1);
                    kind.note(format!("{place}: {e} at {}", ctx.clock.stamp()));
                    return None;
                }
            },
            _ = phase.changed() => {}
        }
    }
}

/// Counts what a frame brought to replica `i`: deliveries of other editors' edits with their
/// latency, this editor's edits echoed (accepted), and whether it has caught up.
fn received(ctx: &Ctx, kind: &Kind, i: usize, r: &Replica, log: &Round, got: &Got) {
    let now = ctx.clock.now_us();
    let mut g = lock(log);
    if got.early {
        Kind::add(&kind.reordered, 1);
    }
    if got.repeated {
        Kind::add(&kind.duplicated, 1);
    }
    for (client, range) in &got.integrated {
        let Some(e) = g.iter().find(|e| e.client == *client) else {
            continue;
        };
        // The edits whose blocks end inside the range arrived.
        let first = e.edits.partition_point(|x| x.end <= range.start);
        for x in e.edits[first..].iter().take_while(|x| x.end <= range.end) {
            Kind::add(&kind.received, 1);
            kind.latency.record_us(now.saturating_sub(x.sent_us));
        }
    }
    let echoed = r.echoed();
    let me = &mut g[i];
    let accepted = me.edits.partition_point(|x| x.end <= echoed);
    if accepted > me.accepted {
        Kind::add(&kind.accepted, (accepted - me.accepted) as u64);
        me.accepted = accepted;
    }
    let mine = r.client_id();
    let caught_up = g.iter().all(|e| match e.edits.last() {
        None => true,
        Some(last) if e.client == mine => echoed >= last.end,
        Some(last) => r.clock_of(e.client) >= last.end,
    });
    g[i].caught_up = caught_up;
}

/// The round's verdict: every replica's text the same, every accepted edit in each.
fn check(ctx: &Ctx, kind: &Kind, room: &str, log: &[Editor], replicas: &[Option<Replica>]) {
    let texts: Vec<Option<String>> = replicas
        .iter()
        .map(|r| r.as_ref().map(Replica::text))
        .collect();
    let alive: Vec<&String> = texts.iter().flatten().collect();
    if alive.windows(2).any(|w| w[0] != w[1]) {
        Kind::add(&kind.failures, 1);
        let lens: Vec<usize> = alive.iter().map(|t| t.len()).collect();
        kind.note(format!(
            "{room}: the replicas differ (text lengths {lens:?}) after the grace period"
        ));
    }
    let accepted: usize = log.iter().map(|e| e.accepted).sum();
    let others = log.len().saturating_sub(1) as u64;
    Kind::add(&kind.expected, accepted as u64 * others);
    for (j, text) in texts.iter().enumerate() {
        let have: HashSet<&str> = text
            .as_deref()
            .map(tokens)
            .unwrap_or_default()
            .into_iter()
            .collect();
        for (e, editor) in log.iter().enumerate() {
            if e == j {
                continue;
            }
            for x in &editor.edits[..editor.accepted] {
                let token = &x.token[1..x.token.len() - 1];
                if !have.contains(token) {
                    let place = format!(
                        "{} in {room}, edit {} of {}",
                        log[j].place, x.token, editor.place
                    );
                    kind.lose(ctx.clock.unix_ms_of(x.sent_us), &place, 1);
                }
            }
        }
    }
    eprintln!(
        "soak: yjs: {room}: {} edits, {accepted} accepted, {} replicas {} ({} bytes)",
        log.iter().map(|e| e.edits.len()).sum::<usize>(),
        alive.len(),
        if alive.windows(2).all(|w| w[0] == w[1]) {
            "identical"
        } else {
            "DIFFER"
        },
        alive.first().map_or(0, |t| t.len()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_the_places_between_them() {
        assert_eq!(boundaries(""), vec![0]);
        assert_eq!(boundaries("[a0][b0]"), vec![0, 4, 8]);
        assert_eq!(tokens("[a0][b12][a1]"), vec!["a0", "b12", "a1"]);
        let mut rng = Rng(7);
        assert!((0..100).all(|_| rng.below(3) < 3));
    }
}
