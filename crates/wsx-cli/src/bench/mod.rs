//! `wsx bench`: a load generator for echo servers.
//!
//! One probe connection is made (and closed) first, so an unreachable server fails at once.
//! Then `--threads` load threads, each with its own single-threaded runtime (see
//! [`threads`]), make their share of the connections (at most 256 handshakes at a time;
//! failures are reported and the rest go on). Each connection, on its own task, either keeps
//! `--pipeline` messages in flight and sends the next one when an echo arrives (closed loop,
//! latency from send to echo), or sends on a fixed schedule of `--rate` messages per second
//! in total (open loop, latency from the scheduled send time so a stalled server cannot hide
//! its stalls, at most 1024 messages awaiting echoes per connection). Every payload carries
//! its connection id and sequence number, and every echo is compared byte for byte with what
//! was sent, in order: a corrupt echo is an error, never throughput. The warm-up is not
//! measured; after the measurement nothing more is sent, echoes still in flight get up to
//! 2 s, and connections close with 1000. The report includes the load generator's own CPU
//! use and says when it, rather than the server, was probably the limit; with `--server-pid`
//! also the server's CPU time per echoed message over the measurement (from /proc).
//!
//! `--idle D` sends nothing: it opens the connections, says so on stderr (`wsx bench: N
//! connections open, idle for D`), keeps them open (answering pings) for D, then closes them
//! and reports how many were connected and how many were lost meanwhile; this is how the
//! memory an idle connection costs a server is measured. `--source` binds the connections to
//! local addresses round-robin (e.g. `127.0.0.2-127.0.0.40`), for more connections than one
//! source address has ephemeral ports.
//!
//! Exit status: 0 when all went well, 1 when no connection could be made, 2 for bad
//! arguments, 3 when there were errors (failed handshakes, lost connections, missing echoes,
//! dropped messages), 4 when any echo was corrupt or of the wrong type.

mod args;
mod conn_report;
mod dial;
mod echo;
mod fanout;
mod fanout_state;
mod payload;
mod plan;
mod report;
mod stats;
mod threads;

pub use args::BenchArgs;
use std::collections::{BTreeMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::Semaphore;
use tokio::time::{Instant, sleep_until};
use wsx::{ClientBuilder, CloseCode, DeflateConfig, Options, SlowConsumer};

use self::dial::{Bound, Dialer};

use self::conn_report::{ConnReport, ErrorKind};
use self::plan::{OpenLoop, Plan};
use self::report::{Latency, Report, SendLag};
use self::threads::LoadThread;

/// Handshakes in progress at once.
const CONNECT_CONCURRENCY: usize = 256;
/// How long echoes still in flight after the measurement are waited for.
const DRAIN: Duration = Duration::from_secs(2);
/// Share of its cores above which the load generator is called the bottleneck.
const BOUND_SHARE: f64 = 0.9;

/// Runs the benchmark.
pub async fn run(args: BenchArgs) -> ExitCode {
    if let Err(e) = validate(&args) {
        eprintln!("wsx bench: {e}");
        return ExitCode::from(2);
    }
    let bar = progress_bar(
        !args.json && std::io::stderr().is_terminal(),
        args.connections as u64,
    );
    let dialer = match dialer(&args).await {
        Ok(d) => d,
        Err(e) => {
            bar.finish_and_clear();
            eprintln!("wsx bench: {e}");
            return ExitCode::from(2);
        }
    };

    // One connection first, so an unreachable server fails at once with one message.
    match dialer.connect().await {
        Ok(mut probe) => {
            let _ = tokio::time::timeout(DRAIN, async {
                let _ = probe.close(CloseCode::NORMAL, "").await;
                while probe.recv().await.is_some() {}
            })
            .await;
        }
        Err(e) => {
            bar.finish_and_clear();
            eprintln!(
                "wsx bench: cannot connect to {}: {}",
                args.url,
                describe(&e)
            );
            return ExitCode::from(1);
        }
    }

    // The load threads make their connections.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = args.threads.unwrap_or(cpus).clamp(1, args.connections);
    let sem = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let attempts = Arc::new(AtomicU64::new(0));
    let mut loads: Vec<LoadThread> = (0..threads)
        .map(|k| {
            let share = args.connections / threads + usize::from(k < args.connections % threads);
            LoadThread::spawn(
                format!("wsx-bench-{k}"),
                share,
                dialer.clone(),
                sem.clone(),
                attempts.clone(),
            )
        })
        .collect();
    let counting = tokio::spawn(show_connecting(bar.clone(), attempts));
    let mut per_thread = Vec::with_capacity(threads);
    for l in &mut loads {
        per_thread.push(l.connected().await);
    }
    counting.abort();
    let n: usize = per_thread.iter().map(|c| c.connected).sum();
    let deflate_negotiated = per_thread.iter().map(|c| c.deflate).sum();
    let mut connect_errors: BTreeMap<String, u64> = BTreeMap::new();
    for c in &per_thread {
        for (e, k) in &c.errors {
            *connect_errors.entry(e.clone()).or_insert(0) += k;
        }
    }
    if n == 0 {
        bar.finish_and_clear();
        let why = connect_errors
            .iter()
            .max_by_key(|(_, k)| **k)
            .map_or("no connection", |(e, _)| e.as_str());
        eprintln!("wsx bench: cannot connect to {}: {why}", args.url);
        return ExitCode::from(1);
    }

    if let Some(idle) = args.idle {
        eprintln!(
            "wsx bench: {n} connections open, idle for {}s",
            idle.as_secs_f64()
        );
    }
    let start = Instant::now();
    let (warm_end, end) = match args.idle {
        Some(idle) => (start, start + idle),
        None => (start + args.warmup, start + args.warmup + args.duration),
    };
    let plan = Arc::new(Plan {
        idle: args.idle.is_some(),
        size: args.size,
        binary: args.binary,
        pipeline: args.pipeline,
        open: args.rate.map(|r| OpenLoop {
            period: Duration::from_secs_f64(n as f64 / r as f64),
            stagger: Duration::from_secs_f64(1.0 / r as f64),
        }),
        start,
        warm_end,
        end,
        drain_end: end + DRAIN,
        fanout: args
            .fanout
            .then(|| Arc::new(fanout_state::Fanout::new(n as u64 - 1))),
    });
    let mut first_id = 0u32;
    for (l, c) in loads.iter_mut().zip(&per_thread) {
        l.start(plan.clone(), first_id);
        first_id = first_id.saturating_add(u32::try_from(c.connected).unwrap_or(u32::MAX));
    }
    let ticker = tokio::spawn(show_progress(bar.clone(), plan.clone()));

    // The load generator's own CPU use, over the measurement only.
    // And the server's, with --server-pid.
    sleep_until(warm_end).await;
    let cpu0 = stats::cpu_seconds();
    let srv0 = args.server_pid.and_then(stats::cpu_seconds_of);
    let t0 = Instant::now();
    sleep_until(end).await;
    let cpu1 = stats::cpu_seconds();
    let srv1 = args.server_pid.and_then(stats::cpu_seconds_of);
    let wall = t0.elapsed().as_secs_f64();
    let cpu_percent = match (cpu0, cpu1) {
        (Some(a), Some(b)) if wall > 0.0 => Some((b - a) / wall * 100.0),
        _ => None,
    };
    let server_cpu_s = match (srv0, srv1) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };

    let mut reports = Vec::with_capacity(n);
    let mut panicked = 0u64;
    for l in loads {
        let f = l.finished().await;
        reports.extend(f.reports);
        panicked += f.failed;
    }
    ticker.abort();
    bar.finish_and_clear();

    let mut lost = BTreeMap::new();
    if panicked > 0 {
        lost.insert("connection task failed".to_owned(), panicked);
    }
    let report = build_report(
        &args,
        n,
        threads.min(cpus),
        deflate_negotiated,
        connect_errors,
        lost,
        &reports,
        cpu_percent,
        server_cpu_s,
    );
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        writeln!(out, "{}", report.json())
    } else {
        report.write_table(&mut out)
    };
    if let Err(e) = written.and_then(|()| out.flush()) {
        eprintln!("wsx bench: cannot write the report: {e}");
    }
    ExitCode::from(report.exit_code)
}

fn validate(a: &BenchArgs) -> Result<(), String> {
    if a.connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    if a.connections >= payload::MAX_CONNECTIONS {
        return Err(format!(
            "--connections must be below {}",
            payload::MAX_CONNECTIONS
        ));
    }
    if a.pipeline == 0 {
        return Err("--pipeline must be at least 1".into());
    }
    if a.rate == Some(0) {
        return Err("--rate must be at least 1 message per second".into());
    }
    if a.duration.is_zero() {
        return Err("--duration must be more than 0".into());
    }
    if a.threads == Some(0) {
        return Err("--threads must be at least 1".into());
    }
    if a.idle.is_some_and(|d| d.is_zero()) {
        return Err("--idle must be more than 0".into());
    }
    if a.fanout {
        if a.connections < 2 {
            return Err(
                "--fanout needs at least 2 connections (a publisher and a receiver)".into(),
            );
        }
        if a.idle.is_some() || a.rate.is_some() {
            return Err(
                "--fanout is a closed loop: it cannot be used with --idle or --rate".into(),
            );
        }
        if a.pipeline > fanout_state::RING / 2 {
            return Err(format!(
                "--fanout allows at most {} in --pipeline",
                fanout_state::RING / 2
            ));
        }
    }
    if a.idle.is_some() && a.rate.is_some() {
        return Err("--idle sends nothing: it cannot be used with --rate".into());
    }
    Ok(())
}

/// The builder, or with `--source` connections bound to those addresses.
async fn dialer(a: &BenchArgs) -> Result<Dialer, String> {
    let builder = client(a)?;
    if let Some(n) = a.http2 {
        return Ok(Dialer::Http2(Arc::new(dial::Http2Dial::new(
            builder, n as usize,
        ))));
    }
    let Some(src) = &a.source else {
        return Ok(Dialer::Builder(Box::new(builder)));
    };
    let sources = dial::parse_sources(src)?;
    let u = url::Url::parse(&a.url).map_err(|e| format!("{}: {e}", a.url))?;
    let host = u
        .host_str()
        .ok_or_else(|| format!("{}: missing host", a.url))?;
    let port = u.port_or_known_default().unwrap_or(80);
    let server = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .find(|s| s.is_ipv4() == sources[0].is_ipv4())
        .ok_or_else(|| format!("{host} has no address of the family of --source"))?;
    let (headers, protocols) = request_headers(a)?;
    let mut bound = Bound::new(&a.url, server, sources, options(a), deflate(a))?;
    bound.headers = headers;
    bound.protocols = protocols;
    Ok(Dialer::Bound(Arc::new(bound)))
}

fn deflate(a: &BenchArgs) -> Option<DeflateConfig> {
    // With --deflate every message is compressed, however small.
    a.deflate.then(|| DeflateConfig::default().threshold(0))
}

fn options(a: &BenchArgs) -> Options {
    let mut opts = Options::default();
    // Sends never wait: past the limit a message is dropped and counted, and the limit is
    // far above what a closed loop keeps queued.
    opts.slow_consumer = SlowConsumer::Drop;
    opts.max_buffered = opts.max_buffered.max(
        a.pipeline
            .saturating_mul(a.size.saturating_add(14))
            .saturating_mul(2),
    );
    opts.close_timeout = DRAIN;
    opts.config = opts.config.clone().max_payload(a.size.max(64 << 20));
    opts
}

/// `-H` and `--protocol`, checked as `wsx connect` checks them.
fn request_headers(a: &BenchArgs) -> Result<(http::HeaderMap, Vec<String>), String> {
    use crate::connect::parse::{self, Header};
    let mut headers = http::HeaderMap::new();
    for h in &a.headers {
        let (name, value) = match parse::header(h)? {
            Header::Extra(name, value) => (name, value),
            Header::Origin(o) => ("origin".to_owned(), o),
        };
        headers.append(
            http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?,
            http::HeaderValue::from_str(&value).map_err(|e| e.to_string())?,
        );
    }
    for p in &a.protocols {
        parse::protocol(p)?;
    }
    Ok((headers, a.protocols.clone()))
}

fn client(a: &BenchArgs) -> Result<ClientBuilder, String> {
    let mut b = ClientBuilder::new(a.url.clone())
        .options(options(a))
        .deflate(deflate(a));
    let (headers, protocols) = request_headers(a)?;
    for (name, value) in &headers {
        b = b.header(name.as_str(), value.to_str().map_err(|e| e.to_string())?);
    }
    for p in protocols {
        b = b.protocol(p);
    }
    // One TLS configuration shared by every connection (built once, sessions resumable).
    let trust = match (&a.ca, a.insecure) {
        (Some(ca), _) => wsx::tls::Trust::ca_file(ca)
            .map_err(|e| format!("cannot use --ca {}: {e}", ca.display()))?,
        (None, true) => wsx::tls::Trust::Insecure,
        (None, false) => wsx::tls::Trust::default(),
    };
    let cfg = trust
        .client_config()
        .map_err(|e| format!("TLS set-up failed: {e}"))?;
    Ok(b.tls_config(cfg))
}

/// An error as a person wants to read it ("Connection refused (os error 111)").
fn describe(e: &wsx::Error) -> String {
    match e {
        wsx::Error::Io(io) => io.to_string(),
        e => e.to_string(),
    }
}

/// Counts finished handshakes on the bar.
async fn show_connecting(bar: ProgressBar, attempts: Arc<AtomicU64>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        bar.set_position(attempts.load(Ordering::Relaxed));
    }
}

/// The live bar on stderr (hidden when stderr is not a terminal, or with --json); it starts
/// by counting handshakes.
fn progress_bar(visible: bool, connections: u64) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(connections);
    if let Ok(style) = ProgressStyle::with_template("{prefix:>7} [{bar:32}] {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix("connect");
    bar
}

/// Updates the bar with the time and the rate of verified echoes over the last second.
async fn show_progress(bar: ProgressBar, plan: Arc<Plan>) {
    let total = plan.end - plan.start;
    bar.set_length(total.as_millis() as u64);
    bar.set_position(0);
    let mut window: VecDeque<(Instant, u64)> = VecDeque::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let now = Instant::now();
        let count = stats::echoed_total();
        window.push_back((now, count));
        while window
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(1))
        {
            window.pop_front();
        }
        let rate = match window.front() {
            Some((t, c)) if now > *t => (count - c) as f64 / now.duration_since(*t).as_secs_f64(),
            _ => 0.0,
        };
        let elapsed = now.saturating_duration_since(plan.start).min(total);
        bar.set_prefix(if now < plan.warm_end {
            "warm-up"
        } else if now < plan.end {
            "bench"
        } else {
            "drain"
        });
        bar.set_position(elapsed.as_millis() as u64);
        bar.set_message(format!(
            "{:.1}s/{:.1}s  {} msgs/s",
            elapsed.as_secs_f64(),
            total.as_secs_f64(),
            report::group(rate.round() as u64)
        ));
    }
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    args: &BenchArgs,
    connected: usize,
    cores: usize,
    deflate_negotiated: usize,
    connect_errors: BTreeMap<String, u64>,
    mut lost: BTreeMap<String, u64>,
    reports: &[ConnReport],
    cpu_percent: Option<f64>,
    server_cpu_s: Option<f64>,
) -> Report {
    let mut sent = 0;
    let mut msgs = 0;
    let mut bytes = 0;
    let mut errors = [0u64; ErrorKind::ALL.len()];
    let mut close_codes = BTreeMap::new();
    let (mut lag_sum, mut lag_max) = (0u64, 0u64);
    for r in reports {
        lag_sum = lag_sum.saturating_add(r.lag_sum_ns);
        lag_max = lag_max.max(r.lag_max_ns);
        sent += r.sent;
        msgs += r.echoed;
        bytes += r.bytes;
        for (total, n) in errors.iter_mut().zip(r.errors) {
            *total += n;
        }
        *close_codes
            .entry(r.close_code.unwrap_or(1006).to_string())
            .or_insert(0) += 1;
        if let Some(why) = &r.lost {
            *lost.entry(why.clone()).or_insert(0) += 1;
        }
    }
    let mut errors_by_kind: BTreeMap<&'static str, u64> = ErrorKind::ALL
        .iter()
        .zip(errors)
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.name(), n))
        .collect();
    let connect_failed: u64 = connect_errors.values().sum();
    if connect_failed > 0 {
        errors_by_kind.insert("connect failed", connect_failed);
    }
    let panicked: u64 = lost.get("connection task failed").copied().unwrap_or(0);
    if panicked > 0 {
        errors_by_kind.insert("connection task failed", panicked);
    }
    let corrupt: u64 = ErrorKind::ALL
        .iter()
        .zip(errors)
        .filter(|(k, _)| k.is_corruption())
        .map(|(_, n)| n)
        .sum();
    let total_errors: u64 = errors_by_kind.values().sum();
    let exit_code = if corrupt > 0 {
        4
    } else if total_errors > 0 {
        3
    } else {
        0
    };

    let secs = args.idle.unwrap_or(args.duration).as_secs_f64();
    let latency_us = stats::merged_latencies().and_then(|h| Latency::from_ns(&h));
    let mut report = Report {
        url: args.url.clone(),
        connections: args.connections,
        connected,
        size: args.size,
        binary: args.binary,
        mode: if args.idle.is_some() {
            "idle"
        } else if args.fanout {
            "fanout"
        } else if args.rate.is_some() {
            "open"
        } else {
            "closed"
        },
        pipeline: (args.rate.is_none() && args.idle.is_none()).then_some(args.pipeline),
        rate: args.rate,
        deflate: args.deflate,
        deflate_negotiated,
        warmup_s: if args.idle.is_some() {
            0.0
        } else {
            args.warmup.as_secs_f64()
        },
        duration_s: secs,
        sent,
        msgs,
        bytes,
        msgs_per_sec: msgs as f64 / secs,
        mb_per_sec: bytes as f64 / secs / 1e6,
        latency_us,
        send_lag_us: (args.rate.is_some() && sent > 0).then(|| SendLag {
            mean: lag_sum as f64 / sent as f64 / 1000.0,
            max: lag_max as f64 / 1000.0,
        }),
        errors: total_errors,
        errors_by_kind,
        connect_errors,
        lost,
        close_codes,
        client_cpu_percent: cpu_percent,
        client_cores: cores,
        client_bound: cpu_percent.is_some_and(|c| c >= BOUND_SHARE * 100.0 * cores as f64),
        server_pid: args.server_pid,
        server_cpu_percent: server_cpu_s.map(|c| c / secs * 100.0),
        server_cpu_us_per_msg: server_cpu_s
            .filter(|_| msgs > 0)
            .map(|c| c * 1e6 / msgs as f64),
        note: None,
        exit_code,
    };
    report.note = report.bottleneck_note();
    report
}
