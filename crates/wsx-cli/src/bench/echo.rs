//! One connection's part of the echo benchmark: send on the schedule (closed or open loop),
//! check every echo, count what went wrong, then close with 1000.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};
use wsx::{CloseCode, MaybeTlsStream, Message, SendStatus, Sender, WebSocket};

use super::conn_report::{ConnReport, ErrorKind};
use super::payload::Payloads;
use super::plan::Plan;
use super::stats;

/// Most messages awaiting their echo on one connection in open-loop mode; a message due
/// beyond it is not sent and counted as `dropped: backlog`.
pub const BACKLOG: usize = 1024;
/// Open loop: how early the timer is set before a message is due. tokio's timers round up to
/// the next millisecond tick and fire on a tick, so a timer for the exact due time makes
/// sends ~1 ms late on average; waking two ticks early makes them (almost) never late.
const EARLY: Duration = Duration::from_millis(2);

fn early(t: Instant) -> Instant {
    t.checked_sub(EARLY).unwrap_or(t)
}

/// How long to wait for our close to be answered.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

struct State {
    plan: Arc<Plan>,
    payloads: Payloads,
    sender: Sender,
    /// Messages awaiting their echo: sequence number, the time latency counts from, and
    /// whether it is measured.
    in_flight: VecDeque<(u64, Instant, bool)>,
    next_seq: u64,
    report: ConnReport,
}

impl State {
    /// Sends the next message, due at `due` (which decides whether it is measured), its
    /// latency counting from `t`; false if it could not be sent.
    fn send(&mut self, due: Instant, t: Instant) -> bool {
        let seq = self.next_seq;
        match self.sender.send(self.payloads.message(seq)) {
            SendStatus::Queued | SendStatus::Backpressure => {
                let measured = self.plan.measured(due);
                self.in_flight.push_back((seq, t, measured));
                self.next_seq += 1;
                if measured {
                    self.report.sent += 1;
                }
                true
            }
            SendStatus::Dropped => {
                self.report.error(ErrorKind::QueueFull, 1);
                false
            }
            // The connection is ending: the read side will say why.
            SendStatus::Closed => false,
        }
    }

    fn on_echo(&mut self, data: &[u8], binary: bool) {
        let now = Instant::now();
        let Some((seq, t, measured)) = self.in_flight.pop_front() else {
            self.report.error(ErrorKind::Unexpected, 1);
            return;
        };
        if binary != self.plan.binary {
            self.report.error(ErrorKind::WrongType, 1);
        } else if !self.payloads.verify(seq, data) {
            self.report.error(ErrorKind::Corrupt, 1);
        } else if measured {
            self.report.echoed += 1;
            self.report.bytes += data.len() as u64;
            let ns = u64::try_from(now.saturating_duration_since(t).as_nanos()).unwrap_or(u64::MAX);
            stats::echo(Some(ns));
        } else {
            stats::echo(None);
        }
        if self.plan.open.is_none() && now < self.plan.end {
            self.send(now, now);
        }
    }

    fn abandon_in_flight(&mut self) {
        let n = self.in_flight.len() as u64;
        self.report.error(ErrorKind::NoEcho, n);
        self.in_flight.clear();
    }
}

/// Runs connection `id` (0-based among those connected) through the plan.
pub async fn run(mut ws: WebSocket<MaybeTlsStream>, id: u32, plan: Arc<Plan>) -> ConnReport {
    let mut st = State {
        payloads: Payloads::new(id, plan.size, plan.binary),
        sender: ws.sender(),
        in_flight: VecDeque::with_capacity(match plan.open {
            Some(_) => 64,
            None => plan.pipeline,
        }),
        next_seq: 0,
        report: ConnReport::default(),
        plan: plan.clone(),
    };
    // Open loop: message k of this connection is due at first + k × period.
    let first = match plan.open {
        Some(o) => plan
            .start
            .checked_add(o.stagger.saturating_mul(id))
            .unwrap_or(plan.end),
        None => plan.start,
    };
    let mut k: u32 = 0;
    let mut next_at = first;
    let mut stopping = false;
    let mut ended = false;
    let mut server_closed = false;

    let timer = sleep_until(match plan.open {
        Some(_) => early(next_at).min(plan.end),
        None => plan.end,
    });
    tokio::pin!(timer);
    if plan.open.is_none() && !plan.idle {
        let now = Instant::now();
        for _ in 0..plan.pipeline {
            if !st.send(now, now) {
                break;
            }
        }
    }

    loop {
        if stopping && st.in_flight.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            m = ws.recv() => match m {
                Some(Ok(Message::Text(t))) => st.on_echo(t.as_bytes(), false),
                Some(Ok(Message::Binary(b))) => st.on_echo(&b, true),
                Some(Ok(Message::Close(f))) => {
                    let code = f.map_or(1005, |f| u16::from(f.code));
                    st.report.close_code = Some(code);
                    server_closed = true;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    st.report.lost(e.to_string());
                    ended = true;
                    break;
                }
                None => {
                    st.report.lost(match st.report.close_code {
                        Some(c) => format!("closed by the server with {c}"),
                        None => "closed by the server without a close frame".into(),
                    });
                    ended = true;
                    break;
                }
            },
            () = &mut timer => {
                let now = Instant::now();
                if stopping || now >= plan.drain_end {
                    break;
                }
                match plan.open {
                    Some(o) => {
                        // Wake early (see EARLY) and send what is due by then. Latency
                        // counts from the earlier of the due time and the actual send: a
                        // late send cannot hide a slow server (coordinated omission), an
                        // early one cannot flatter it.
                        while next_at <= now + EARLY && next_at < plan.end {
                            if st.in_flight.len() >= BACKLOG {
                                st.report.error(ErrorKind::Backlog, 1);
                            } else {
                                // A send that fails is counted by its cause (queue full) or
                                // by the read side (connection lost).
                                let sent = st.send(next_at, next_at.min(now));
                                if sent && plan.measured(next_at) {
                                    st.report.lag(now.saturating_duration_since(next_at));
                                }
                            }
                            k = k.saturating_add(1);
                            next_at = first
                                .checked_add(o.period.saturating_mul(k))
                                .unwrap_or(plan.end);
                        }
                        if next_at >= plan.end {
                            stopping = true;
                            timer.as_mut().reset(plan.drain_end);
                        } else {
                            timer.as_mut().reset(early(next_at));
                        }
                    }
                    None => {
                        stopping = true;
                        timer.as_mut().reset(plan.drain_end);
                    }
                }
            }
        }
    }
    st.abandon_in_flight();
    if server_closed && !ended {
        st.report.lost(format!(
            "closed by the server with {}",
            st.report.close_code.unwrap_or(1005)
        ));
    }
    let State { report, sender, .. } = st;
    drop(sender);
    let mut report = report;
    if !ended {
        // Close with 1000 and read until the server answers and closes (late echoes are
        // ignored: they were counted as missing).
        let closed = tokio::time::timeout(CLOSE_WAIT, async {
            if !server_closed {
                let _ = ws.close(CloseCode::NORMAL, "").await;
            }
            while let Some(m) = ws.recv().await {
                match m {
                    Ok(Message::Close(f)) => {
                        report.close_code = Some(f.map_or(1005, |f| u16::from(f.code)));
                    }
                    Ok(_) => {}
                    Err(_) => break,
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
