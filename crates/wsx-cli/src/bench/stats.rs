//! Counters shared without contention: one shard per worker thread (an echo counter for the
//! progress bar and a latency histogram), merged at the end; and the process's CPU time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hdrhistogram::Histogram;

/// Highest latency recorded, in nanoseconds (one hour); longer ones are recorded as this.
const MAX_NS: u64 = 3_600_000_000_000;

/// What one thread counted.
struct Shard {
    /// Verified echoes, warm-up included (for the live rate).
    echoed: AtomicU64,
    /// Latencies of measured echoes, in nanoseconds. Only its own thread records into it, so
    /// the lock is never contended while the benchmark runs.
    hist: Mutex<Option<Histogram<u64>>>,
}

static SHARDS: Mutex<Vec<Arc<Shard>>> = Mutex::new(Vec::new());

thread_local! {
    static LOCAL: Arc<Shard> = register();
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn new_histogram() -> Option<Histogram<u64>> {
    Histogram::new_with_bounds(1, MAX_NS, 3).ok()
}

fn register() -> Arc<Shard> {
    let s = Arc::new(Shard {
        echoed: AtomicU64::new(0),
        hist: Mutex::new(new_histogram()),
    });
    lock(&SHARDS).push(s.clone());
    s
}

/// Counts a verified echo on this thread, with its latency when it was measured.
pub fn echo(latency_ns: Option<u64>) {
    LOCAL.with(|s| {
        s.echoed.fetch_add(1, Ordering::Relaxed);
        if let Some(ns) = latency_ns
            && let Some(h) = lock(&s.hist).as_mut()
        {
            h.saturating_record(ns.max(1));
        }
    });
}

/// Verified echoes so far, all threads.
pub fn echoed_total() -> u64 {
    lock(&SHARDS)
        .iter()
        .map(|s| s.echoed.load(Ordering::Relaxed))
        .sum()
}

/// The latency histograms of all threads, merged.
pub fn merged_latencies() -> Option<Histogram<u64>> {
    let mut all = new_histogram()?;
    for s in lock(&SHARDS).iter() {
        if let Some(h) = lock(&s.hist).as_ref() {
            all.add(h).ok()?;
        }
    }
    Some(all)
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// CPU time (user + system) used by this process so far, in seconds; `None` where
/// `/proc/self/stat` is not available.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_cpu_ticks(&stat).map(|t| t as f64 / USER_HZ)
}

/// CPU time (user + system, all threads) used by process `pid` so far, in seconds; `None`
/// when it is gone or `/proc` is not available.
pub fn cpu_seconds_of(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat).map(|t| t as f64 / USER_HZ)
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name (field
/// 2) is in parentheses and may hold spaces, so fields are counted after the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat() {
        let line = "4242 (wsx (x) y) R 1 2 3 4 5 6 7 8 9 10 123 45 0 0 20 0 3 0 100 0 0";
        assert_eq!(parse_cpu_ticks(line), Some(168));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(cpu_seconds().is_some());
            assert!(cpu_seconds_of(std::process::id()).is_some());
        }
    }

    #[test]
    fn shards_merge() {
        echo(Some(1_000));
        std::thread::spawn(|| echo(Some(3_000)))
            .join()
            .expect("thread");
        echo(None);
        assert!(echoed_total() >= 3);
        let h = merged_latencies().expect("histogram");
        assert!(h.len() >= 2);
        assert!(h.max() >= 2_990);
    }
}
