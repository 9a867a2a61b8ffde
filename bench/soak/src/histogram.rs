//! A latency histogram that many tasks record into without a lock: microseconds in
//! log-linear buckets (16 per power of two, so a quantile is within 1/16 of the true value),
//! each an atomic counter. A snapshot is a plain array of counts; the difference of two
//! snapshots is the histogram of what was recorded between them (the p99 of a minute).

use std::sync::atomic::{AtomicU64, Ordering};

/// Sub-buckets per power of two.
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets in all: values below `SUB` exactly, then `SUB` per power of two up to 2^64.
const BUCKETS: usize = ((64 - SUB_BITS + 1) as usize) * SUB as usize;

fn index(us: u64) -> usize {
    if us < SUB {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros(); // >= SUB_BITS
    let sub = (us >> (exp - SUB_BITS)) & (SUB - 1);
    ((exp - SUB_BITS + 1) as usize) * SUB as usize + sub as usize
}

/// The largest value bucket `i` holds.
fn upper(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let exp = i / SUB + u64::from(SUB_BITS) - 1;
    let sub = i % SUB;
    let low = (SUB + sub) << (exp - u64::from(SUB_BITS));
    low + (1u64 << (exp - u64::from(SUB_BITS))) - 1
}

/// Latencies in microseconds, recorded concurrently.
pub struct Histogram {
    counts: Box<[AtomicU64]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Histogram {
    /// Records one latency in microseconds.
    pub fn record_us(&self, us: u64) {
        self.counts[index(us)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts recorded so far.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot(
            self.counts
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
        )
    }
}

/// Counts per bucket at one moment.
#[derive(Clone)]
pub struct Snapshot(Vec<u64>);

impl Snapshot {
    /// What was recorded after `earlier` and up to this snapshot.
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        Snapshot(
            self.0
                .iter()
                .zip(&earlier.0)
                .map(|(a, b)| a.saturating_sub(*b))
                .collect(),
        )
    }

    /// How many values.
    pub fn count(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The `q` quantile (0..=1) in microseconds (the top of its bucket); `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (i, c) in self.0.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(upper(i));
            }
        }
        None
    }

    /// The largest value (the top of its bucket).
    pub fn max(&self) -> Option<u64> {
        self.0.iter().rposition(|&c| c > 0).map(upper)
    }
}

/// Microseconds as milliseconds for a table ("-" for none).
pub fn ms(us: Option<u64>) -> String {
    match us {
        None => "-".into(),
        Some(us) if us < 10_000 => format!("{:.2}", us as f64 / 1000.0),
        Some(us) => format!("{:.0}", us as f64 / 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_their_values() {
        for v in [
            0,
            1,
            15,
            16,
            17,
            31,
            32,
            33,
            1000,
            123_456,
            10_000_000,
            u64::MAX / 2,
        ] {
            let i = index(v);
            assert!(upper(i) >= v, "{v} in bucket {i} up to {}", upper(i));
            assert!(
                i == 0 || upper(i - 1) < v,
                "{v} belongs to an earlier bucket"
            );
            assert!(upper(i) - v <= v / 16 + 1, "{v}: bucket too wide");
        }
    }

    #[test]
    fn quantiles_of_a_known_spread() {
        let h = Histogram::default();
        for us in 1..=1000 {
            h.record_us(us);
        }
        let s = h.snapshot();
        let p50 = s.quantile(0.5).unwrap();
        let p99 = s.quantile(0.99).unwrap();
        assert!((500..=532).contains(&p50), "{p50}");
        assert!((990..=1056).contains(&p99), "{p99}");
        let later = {
            h.record_us(5000);
            h.snapshot()
        };
        assert_eq!(later.since(&s).count(), 1);
    }
}
