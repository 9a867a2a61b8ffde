//! `yjs-load`: a load driver for Yjs document servers speaking the y-websocket protocol.
//!
//! Clients connect to `ws://HOST:PORT<prefix><room>` (wsx serve: `/yjs/<room>`; y-websocket's
//! server: `/<room>`) and do the initial sync as the y-websocket client does: send SyncStep1
//! with their (empty) state vector, answer the server's SyncStep1 with SyncStep2, and count as
//! synced once the server's SyncStep2 is in. Messages are read and written with yrs' own types
//! (`yrs::sync::Message`, `yrs::Update`).
//!
//! - latency: N receivers and one writer in one room. The writer holds a yrs document with a
//!   Y.Text `t` and types one character per keystroke (one transaction, one update message of
//!   a few dozen bytes); one keystroke at a time, each sent when every receiver has the
//!   previous one: time from the writer's send to the first and to the last receiver.
//! - throughput: the same with at most `--window` keystrokes not yet at every receiver:
//!   deliveries per second until the last receiver has the last keystroke.
//! - rooms: R rooms with one client each; each syncs, types a small edit and waits for the
//!   server's echo of it; the server's RSS before and after, per room.
//! - prepare / coldopen: write a room's history of H keystrokes; after a server restart, one
//!   client opens it: time to SyncStep2 and until its copy holds the whole text.
//!
//! Every client identifies every update it gets by the writer's client id and clock range
//! (decoded by yrs), and checks it got each keystroke exactly once and in order: lost,
//! reordered and duplicated must all be 0. Both servers send an update back to its sender too;
//! the writer checks its echoes the same way. Everything runs on one thread (a current-thread
//! runtime, one small task per connection), so the driver's CPU time, which it prints, is one
//! core's worth at most. With `--server-pid` it reads the server's CPU time and RSS at the
//! phase boundaries. It prints a table, then one JSON line.

mod args;
mod conn;
mod proto;
mod report;
// Shared with sio-load: kernel receive timestamps, and /proc readings.
#[allow(dead_code)]
#[path = "../../sio-load/src/rxstream.rs"]
mod rxstream;
mod state;
#[allow(dead_code)]
#[path = "../../sio-load/src/sysstat.rs"]
mod sysstat;

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};
use tokio::time::timeout_at;
use wsx::Message;

use crate::args::{Args, Mode};
use crate::conn::{Error, Ws};
use crate::proto::In;
use crate::report::{ColdOpen, Fanout, Prepared, ProcPhases, Rooms};
use crate::rxstream::{RxClock, RxStream};
use crate::state::Shared;
use crate::sysstat::Proc;

fn main() {
    let args = match Args::parse() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(if msg == args::USAGE { 0 } else { 2 });
        }
    };
    let nofile = sysstat::raise_nofile();
    let need = args.connections() as u64 + 64;
    if nofile < need {
        eprintln!(
            "yjs-load: {} connections need about {need} open files, the limit is {nofile}: run `ulimit -n 65536` (or as high as `ulimit -Hn` allows) first",
            args.connections()
        );
        std::process::exit(2);
    }
    if let Some((lo, hi)) = sysstat::ephemeral_ports() {
        let ports = (hi.saturating_sub(lo) + 1) as usize;
        let per_source = args.connections().div_ceil(args.sources);
        if per_source + 16 > ports {
            eprintln!(
                "yjs-load: {per_source} connections per source address exceed the {ports} ephemeral ports ({lo}-{hi}): use more --sources"
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
            eprintln!("yjs-load: runtime: {e}");
            std::process::exit(2);
        }
    };
    let local = tokio::task::LocalSet::new();
    let deadline = tokio::time::Instant::now() + args.deadline;
    let code = local.block_on(&rt, async {
        let run = async {
            match args.mode {
                Mode::Latency | Mode::Throughput => fanout(&args).await,
                Mode::Rooms => rooms(&args).await,
                Mode::Prepare => prepare(&args).await,
                Mode::Coldopen => coldopen(&args).await,
            }
        };
        match timeout_at(deadline, run).await {
            Ok(Ok(true)) => 0,
            Ok(Ok(false)) => 1,
            Ok(Err(e)) => {
                eprintln!("yjs-load: {e}");
                2
            }
            Err(_) => {
                eprintln!(
                    "yjs-load: the whole run exceeded --deadline {:?}",
                    args.deadline
                );
                3
            }
        }
    });
    // Thousands of sockets: let the kernel close them rather than a graceful close each.
    std::process::exit(code);
}

/// The source address of client `id`: 127.0.0.1 .. 127.0.0.S in turn.
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

/// A fresh 53-bit Yjs client id for this run (`salt` tells apart the ids of one run).
fn client_id(salt: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let id = (u64::from(std::process::id()) << 30 ^ nanos << 14 ^ salt) & ((1 << 53) - 1);
    id.max(1)
}

fn server_proc(args: &Args) -> Option<Proc> {
    args.server_pid.and_then(Proc::read)
}

/// Waits until `done()` or `progress` stays silent until `deadline`; whether `done()`.
async fn wait_for(
    shared: &Shared,
    deadline: tokio::time::Instant,
    done: impl Fn() -> bool,
) -> bool {
    while !done() {
        if timeout_at(deadline, shared.progress.notified())
            .await
            .is_err()
        {
            return done();
        }
    }
    true
}

/// Latency and throughput: N receivers and the writer in one room.
async fn fanout(args: &Args) -> Result<bool, Error> {
    let shared = Rc::new(Shared::new(args.receivers));
    let mut writer = proto::Writer::new(client_id(0));
    shared.writer.set(writer.client_id());
    let path = args.path(&args.room);
    let proc_start = server_proc(args);
    let cpu0 = sysstat::self_cpu();
    let t0 = Instant::now();

    // Receivers, at most `concurrency` of them handshaking at once.
    let sem = Rc::new(Semaphore::new(args.concurrency));
    for id in 0..args.receivers {
        let (shared, sem) = (shared.clone(), sem.clone());
        let (server, src, path) = (args.server, source(args, id), path.clone());
        let connect_timeout = args.connect_timeout;
        let clock = args.clock();
        tokio::task::spawn_local(async move {
            let ws = {
                let Ok(_permit) = sem.acquire().await else {
                    return;
                };
                match conn::open_with_retries(server, src, &path, connect_timeout, &clock).await {
                    Ok(ws) => ws,
                    Err(e) => return shared.on_failed(e),
                }
            };
            shared.on_connected();
            receive(id, ws, &clock, &shared).await;
            shared.on_closed();
        });
    }
    wait_connected(args, &shared).await?;

    // The writer (it gets its own keystrokes back, which it checks too).
    let clock = args.clock();
    let ws = tokio::time::timeout(
        args.connect_timeout,
        conn::open(args.server, None, &path, &clock),
    )
    .await
    .map_err(|_| "writer: connect timed out".to_owned())??;
    let (mut write_half, synced) = start_writer(ws, &clock, &shared);
    conn_send(&mut write_half, proto::sync_step1_empty()).await?;
    tokio::time::timeout(args.connect_timeout, synced.notified())
        .await
        .map_err(|_| "writer: no SyncStep2 from the server".to_owned())?;
    let connect_time = t0.elapsed();

    tokio::time::sleep(args.settle).await;
    let proc_idle = server_proc(args);
    let cpu_connected = sysstat::self_cpu();
    shared.expected.set(shared.synced.get() as u32);

    // Warm-up: one at a time, checked but not measured.
    let mut k = 0usize;
    for _ in 0..args.warmup {
        one_keystroke(args, &shared, &mut write_half, &mut writer, k).await?;
        k += 1;
    }
    let deliveries0 = shared.deliveries.get();
    let cpu_measure0 = sysstat::self_cpu();
    let proc_measure0 = server_proc(args);
    let first_measured = k;
    let measure_start = Instant::now();
    // Throughput: the most keystrokes sent and not yet everywhere at once (at most --window).
    let mut max_in_flight = 0u64;
    match args.mode {
        Mode::Latency => {
            for _ in 0..args.rounds {
                one_keystroke(args, &shared, &mut write_half, &mut writer, k).await?;
                k += 1;
                if !args.gap.is_zero() {
                    tokio::time::sleep(args.gap).await;
                }
            }
        }
        _ => {
            let stop_sending = measure_start + args.duration;
            while k < first_measured + args.messages && Instant::now() < stop_sending {
                let in_flight = k as u64 - shared.completed.get();
                if in_flight >= args.window as u64 {
                    let d = tokio::time::Instant::now() + args.round_timeout;
                    if timeout_at(d, shared.progress.notified()).await.is_err() {
                        eprintln!(
                            "yjs-load: no keystroke completed within --round-timeout, stopping"
                        );
                        break;
                    }
                    continue;
                }
                let frame = writer.keystroke();
                shared.mark_sent(k, Instant::now());
                conn_send(&mut write_half, frame).await?;
                k += 1;
                max_in_flight = max_in_flight.max(k as u64 - shared.completed.get());
            }
            // Until the last receiver has the last one (or the round timeout).
            let d = tokio::time::Instant::now() + args.round_timeout;
            let sent = k as u64;
            wait_for(&shared, d, || shared.completed.get() == sent).await;
        }
    }
    let measure_end = Instant::now();
    let cpu_measure1 = sysstat::self_cpu();
    let proc_measure1 = server_proc(args);
    let deliveries = shared.deliveries.get() - deliveries0;
    let sent = k as u64;
    // The writer's last echoes (they are not waited for in the measured phase).
    let d = tokio::time::Instant::now() + args.round_timeout;
    wait_for(&shared, d, || shared.echoes.get() == sent).await;
    let (check, echo_check) = shared.check(sent);

    let m = Fanout {
        args: args.clone(),
        connected: shared.synced.get(),
        closed: shared.closed.get(),
        connect_time,
        rounds: (first_measured..k).map(|s| shared.round(s)).collect(),
        sent,
        max_in_flight,
        measure_time: measure_end - measure_start,
        deliveries,
        check,
        echo_check,
        unexpected: shared.unexpected.get(),
        awareness: shared.awareness.get(),
        foreign: shared.foreign.get(),
        decoded: shared.cache.decoded(),
        driver_cpu_connect: cpu_connected.saturating_sub(cpu0),
        driver_cpu_measure: cpu_measure1.saturating_sub(cpu_measure0),
        server: args.server_pid.map(|pid| ProcPhases {
            pid,
            start: proc_start.unwrap_or_default(),
            idle: proc_idle.unwrap_or_default(),
            measure0: proc_measure0.unwrap_or_default(),
            measure1: proc_measure1.unwrap_or_default(),
        }),
    };
    Ok(report::fanout(&m))
}

/// Waits until every client has synced (or failed); an error if any failed or time ran out.
async fn wait_connected(args: &Args, shared: &Shared) -> Result<(), Error> {
    let connect_deadline = tokio::time::Instant::now() + args.connect_timeout;
    while shared.synced.get() + shared.failed.get() < shared.clients {
        if timeout_at(connect_deadline, shared.connect_done.notified())
            .await
            .is_err()
        {
            return Err(format!(
                "only {} of {} clients connected ({} synced) within {:?}",
                shared.connected.get(),
                shared.clients,
                shared.synced.get(),
                args.connect_timeout
            ));
        }
    }
    if shared.failed.get() > 0 {
        return Err(format!(
            "{} of {} clients failed to connect or sync; first error: {}",
            shared.failed.get(),
            shared.clients,
            shared.first_error.borrow().as_deref().unwrap_or("?")
        ));
    }
    Ok(())
}

/// Splits the writer's connection: its read half goes to a task that does the initial sync
/// and checks the echoes; returns the write half and what is notified once synced.
fn start_writer(
    ws: Ws,
    clock: &RxClock,
    shared: &Rc<Shared>,
) -> (wsx::WriteHalf<RxStream>, Rc<Notify>) {
    let sender = ws.sender();
    let (read_half, write_half) = ws.split();
    let synced = Rc::new(Notify::new());
    let (shared, clock, synced2) = (shared.clone(), clock.clone(), synced.clone());
    tokio::task::spawn_local(async move {
        writer_reader(read_half, sender, &clock, &shared, &synced2).await;
    });
    (write_half, synced)
}

/// Sends keystroke `k` alone and waits until every receiver has it (or the round timeout
/// passes; the keystroke then counts as incomplete).
async fn one_keystroke(
    args: &Args,
    shared: &Shared,
    write_half: &mut wsx::WriteHalf<RxStream>,
    writer: &mut proto::Writer,
    k: usize,
) -> Result<(), Error> {
    let frame = writer.keystroke();
    shared.mark_sent(k, Instant::now());
    conn_send(write_half, frame).await?;
    let d = tokio::time::Instant::now() + args.round_timeout;
    if !wait_for(shared, d, || shared.complete(k)).await {
        let r = shared.round(k);
        eprintln!(
            "yjs-load: keystroke {k}: {} of {} receivers after {:?}",
            r.count,
            shared.expected.get(),
            args.round_timeout
        );
    }
    Ok(())
}

async fn conn_send(w: &mut wsx::WriteHalf<RxStream>, frame: bytes::Bytes) -> Result<(), Error> {
    w.send(Message::Binary(frame))
        .await
        .map_err(|e| format!("writer write: {e}"))
}

/// The next binary frame (pings are answered by wsx; anything else but a close is skipped).
async fn next_frame(ws: &mut Ws) -> Option<bytes::Bytes> {
    loop {
        match ws.recv().await? {
            Ok(Message::Binary(b)) => return Some(b),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// A receiver: does the initial sync, then checks and records every keystroke.
async fn receive(id: usize, mut ws: Ws, clock: &RxClock, shared: &Shared) {
    if let Err(e) = conn::send(&mut ws, proto::sync_step1_empty()).await {
        return shared.on_failed(e);
    }
    let mut synced = false;
    while let Some(frame) = next_frame(&mut ws).await {
        let now = clock.instant();
        if let Some(ins) = shared.cache.get(&frame) {
            shared.on_update(id, &ins, now);
            continue;
        }
        match proto::parse(&frame) {
            Ok(In::Update(u)) => match shared.cache.decode(&frame, &u) {
                Ok(ins) => shared.on_update(id, &ins, now),
                Err(_) => shared.bump_unexpected(),
            },
            Ok(In::Step1) => {
                if conn::send(&mut ws, proto::sync_step2(proto::EMPTY_UPDATE))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            // The room's content before the run (none in a fresh room): nothing to check.
            Ok(In::Step2(_)) if !synced => {
                synced = true;
                shared.on_synced();
            }
            Ok(In::Awareness) => shared.awareness.set(shared.awareness.get() + 1),
            _ => shared.bump_unexpected(),
        }
    }
    if !synced {
        shared.on_failed("the connection closed before the initial sync".into());
    }
}

/// The writer's read side: the initial sync, then its own keystrokes coming back.
async fn writer_reader(
    mut rh: wsx::ReadHalf<RxStream>,
    sender: wsx::Sender,
    clock: &RxClock,
    shared: &Shared,
    synced: &Notify,
) {
    let mut is_synced = false;
    while let Some(msg) = rh.recv().await {
        let frame = match msg {
            Ok(Message::Binary(b)) => b,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let now = clock.instant();
        if let Some(ins) = shared.cache.get(&frame) {
            shared.on_update(shared.writer_index(), &ins, now);
            continue;
        }
        match proto::parse(&frame) {
            Ok(In::Update(u)) => match shared.cache.decode(&frame, &u) {
                Ok(ins) => shared.on_update(shared.writer_index(), &ins, now),
                Err(_) => shared.bump_unexpected(),
            },
            Ok(In::Step1) => {
                sender.send(Message::Binary(proto::sync_step2(proto::EMPTY_UPDATE)));
            }
            Ok(In::Step2(_)) if !is_synced => {
                is_synced = true;
                synced.notify_one();
            }
            Ok(In::Awareness) => shared.awareness.set(shared.awareness.get() + 1),
            _ => shared.bump_unexpected(),
        }
    }
    eprintln!("yjs-load: the writer's connection closed");
}

/// Rooms: R rooms, one client each; each client syncs, sends one small edit of its own and
/// waits for the server to send it back (it is then applied and stored). The connections stay
/// open while the server's memory is read.
async fn rooms(args: &Args) -> Result<bool, Error> {
    let shared = Rc::new(Shared::new(args.rooms));
    let open_times: Rc<RefCell<Vec<Duration>>> = Rc::new(RefCell::new(Vec::new()));
    let base_id = client_id(0) & !((1 << 24) - 1);
    let proc_start = server_proc(args);
    let cpu0 = sysstat::self_cpu();
    let t0 = Instant::now();
    let sem = Rc::new(Semaphore::new(args.concurrency));
    for i in 0..args.rooms {
        let (shared, sem, open_times) = (shared.clone(), sem.clone(), open_times.clone());
        let (server, src) = (args.server, source(args, i));
        let path = args.path(&format!(
            "{}-{}",
            args.room,
            if args.shared { 0 } else { i }
        ));
        let shared_room = args.shared;
        let connect_timeout = args.connect_timeout;
        let clock = RxClock::driver();
        let me = base_id + i as u64 + 1;
        tokio::task::spawn_local(async move {
            let (ws, started) = {
                let Ok(_permit) = sem.acquire().await else {
                    return;
                };
                let started = Instant::now();
                match conn::open_with_retries(server, src, &path, connect_timeout, &clock).await {
                    Ok(ws) => (ws, started),
                    Err(e) => return shared.on_failed(e),
                }
            };
            shared.on_connected();
            room_client(ws, me, shared_room, started, &shared, &open_times).await;
            shared.on_closed();
        });
    }
    // `synced` counts the clients whose edit came back.
    let d = tokio::time::Instant::now() + args.connect_timeout;
    while shared.synced.get() + shared.failed.get() < args.rooms {
        if timeout_at(d, shared.connect_done.notified()).await.is_err() {
            break;
        }
    }
    let open_time = t0.elapsed();
    let proc_open = server_proc(args);
    let cpu_open = sysstat::self_cpu();
    tokio::time::sleep(args.settle).await;
    let proc_idle = server_proc(args);
    let m = Rooms {
        args: args.clone(),
        connected: shared.connected.get(),
        done: shared.synced.get(),
        failed: shared.failed.get(),
        first_error: shared.first_error.borrow().clone(),
        closed: shared.closed.get(),
        open_time,
        open_times: open_times.borrow().clone(),
        unexpected: shared.unexpected.get(),
        awareness: shared.awareness.get(),
        driver_cpu_open: cpu_open.saturating_sub(cpu0),
        server_start: proc_start,
        server_open: proc_open,
        server_idle: proc_idle,
    };
    Ok(report::rooms(&m))
}

/// One client of the rooms mode (client id `me`); with `sync_only`, done once synced.
async fn room_client(
    mut ws: Ws,
    me: u64,
    sync_only: bool,
    started: Instant,
    shared: &Shared,
    open_times: &RefCell<Vec<Duration>>,
) {
    if let Err(e) = conn::send(&mut ws, proto::sync_step1_empty()).await {
        return shared.on_failed(e);
    }
    let (mut edited, mut done) = (false, false);
    while let Some(frame) = next_frame(&mut ws).await {
        match proto::parse(&frame) {
            Ok(In::Step1) => {
                if conn::send(&mut ws, proto::sync_step2(proto::EMPTY_UPDATE))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Ok(In::Step2(_)) if !edited => {
                edited = true;
                if sync_only {
                    done = true;
                    open_times.borrow_mut().push(started.elapsed());
                    shared.on_synced();
                } else if conn::send(&mut ws, proto::small_edit(me)).await.is_err() {
                    break;
                }
            }
            Ok(In::Update(u)) if !done => match proto::insertions(&u) {
                Ok(ins) if ins == [(me, 0..5)] => {
                    done = true;
                    open_times.borrow_mut().push(started.elapsed());
                    shared.on_synced();
                }
                _ => shared.bump_unexpected(),
            },
            Ok(In::Awareness) => shared.awareness.set(shared.awareness.get() + 1),
            _ => shared.bump_unexpected(),
        }
    }
    if !done {
        shared.on_failed("the connection closed before the edit came back".into());
    }
}

/// Prepare: the writer types `--history` keystrokes into `--room`, at most `--window` not yet
/// echoed, and waits for every echo (the server has then applied, and stored, each).
async fn prepare(args: &Args) -> Result<bool, Error> {
    let shared = Rc::new(Shared::new(0));
    let mut writer = proto::Writer::new(client_id(0));
    shared.writer.set(writer.client_id());
    let path = args.path(&args.room);
    let clock = RxClock::driver();
    let ws = tokio::time::timeout(
        args.connect_timeout,
        conn::open(args.server, None, &path, &clock),
    )
    .await
    .map_err(|_| "writer: connect timed out".to_owned())??;
    let (mut write_half, synced) = start_writer(ws, &clock, &shared);
    conn_send(&mut write_half, proto::sync_step1_empty()).await?;
    tokio::time::timeout(args.connect_timeout, synced.notified())
        .await
        .map_err(|_| "writer: no SyncStep2 from the server".to_owned())?;
    let proc0 = server_proc(args);
    let t0 = Instant::now();
    let h = args.history;
    let mut k = 0usize;
    while k < h {
        if k as u64 - shared.echoes.get() >= args.window as u64 {
            let d = tokio::time::Instant::now() + args.round_timeout;
            if timeout_at(d, shared.progress.notified()).await.is_err() {
                eprintln!("yjs-load: no echo within --round-timeout, stopping");
                break;
            }
            continue;
        }
        let frame = writer.keystroke();
        shared.mark_sent(k, Instant::now());
        conn_send(&mut write_half, frame).await?;
        k += 1;
    }
    let d = tokio::time::Instant::now() + args.round_timeout;
    let sent = k as u64;
    wait_for(&shared, d, || shared.echoes.get() == sent).await;
    let elapsed = t0.elapsed();
    let proc1 = server_proc(args);
    let (_, echo) = shared.check(h as u64);
    let echo_times: Vec<Duration> = (0..k)
        .filter_map(|i| {
            let r = shared.round(i);
            Some(r.echo?.saturating_duration_since(r.sent?))
        })
        .collect();
    let _ = write_half.close(wsx::CloseCode::NORMAL, "").await;
    let m = Prepared {
        args: args.clone(),
        sent,
        echoed: shared.echoes.get(),
        check: echo,
        unexpected: shared.unexpected.get(),
        elapsed,
        echo_times,
        server: args.server_pid.zip(proc0).zip(proc1),
    };
    Ok(report::prepared(&m))
}

/// Cold open: one client opens a room with `--history` keystrokes of history in the store
/// (the server restarted since `prepare`), and applies what it gets until its copy holds the
/// whole text.
async fn coldopen(args: &Args) -> Result<bool, Error> {
    let path = args.path(&args.room);
    let clock = RxClock::driver();
    let proc0 = server_proc(args);
    let t0 = Instant::now();
    let mut ws = tokio::time::timeout(
        args.connect_timeout,
        conn::open(args.server, None, &path, &clock),
    )
    .await
    .map_err(|_| "connect timed out".to_owned())??;
    let connected = t0.elapsed();
    conn::send(&mut ws, proto::sync_step1_empty()).await?;
    let replica = proto::Replica::default();
    let expected = args.history as u32;
    let (mut step1, mut step2, mut complete) = (None, None, None);
    let (mut messages, mut bytes, mut step2_bytes, mut unexpected) = (0u64, 0u64, 0u64, 0u64);
    let deadline = tokio::time::Instant::now() + args.connect_timeout;
    let mut error = None;
    while complete.is_none() {
        let Ok(frame) = timeout_at(deadline, next_frame(&mut ws)).await else {
            error = Some(format!(
                "the document was not whole after {:?}",
                args.connect_timeout
            ));
            break;
        };
        let Some(frame) = frame else {
            error = Some("the connection closed".into());
            break;
        };
        messages += 1;
        bytes += frame.len() as u64;
        let update = match proto::parse(&frame) {
            Ok(In::Step1) => {
                step1.get_or_insert(t0.elapsed());
                conn::send(&mut ws, proto::sync_step2(proto::EMPTY_UPDATE)).await?;
                continue;
            }
            Ok(In::Step2(u)) => {
                step2.get_or_insert(t0.elapsed());
                step2_bytes = frame.len() as u64;
                u
            }
            Ok(In::Update(u)) => u,
            _ => {
                unexpected += 1;
                continue;
            }
        };
        replica.apply(&update)?;
        if replica.text_len() >= expected {
            complete = Some(t0.elapsed());
        }
    }
    let whole = replica.text_is_typed(expected);
    let proc1 = server_proc(args);
    let m = ColdOpen {
        args: args.clone(),
        connected,
        step1,
        step2,
        complete,
        content_len: replica.text_len(),
        whole,
        messages,
        bytes,
        step2_bytes,
        unexpected,
        error,
        server: args.server_pid.zip(proc0).zip(proc1),
    };
    Ok(report::coldopen(&m))
}
