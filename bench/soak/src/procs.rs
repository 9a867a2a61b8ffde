//! What the kernel says of each `wsx serve` process: resident memory (VmRSS in
//! /proc/PID/status) and open file descriptors (the entries of /proc/PID/fd), sampled every
//! 10 s, and the verdicts on them: RSS flat after the warm-up, no descriptor left behind.

use std::fs;

/// One reading.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub at_ms: u64,
    pub rss_kib: u64,
    pub fds: u64,
}

/// RSS may grow this much past the warm-up reading and still be flat: × 1.2 + 8 MiB.
pub const RSS_FACTOR: f64 = 1.2;
pub const RSS_SLACK_KIB: u64 = 8 * 1024;
/// Descriptors a process may hold after every client left, beyond what it held idle before
/// the load (its Redis connections, reconnected after restarts, may be a few more for a while).
pub const FD_SLACK: u64 = 4;

/// Reads VmRSS and the number of open descriptors of `pid`; `None` once it is gone.
pub fn sample(pid: u32, at_ms: u64) -> Option<Sample> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())?;
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(Sample {
        at_ms,
        rss_kib,
        fds,
    })
}

/// The readings of one process over the run.
#[derive(Default, Debug)]
pub struct History {
    /// Before any client connected.
    pub idle: Option<Sample>,
    /// Every 10 s during the load and the grace period.
    pub during: Vec<Sample>,
    /// After every client of the driver left.
    pub after: Option<Sample>,
}

/// The verdicts on one process.
#[derive(Debug)]
pub struct Verdict {
    pub warm: Sample,
    pub last: Sample,
    pub rss_limit_kib: u64,
    pub rss_flat: bool,
    /// Most descriptors in the first minute after the warm-up, least in the last minute.
    pub fds_first_max: u64,
    pub fds_last_min: u64,
    /// Growth from the first to the last minute, or more than `FD_SLACK` left over after
    /// every client went (against the idle count).
    pub fds_grew: bool,
}

impl History {
    /// Judges the samples taken from `warm_end_ms` to `stop_ms` (the load's end: after it
    /// clients leave and memory goes back); the first of them is the warm-up reading.
    /// `window_ms` is how long "the first" and "the last minute" are.
    pub fn verdict(&self, warm_end_ms: u64, stop_ms: u64, window_ms: u64) -> Option<Verdict> {
        let after: Vec<Sample> = self
            .during
            .iter()
            .copied()
            .filter(|s| s.at_ms >= warm_end_ms && s.at_ms <= stop_ms)
            .collect();
        let (warm, last) = (*after.first()?, *after.last()?);
        let rss_limit_kib = (warm.rss_kib as f64 * RSS_FACTOR) as u64 + RSS_SLACK_KIB;
        let fds_first_max = after
            .iter()
            .filter(|s| s.at_ms <= warm.at_ms + window_ms)
            .map(|s| s.fds)
            .max()
            .unwrap_or(warm.fds);
        let fds_last_min = after
            .iter()
            .filter(|s| s.at_ms + window_ms >= last.at_ms)
            .map(|s| s.fds)
            .min()
            .unwrap_or(last.fds);
        let left_over = match (self.idle, self.after) {
            (Some(idle), Some(after)) => after.fds > idle.fds + FD_SLACK,
            _ => false,
        };
        Some(Verdict {
            warm,
            last,
            rss_limit_kib,
            rss_flat: last.rss_kib <= rss_limit_kib,
            fds_first_max,
            fds_last_min,
            fds_grew: fds_last_min > fds_first_max || left_over,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(at_ms: u64, rss_kib: u64, fds: u64) -> Sample {
        Sample {
            at_ms,
            rss_kib,
            fds,
        }
    }

    #[test]
    fn flat_and_growing() {
        let mut h = History {
            idle: Some(s(0, 10_000, 20)),
            during: (0..20)
                .map(|i| s(i * 10_000, 50_000 + i * 100, 600))
                .collect(),
            after: Some(s(300_000, 60_000, 21)),
        };
        let v = h.verdict(60_000, u64::MAX, 60_000).unwrap();
        assert_eq!(v.warm.at_ms, 60_000);
        assert_eq!(
            h.verdict(60_000, 100_000, 60_000).unwrap().last.at_ms,
            100_000
        );
        assert!(v.rss_flat && !v.fds_grew, "{v:?}");
        let grown = h.during.len();
        h.during
            .extend((20..27).map(|i| s(i * 10_000, 90_000, 700)));
        let v = h.verdict(60_000, u64::MAX, 60_000).unwrap();
        assert!(!v.rss_flat && v.fds_grew, "{v:?}");
        h.during.truncate(grown);
        h.after = Some(s(300_000, 60_000, 40));
        assert!(h.verdict(60_000, u64::MAX, 60_000).unwrap().fds_grew);
    }
}
