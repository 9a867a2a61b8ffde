//! `wsx`: a ready WebSocket server with a demo web app (`serve`), an interactive client
//! (`connect`) and a load generator (`bench`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

mod bench;
mod connect;
mod serve;

#[derive(Parser, Debug)]
#[command(
    name = "wsx",
    version,
    about = "WebSocket server, client and load generator"
)]
struct Cli {
    /// Log level (error, warn, info, debug, trace) or a RUST_LOG-style filter; RUST_LOG is
    /// used when this is not given.
    #[arg(long, global = true)]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the demo web app (chat with rooms, live comments), /echo, /metrics and /healthz.
    Serve(ServeArgs),
    /// Connect to a WebSocket server: type lines to send them, see what arrives.
    #[command(after_help = connect::AFTER_HELP)]
    Connect(ConnectArgs),
    /// Load-test an echo server and report throughput and latency.
    Bench(BenchArgs),
}

/// Parses a duration like `30s`, `500ms`, `2m` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let v: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {s:?} (use ms, s, m or h)"
            ));
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a size like `20`, `1KiB`, `16k`, `1MiB`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, unit) = t
        .find(|c: char| !c.is_ascii_digit())
        .map_or((t.as_str(), ""), |i| (&t[..i], &t[i..]));
    let n: usize = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let mul = match unit {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        _ => return Err(format!("invalid size unit in {s:?} (use B, KiB or MiB)")),
    };
    n.checked_mul(mul)
        .ok_or_else(|| format!("size {s:?} too large"))
}

/// `wsx serve` options.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, short = 'l', default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Serve files from this directory (before the embedded demo page).
    #[arg(long = "static", value_name = "DIR")]
    pub static_dir: Option<PathBuf>,
    /// TLS certificate chain (PEM); with --tls-key, serves https:// and wss://.
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Largest message accepted; larger ones close the connection with 1009.
    #[arg(long, default_value = "16MiB", value_parser = parse_size)]
    pub max_payload: usize,
    /// Ping clients this often and drop those that do not answer (0 disables).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub heartbeat: Duration,
    /// Most WebSocket connections at once; more get 503.
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,
    /// Allowed Origin for WebSocket upgrades (repeatable); others get 403. Default: any.
    #[arg(long = "origin", value_name = "ORIGIN")]
    pub origins: Vec<String>,
    /// Do not accept permessage-deflate.
    #[arg(long)]
    pub no_deflate: bool,
    /// How long a graceful shutdown waits for WebSocket clients: for what they sent to be
    /// answered, then for them to close.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    /// Scale out: share chat rooms, presence, history and live comments with the other
    /// `wsx serve` processes on this Redis (redis://host:port/).
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// The Socket.IO cluster adapter over --redis: classic (Pub/Sub, like
    /// @socket.io/redis-adapter), sharded (SPUBLISH, needs a Redis Cluster) or streams.
    #[arg(long, value_enum, default_value_t = RedisAdapterKind::Classic, requires = "redis")]
    pub redis_adapter: RedisAdapterKind,
    /// With --redis: how soon the chat members of a process that died (stopped refreshing its
    /// heartbeat) disappear from the other processes' presence.
    #[arg(long, default_value = "10s", value_parser = parse_duration, requires = "redis")]
    pub redis_presence_ttl: Duration,
    /// One memory budget for what all connections hold (WebSocket, Socket.IO and Yjs read
    /// buffers, messages being received, send and polling queues): near it the server stops
    /// reading, past it it closes the connections that hold the most (1013). Default: half of
    /// the memory available (the machine's, or the cgroup's limit).
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub memory_budget: Option<usize>,
    /// Where collaborative documents (`/yjs/<room>`, the pad) are stored; created if missing.
    #[arg(long, value_name = "DIR", default_value = "wsx-data")]
    pub data_dir: PathBuf,
}

/// The Socket.IO cluster adapter of `wsx serve --redis`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisAdapterKind {
    /// Redis Pub/Sub (`@socket.io/redis-adapter`'s `createAdapter`).
    Classic,
    /// Redis 7 sharded Pub/Sub on a Redis Cluster (`createShardedAdapter`).
    Sharded,
    /// Redis Streams (`@socket.io/redis-streams-adapter`).
    Streams,
}

/// `wsx connect` options.
#[derive(Args, Debug, Clone)]
pub struct ConnectArgs {
    /// The ws:// or wss:// URL.
    pub url: String,
    /// Extra request header "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Subprotocol to offer (repeatable).
    #[arg(long = "protocol", short = 'p')]
    pub protocols: Vec<String>,
    /// Origin header.
    #[arg(long, short = 'o')]
    pub origin: Option<String>,
    /// Accept any TLS certificate (testing only).
    #[arg(long, short = 'k')]
    pub insecure: bool,
    /// Trust this CA certificate (PEM) instead of the web roots.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Do not offer permessage-deflate.
    #[arg(long)]
    pub no_deflate: bool,
    /// Follow up to this many redirects.
    #[arg(long, default_value_t = 5)]
    pub max_redirects: usize,
    /// Deadline for connecting and the handshake.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,
    /// Largest message accepted.
    #[arg(long, default_value = "64MiB", value_parser = parse_size)]
    pub max_payload: usize,
    /// Print every event as a JSON line.
    #[arg(long)]
    pub json: bool,
    /// Pipe mode: once stdin ends, wait until nothing has arrived for this long before closing,
    /// so replies to the last lines are printed (at most 5 s in all; 0 closes at once).
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub linger: Duration,
}

/// `wsx bench` options.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// The ws:// or wss:// URL of an echo server.
    pub url: String,
    /// Connections.
    #[arg(short = 'c', long, default_value_t = 100)]
    pub connections: usize,
    /// Payload size per message.
    #[arg(short = 's', long, default_value = "20", value_parser = parse_size)]
    pub size: usize,
    /// Measured duration.
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Warm-up before measuring.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Open loop: send this many messages per second in total, whatever the replies.
    /// Without it, each connection sends its next message when the echo arrives.
    #[arg(long)]
    pub rate: Option<u64>,
    /// Messages in flight per connection in closed-loop mode.
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// Send binary messages (default: text).
    #[arg(long)]
    pub binary: bool,
    /// Broadcast benchmark: the first connection publishes, keeping --pipeline broadcasts in
    /// flight; the others only receive and check every message. The server must send each
    /// message to every client but its sender (`wsx-echo --fanout`). Reports deliveries.
    #[arg(long)]
    pub fanout: bool,
    /// Offer permessage-deflate.
    #[arg(long)]
    pub deflate: bool,
    /// Accept any TLS certificate.
    #[arg(long, short = 'k')]
    pub insecure: bool,
    /// Print the final report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: the number of CPUs).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Send nothing: open the connections, hold them idle this long, close them (for
    /// measuring a server's memory per idle connection).
    #[arg(long, value_parser = parse_duration, conflicts_with = "rate")]
    pub idle: Option<Duration>,
    /// Connect from these local addresses, round-robin (ws:// only), e.g.
    /// 127.0.0.2-127.0.0.40 or 127.0.0.2,127.0.0.3: one address has ~28,000 ports.
    #[arg(long, value_name = "ADDRS")]
    pub source: Option<String>,
    /// Also report this server process's CPU time per message (Linux, /proc/PID/stat).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
}

fn init_logging(level: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(l) => EnvFilter::try_new(l).unwrap_or_else(|_| EnvFilter::new("info")),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log.as_deref());
    let threads = match &cli.command {
        Command::Bench(b) => b.threads,
        _ => None,
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(t) = threads {
        rt.worker_threads(t.max(1));
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wsx: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        match cli.command {
            Command::Serve(a) => serve::run(a).await,
            Command::Connect(a) => connect::run(a).await,
            Command::Bench(a) => bench::run(a).await,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("3x").is_err());
        assert_eq!(parse_size("16KiB").unwrap(), 16384);
        assert_eq!(parse_size("1m").unwrap(), 1 << 20);
        assert_eq!(parse_size("20").unwrap(), 20);
        assert!(parse_size("1q").is_err());
    }
}
