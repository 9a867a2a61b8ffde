//! Echo: a steady, bounded-rate load on `/echo`. Each connection (spread over both servers)
//! sends numbered text messages at its share of the rate, each carrying its send time, and
//! checks that the echoes come back in order, once each.
//!
//! Accepted: a message the client wrote on an open connection. Lost: an accepted message not
//! echoed by the end of the grace period.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior, interval, sleep_until};
use wsx::{ClientBuilder, Message};

use crate::ctx::Ctx;
use crate::seq::Seq;
use crate::stats::Kind;

/// Bytes of each message (its number and send time, padded).
const SIZE: usize = 64;

pub async fn run(ctx: Arc<Ctx>, kind: Arc<Kind>, conns: usize, rate: f64) {
    let per_conn = rate / conns.max(1) as f64;
    let tasks: Vec<_> = (0..conns)
        .map(|i| tokio::spawn(conn(ctx.clone(), kind.clone(), i, per_conn)))
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

async fn conn(ctx: Arc<Ctx>, kind: Arc<Kind>, i: usize, rate: f64) {
    let server = ctx.server(i);
    let place = format!("echo{i}@{}", server.name);
    let url = format!("ws://{}/echo", server.addr);
    let mut ws = match ClientBuilder::new(&url).connect().await {
        Ok((ws, _)) => ws,
        Err(e) => {
            Kind::add(&kind.errors, 1);
            kind.note(format!("{place}: cannot connect: {e}"));
            return;
        }
    };
    let mut tick = interval(Duration::from_secs_f64(1.0 / rate.max(0.001)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut seq = Seq::default();
    // Send time (µs on the run's clock) of each message, by number.
    let mut sent_us: Vec<u64> = Vec::new();
    let mut deadline: Option<Instant> = None;
    let mut broken = false;
    loop {
        if deadline.is_some() && seq.has_all(sent_us.len() as u64) {
            break;
        }
        tokio::select! {
            _ = tick.tick(), if deadline.is_none() && !broken => {
                let n = sent_us.len() as u64;
                let now = ctx.clock.now_us();
                let mut text = format!("{n} {now} ");
                text.extend(std::iter::repeat_n('.', SIZE.saturating_sub(text.len())));
                match ws.send(Message::text(text)).await {
                    Ok(()) => {
                        sent_us.push(now);
                        Kind::add(&kind.sent, 1);
                        Kind::add(&kind.accepted, 1);
                    }
                    Err(e) => {
                        broken = true;
                        Kind::add(&kind.errors, 1);
                        kind.note(format!("{place}: write failed at {}: {e}", ctx.clock.stamp()));
                    }
                }
            }
            m = ws.recv() => match m {
                Some(Ok(Message::Text(t))) => {
                    let mut f = t.as_str().split(' ');
                    let (Some(Ok(n)), Some(Ok(at))) =
                        (f.next().map(str::parse::<u64>), f.next().map(str::parse::<u64>))
                    else {
                        Kind::add(&kind.errors, 1);
                        continue;
                    };
                    kind.arrived(&mut seq, n, ctx.clock.now_us().saturating_sub(at));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    Kind::add(&kind.errors, 1);
                    kind.note(format!("{place}: connection failed at {}: {e}", ctx.clock.stamp()));
                    break;
                }
                None => {
                    Kind::add(&kind.errors, 1);
                    kind.note(format!("{place}: closed by the server at {}", ctx.clock.stamp()));
                    break;
                }
            },
            d = ctx.stopping(), if deadline.is_none() => deadline = Some(d),
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => break,
        }
    }
    let total = sent_us.len() as u64;
    Kind::add(&kind.expected, total);
    for n in seq.missing(total) {
        kind.lose(ctx.clock.unix_ms_of(sent_us[n as usize]), &place, 1);
    }
    kind.close_gaps(&seq);
    let _ = ws.close(wsx::CloseCode::NORMAL, "").await;
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while ws.recv().await.is_some() {}
    })
    .await;
}
