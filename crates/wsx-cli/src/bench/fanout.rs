//! `--fanout`: a broadcast benchmark. Connection 0 publishes; every other connection only
//! receives, and the server is expected to send each message to every client but its sender.
//! The publisher keeps `--pipeline` broadcasts in flight: it sends the next one when every
//! subscriber has received the oldest. Each subscriber checks every message byte for byte and
//! in order (a gap or a reordering is a corrupt message), and a delivery's latency counts from
//! the publisher's send. Throughput is deliveries per second; the server's CPU time is per
//! delivery.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};
use wsx::{CloseCode, MaybeTlsStream, Message, SendStatus, WebSocket};

use super::conn_report::{ConnReport, ErrorKind};
use super::fanout_state::{Fanout, RING};
use super::payload::Payloads;
use super::plan::Plan;
use super::stats;

/// How long to wait for our close to be answered.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

fn since(plan: &Plan, t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(plan.start).as_nanos()).unwrap_or(u64::MAX)
}

/// Runs connection `id`: the publisher if it is 0, a subscriber otherwise.
pub async fn run(
    mut ws: WebSocket<MaybeTlsStream>,
    id: u32,
    plan: Arc<Plan>,
    fan: Arc<Fanout>,
) -> ConnReport {
    let mut report = ConnReport::default();
    let ended = if id == 0 {
        publish(&mut ws, &plan, &fan, &mut report).await
    } else {
        subscribe(&mut ws, &plan, &fan, &mut report).await
    };
    if !ended {
        let closed = tokio::time::timeout(CLOSE_WAIT, async {
            let _ = ws.close(CloseCode::NORMAL, "").await;
            while let Some(m) = ws.recv().await {
                if let Ok(Message::Close(f)) = m {
                    report.close_code = Some(f.map_or(1005, |f| u16::from(f.code)));
                }
            }
        })
        .await;
        if closed.is_err() {
            ws.terminate();
        }
    }
    report
}

/// Sends broadcasts until the plan's end; true if the connection ended by itself.
async fn publish(
    ws: &mut WebSocket<MaybeTlsStream>,
    plan: &Plan,
    fan: &Fanout,
    report: &mut ConnReport,
) -> bool {
    let mut payloads = Payloads::new(0, plan.size, plan.binary);
    let sender = ws.sender();
    let mut seq = 0u64;
    let mut ended = false;
    let end = sleep_until(plan.end);
    tokio::pin!(end);
    loop {
        let now = Instant::now();
        if now >= plan.end {
            break;
        }
        while seq - fan.completed.load(Ordering::Acquire) < plan.pipeline as u64 {
            let slot = (seq % RING as u64) as usize;
            fan.received[slot].store(0, Ordering::Relaxed);
            fan.sent_at[slot].store(since(plan, now), Ordering::Relaxed);
            // Published before it is sent: a receiver on another thread may have it first.
            fan.published.store(seq + 1, Ordering::Release);
            match sender.send(payloads.message(seq)) {
                SendStatus::Queued | SendStatus::Backpressure => {}
                status => {
                    fan.published.store(seq, Ordering::Release);
                    if status == SendStatus::Dropped {
                        report.error(ErrorKind::QueueFull, 1);
                    }
                    break;
                }
            }
            if plan.measured(now) {
                report.sent += 1;
            }
            seq += 1;
        }
        tokio::select! {
            biased;
            m = ws.recv() => match m {
                Some(Ok(Message::Close(f))) => {
                    report.close_code = Some(f.map_or(1005, |f| u16::from(f.code)));
                }
                Some(Ok(_)) => report.error(ErrorKind::Unexpected, 1),
                Some(Err(e)) => {
                    report.lost(e.to_string());
                    ended = true;
                    break;
                }
                None => {
                    report.lost("closed by the server".into());
                    ended = true;
                    break;
                }
            },
            () = fan.completion.notified() => {}
            () = &mut end => break,
        }
    }
    fan.done.store(true, Ordering::Release);
    ended
}

/// Receives and checks broadcasts until the publisher is done and everything it sent has
/// arrived (or the drain time is over); true if the connection ended by itself.
async fn subscribe(
    ws: &mut WebSocket<MaybeTlsStream>,
    plan: &Plan,
    fan: &Fanout,
    report: &mut ConnReport,
) -> bool {
    let payloads = Payloads::new(0, plan.size, plan.binary);
    let mut next = 0u64;
    // From the end on, whether the publisher is done and everything it sent has arrived is
    // checked after each message and every 10 ms, until the drain time is over.
    let timer = sleep_until(plan.end);
    tokio::pin!(timer);
    let ended = loop {
        if fan.finished(next) {
            break false;
        }
        let (data, binary) = tokio::select! {
            biased;
            m = ws.recv() => match m {
                Some(Ok(Message::Text(t))) => (t.into_bytes(), false),
                Some(Ok(Message::Binary(b))) => (b, true),
                Some(Ok(Message::Close(f))) => {
                    report.close_code = Some(f.map_or(1005, |f| u16::from(f.code)));
                    continue;
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    report.lost(e.to_string());
                    break true;
                }
                None => {
                    report.lost("closed by the server".into());
                    break true;
                }
            },
            () = &mut timer => {
                let now = Instant::now();
                if now >= plan.drain_end {
                    break false;
                }
                timer.as_mut().reset((now + Duration::from_millis(10)).min(plan.drain_end));
                continue;
            }
        };
        let now = Instant::now();
        if binary != plan.binary {
            report.error(ErrorKind::WrongType, 1);
        } else if next >= fan.published.load(Ordering::Acquire) || !payloads.verify(next, &data) {
            // Not the next broadcast: a loss, a duplicate or a reordering.
            report.error(ErrorKind::Corrupt, 1);
        } else {
            let slot = (next % RING as u64) as usize;
            let sent_ns = fan.sent_at[slot].load(Ordering::Relaxed);
            let sent = plan.start + Duration::from_nanos(sent_ns);
            if plan.measured(sent) {
                report.echoed += 1;
                report.bytes += data.len() as u64;
                stats::echo(Some(since(plan, now).saturating_sub(sent_ns)));
            } else {
                stats::echo(None);
            }
            if fan.received[slot].fetch_add(1, Ordering::AcqRel) + 1 == fan.subscribers {
                fan.completed.fetch_add(1, Ordering::AcqRel);
                fan.completion.notify_one();
            }
        }
        next += 1;
    };
    let missing = fan.published.load(Ordering::Acquire).saturating_sub(next);
    report.error(ErrorKind::NoEcho, missing);
    ended
}
