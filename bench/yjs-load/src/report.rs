//! The results: a table for a human, then one JSON line for scripts.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::args::{Args, Mode};
use crate::state::{Check, Round};
use crate::sysstat::{Proc, cpu_between};

/// The server's snapshots at the phase boundaries.
#[derive(Debug, Clone, Copy)]
pub struct ProcPhases {
    pub pid: u32,
    /// When the driver started (the server idle, nobody connected).
    pub start: Proc,
    /// Everyone connected and synced, after `--settle`.
    pub idle: Proc,
    /// Around the measured keystrokes (warm-up excluded).
    pub measure0: Proc,
    pub measure1: Proc,
}

/// What a latency or throughput run measured.
pub struct Fanout {
    pub args: Args,
    pub connected: usize,
    pub closed: usize,
    pub connect_time: Duration,
    /// The measured keystrokes (warm-up excluded).
    pub rounds: Vec<Round>,
    /// Keystrokes sent, warm-up included.
    pub sent: u64,
    pub max_in_flight: u64,
    pub measure_time: Duration,
    /// Deliveries to receivers during the measured phase.
    pub deliveries: u64,
    pub check: Check,
    pub echo_check: Check,
    pub unexpected: u64,
    pub awareness: u64,
    pub foreign: u64,
    pub decoded: u64,
    pub driver_cpu_connect: Duration,
    pub driver_cpu_measure: Duration,
    pub server: Option<ProcPhases>,
}

/// What a rooms run measured.
pub struct Rooms {
    pub args: Args,
    pub connected: usize,
    /// Clients whose edit came back.
    pub done: usize,
    pub failed: usize,
    pub first_error: Option<String>,
    pub closed: usize,
    pub open_time: Duration,
    /// Per client: from connecting to having its edit back.
    pub open_times: Vec<Duration>,
    pub unexpected: u64,
    pub awareness: u64,
    pub driver_cpu_open: Duration,
    pub server_start: Option<Proc>,
    /// When every client was done.
    pub server_open: Option<Proc>,
    /// `--settle` later.
    pub server_idle: Option<Proc>,
}

/// What a prepare run did.
pub struct Prepared {
    pub args: Args,
    pub sent: u64,
    pub echoed: u64,
    pub check: Check,
    pub unexpected: u64,
    pub elapsed: Duration,
    pub echo_times: Vec<Duration>,
    pub server: Option<((u32, Proc), Proc)>,
}

/// What a cold open measured (times from before the TCP connect).
pub struct ColdOpen {
    pub args: Args,
    pub connected: Duration,
    pub step1: Option<Duration>,
    pub step2: Option<Duration>,
    pub complete: Option<Duration>,
    pub content_len: u32,
    /// The text is exactly the `--history` keystrokes `prepare` typed.
    pub whole: bool,
    pub messages: u64,
    pub bytes: u64,
    pub step2_bytes: u64,
    pub unexpected: u64,
    pub error: Option<String>,
    pub server: Option<((u32, Proc), Proc)>,
}

/// p50, p99 and max (nearest rank) of some durations, in microseconds.
#[derive(Debug, Clone, Copy, Default)]
struct Pct {
    mean: f64,
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
        mean: v.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e6 / v.len() as f64,
        p50: rank(0.50),
        p99: rank(0.99),
        max: rank(1.0),
        n: v.len(),
    }
}

fn pjson(p: Pct) -> Value {
    json!({"mean": p.mean, "p50": p.p50, "p99": p.p99, "max": p.max, "n": p.n})
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

fn label(a: &Args) -> String {
    if a.label.is_empty() {
        String::new()
    } else {
        format!("[{}] ", a.label)
    }
}

/// The fields every JSON line has.
fn common(a: &Args) -> serde_json::Map<String, Value> {
    let v = json!({
        "bench": "yjs-load",
        "label": a.label,
        "mode": a.mode.name(),
        "server": a.server.to_string(),
        "prefix": a.prefix,
        "room": a.room,
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

#[allow(clippy::print_stdout)]
fn emit(mut base: serde_json::Map<String, Value>, rest: Value) {
    if let Value::Object(m) = rest {
        base.extend(m);
    }
    println!("{}", Value::Object(base));
}

/// Prints a latency or throughput run; returns whether it was clean (nothing lost,
/// reordered, duplicated, unexpected or incomplete; no receiver closed).
#[allow(clippy::print_stdout)]
pub fn fanout(m: &Fanout) -> bool {
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
    let echo = pct(m
        .rounds
        .iter()
        .filter_map(|r| since(r.sent, r.echo))
        .collect());
    let incomplete = m.rounds.iter().filter(|r| r.last.is_none()).count();
    // Throughput: from the first measured send to the last receiver having the last one.
    let span = match (m.rounds.first(), m.rounds.last()) {
        (Some(f), Some(l)) => since(f.sent, l.last.or(l.first)).unwrap_or(m.measure_time),
        _ => m.measure_time,
    };
    let rate = m.deliveries as f64 / span.as_secs_f64().max(1e-9);
    let key_rate = m.rounds.len() as f64 / span.as_secs_f64().max(1e-9);
    let lost = m.check.lost + m.echo_check.lost;
    let reordered = m.check.reordered + m.echo_check.reordered;
    let duplicates = m.check.duplicates + m.echo_check.duplicates;
    let ok = lost == 0
        && reordered == 0
        && duplicates == 0
        && m.unexpected == 0
        && incomplete == 0
        && m.closed == 0;

    println!(
        "{}yjs-load {} against {}{}{}: {} receivers (+1 writer) over {} source address(es), {} measured keystroke(s) (+{} warm-up)",
        label(a),
        a.mode.name(),
        a.server,
        a.prefix,
        a.room,
        m.connected,
        a.sources,
        m.rounds.len(),
        a.warmup,
    );
    println!(
        "  connect and initial sync: {} in {:.2} s (concurrency {})",
        m.connected,
        m.connect_time.as_secs_f64(),
        a.concurrency,
    );
    println!(
        "  {:<22}{:>12}{:>12}{:>12}{:>12}",
        "", "p50", "p99", "max", "mean"
    );
    for (name, p) in [
        ("send → first receiver", first),
        ("send → last receiver", last),
        ("send → writer's echo", echo),
    ] {
        println!(
            "  {:<22}{:>12}{:>12}{:>12}{:>12}",
            name,
            ms(p.p50),
            ms(p.p99),
            ms(p.max),
            ms(p.mean)
        );
    }
    if a.mode == Mode::Throughput {
        println!(
            "  throughput: {} deliveries in {:.3} s = {:.0} deliveries/s ({:.1} keystrokes/s, window {}, at most {} in flight)",
            m.deliveries,
            span.as_secs_f64(),
            rate,
            key_rate,
            a.window,
            m.max_in_flight
        );
    }
    println!(
        "  clock: {} ({} receive events timed by the kernel's receive timestamp, {} by the driver's clock); {} distinct update frames decoded by yrs",
        if a.kernel_clock { "kernel" } else { "driver" },
        crate::rxstream::kernel_timed(),
        crate::rxstream::fallbacks(),
        m.decoded,
    );
    println!(
        "  check: deliveries {} (all phases {}×{}), lost {}, reordered {}, duplicates {} (of which the writer's echoes: {}/{}/{}), incomplete {}, unexpected {}, awareness {}, other clients' updates {}, receivers closed {}  => {}",
        m.deliveries,
        m.sent,
        m.connected,
        lost,
        reordered,
        duplicates,
        m.echo_check.lost,
        m.echo_check.reordered,
        m.echo_check.duplicates,
        incomplete,
        m.unexpected,
        m.awareness,
        m.foreign,
        m.closed,
        if ok { "OK" } else { "FAILED" }
    );
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
    let server = m.server.map(|s| {
        let cpu_connect = cpu_between(&s.start, &s.idle);
        let cpu_measure = cpu_between(&s.measure0, &s.measure1);
        // Receivers and the writer.
        let conns = m.connected + 1;
        let per_conn_kb = s.idle.rss_kb.saturating_sub(s.start.rss_kb) as f64 / conns as f64;
        println!(
            "  server pid {}: CPU connect {:.3} s, measure {:.3} s ({:.2} µs/delivery, {:.0} µs/keystroke, source {}); RSS start {}, idle {} ({:.1} KiB/connection), end {}, peak {}",
            s.pid,
            cpu_connect.as_secs_f64(),
            cpu_measure.as_secs_f64(),
            us_per(cpu_measure, m.deliveries),
            us_per(cpu_measure, m.rounds.len() as u64),
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
            "connections": conns,
            "cpu_connect_s": cpu_connect.as_secs_f64(),
            "cpu_measure_s": cpu_measure.as_secs_f64(),
            "cpu_us_per_delivery": us_per(cpu_measure, m.deliveries),
            "cpu_us_per_keystroke": us_per(cpu_measure, m.rounds.len() as u64),
            "cpu_source": if s.measure1.cpu_sched.is_some() { "schedstat" } else { "stat" },
            "rss_start_kb": s.start.rss_kb,
            "rss_idle_kb": s.idle.rss_kb,
            "rss_per_connection_kb": per_conn_kb,
            "rss_end_kb": s.measure1.rss_kb,
            "rss_peak_kb": s.measure1.hwm_kb,
        })
    });
    emit(
        common(a),
        json!({
            "receivers": m.connected,
            "sources": a.sources,
            "rounds": m.rounds.len(),
            "warmup": a.warmup,
            "window": a.window,
            "max_in_flight": m.max_in_flight,
            "connect_s": m.connect_time.as_secs_f64(),
            "first_us": pjson(first),
            "last_us": pjson(last),
            "echo_us": pjson(echo),
            "span_s": span.as_secs_f64(),
            "deliveries": m.deliveries,
            "deliveries_per_s": rate,
            "keystrokes_per_s": key_rate,
            "lost": lost,
            "reordered": reordered,
            "duplicates": duplicates,
            "echo_lost": m.echo_check.lost,
            "incomplete": incomplete,
            "unexpected": m.unexpected,
            "awareness": m.awareness,
            "foreign_updates": m.foreign,
            "receivers_closed": m.closed,
            "ok": ok,
            "decoded_frames": m.decoded,
            "driver_cpu_connect_s": m.driver_cpu_connect.as_secs_f64(),
            "driver_cpu_measure_s": m.driver_cpu_measure.as_secs_f64(),
            "driver_cpu_us_per_delivery": us_per(m.driver_cpu_measure, m.deliveries),
            "driver_busy": driver_busy,
            "clock": if a.kernel_clock { "kernel" } else { "driver" },
            "kernel_timed": crate::rxstream::kernel_timed(),
            "clock_fallbacks": crate::rxstream::fallbacks(),
            "measure_wall_s": m.measure_time.as_secs_f64(),
            "server_stats": server,
        }),
    );
    ok
}

/// Prints a rooms run; clean when every client had its edit back and nothing was unexpected.
#[allow(clippy::print_stdout)]
pub fn rooms(m: &Rooms) -> bool {
    let a = &m.args;
    let open = pct(m.open_times.clone());
    let lost = a.rooms.saturating_sub(m.done) as u64;
    let ok = lost == 0 && m.failed == 0 && m.unexpected == 0 && m.closed == 0;
    if a.shared {
        println!(
            "{}yjs-load rooms --shared against {}{}{}-0: {} clients in one room over {} source address(es), syncing only",
            label(a),
            a.server,
            a.prefix,
            a.room,
            a.rooms,
            a.sources,
        );
    } else {
        println!(
            "{}yjs-load rooms against {}{}{}-0..{}: one client per room over {} source address(es)",
            label(a),
            a.server,
            a.prefix,
            a.room,
            a.rooms - 1,
            a.sources,
        );
    }
    println!(
        "  {} of {} clients connected, synced (and had their edit back) in {:.2} s ({:.0} rooms/s, concurrency {}); failed {}{}",
        m.done,
        a.rooms,
        m.open_time.as_secs_f64(),
        m.done as f64 / m.open_time.as_secs_f64().max(1e-9),
        a.concurrency,
        m.failed,
        m.first_error
            .as_deref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default(),
    );
    println!(
        "  connect → done, per client: p50 {}, p99 {}, max {}",
        ms(open.p50),
        ms(open.p99),
        ms(open.max)
    );
    println!(
        "  check: lost edits {lost}, unexpected {}, awareness {}, clients closed {}  => {}",
        m.unexpected,
        m.awareness,
        m.closed,
        if ok { "OK" } else { "FAILED" }
    );
    println!(
        "  driver CPU: {:.3} s to open every room",
        m.driver_cpu_open.as_secs_f64()
    );
    let server = match (m.server_start, m.server_open, m.server_idle) {
        (Some(s), Some(o), Some(i)) => {
            let cpu = cpu_between(&s, &o);
            let per_room = i.rss_kb.saturating_sub(s.rss_kb) as f64 / m.done.max(1) as f64;
            println!(
                "  server pid {}: CPU to open them {:.3} s ({:.0} µs/client); RSS start {}, all open {}, {:?} later {} ({:.1} KiB/{}), peak {}",
                a.server_pid.unwrap_or(0),
                cpu.as_secs_f64(),
                us_per(cpu, m.done as u64),
                mib(s.rss_kb),
                mib(o.rss_kb),
                a.settle,
                mib(i.rss_kb),
                per_room,
                if a.shared {
                    "client"
                } else {
                    "room with its client"
                },
                mib(i.hwm_kb),
            );
            Some(json!({
                "pid": a.server_pid,
                "cpu_open_s": cpu.as_secs_f64(),
                "cpu_us_per_room": us_per(cpu, m.done as u64),
                "rss_start_kb": s.rss_kb,
                "rss_open_kb": o.rss_kb,
                "rss_idle_kb": i.rss_kb,
                "rss_per_room_kb": per_room,
                "rss_peak_kb": i.hwm_kb,
            }))
        }
        _ => None,
    };
    emit(
        common(a),
        json!({
            "rooms": a.rooms,
            "shared": a.shared,
            "receivers": m.done,
            "connected": m.connected,
            "failed": m.failed,
            "sources": a.sources,
            "open_s": m.open_time.as_secs_f64(),
            "open_us": pjson(open),
            "rooms_per_s": m.done as f64 / m.open_time.as_secs_f64().max(1e-9),
            "lost": lost,
            "reordered": 0,
            "duplicates": 0,
            "unexpected": m.unexpected,
            "awareness": m.awareness,
            "receivers_closed": m.closed,
            "ok": ok,
            "first_error": m.first_error,
            "driver_cpu_open_s": m.driver_cpu_open.as_secs_f64(),
            "settle_s": a.settle.as_secs_f64(),
            "server_stats": server,
        }),
    );
    ok
}

/// Prints a prepare run; clean when every keystroke came back once and in order.
#[allow(clippy::print_stdout)]
pub fn prepared(m: &Prepared) -> bool {
    let a = &m.args;
    let echo = pct(m.echo_times.clone());
    let ok = m.sent == a.history as u64
        && m.check.lost == 0
        && m.check.reordered == 0
        && m.check.duplicates == 0
        && m.unexpected == 0;
    let rate = m.echoed as f64 / m.elapsed.as_secs_f64().max(1e-9);
    println!(
        "{}yjs-load prepare against {}{}{}: {} keystrokes typed, {} echoed in {:.2} s ({:.0}/s, window {}); echo p50 {}, p99 {}",
        label(a),
        a.server,
        a.prefix,
        a.room,
        m.sent,
        m.echoed,
        m.elapsed.as_secs_f64(),
        rate,
        a.window,
        ms(echo.p50),
        ms(echo.p99),
    );
    println!(
        "  check: lost {}, reordered {}, duplicates {}, unexpected {}  => {}",
        m.check.lost,
        m.check.reordered,
        m.check.duplicates,
        m.unexpected,
        if ok { "OK" } else { "FAILED" }
    );
    let server = m.server.map(|((pid, p0), p1)| {
        let cpu = cpu_between(&p0, &p1);
        println!(
            "  server pid {pid}: CPU {:.3} s ({:.1} µs/keystroke); RSS {} → {}, peak {}",
            cpu.as_secs_f64(),
            us_per(cpu, m.echoed),
            mib(p0.rss_kb),
            mib(p1.rss_kb),
            mib(p1.hwm_kb)
        );
        json!({
            "pid": pid,
            "cpu_s": cpu.as_secs_f64(),
            "cpu_us_per_update": us_per(cpu, m.echoed),
            "rss_start_kb": p0.rss_kb,
            "rss_end_kb": p1.rss_kb,
            "rss_peak_kb": p1.hwm_kb,
        })
    });
    emit(
        common(a),
        json!({
            "history": a.history,
            "window": a.window,
            "sent": m.sent,
            "echoed": m.echoed,
            "prepare_s": m.elapsed.as_secs_f64(),
            "updates_per_s": rate,
            "echo_us": pjson(echo),
            "lost": m.check.lost,
            "reordered": m.check.reordered,
            "duplicates": m.check.duplicates,
            "unexpected": m.unexpected,
            "ok": ok,
            "server_stats": server,
        }),
    );
    ok
}

/// Prints a cold open; clean when the client's copy is exactly the prepared text.
#[allow(clippy::print_stdout)]
pub fn coldopen(m: &ColdOpen) -> bool {
    let a = &m.args;
    let ok = m.whole && m.error.is_none() && m.unexpected == 0;
    let f = |d: Option<Duration>| d.map_or("-".to_owned(), |d| ms(d.as_secs_f64() * 1e6));
    let msf = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
    println!(
        "{}yjs-load coldopen against {}{}{}: {} keystrokes of history",
        label(a),
        a.server,
        a.prefix,
        a.room,
        a.history
    );
    println!(
        "  from connect: handshake {}, SyncStep1 {}, SyncStep2 {} ({} bytes), whole document {}",
        f(Some(m.connected)),
        f(m.step1),
        f(m.step2),
        m.step2_bytes,
        f(m.complete),
    );
    println!(
        "  check: {} characters (expected {}), the text typed: {}, {} messages ({} bytes), unexpected {}{}  => {}",
        m.content_len,
        a.history,
        m.whole,
        m.messages,
        m.bytes,
        m.unexpected,
        m.error
            .as_deref()
            .map(|e| format!(", error: {e}"))
            .unwrap_or_default(),
        if ok { "OK" } else { "FAILED" }
    );
    let server = m.server.map(|((pid, p0), p1)| {
        let cpu = cpu_between(&p0, &p1);
        println!(
            "  server pid {pid}: CPU {:.3} s; RSS {} → {}, peak {}",
            cpu.as_secs_f64(),
            mib(p0.rss_kb),
            mib(p1.rss_kb),
            mib(p1.hwm_kb)
        );
        json!({
            "pid": pid,
            "cpu_s": cpu.as_secs_f64(),
            "rss_start_kb": p0.rss_kb,
            "rss_end_kb": p1.rss_kb,
            "rss_peak_kb": p1.hwm_kb,
        })
    });
    let lost = if m.whole {
        0
    } else {
        u64::from((a.history as u32).saturating_sub(m.content_len)).max(1)
    };
    emit(
        common(a),
        json!({
            "history": a.history,
            "connect_ms": m.connected.as_secs_f64() * 1e3,
            "step1_ms": msf(m.step1),
            "step2_ms": msf(m.step2),
            "complete_ms": msf(m.complete),
            "step2_bytes": m.step2_bytes,
            "content_len": m.content_len,
            "whole": m.whole,
            "messages": m.messages,
            "bytes": m.bytes,
            "lost": lost,
            "reordered": 0,
            "unexpected": m.unexpected,
            "error": m.error,
            "ok": ok,
            "server_stats": server,
        }),
    );
    ok
}
