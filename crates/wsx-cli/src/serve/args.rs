//! `wsx serve`'s command-line options.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::values::{parse_duration, parse_size};

/// `wsx serve` options. Each can also be set from a `WSX_*` environment variable (shown by
/// `--help`; a flag wins over its variable), as containers and service managers set them.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(
        long,
        short = 'l',
        default_value = "127.0.0.1:8080",
        env = "WSX_LISTEN"
    )]
    pub listen: SocketAddr,
    /// Serve files from this directory (before the embedded demo page).
    #[arg(long = "static", value_name = "DIR", env = "WSX_STATIC")]
    pub static_dir: Option<PathBuf>,
    /// TLS certificate chain (PEM); with --tls-key, serves https:// and wss://.
    #[arg(long, requires = "tls_key", value_name = "FILE", env = "WSX_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert", value_name = "FILE", env = "WSX_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Largest message accepted; larger ones close the connection with 1009.
    #[arg(long, default_value = "16MiB", value_parser = parse_size, env = "WSX_MAX_PAYLOAD")]
    pub max_payload: usize,
    /// Ping clients this often and drop those that do not answer (0 disables).
    #[arg(long, default_value = "30s", value_parser = parse_duration, env = "WSX_HEARTBEAT")]
    pub heartbeat: Duration,
    /// Most WebSocket connections at once; more get 503.
    #[arg(long, default_value_t = 10_000, env = "WSX_MAX_CONNECTIONS")]
    pub max_connections: usize,
    /// Allowed Origin for WebSocket upgrades (repeatable); others get 403. Default: any.
    #[arg(
        long = "origin",
        value_name = "ORIGIN",
        env = "WSX_ORIGINS",
        value_delimiter = ','
    )]
    pub origins: Vec<String>,
    /// Do not accept permessage-deflate.
    #[arg(long)]
    pub no_deflate: bool,
    /// How long a graceful shutdown waits for WebSocket clients: for what they sent to be
    /// answered, then for them to close.
    #[arg(long, default_value = "5s", value_parser = parse_duration, env = "WSX_SHUTDOWN_TIMEOUT")]
    pub shutdown_timeout: Duration,
    /// Scale out: share chat rooms, presence, history and live comments with the other
    /// `wsx serve` processes on this Redis (redis://host:port/).
    #[arg(long, value_name = "URL", env = "WSX_REDIS")]
    pub redis: Option<String>,
    /// The Socket.IO cluster adapter over --redis: classic (Pub/Sub, like
    /// @socket.io/redis-adapter), sharded (SPUBLISH, needs a Redis Cluster) or streams.
    #[arg(long, value_enum, default_value_t = RedisAdapterKind::Classic, requires = "redis", env = "WSX_REDIS_ADAPTER")]
    pub redis_adapter: RedisAdapterKind,
    /// With --redis: how soon the chat members of a process that died (stopped refreshing its
    /// heartbeat) disappear from the other processes' presence.
    #[arg(long, default_value = "10s", value_parser = parse_duration, requires = "redis")]
    pub redis_presence_ttl: Duration,
    /// One memory budget for what all connections hold (WebSocket, Socket.IO and Yjs read
    /// buffers, messages being received, send and polling queues): near it the server stops
    /// reading, past it it closes the connections that hold the most (1013). Default: half of
    /// the memory available (the machine's, or the cgroup's limit).
    #[arg(long, value_parser = parse_size, value_name = "SIZE", env = "WSX_MEMORY_BUDGET")]
    pub memory_budget: Option<usize>,
    /// Where collaborative documents (`/yjs/<room>`, the pad) are stored; created if missing.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "wsx-data",
        env = "WSX_DATA_DIR"
    )]
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
