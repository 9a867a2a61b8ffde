//! What the driver prints while it runs: every 10 s a line per server (RSS, open fds) and a
//! line per kind (its counters so far), every minute the p99 latency of each kind over that
//! minute.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::args::Server;
use crate::clock::Clock;
use crate::histogram::{Snapshot, ms};
use crate::procs::Sample;
use crate::stats::Kind;

pub fn procs(clock: &Clock, servers: &[Server], samples: &[Option<Sample>]) {
    let parts: Vec<String> = servers
        .iter()
        .zip(samples)
        .map(|(s, x)| match x {
            Some(x) => format!(
                "{} pid {} rss {:.1} MiB fds {}",
                s.name,
                s.pid,
                x.rss_kib as f64 / 1024.0,
                x.fds
            ),
            None => format!("{} pid {} GONE", s.name, s.pid),
        })
        .collect();
    println!("{} {}", clock.stamp(), parts.join(" | "));
}

pub fn counters(clock: &Clock, kinds: &[Arc<Kind>]) {
    for k in kinds {
        println!(
            "{}   {:<9} sent {} accepted {} received {} gaps {} reordered {} duplicated {} errors {}",
            clock.stamp(),
            k.name,
            Kind::get(&k.sent),
            Kind::get(&k.accepted),
            Kind::get(&k.received),
            k.gaps.load(Ordering::Relaxed),
            Kind::get(&k.reordered),
            Kind::get(&k.duplicated),
            Kind::get(&k.errors),
        );
    }
}

/// The p99 of each kind since `last` (the snapshots at the previous minute), which it
/// replaces with the current ones.
pub fn minute(clock: &Clock, kinds: &[Arc<Kind>], last: &mut [Snapshot]) {
    let parts: Vec<String> = kinds
        .iter()
        .zip(last.iter_mut())
        .map(|(k, prev)| {
            let now = k.latency.snapshot();
            let m = now.since(prev);
            *prev = now;
            format!("{} {} ms (n={})", k.name, ms(m.quantile(0.99)), m.count())
        })
        .collect();
    println!("{} p99 last minute: {}", clock.stamp(), parts.join(" | "));
}
