//! One clock for the whole run: monotonic microseconds since the driver started (carried in
//! the messages it sends, to time their deliveries) and the wall clock the script started at
//! (to line losses up with the Redis restarts, which the script logs in Unix milliseconds).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The run's clock.
#[derive(Clone, Copy)]
pub struct Clock {
    start: Instant,
    /// Unix milliseconds at `start`.
    start_unix_ms: u64,
    /// Unix milliseconds the run counts from (the script's start; `start_unix_ms` by default).
    t0_unix_ms: u64,
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Clock {
    /// Starts the clock; times are shown relative to `t0_unix_ms` when given.
    pub fn new(t0_unix_ms: Option<u64>) -> Clock {
        let start_unix_ms = unix_ms();
        Clock {
            start: Instant::now(),
            start_unix_ms,
            t0_unix_ms: t0_unix_ms.unwrap_or(start_unix_ms),
        }
    }

    /// Microseconds since the driver started.
    pub fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// The Unix milliseconds of a [`now_us`](Self::now_us) reading.
    pub fn unix_ms_of(&self, us: u64) -> u64 {
        self.start_unix_ms + us / 1000
    }

    /// "+MM:SS.s" for Unix milliseconds `ms`, relative to the run's start.
    pub fn label(&self, ms: u64) -> String {
        let d = ms.saturating_sub(self.t0_unix_ms);
        format!("+{:02}:{:02}.{}", d / 60_000, d / 1000 % 60, d / 100 % 10)
    }

    /// "[+MM:SS]" now, the prefix of every line the driver prints.
    pub fn stamp(&self) -> String {
        let d = unix_ms().saturating_sub(self.t0_unix_ms) / 1000;
        format!("[+{:02}:{:02}]", d / 60, d % 60)
    }
}
