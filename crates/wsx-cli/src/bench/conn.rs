//! One connection's part of the benchmark: send on the schedule (closed or open loop), check
//! every echo, count what went wrong, then close with 1000.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};
use wsx::{CloseCode, MaybeTlsStream, Message, SendStatus, Sender, WebSocket};

use super::payload::Payloads;
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

/// What went wrong, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// An echo whose bytes differ from what was sent (or arrived out of order).
    Corrupt,
    /// A text echo for a binary message or the reverse.
    WrongType,
    /// An echo with no message awaiting one.
    Unexpected,
    /// A message whose echo never came (connection lost, or not within the drain time).
    NoEcho,
    /// Open loop: a message due while [`BACKLOG`] were already awaiting echoes.
    Backlog,
    /// The send queue was over its limit (the server stopped reading).
    QueueFull,
    /// The connection ended before the benchmark did.
    Lost,
}

impl ErrorKind {
    /// Every kind, in report order.
    pub const ALL: [Self; 7] = [
        Self::Corrupt,
        Self::WrongType,
        Self::Unexpected,
        Self::NoEcho,
        Self::Backlog,
        Self::QueueFull,
        Self::Lost,
    ];

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::Corrupt => "corrupt echo",
            Self::WrongType => "wrong message type",
            Self::Unexpected => "unexpected echo",
            Self::NoEcho => "no echo",
            Self::Backlog => "dropped: backlog",
            Self::QueueFull => "dropped: send queue full",
            Self::Lost => "connection lost",
        }
    }

    /// Whether it means the server returned wrong data (exit status 4).
    pub fn is_corruption(self) -> bool {
        matches!(self, Self::Corrupt | Self::WrongType)
    }
}

/// Open-loop schedule of one connection.
#[derive(Debug, Clone, Copy)]
pub struct OpenLoop {
    /// Time between two messages of one connection (connections × 1 / rate).
    pub period: Duration,
    /// Offset between the schedules of successive connections (1 / rate), so the total
    /// rate is even.
    pub stagger: Duration,
}

/// The benchmark's plan, shared by all connections.
#[derive(Debug)]
pub struct Plan {
    /// `--idle`: send nothing, keep the connection open until `end`.
    pub idle: bool,
    /// Payload size.
    pub size: usize,
    /// Binary messages (else text).
    pub binary: bool,
    /// Closed loop: messages in flight per connection.
    pub pipeline: usize,
    /// Open loop, when given.
    pub open: Option<OpenLoop>,
    /// Start of the warm-up.
    pub start: Instant,
    /// Start of the measurement.
    pub warm_end: Instant,
    /// End of the measurement: nothing is sent after it.
    pub end: Instant,
    /// Echoes still missing then are counted as `no echo`.
    pub drain_end: Instant,
    /// `--fanout`: connection 0 publishes, the others receive (see [`super::fanout`]).
    pub fanout: Option<Arc<super::fanout::Fanout>>,
}

impl Plan {
    pub(super) fn measured(&self, t: Instant) -> bool {
        t >= self.warm_end && t < self.end
    }
}

/// What one connection counted.
#[derive(Debug, Default)]
pub struct ConnReport {
    /// Messages sent (scheduled, in open loop) during the measurement.
    pub sent: u64,
    /// Their echoes that came back intact.
    pub echoed: u64,
    /// Payload bytes of those echoes.
    pub bytes: u64,
    /// Errors, indexed like [`ErrorKind::ALL`].
    pub errors: [u64; ErrorKind::ALL.len()],
    /// The close code received (1005 for a close frame without one); `None`: no close frame.
    pub close_code: Option<u16>,
    /// Why the connection ended early.
    pub lost: Option<String>,
    /// Open loop: how late measured messages went out after their scheduled time (timer
    /// resolution, a busy load generator), summed and at most, in nanoseconds.
    pub lag_sum_ns: u64,
    pub lag_max_ns: u64,
}

impl ConnReport {
    fn lag(&mut self, lag: Duration) {
        let ns = u64::try_from(lag.as_nanos()).unwrap_or(u64::MAX);
        self.lag_sum_ns = self.lag_sum_ns.saturating_add(ns);
        self.lag_max_ns = self.lag_max_ns.max(ns);
    }

    pub(super) fn error(&mut self, kind: ErrorKind, n: u64) {
        if let Some(i) = ErrorKind::ALL.iter().position(|k| *k == kind) {
            self.errors[i] += n;
        }
    }
}

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

    fn lost(&mut self, why: String) {
        if self.report.lost.is_none() {
            self.report.lost = Some(why);
            self.report.error(ErrorKind::Lost, 1);
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
    if let Some(fan) = plan.fanout.clone() {
        return super::fanout::run(ws, id, plan, fan).await;
    }
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
                    st.lost(e.to_string());
                    ended = true;
                    break;
                }
                None => {
                    st.lost(match st.report.close_code {
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
        st.lost(format!(
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
