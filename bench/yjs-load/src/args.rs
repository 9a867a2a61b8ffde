//! Command-line options of the driver, parsed by hand (no dependency for a dozen flags).

use std::net::SocketAddr;
use std::time::Duration;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One keystroke at a time to N clients: time from the send to the first and last client.
    Latency,
    /// Keystrokes pipelined (a window of un-delivered ones): deliveries per second.
    Throughput,
    /// R rooms with one client each: server memory per open document (and its client).
    Rooms,
    /// Writes `--history` keystrokes to a room and waits for their echoes (for `coldopen`).
    Prepare,
    /// One client opens a room written by `prepare` (after a server restart): time to the
    /// whole document.
    Coldopen,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Latency => "latency",
            Mode::Throughput => "throughput",
            Mode::Rooms => "rooms",
            Mode::Prepare => "prepare",
            Mode::Coldopen => "coldopen",
        }
    }
}

/// Every knob, with its default.
#[derive(Debug, Clone)]
pub struct Args {
    pub server: SocketAddr,
    /// What comes before the room name in the URL path: `/yjs/` for wsx, `/` for y-websocket.
    pub prefix: String,
    /// The room (latency, throughput, prepare, coldopen) or the rooms' name prefix (rooms).
    pub room: String,
    pub receivers: usize,
    pub mode: Mode,
    pub rounds: usize,
    pub warmup: usize,
    pub messages: usize,
    pub duration: Duration,
    pub window: usize,
    pub rooms: usize,
    pub history: usize,
    /// Rooms mode: every client in one room, syncing only (the memory of a client alone).
    pub shared: bool,
    pub concurrency: usize,
    pub sources: usize,
    pub round_timeout: Duration,
    pub connect_timeout: Duration,
    pub deadline: Duration,
    pub settle: Duration,
    pub gap: Duration,
    pub server_pid: Option<u32>,
    /// Time deliveries by the kernel's receive timestamps (else by `Instant::now()`).
    pub kernel_clock: bool,
    pub label: String,
}

pub const USAGE: &str = "\
usage: yjs-load [options] HOST:PORT

Yjs over the y-websocket protocol (binary frames of y-protocols messages: sync step 1 and 2,
updates, awareness) against a server with rooms at ws://HOST:PORT<prefix><room>: wsx serve
(--prefix /yjs/) or y-websocket's server (--prefix /). Every client does the initial sync as
the y-websocket client does (sends SyncStep1, answers the server's SyncStep1 with SyncStep2).
The writer holds a yrs document with a Y.Text \"t\" and types one character per keystroke (a
transaction, an update message of a few bytes); every client identifies each update it gets by
its writer and clock range, and checks it got every keystroke once and in order.

Modes:
  latency     N receivers and the writer in one room, one keystroke at a time (each waits
              until every receiver has the previous one): time from the writer's send to the
              first and to the last receiver
  throughput  the same, at most --window keystrokes not yet at every receiver: deliveries/s
              and, with --server-pid, the server's CPU time per delivery
  rooms       --rooms rooms with one client each; each syncs, types one small edit and waits
              for its echo; the server's RSS before and after, per room. With --shared, as
              many clients in one room, which only sync: the memory of a client alone, so
              that a room's less a client's is a document's
  prepare     the writer types --history keystrokes into --room (pipelined, --window at once)
              and waits until all are echoed back
  coldopen    one client opens --room (restart the server after prepare) and waits until its
              copy of the document holds --history characters: time to SyncStep2 and to the
              whole document

  -m, --mode MODE         latency | throughput | rooms | prepare | coldopen (default latency)
      --prefix P          URL path before the room name (default /yjs/)
      --room NAME         the room, or the rooms' name prefix (default bench-<pid>)
  -n, --receivers N       latency, throughput: receiving clients (default 1000)
  -r, --rounds K          latency: measured keystrokes (default 200)
      --warmup W          keystrokes sent one at a time before measuring (default 5)
      --messages M        throughput: keystrokes to send at most (default 1000000)
      --duration SECS     throughput: stop sending after this long (default 10)
      --window W          throughput, prepare: most keystrokes in flight (default 32)
  -R, --rooms R           rooms: rooms, one client each (default 10000)
  -H, --history H         prepare, coldopen: keystrokes of history (default 100000)
      --shared            rooms: every client in room <room>-0, syncing only
      --concurrency C     connections being opened at once (default 256)
      --sources S         spread clients over source addresses 127.0.0.1..127.0.0.S (default 4)
      --round-timeout S   a keystroke not delivered everywhere by then is abandoned (default 10)
      --connect-timeout S all clients connected and synced by then, or abort (default 120)
      --deadline S        the whole run, hard (default 600)
      --settle S          pause after connecting, before the idle RSS (default 1; rooms: 3)
      --gap-ms MS         latency: pause between keystrokes (default 5)
      --clock C           when a delivery counts as received: kernel (the socket's receive
                          timestamp, SO_TIMESTAMPNS) | driver (default kernel)
      --server-pid PID    read the server's CPU time and RSS from /proc at phase boundaries
      --label NAME        subject name carried into the JSON line
  -h, --help
";

fn secs(v: &str) -> Result<Duration, String> {
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("not a number of seconds: {v:?}"))
}

fn count(v: &str) -> Result<usize, String> {
    let v = v.replace(['_', ','], "");
    let (num, mult) = match v.strip_suffix(['k', 'K']) {
        Some(n) => (n, 1000),
        None => (v.as_str(), 1),
    };
    num.parse::<usize>()
        .map(|n| n * mult)
        .map_err(|_| format!("not a count: {v:?}"))
}

impl Args {
    /// Parses `std::env::args()`; `Err` holds the message to print (the usage for `--help`).
    pub fn parse() -> Result<Args, String> {
        let mut a = Args {
            server: SocketAddr::from(([127, 0, 0, 1], 1234)),
            prefix: "/yjs/".into(),
            room: format!("bench-{}", std::process::id()),
            receivers: 1000,
            mode: Mode::Latency,
            rounds: 200,
            warmup: 5,
            messages: 1_000_000,
            duration: Duration::from_secs(10),
            window: 32,
            rooms: 10_000,
            history: 100_000,
            shared: false,
            concurrency: 256,
            sources: 4,
            round_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(120),
            deadline: Duration::from_secs(600),
            settle: Duration::from_secs(1),
            gap: Duration::from_millis(5),
            server_pid: None,
            kernel_clock: true,
            label: String::new(),
        };
        let mut settle = None;
        let mut server = None;
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            if flag == "-h" || flag == "--help" {
                return Err(USAGE.to_owned());
            }
            if flag == "--shared" {
                a.shared = true;
                continue;
            }
            if !flag.starts_with('-') {
                let addr = flag
                    .parse::<SocketAddr>()
                    .map_err(|e| format!("HOST:PORT {flag:?}: {e}"))?;
                server = Some(addr);
                continue;
            }
            let v = it
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))?;
            match flag.as_str() {
                "-m" | "--mode" => {
                    a.mode = match v.as_str() {
                        "latency" => Mode::Latency,
                        "throughput" => Mode::Throughput,
                        "rooms" => Mode::Rooms,
                        "prepare" => Mode::Prepare,
                        "coldopen" => Mode::Coldopen,
                        _ => return Err(format!("unknown mode {v:?}")),
                    }
                }
                "--prefix" => {
                    if !v.starts_with('/') {
                        return Err(format!("--prefix must start with /: {v:?}"));
                    }
                    a.prefix = v
                }
                "--room" => a.room = v,
                "-n" | "--receivers" => a.receivers = count(&v)?,
                "-r" | "--rounds" => a.rounds = count(&v)?,
                "--warmup" => a.warmup = count(&v)?,
                "--messages" => a.messages = count(&v)?,
                "--duration" => a.duration = secs(&v)?,
                "--window" => a.window = count(&v)?.max(1),
                "-R" | "--rooms" => a.rooms = count(&v)?,
                "-H" | "--history" => a.history = count(&v)?,
                "--concurrency" => a.concurrency = count(&v)?.max(1),
                "--sources" => a.sources = count(&v)?.clamp(1, 254),
                "--round-timeout" => a.round_timeout = secs(&v)?,
                "--connect-timeout" => a.connect_timeout = secs(&v)?,
                "--deadline" => a.deadline = secs(&v)?,
                "--settle" => settle = Some(secs(&v)?),
                "--gap-ms" => a.gap = Duration::from_millis(count(&v)? as u64),
                "--server-pid" => {
                    a.server_pid = Some(v.parse().map_err(|_| format!("bad pid {v:?}"))?)
                }
                "--label" => a.label = v,
                "--clock" => {
                    a.kernel_clock = match v.as_str() {
                        "kernel" => true,
                        "driver" => false,
                        _ => return Err(format!("unknown clock {v:?}")),
                    }
                }
                _ => return Err(format!("unknown option {flag}\n\n{USAGE}")),
            }
        }
        a.server = server.ok_or_else(|| format!("missing HOST:PORT\n\n{USAGE}"))?;
        a.settle = settle.unwrap_or(if a.mode == Mode::Rooms {
            Duration::from_secs(3)
        } else {
            Duration::from_secs(1)
        });
        if a.receivers == 0 || a.rooms == 0 || a.history == 0 {
            return Err("--receivers, --rooms and --history must be at least 1".into());
        }
        Ok(a)
    }

    /// A receive clock for a new connection.
    pub fn clock(&self) -> crate::rxstream::RxClock {
        if self.kernel_clock {
            crate::rxstream::RxClock::kernel()
        } else {
            crate::rxstream::RxClock::driver()
        }
    }

    /// The URL path of `room`.
    pub fn path(&self, room: &str) -> String {
        format!("{}{room}", self.prefix)
    }

    /// Connections the mode opens (what the open-file limit must allow).
    pub fn connections(&self) -> usize {
        match self.mode {
            Mode::Latency | Mode::Throughput => self.receivers + 1,
            Mode::Rooms => self.rooms,
            Mode::Prepare | Mode::Coldopen => 1,
        }
    }
}
