//! The results: a table for a human, then one JSON line for scripts.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::args::{Args, Mode};
use crate::state::{Check, Round};
use crate::sysstat::{Proc, cpu_between};

/// The server's snapshots at the phase boundaries.
#[derive(Debug, Clone, Copy)]
pub struct ProcPhases {
    pub pid: u32,
    /// When the driver started (the server idle, nobody connected).
    pub start: Proc,
    /// Everyone connected, after `--settle`.
    pub idle: Proc,
    /// Around the measured broadcasts (warm-up excluded).
    pub measure0: Proc,
    pub measure1: Proc,
}

/// Everything a run measured.
pub struct Measured {
    pub args: Args,
    pub connected: usize,
    pub closed: usize,
    pub connect_time: Duration,
    pub ping_interval_ms: u64,
    /// The measured broadcasts (warm-up excluded).
    pub rounds: Vec<Round>,
    /// Broadcasts sent, warm-up included.
    pub sent: u64,
    /// Throughput: the most broadcasts un-acked at once.
    pub max_in_flight: u64,
    pub measure_time: Duration,
    /// Deliveries during the measured phase.
    pub deliveries: u64,
    pub check: Check,
    pub unexpected: u64,
    pub driver_cpu_connect: Duration,
    pub driver_cpu_measure: Duration,
    pub server: Option<ProcPhases>,
    /// The server at `--receivers-at`, with `--server-pid2`.
    pub server2: Option<ProcPhases>,
}

/// p50, p99 and max (nearest rank) of some durations, in microseconds.
#[derive(Debug, Clone, Copy, Default)]
struct Pct {
    p50: f64,
    p99: f64,
    max: f64,
    n: usize,
}

fn pct(mut v: Vec<Duration>) -> Pct {
    if v.is_empty() {
        return Pct::default();
    }
    v.sort_unstable();
    let rank = |q: f64| {
        let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v[i].as_secs_f64() * 1e6
    };
    Pct {
        p50: rank(0.50),
        p99: rank(0.99),
        max: rank(1.0),
        n: v.len(),
    }
}

fn since(a: Option<Instant>, b: Option<Instant>) -> Option<Duration> {
    Some(b?.saturating_duration_since(a?))
}

fn ms(us: f64) -> String {
    format!("{:.3} ms", us / 1000.0)
}

fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

fn us_per(d: Duration, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        d.as_secs_f64() * 1e6 / n as f64
    }
}

/// Prints the table and the JSON line; returns whether the run was clean (nothing lost,
/// reordered, duplicated, unexpected or incomplete; no receiver closed).
#[allow(clippy::print_stdout)]
pub fn print(m: &Measured) -> bool {
    let a = &m.args;
    let first = pct(m
        .rounds
        .iter()
        .filter_map(|r| since(r.sent, r.first))
        .collect());
    let last = pct(m
        .rounds
        .iter()
        .filter_map(|r| since(r.sent, r.last))
        .collect());
    let ack = pct(m
        .rounds
        .iter()
        .filter_map(|r| since(r.sent, r.acked))
        .collect());
    let incomplete = m
        .rounds
        .iter()
        .filter(|r| r.last.is_none() || r.acked.is_none())
        .count();
    // Throughput: from the first measured send to the last receiver having the last one.
    let span = match (m.rounds.first(), m.rounds.last()) {
        (Some(f), Some(l)) => since(f.sent, l.last.or(l.first)).unwrap_or(m.measure_time),
        _ => m.measure_time,
    };
    let rate = m.deliveries as f64 / span.as_secs_f64().max(1e-9);
    let bcast_rate = m.rounds.len() as f64 / span.as_secs_f64().max(1e-9);
    let ok = m.check.lost == 0
        && m.check.reordered == 0
        && m.check.duplicates == 0
        && m.unexpected == 0
        && incomplete == 0
        && m.closed == 0;

    let label = if a.label.is_empty() {
        String::new()
    } else {
        format!("[{}] ", a.label)
    };
    println!(
        "{label}sio-load {} against {}: {} {} receivers (+1 websocket publisher) over {} source address(es), payload {} B, {} measured broadcast(s) (+{} warm-up)",
        a.mode.name(),
        a.server,
        m.connected,
        a.transport.name(),
        a.sources,
        a.size,
        m.rounds.len(),
        a.warmup,
    );
    println!(
        "  connect: {} in {:.2} s (concurrency {}), server pingInterval {} ms",
        m.connected,
        m.connect_time.as_secs_f64(),
        a.concurrency,
        m.ping_interval_ms
    );
    println!("  {:<22}{:>12}{:>12}{:>12}", "", "p50", "p99", "max");
    for (name, p) in [
        ("send → first receiver", first),
        ("send → last receiver", last),
        ("send → ack", ack),
    ] {
        println!(
            "  {:<22}{:>12}{:>12}{:>12}",
            name,
            ms(p.p50),
            ms(p.p99),
            ms(p.max)
        );
    }
    if a.mode == Mode::Throughput {
        println!(
            "  throughput: {} deliveries in {:.3} s = {:.0} deliveries/s ({:.1} broadcasts/s, window {}, at most {} un-acked)",
            m.deliveries,
            span.as_secs_f64(),
            rate,
            bcast_rate,
            a.window,
            m.max_in_flight
        );
    }
    if a.transport == crate::args::Transport::Polling {
        println!(
            "  polling: HTTP connections reopened after the server closed them: {}",
            crate::poll::reopened()
        );
    }
    println!(
        "  clock: {} (receive events, a websocket message or a polling response each: {} timed by the kernel's receive timestamp, {} by the driver's clock)",
        if a.kernel_clock { "kernel" } else { "driver" },
        crate::rxstream::kernel_timed(),
        crate::rxstream::fallbacks()
    );
    println!(
        "  check: deliveries {} (all phases {}×{}), lost {}, reordered {}, duplicates {}, incomplete {}, unexpected {}, receivers closed {}  => {}",
        m.deliveries,
        m.sent,
        m.connected,
        m.check.lost,
        m.check.reordered,
        m.check.duplicates,
        incomplete,
        m.unexpected,
        m.closed,
        if ok { "OK" } else { "FAILED" }
    );
    // The driver is one thread: busy most of the measured wall time, it may have been what
    // limited the rate (or the latency) rather than the server.
    let driver_busy = m.driver_cpu_measure.as_secs_f64() / m.measure_time.as_secs_f64().max(1e-9);
    println!(
        "  driver CPU: connect {:.3} s, measure {:.3} s over {:.3} s wall ({:.2} µs/delivery, busy {:.0}%{})",
        m.driver_cpu_connect.as_secs_f64(),
        m.driver_cpu_measure.as_secs_f64(),
        m.measure_time.as_secs_f64(),
        us_per(m.driver_cpu_measure, m.deliveries),
        driver_busy * 100.0,
        if driver_busy > 0.9 {
            ": the driver may have been the bottleneck"
        } else {
            ""
        }
    );
    // With --receivers-at, each server's connections are its own receivers.
    let remote = a.remote_receivers().min(m.connected);
    let server = m
        .server
        .map(|s| server_stats("server", &s, m.connected - remote, m.deliveries));
    let server2 = m
        .server2
        .map(|s| server_stats("second server", &s, remote, m.deliveries));
    // Deliveries to the second server's receivers: exact when the check is OK (every receiver
    // got every broadcast).
    let cross_rate = rate * remote as f64 / m.connected.max(1) as f64;
    if let Some(second) = a.receivers_at {
        println!(
            "  cross-node: {remote} of {} receivers at {second}: {cross_rate:.0} deliveries/s crossed to it",
            m.connected
        );
    }
    let p = |p: Pct| json!({"p50": p.p50, "p99": p.p99, "max": p.max, "n": p.n});
    let line = json!({
        "bench": "sio-load",
        "label": a.label,
        "mode": a.mode.name(),
        "transport": a.transport.name(),
        "server": a.server.to_string(),
        "receivers": m.connected,
        "sources": a.sources,
        "payload_bytes": a.size,
        "rounds": m.rounds.len(),
        "warmup": a.warmup,
        "window": a.window,
        "max_in_flight": m.max_in_flight,
        "connect_s": m.connect_time.as_secs_f64(),
        "first_us": p(first),
        "last_us": p(last),
        "ack_us": p(ack),
        "span_s": span.as_secs_f64(),
        "deliveries": m.deliveries,
        "deliveries_per_s": rate,
        "broadcasts_per_s": bcast_rate,
        "lost": m.check.lost,
        "reordered": m.check.reordered,
        "duplicates": m.check.duplicates,
        "incomplete": incomplete,
        "unexpected": m.unexpected,
        "receivers_closed": m.closed,
        "ok": ok,
        "driver_cpu_connect_s": m.driver_cpu_connect.as_secs_f64(),
        "driver_cpu_measure_s": m.driver_cpu_measure.as_secs_f64(),
        "driver_cpu_us_per_delivery": us_per(m.driver_cpu_measure, m.deliveries),
        "driver_busy": driver_busy,
        "http_reopened": crate::poll::reopened(),
        "clock": if a.kernel_clock { "kernel" } else { "driver" },
        "kernel_timed": crate::rxstream::kernel_timed(),
        "clock_fallbacks": crate::rxstream::fallbacks(),
        "measure_wall_s": m.measure_time.as_secs_f64(),
        "server_stats": server,
        "receivers_at": a.receivers_at.map(|s| s.to_string()),
        "remote_receivers": remote,
        "cross_node_deliveries_per_s": cross_rate,
        "server2_stats": server2,
    });
    println!("{line}");
    ok
}

/// Prints a server's line (`connections`: the receivers it holds) and returns its JSON.
#[allow(clippy::print_stdout)]
fn server_stats(
    name: &str,
    s: &ProcPhases,
    connections: usize,
    deliveries: u64,
) -> serde_json::Value {
    let cpu_connect = cpu_between(&s.start, &s.idle);
    let cpu_measure = cpu_between(&s.measure0, &s.measure1);
    let per_conn_kb =
        s.idle.rss_kb.saturating_sub(s.start.rss_kb) as f64 / connections.max(1) as f64;
    println!(
        "  {name} pid {}: CPU connect {:.3} s, measure {:.3} s ({:.2} µs/delivery, source {}); RSS start {}, idle {} ({:.1} KiB/connection), end {}, peak {}",
        s.pid,
        cpu_connect.as_secs_f64(),
        cpu_measure.as_secs_f64(),
        us_per(cpu_measure, deliveries),
        if s.measure1.cpu_sched.is_some() {
            "schedstat"
        } else {
            "stat ticks"
        },
        mib(s.start.rss_kb),
        mib(s.idle.rss_kb),
        per_conn_kb,
        mib(s.measure1.rss_kb),
        mib(s.measure1.hwm_kb),
    );
    json!({
        "pid": s.pid,
        "connections": connections,
        "cpu_connect_s": cpu_connect.as_secs_f64(),
        "cpu_measure_s": cpu_measure.as_secs_f64(),
        "cpu_us_per_delivery": us_per(cpu_measure, deliveries),
        "cpu_source": if s.measure1.cpu_sched.is_some() { "schedstat" } else { "stat" },
        "cpu_total_ticks_s": s.measure1.cpu_ticks.as_secs_f64(),
        "rss_start_kb": s.start.rss_kb,
        "rss_idle_kb": s.idle.rss_kb,
        "rss_per_connection_kb": per_conn_kb,
        "rss_end_kb": s.measure1.rss_kb,
        "rss_peak_kb": s.measure1.hwm_kb,
    })
}
