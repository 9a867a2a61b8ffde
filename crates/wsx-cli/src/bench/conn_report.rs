//! What one connection counted, and the kinds of things that can go wrong on it.

use std::time::Duration;

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
    /// Open loop: a message due while `BACKLOG` (`echo.rs`) were already awaiting echoes.
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
    pub(super) fn lag(&mut self, lag: Duration) {
        let ns = u64::try_from(lag.as_nanos()).unwrap_or(u64::MAX);
        self.lag_sum_ns = self.lag_sum_ns.saturating_add(ns);
        self.lag_max_ns = self.lag_max_ns.max(ns);
    }

    pub(super) fn error(&mut self, kind: ErrorKind, n: u64) {
        if let Some(i) = ErrorKind::ALL.iter().position(|k| *k == kind) {
            self.errors[i] += n;
        }
    }

    /// The connection ended early, for `why` (only the first cause is kept).
    pub(super) fn lost(&mut self, why: String) {
        if self.lost.is_none() {
            self.lost = Some(why);
            self.error(ErrorKind::Lost, 1);
        }
    }
}
