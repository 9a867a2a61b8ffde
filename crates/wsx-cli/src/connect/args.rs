//! `wsx connect`'s command-line options.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::render::BinaryAs;
use crate::values::{parse_duration, parse_size};

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
    #[arg(long, value_name = "FILE", env = "WSX_CA")]
    pub ca: Option<PathBuf>,
    /// Client certificate chain (PEM), for servers that ask for one (mutual TLS); with --key.
    #[arg(long, value_name = "FILE", requires = "key", env = "WSX_CERT")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert", env = "WSX_KEY")]
    pub key: Option<PathBuf>,
    /// Go through this proxy: http://[USER:PASS@]HOST:PORT (CONNECT), socks5://… or
    /// socks5h://… (the proxy resolves names). Without it, https_proxy, http_proxy, all_proxy
    /// and no_proxy are read as curl reads them.
    #[arg(long, value_name = "URL", env = "WSX_PROXY")]
    pub proxy: Option<String>,
    /// Connect directly, whatever --proxy (WSX_PROXY) or the proxy variables of the
    /// environment say.
    #[arg(long)]
    pub no_proxy: bool,
    /// HTTP Basic authentication (the Authorization header); credentials in the URL
    /// (ws://user:pass@host/) do the same.
    #[arg(long, value_name = "USER:PASSWORD")]
    pub auth: Option<String>,
    /// The Host header to send instead of the URL's host and port.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
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
    /// Send this text message once connected (repeatable, in order), then close and exit
    /// instead of reading stdin (after --wait, or once replies stop coming: --linger).
    #[arg(short = 'x', long = "execute", value_name = "MESSAGE")]
    pub execute: Vec<String>,
    /// With -x: wait exactly this long after sending, printing what arrives, then close.
    #[arg(short = 'w', long, value_parser = parse_duration, requires = "execute")]
    pub wait: Option<Duration>,
    /// Show pings and pongs (in pipe mode on stderr, as "< ping DATA"); the interactive
    /// prompt always shows them.
    #[arg(short = 'P', long)]
    pub show_ping_pong: bool,
    /// Send a ping this often (0: never); the server's pongs show with -P.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub ping_interval: Option<Duration>,
    /// Drop the connection when this long passes after a ping of --ping-interval without a
    /// pong arriving ("no pong within …" on stderr, exit status 3; with --reconnect, connect
    /// again). Both modes.
    #[arg(
        long,
        value_parser = parse_duration,
        value_name = "DURATION",
        requires = "ping_interval"
    )]
    pub ping_timeout: Option<Duration>,
    /// Send at most this many messages (stdin lines, or -x messages), then stop reading stdin
    /// and finish as at its end (--linger, then close with 1000). Pipe mode or -x: refused
    /// at the interactive prompt.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_messages: Option<u64>,
    /// Once this many received messages (text or binary; not pings) have been printed, close
    /// with 1000 and exit with status 0; what arrives after the last is not printed. With
    /// --reconnect the count goes on over the connections. Both modes.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_messages_rev: Option<u64>,
    /// Only send (stdin → WebSocket): received messages are not printed (pings and pongs,
    /// errors and the close still are), and at the end of stdin the client closes at once
    /// (no --linger: no replies to wait for). Both modes.
    #[arg(
        short = 'u',
        long,
        conflicts_with_all = ["unidirectional_reverse", "max_messages_rev"]
    )]
    pub unidirectional: bool,
    /// Only receive (WebSocket → stdout): stdin is not read and nothing is sent; the
    /// connection stays open until the server closes it, Ctrl-C or --max-messages-rev. The
    /// pipe mode's output even on a terminal (there is nothing to type).
    #[arg(short = 'U', long, conflicts_with_all = ["execute", "max_messages"])]
    pub unidirectional_reverse: bool,
    /// Pipe mode: messages are separated by NUL bytes instead of newlines, on stdin (no
    /// `\r` is removed) and on stdout (each received message is followed by a NUL), so that a
    /// message may contain newlines; --json events stay one per line. Refused at the
    /// interactive prompt.
    #[arg(short = '0', long)]
    pub null_terminated: bool,
    /// Pipe mode: how a received binary message is written.
    #[arg(long, value_enum, default_value_t = BinaryAs::Base64, value_name = "FORM")]
    pub binary: BinaryAs,
    /// No colors in interactive mode (as NO_COLOR=1 or TERM=dumb).
    #[arg(long)]
    pub no_color: bool,
    /// Pipe mode: when the server ends the connection or it is lost, connect again, waiting
    /// 250 ms, then twice as long each failed attempt (up to --reconnect-max-delay, with
    /// jitter); stdin lines wait meanwhile. Ends with stdin, Ctrl-C or a closed stdout.
    #[arg(long)]
    pub reconnect: bool,
    /// The longest wait between two attempts of --reconnect.
    #[arg(long, default_value = "30s", value_parser = parse_duration, requires = "reconnect")]
    pub reconnect_max_delay: Duration,
    /// Pipe mode: once stdin ends, wait until nothing has arrived for this long before closing,
    /// so replies to the last lines are printed (at most 5 s in all; 0 closes at once).
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub linger: Duration,
}
