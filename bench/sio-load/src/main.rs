//! `sio-load`: a Socket.IO broadcast load driver.
//!
//! N receivers and one publisher connect to a server over the Engine.IO v4 websocket transport
//! (`ws://HOST/socket.io/?EIO=4&transport=websocket`), every socket in room `bench`; with
//! `--transport polling` the receivers use HTTP long-polling instead (`transport=polling`, one
//! keep-alive HTTP/1.1 connection each, never upgraded) and the publisher stays a websocket. The
//! publisher emits `bcast` (payload, ack); the server emits `msg` with the payload to the room
//! and acks. The payload is a string: a 10-digit sequence number, then padding to `--size`.
//!
//! - latency: one broadcast at a time, time from the send to the first and to the last
//!   receiver having it, p50/p99/max over `--rounds`;
//! - throughput: broadcasts pipelined with at most `--window` un-acked, deliveries per second
//!   until the last receiver has the last one.
//!
//! Every receiver checks every sequence number (lost, reordered, duplicated: all must be 0).
//! Everything runs on one thread (a current-thread runtime, one small task per connection), so
//! the driver's own CPU time, which it prints, is one core's worth at most. With
//! `--server-pid` it also reads the server's CPU time and RSS at the phase boundaries.
//! It prints a table, then one JSON line.

mod args;
mod conn;
mod poll;
mod report;
mod rxstream;
mod state;
mod sysstat;

use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::time::timeout_at;
use wsx::Message;
use wsx_socketio::{engineio, socketio};

use crate::args::{Args, Mode, Transport};
use crate::conn::{Error, Ws};
use crate::report::{Measured, ProcPhases};
use crate::rxstream::{RxClock, RxStream};
use crate::state::Shared;
use crate::sysstat::Proc;

/// The ack id of the `echo` check; broadcast `seq` uses `seq + 1`.
const ECHO_ID: u64 = 0;

fn main() {
    let args = match Args::parse() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(if msg == args::USAGE { 0 } else { 2 });
        }
    };
    let nofile = sysstat::raise_nofile();
    let need = args.receivers as u64 + 64;
    if nofile < need {
        eprintln!(
            "sio-load: {} receivers need about {need} open files, the limit is {nofile}: run `ulimit -n 65536` (or as high as `ulimit -Hn` allows) first",
            args.receivers
        );
        std::process::exit(2);
    }
    if let Some((lo, hi)) = sysstat::ephemeral_ports() {
        let ports = (hi.saturating_sub(lo) + 1) as usize;
        let per_source = args.receivers.div_ceil(args.sources);
        if per_source + 16 > ports {
            eprintln!(
                "sio-load: {per_source} connections per source address exceed the {ports} ephemeral ports ({lo}-{hi}): use more --sources"
            );
            std::process::exit(2);
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sio-load: runtime: {e}");
            std::process::exit(2);
        }
    };
    let local = tokio::task::LocalSet::new();
    let deadline = tokio::time::Instant::now() + args.deadline;
    let code = local.block_on(&rt, async {
        match timeout_at(deadline, run(&args)).await {
            Ok(Ok(ok)) => {
                if ok {
                    0
                } else {
                    1
                }
            }
            Ok(Err(e)) => {
                eprintln!("sio-load: {e}");
                2
            }
            Err(_) => {
                eprintln!(
                    "sio-load: the whole run exceeded --deadline {:?}",
                    args.deadline
                );
                3
            }
        }
    });
    // Thousands of sockets: let the kernel close them rather than a graceful close each.
    std::process::exit(code);
}

/// The source address of receiver `id`: 127.0.0.1 .. 127.0.0.S in turn.
fn source(args: &Args, id: usize) -> Option<IpAddr> {
    if !args.server.ip().is_loopback() || args.server.is_ipv6() {
        return None;
    }
    Some(IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        0,
        1 + (id % args.sources) as u8,
    )))
}

/// Runs the benchmark; `Ok(false)` when it completed but something was lost or late.
async fn run(args: &Args) -> Result<bool, Error> {
    let shared = Rc::new(Shared::new(args.receivers, args.max_broadcasts()));
    let proc_start = args.server_pid.and_then(Proc::read);
    let proc2_start = args.server_pid2.and_then(Proc::read);
    let cpu0 = sysstat::self_cpu();
    let t0 = Instant::now();

    // Receivers, at most `concurrency` of them handshaking at once.
    let sem = Rc::new(Semaphore::new(args.concurrency));
    for id in 0..args.receivers {
        let (shared, sem) = (shared.clone(), sem.clone());
        let (server, src) = (args.receiver_server(id), source(args, id));
        let connect_timeout = args.connect_timeout;
        let clock = args.clock();
        if args.transport == Transport::Polling {
            tokio::task::spawn_local(async move {
                let poll = {
                    let Ok(_permit) = sem.acquire().await else {
                        return;
                    };
                    match poll_with_retries(server, src, connect_timeout, &clock).await {
                        Ok(p) => p,
                        Err(e) => return shared.on_failed(e),
                    }
                };
                shared.on_connected();
                poll::receive(id, poll, &shared).await;
                shared.on_closed();
            });
            continue;
        }
        tokio::task::spawn_local(async move {
            let ws = {
                let Ok(_permit) = sem.acquire().await else {
                    return;
                };
                match connect_with_retries(server, src, connect_timeout, &clock).await {
                    Ok(ws) => ws,
                    Err(e) => return shared.on_failed(e),
                }
            };
            shared.on_connected();
            receive(id, ws, &clock, &shared).await;
            shared.on_closed();
        });
    }
    let connect_deadline = tokio::time::Instant::now() + args.connect_timeout;
    while shared.connected.get() + shared.failed.get() < args.receivers {
        if timeout_at(connect_deadline, shared.connect_done.notified())
            .await
            .is_err()
        {
            return Err(format!(
                "only {} of {} receivers connected within {:?}",
                shared.connected.get(),
                args.receivers,
                args.connect_timeout
            ));
        }
    }
    if shared.failed.get() > 0 {
        return Err(format!(
            "{} of {} receivers failed to connect; first error: {}",
            shared.failed.get(),
            args.receivers,
            shared.first_error.borrow().as_deref().unwrap_or("?")
        ));
    }

    // The publisher (also in room `bench`, so it gets its own broadcasts, which it ignores).
    let publisher_clock = args.clock();
    let (publisher, opened) = tokio::time::timeout(
        args.connect_timeout,
        conn::open(args.server, None, &publisher_clock),
    )
    .await
    .map_err(|_| "publisher: connect timed out".to_owned())??;
    let connect_time = t0.elapsed();
    let sender = publisher.sender();
    let (read_half, mut write_half) = publisher.split();
    {
        let shared = shared.clone();
        tokio::task::spawn_local(async move {
            publisher_reader(read_half, sender, &publisher_clock, &shared).await
        });
    }

    // The server answers `echo` with the payload: a check that it speaks the spec at all.
    let echo_payload = payload(u64::MAX / 2, args.size);
    let frame = conn::event_frame("echo", &echo_payload, ECHO_ID)?;
    send(&mut write_half, frame).await?;
    let echo_deadline = tokio::time::Instant::now() + args.round_timeout;
    while shared.echo.borrow().is_none() {
        if timeout_at(echo_deadline, shared.progress.notified())
            .await
            .is_err()
        {
            return Err("no ack to `echo` within --round-timeout".into());
        }
    }
    if shared.echo.borrow().as_deref() != Some(echo_payload.as_str()) {
        return Err(format!(
            "`echo` acked with {:?}, not the payload",
            shared.echo.borrow()
        ));
    }

    tokio::time::sleep(args.settle).await;
    let proc_idle = args.server_pid.and_then(Proc::read);
    let proc2_idle = args.server_pid2.and_then(Proc::read);
    let cpu_connected = sysstat::self_cpu();
    shared.expected.set(shared.connected.get() as u32);

    // Warm-up: one at a time, checked but not measured.
    let mut seq = 0usize;
    for _ in 0..args.warmup {
        one_round(args, &shared, &mut write_half, seq).await?;
        seq += 1;
    }
    let deliveries0 = shared.deliveries.get();
    let cpu_measure0 = sysstat::self_cpu();
    let proc_measure0 = args.server_pid.and_then(Proc::read);
    let proc2_measure0 = args.server_pid2.and_then(Proc::read);
    let first_measured = seq;
    let measure_start = Instant::now();
    // Throughput: the most broadcasts sent and not acked at once (at most --window).
    let mut max_in_flight = 0u64;
    match args.mode {
        Mode::Latency => {
            for _ in 0..args.rounds {
                one_round(args, &shared, &mut write_half, seq).await?;
                seq += 1;
                if !args.gap.is_zero() {
                    tokio::time::sleep(args.gap).await;
                }
            }
        }
        Mode::Throughput => {
            let stop_sending = measure_start + args.duration;
            while seq < first_measured + args.messages && Instant::now() < stop_sending {
                let in_flight = seq as u64 - shared.acks.get();
                if in_flight >= args.window as u64 {
                    let d = tokio::time::Instant::now() + args.round_timeout;
                    if timeout_at(d, shared.progress.notified()).await.is_err() {
                        eprintln!("sio-load: no ack within --round-timeout, stopping");
                        break;
                    }
                    continue;
                }
                let frame =
                    conn::event_frame("bcast", &payload(seq as u64, args.size), seq as u64 + 1)?;
                shared.mark_sent(seq, Instant::now());
                send(&mut write_half, frame).await?;
                seq += 1;
                max_in_flight = max_in_flight.max(seq as u64 - shared.acks.get());
            }
            // Until the last receiver has the last one (or the round timeout).
            let d = tokio::time::Instant::now() + args.round_timeout;
            let last = seq.saturating_sub(1);
            while seq > first_measured
                && !(shared.complete(last) && shared.acks.get() == seq as u64)
            {
                if timeout_at(d, shared.progress.notified()).await.is_err() {
                    break;
                }
            }
        }
    }
    let measure_end = Instant::now();
    let cpu_measure1 = sysstat::self_cpu();
    let proc_measure1 = args.server_pid.and_then(Proc::read);
    let proc2_measure1 = args.server_pid2.and_then(Proc::read);
    let deliveries = shared.deliveries.get() - deliveries0;
    let sent = seq as u64;
    // Anything still in flight for a broadcast that timed out has had --round-timeout.
    let check = shared.check(sent);

    let measured = Measured {
        args: args.clone(),
        connected: shared.connected.get(),
        closed: shared.closed.get(),
        connect_time,
        ping_interval_ms: opened.ping_interval_ms,
        rounds: (first_measured..seq).map(|s| shared.round(s)).collect(),
        sent,
        max_in_flight,
        measure_time: measure_end - measure_start,
        deliveries,
        check,
        unexpected: shared.unexpected.get(),
        driver_cpu_connect: cpu_connected.saturating_sub(cpu0),
        driver_cpu_measure: cpu_measure1.saturating_sub(cpu_measure0),
        server: args.server_pid.map(|pid| ProcPhases {
            pid,
            start: proc_start.unwrap_or_default(),
            idle: proc_idle.unwrap_or_default(),
            measure0: proc_measure0.unwrap_or_default(),
            measure1: proc_measure1.unwrap_or_default(),
        }),
        server2: args.server_pid2.map(|pid| ProcPhases {
            pid,
            start: proc2_start.unwrap_or_default(),
            idle: proc2_idle.unwrap_or_default(),
            measure0: proc2_measure0.unwrap_or_default(),
            measure1: proc2_measure1.unwrap_or_default(),
        }),
    };
    Ok(report::print(&measured))
}

/// Sends broadcast `seq` alone and waits until every receiver has it and it is acked (or
/// the round timeout passes; the round then counts as incomplete).
async fn one_round(
    args: &Args,
    shared: &Shared,
    write_half: &mut wsx::WriteHalf<RxStream>,
    seq: usize,
) -> Result<(), Error> {
    let frame = conn::event_frame("bcast", &payload(seq as u64, args.size), seq as u64 + 1)?;
    shared.mark_sent(seq, Instant::now());
    send(write_half, frame).await?;
    let d = tokio::time::Instant::now() + args.round_timeout;
    while !shared.complete(seq) {
        if timeout_at(d, shared.progress.notified()).await.is_err() {
            let r = shared.round(seq);
            eprintln!(
                "sio-load: broadcast {seq}: {} of {} receivers, acked: {}, after {:?}",
                r.count,
                shared.expected.get(),
                r.acked.is_some(),
                args.round_timeout
            );
            break;
        }
    }
    Ok(())
}

async fn send(w: &mut wsx::WriteHalf<RxStream>, frame: String) -> Result<(), Error> {
    w.send(Message::text(frame))
        .await
        .map_err(|e| format!("publisher write: {e}"))
}

/// The broadcast payload: 10 digits of sequence number, then dots up to `size` bytes.
fn payload(seq: u64, size: usize) -> String {
    let mut s = format!("{seq:010}");
    s.extend(std::iter::repeat_n('.', size.saturating_sub(s.len())));
    s
}

/// The sequence number of an Engine.IO message that is exactly `42["msg","<payload>"]` with
/// nothing to unescape in the payload: what every server sends for what the driver sends, read
/// without a JSON parse (the driver's one thread must keep up with the fastest server). `None`
/// for anything else, which then goes through the full decoders (and gives the same answer for
/// this shape).
pub(crate) fn fast_msg_seq(text: &str) -> Option<u64> {
    let rest = text.strip_prefix("42[\"msg\",\"")?.strip_suffix("\"]")?;
    let b = rest.as_bytes();
    // No quote or backslash inside: one plain JSON string (memchr's SIMD scan, so that a
    // 1 KiB payload costs the driver little more than a 100 B one). Raw control characters,
    // which JSON forbids and no server sends, are not looked for.
    if b.len() < 10 || memchr::memchr2(b'"', b'\\', b).is_some() {
        return None;
    }
    b[..10].iter().try_fold(0u64, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0'))
    })
}

/// The sequence number in a `msg` payload.
pub(crate) fn parse_seq(p: &str) -> Option<u64> {
    p.get(..10)?.parse().ok()
}

async fn connect_with_retries(
    server: std::net::SocketAddr,
    src: Option<IpAddr>,
    limit: Duration,
    clock: &RxClock,
) -> Result<Ws, Error> {
    let mut last = String::new();
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
        }
        match tokio::time::timeout(limit, conn::open(server, src, clock)).await {
            Ok(Ok((ws, _))) => return Ok(ws),
            Ok(Err(e)) => last = e,
            Err(_) => last = format!("handshake took over {limit:?}"),
        }
    }
    Err(last)
}

async fn poll_with_retries(
    server: std::net::SocketAddr,
    src: Option<IpAddr>,
    limit: Duration,
    clock: &RxClock,
) -> Result<poll::Poll, Error> {
    let mut last = String::new();
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
        }
        match tokio::time::timeout(limit, poll::open(server, src, clock.clone())).await {
            Ok(Ok((p, _))) => return Ok(p),
            Ok(Err(e)) => last = e,
            Err(_) => last = format!("polling handshake took over {limit:?}"),
        }
    }
    Err(last)
}

/// A receiver: answers Engine.IO pings, checks and records every `msg`.
async fn receive(id: usize, mut ws: Ws, clock: &RxClock, shared: &Shared) {
    let mut decoder = socketio::Decoder::new();
    while let Some(msg) = ws.recv().await {
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let now = clock.instant();
        if let Some(seq) = fast_msg_seq(&text) {
            shared.on_msg(id, seq, now);
            continue;
        }
        match engineio::Packet::decode_text(&text) {
            Ok(engineio::Packet::Ping(_)) => {
                if ws.send(Message::text("3")).await.is_err() {
                    break;
                }
            }
            Ok(engineio::Packet::Message(m)) => {
                let seq = match decoder.decode_text(&m) {
                    Ok(Some(p)) if p.event_name() == Some("msg") => p
                        .payload()
                        .and_then(|pl| pl.args.get(1))
                        .and_then(|v| v.as_str())
                        .and_then(parse_seq),
                    _ => None,
                };
                match seq {
                    Some(seq) => shared.on_msg(id, seq, now),
                    None => shared.unexpected.set(shared.unexpected.get() + 1),
                }
            }
            Ok(engineio::Packet::Close) => break,
            _ => shared.unexpected.set(shared.unexpected.get() + 1),
        }
    }
}

/// The publisher's read side: pings, acks (and its own copies of the broadcasts, ignored).
async fn publisher_reader(
    mut rh: wsx::ReadHalf<RxStream>,
    sender: wsx::Sender,
    clock: &RxClock,
    shared: &Shared,
) {
    let mut decoder = socketio::Decoder::new();
    while let Some(msg) = rh.recv().await {
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let now = clock.instant();
        match engineio::Packet::decode_text(&text) {
            Ok(engineio::Packet::Ping(_)) => {
                sender.send(Message::text("3"));
            }
            Ok(engineio::Packet::Message(m)) => match decoder.decode_text(&m) {
                Ok(Some(p)) => match &p.data {
                    socketio::PacketData::Ack {
                        id: ECHO_ID,
                        payload,
                    } => {
                        let echoed = payload.args.first().and_then(|v| v.as_str());
                        *shared.echo.borrow_mut() =
                            Some(echoed.unwrap_or("<not a string>").to_owned());
                        shared.progress.notify_one();
                    }
                    socketio::PacketData::Ack { id, .. } => shared.on_ack(id - 1, now),
                    socketio::PacketData::Event { .. } if p.event_name() == Some("msg") => {}
                    _ => shared.unexpected.set(shared.unexpected.get() + 1),
                },
                _ => shared.unexpected.set(shared.unexpected.get() + 1),
            },
            Ok(engineio::Packet::Close) => break,
            _ => shared.unexpected.set(shared.unexpected.get() + 1),
        }
    }
    eprintln!("sio-load: the publisher's connection closed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_path_agrees_with_the_decoders() {
        let full = |text: &str| -> Option<u64> {
            let engineio::Packet::Message(m) = engineio::Packet::decode_text(text).ok()? else {
                return None;
            };
            let p = socketio::Decoder::new().decode_text(&m).ok()??;
            if p.event_name() != Some("msg") {
                return None;
            }
            p.payload()?.args.get(1)?.as_str().and_then(parse_seq)
        };
        let good = format!("42[\"msg\",\"{}\"]", payload(1234, 100));
        assert_eq!(fast_msg_seq(&good), Some(1234));
        assert_eq!(full(&good), Some(1234));
        // Shapes the fast path leaves to the decoders.
        for text in [
            "42[\"msg\",\"0000000007\\u002e\"]",
            "42[\"msg\",\"0000000007\",1]",
            "42/chat,[\"msg\",\"0000000007\"]",
            "42[\"msg\",\"000000007\"]",
            "42[\"other\",\"0000000007\"]",
            "2",
        ] {
            assert_eq!(fast_msg_seq(text), None, "{text}");
        }
        assert_eq!(full("42[\"msg\",\"0000000007\\u002e\"]"), Some(7));
    }
}
