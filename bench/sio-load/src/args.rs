//! Command-line options of the driver, parsed by hand (no dependency for a dozen flags).

use std::net::SocketAddr;
use std::time::Duration;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One `bcast` at a time: time to the first and to the last receiver.
    Latency,
    /// `bcast`s pipelined (a window of un-acked ones): deliveries per second.
    Throughput,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Latency => "latency",
            Mode::Throughput => "throughput",
        }
    }
}

/// How the receivers connect (the publisher always uses a websocket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `transport=websocket`, directly (no polling first).
    Websocket,
    /// `transport=polling`: HTTP long-polling, never upgraded.
    Polling,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Websocket => "websocket",
            Transport::Polling => "polling",
        }
    }
}

/// Every knob, with its default.
#[derive(Debug, Clone)]
pub struct Args {
    pub server: SocketAddr,
    pub receivers: usize,
    pub mode: Mode,
    pub transport: Transport,
    pub size: usize,
    pub rounds: usize,
    pub warmup: usize,
    pub messages: usize,
    pub duration: Duration,
    pub window: usize,
    pub concurrency: usize,
    pub sources: usize,
    pub round_timeout: Duration,
    pub connect_timeout: Duration,
    pub deadline: Duration,
    pub settle: Duration,
    pub gap: Duration,
    pub server_pid: Option<u32>,
    /// A second server (a node of the same cluster): the odd-numbered receivers connect there.
    pub receivers_at: Option<SocketAddr>,
    /// The second server's pid, read as `server_pid` is.
    pub server_pid2: Option<u32>,
    /// Time deliveries by the kernel's receive timestamps (else by `Instant::now()`).
    pub kernel_clock: bool,
    pub label: String,
}

pub const USAGE: &str = "\
usage: sio-load [options] HOST:PORT

Socket.IO v5 / Engine.IO v4 broadcast load: the receivers over the websocket transport
(ws://HOST:PORT/socket.io/?EIO=4&transport=websocket) or HTTP long-polling
(/socket.io/?EIO=4&transport=polling, never upgraded), the publisher over a websocket.
The server must put every socket in
room `bench`, answer `bcast` (payload, ack) by emitting `msg` to the room then acking, and
`echo` (payload, ack) by acking with the payload.

  -n, --receivers N       receiver connections (default 1000)
  -m, --mode MODE         latency | throughput (default latency)
  -t, --transport T       the receivers': websocket | polling (default websocket)
  -s, --size BYTES        payload string length, e.g. 100 or 1k (default 100)
  -r, --rounds K          latency: measured broadcasts, one at a time (default 50)
      --warmup W          broadcasts sent one at a time before measuring (default 5)
      --messages M        throughput: broadcasts to send at most (default 1000)
      --duration SECS     throughput: stop sending after this long (default 10)
      --window W          throughput: most un-acked broadcasts (default 32)
      --concurrency C     connections being opened at once (default 256)
      --sources S         spread receivers over source addresses 127.0.0.1..127.0.0.S (default 4)
      --round-timeout S   a broadcast not delivered everywhere by then is abandoned (default 10)
      --connect-timeout S all receivers connected by then, or abort (default 120)
      --deadline S        the whole run, hard (default 600)
      --settle S          pause after connecting, before the idle RSS (default 1)
      --gap-ms MS         latency: pause between rounds (default 5)
      --clock C           when a delivery counts as received: kernel (the socket's receive
                          timestamp, SO_TIMESTAMPNS) | driver (when the driver read it)
                          (default kernel)
      --server-pid PID    read the server's CPU time and RSS from /proc at phase boundaries
      --receivers-at ADDR a second server, another node of the same cluster (e.g. Socket.IO
                          over Redis): every second receiver connects there, the publisher and
                          the other receivers to HOST:PORT; the table adds the deliveries/s
                          that crossed to the second node
      --server-pid2 PID   as --server-pid, for the server at --receivers-at
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
    let (num, mult) = match v.strip_suffix(['k', 'K']) {
        Some(n) => (n, 1024),
        None => (v, 1),
    };
    num.parse::<usize>()
        .map(|n| n * mult)
        .map_err(|_| format!("not a count: {v:?}"))
}

impl Args {
    /// Parses `std::env::args()`; `Err` holds the message to print (the usage for `--help`).
    pub fn parse() -> Result<Args, String> {
        let mut a = Args {
            server: SocketAddr::from(([127, 0, 0, 1], 3000)),
            receivers: 1000,
            mode: Mode::Latency,
            transport: Transport::Websocket,
            size: 100,
            rounds: 50,
            warmup: 5,
            messages: 1000,
            duration: Duration::from_secs(10),
            window: 32,
            concurrency: 256,
            sources: 4,
            round_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(120),
            deadline: Duration::from_secs(600),
            settle: Duration::from_secs(1),
            gap: Duration::from_millis(5),
            server_pid: None,
            receivers_at: None,
            server_pid2: None,
            kernel_clock: true,
            label: String::new(),
        };
        let mut server = None;
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            if flag == "-h" || flag == "--help" {
                return Err(USAGE.to_owned());
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
                "-n" | "--receivers" => a.receivers = count(&v)?,
                "-m" | "--mode" => {
                    a.mode = match v.as_str() {
                        "latency" => Mode::Latency,
                        "throughput" => Mode::Throughput,
                        _ => return Err(format!("unknown mode {v:?}")),
                    }
                }
                "-t" | "--transport" => {
                    a.transport = match v.as_str() {
                        "websocket" | "ws" => Transport::Websocket,
                        "polling" => Transport::Polling,
                        _ => return Err(format!("unknown transport {v:?}")),
                    }
                }
                "-s" | "--size" => a.size = count(&v)?,
                "-r" | "--rounds" => a.rounds = count(&v)?,
                "--warmup" => a.warmup = count(&v)?,
                "--messages" => a.messages = count(&v)?,
                "--duration" => a.duration = secs(&v)?,
                "--window" => a.window = count(&v)?.max(1),
                "--concurrency" => a.concurrency = count(&v)?.max(1),
                "--sources" => a.sources = count(&v)?.clamp(1, 254),
                "--round-timeout" => a.round_timeout = secs(&v)?,
                "--connect-timeout" => a.connect_timeout = secs(&v)?,
                "--deadline" => a.deadline = secs(&v)?,
                "--settle" => a.settle = secs(&v)?,
                "--gap-ms" => a.gap = Duration::from_millis(count(&v)? as u64),
                "--server-pid" => {
                    a.server_pid = Some(v.parse().map_err(|_| format!("bad pid {v:?}"))?)
                }
                "--receivers-at" => {
                    a.receivers_at = Some(
                        v.parse::<SocketAddr>()
                            .map_err(|e| format!("--receivers-at {v:?}: {e}"))?,
                    )
                }
                "--server-pid2" => {
                    a.server_pid2 = Some(v.parse().map_err(|_| format!("bad pid {v:?}"))?)
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
        if a.receivers == 0 {
            return Err("--receivers must be at least 1".into());
        }
        if a.size < 10 {
            return Err("--size must be at least 10 (the sequence number)".into());
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

    /// The server receiver `id` connects to (every second one to `--receivers-at`, if given).
    pub fn receiver_server(&self, id: usize) -> SocketAddr {
        match self.receivers_at {
            Some(second) if id % 2 == 1 => second,
            _ => self.server,
        }
    }

    /// How many receivers connect to `--receivers-at` (0 without it).
    pub fn remote_receivers(&self) -> usize {
        if self.receivers_at.is_some() {
            self.receivers / 2
        } else {
            0
        }
    }

    /// How many broadcasts the run sends at most (warm-up included).
    pub fn max_broadcasts(&self) -> usize {
        self.warmup
            + match self.mode {
                Mode::Latency => self.rounds,
                Mode::Throughput => self.messages,
            }
    }
}
