//! What every kind of load shares: the run's clock, the servers, the moment the load stops
//! and how long deliveries may still come after it.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::args::Server;
use crate::clock::Clock;

pub struct Ctx {
    pub clock: Clock,
    pub servers: Vec<Server>,
    pub grace: Duration,
    /// Becomes `true` when the load stops (the duration is over, or Ctrl-C).
    pub stop: watch::Receiver<bool>,
}

impl Ctx {
    /// Server `i` modulo their number: clients are spread over both alternately.
    pub fn server(&self, i: usize) -> &Server {
        &self.servers[i % self.servers.len()]
    }

    pub fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Waits until the load stops; returns the end of the grace period.
    pub async fn stopping(&self) -> Instant {
        let mut stop = self.stop.clone();
        let _ = stop.wait_for(|s| *s).await;
        Instant::now() + self.grace
    }
}
