//! The benchmark's plan: what every connection sends, and when.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::fanout_state::Fanout;

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
    /// `--fanout`: connection 0 publishes, the others receive (see `fanout.rs`).
    pub fanout: Option<Arc<Fanout>>,
}

impl Plan {
    pub(super) fn measured(&self, t: Instant) -> bool {
        t >= self.warm_end && t < self.end
    }
}
