//! `soak`: the driver of scripts/soak.sh. Against two `wsx serve --redis` processes (A and B)
//! it runs four kinds of load at once for the whole duration, each with its own counters and
//! latency histogram, and its own definition of accepted and lost (in its file):
//!
//! - echo (`echo.rs`): numbered messages on `/echo` at a bounded rate;
//! - broadcast (`broadcast.rs`): 1,000 chat subscribers split over A and B, one publisher on
//!   A, every subscriber checking every line;
//! - socketio (`sio.rs`, `sio-soak.cjs`): socket.io-client members of a chat room on three
//!   transports, reconnecting every so often;
//! - yjs (`yjs.rs`, `replica.rs`): y-websocket editors of one document split over A and B,
//!   every replica checked for the same text with every accepted edit, round after round.
//!
//! Every 10 s it prints each server's RSS and open fds and each kind's counters; every minute
//! the p99 latency of each kind over that minute. When the duration is over (or on Ctrl-C;
//! a second one exits at once) the load stops, deliveries may still come for the grace
//! period, then whatever was accepted and did not arrive is lost. After every client left it
//! reads the servers' fds again, prints the summary (`summary.rs`) and exits with 1 if
//! anything was lost, a check failed, RSS grew or fds grew (2 for a bad command line).

mod args;
mod broadcast;
mod chat;
mod clock;
mod ctx;
mod echo;
mod histogram;
mod procs;
mod replica;
mod report;
mod restarts;
mod seq;
mod sio;
mod stats;
mod summary;
mod yjs;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior, interval};

use crate::args::Args;
use crate::clock::{Clock, unix_ms};
use crate::ctx::Ctx;
use crate::procs::History;
use crate::stats::Kind;

/// Every this long: a line per server and per kind.
const TICK: Duration = Duration::from_secs(10);
/// How long the servers get to close what the driver's clients left before their fds are
/// counted again.
const SETTLE: Duration = Duration::from_secs(summary::SETTLE_S);

fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(a) => a,
        Err(msg) => {
            let usage = msg == args::USAGE;
            eprint!("{msg}{}", if usage { "" } else { "\n" });
            return ExitCode::from(if usage { 0 } else { 2 });
        }
    };
    // Two workers: the machine has two cores and the servers need them more.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("soak: no runtime: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let clock = Clock::new(args.t0);
    let (stop_tx, stop) = watch::channel(false);
    let ctx = Arc::new(Ctx {
        clock,
        servers: args.servers.clone(),
        grace: args.grace,
        stop,
    });
    let mut histories: Vec<History> = args
        .servers
        .iter()
        .map(|s| History {
            idle: procs::sample(s.pid, unix_ms()),
            ..History::default()
        })
        .collect();
    let mut kinds = Vec::new();
    let mut tasks = Vec::new();
    if args.runs("echo") {
        let k = Arc::new(Kind::new("echo"));
        let f = echo::run(ctx.clone(), k.clone(), args.echo_conns, args.echo_rate);
        tasks.push(tokio::spawn(f));
        kinds.push(k);
    }
    if args.runs("broadcast") {
        let k = Arc::new(Kind::new("broadcast"));
        let f = broadcast::run(ctx.clone(), k.clone(), args.subscribers, args.bcast_rate);
        tasks.push(tokio::spawn(f));
        kinds.push(k);
    }
    if let (true, Some(script)) = (args.runs("socketio"), args.node_script.clone()) {
        let k = Arc::new(Kind::new("socketio"));
        let (c, k2) = (ctx.clone(), k.clone());
        let (clients, rate, churn) = (args.sio_clients, args.sio_rate, args.sio_churn);
        tasks.push(tokio::spawn(async move {
            let o = sio::Options {
                script: &script,
                clients,
                rate,
                churn,
            };
            sio::run(c, k2, o).await
        }));
        kinds.push(k);
    }
    if args.runs("yjs") {
        let k = Arc::new(Kind::new("yjs"));
        let f = yjs::run(
            ctx.clone(),
            k.clone(),
            args.yjs_editors,
            args.yjs_rate,
            args.yjs_round,
        );
        tasks.push(tokio::spawn(f));
        kinds.push(k);
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let (stop_tx, interrupted) = (stop_tx.clone(), interrupted.clone());
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nsoak: interrupted: stopping the load (Ctrl-C again to quit now)");
                interrupted.store(true, Ordering::Release);
                let _ = stop_tx.send(true);
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
    }

    let start = Instant::now();
    let start_ms = unix_ms();
    let warm_end_ms = start_ms + args.warmup.as_millis() as u64;
    println!(
        "{} soak: {} for {:.0} s (warm-up {:.0} s, grace {:.0} s) against {}",
        ctx.clock.stamp(),
        kinds.iter().map(|k| k.name).collect::<Vec<_>>().join(", "),
        args.duration.as_secs_f64(),
        args.warmup.as_secs_f64(),
        args.grace.as_secs_f64(),
        args.servers
            .iter()
            .map(|s| format!("{}={} (pid {})", s.name, s.addr, s.pid))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut minute_marks: Vec<_> = kinds.iter().map(|k| k.latency.snapshot()).collect();
    let mut tick = interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.tick().await;
    let mut ticks = 0u64;
    let mut load_secs = None;
    let mut stop_ms = u64::MAX;
    let tasks_done = async {
        for t in tasks {
            let _ = t.await;
        }
    };
    tokio::pin!(tasks_done);
    let end = start + args.duration;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::time::sleep_until(end), if !*stop_tx.borrow() => {
                let _ = stop_tx.send(true);
                continue;
            }
            _ = ctx.stopping(), if load_secs.is_none() => {
                load_secs = Some(start.elapsed().as_secs_f64());
                stop_ms = unix_ms();
                println!("{} soak: the load stops; grace period", ctx.clock.stamp());
                continue;
            }
            _ = &mut tasks_done => break,
        }
        ticks += 1;
        let now = unix_ms();
        let samples: Vec<_> = args
            .servers
            .iter()
            .map(|s| procs::sample(s.pid, now))
            .collect();
        for (h, x) in histories.iter_mut().zip(&samples) {
            h.during.extend(*x);
        }
        report::procs(&ctx.clock, &args.servers, &samples);
        report::counters(&ctx.clock, &kinds);
        if ticks % 6 == 0 {
            report::minute(&ctx.clock, &kinds, &mut minute_marks);
        }
    }
    // Every kind may have ended on its own (they all failed): stop anyway.
    let _ = stop_tx.send(true);
    let load_secs = load_secs.unwrap_or_else(|| start.elapsed().as_secs_f64());
    tokio::time::sleep(SETTLE).await;
    let after = unix_ms();
    for (h, s) in histories.iter_mut().zip(&args.servers) {
        h.after = procs::sample(s.pid, after);
    }
    let restarts = args
        .restarts
        .as_deref()
        .map(restarts::read)
        .unwrap_or_default();
    let run = summary::Run {
        clock: &ctx.clock,
        kinds: &kinds,
        servers: &args.servers,
        histories: &histories,
        restarts: &restarts,
        load_secs,
        interrupted: interrupted.load(Ordering::Acquire),
        warm_end_ms,
        stop_ms,
        window_ms: (args.duration.saturating_sub(args.warmup).as_millis() as u64 / 3)
            .clamp(TICK.as_millis() as u64, 60_000),
    };
    let (json, ok) = summary::summary(&run);
    if let Some(path) = &args.out {
        let text: String = json.iter().map(|j| format!("{j}\n")).collect();
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("soak: cannot write {}: {e}", path.display());
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
