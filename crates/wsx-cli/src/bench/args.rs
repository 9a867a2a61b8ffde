//! `wsx bench`'s command-line options.

use std::time::Duration;

use clap::Args;

use crate::values::{parse_duration, parse_size};

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
    #[arg(long, short = 'k', conflicts_with = "ca")]
    pub insecure: bool,
    /// Trust this CA certificate (PEM) instead of the web roots.
    #[arg(long, value_name = "FILE", env = "WSX_CA")]
    pub ca: Option<std::path::PathBuf>,
    /// Extra request header "Name: value" (repeatable), as `wsx connect -H`.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Subprotocol to offer (repeatable).
    #[arg(long = "protocol")]
    pub protocols: Vec<String>,
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
    /// WebSockets over HTTP/2 (RFC 8441), N per connection: `ws://` as `h2c` with prior
    /// knowledge, `wss://` with ALPN `h2` (for comparing with one TCP connection each).
    #[arg(long, value_name = "N", conflicts_with = "source", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub http2: Option<u32>,
    /// Also report this server process's CPU time per message (Linux, /proc/PID/stat).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
}
