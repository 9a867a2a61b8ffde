//! `wsx connect`: a WebSocket client for people and for scripts.
//!
//! # Modes
//!
//! - **Interactive** (stdin and stdout are terminals): a prompt with line editing and history.
//!   A typed line is sent as a text message; what arrives is printed above the prompt with its
//!   direction and time (`< 12:03:04.123 hello`, `< 12:03:04.123 [binary 12 bytes] 0001ff…`,
//!   `< … ping`, `< … pong`), and the session ends with `closed: 1000 (reason)`. Slash
//!   commands: `/ping [data]`, `/binary <hex|base64>` (hex when the argument is valid hex,
//!   else base64), `/close [code] [reason]`, `/quit` (also Ctrl-D and Ctrl-C), `/help`. A line
//!   starting with `//` sends the text with one `/` removed; empty lines are not sent. Text
//!   from the server is shown with control characters escaped, so it cannot drive the
//!   terminal.
//! - **Pipe** (stdin or stdout is not a terminal): each stdin line is one text message (the
//!   line ending, `\n` or `\r\n`, removed; empty lines are sent as empty messages; a line that
//!   is not UTF-8 is sent as a binary message with a warning). Lines are sent verbatim: there
//!   are no slash commands, so a script can send text starting with `/`. Each received text
//!   message is written to stdout as is, followed by a newline; each binary message as one
//!   line of base64 (`--binary hex`: of hex; `--binary raw`: its bytes, then a newline). With
//!   `-P`, pings and pongs are shown on stderr (`< pong 3`). No prompt, no colors; errors go
//!   to stderr. At the end of stdin the client
//!   closes with 1000, waits (a few seconds at most) for the server's close and exits. If the
//!   server closes first, the client exits at once.
//! - **`--reconnect`** (pipe mode): when the server ends the connection or it is lost, a new
//!   one is made after 250 ms, then twice as long after each connection shorter than 5 s (up
//!   to `--reconnect-max-delay`, a fifth of jitter); stdin lines wait meanwhile, and a line
//!   the ending connection refused is sent on the next. `--json` reports each wait as a
//!   `reconnecting` event (`attempt`, `delay_ms`). Ends as pipe mode ends: end of stdin,
//!   Ctrl-C (also during a wait), or stdout closed.
//! - **`-x MESSAGE`** (repeatable): sends those text messages instead of reading stdin, then
//!   waits `-w DURATION` exactly (or, without it, for replies to stop coming, as at the end of
//!   stdin) and closes with 1000; the output is pipe mode's.
//! - **`-0`** (pipe mode only): NUL bytes separate the messages instead of newlines, on stdin
//!   and on stdout, so that a message may hold newlines (`--json` events stay lines).
//! - **`-u`** (either mode): only send; received messages are not printed, and the end of
//!   stdin closes at once (no lingering for replies). **`-U`**: only receive; stdin is not
//!   read, the connection lasts until the server closes it, Ctrl-C or `--max-messages-rev`;
//!   the output is pipe mode's, even on a terminal.
//! - **`--max-messages N`** (pipe mode, `-x`): after N messages sent, stdin is no longer read
//!   and the session ends as at the end of stdin. **`--max-messages-rev N`** (either mode):
//!   once N received messages are printed, the client closes with 1000 and exits with 0
//!   (with `--reconnect`, N over all the connections).
//! - **`--json`** (either mode): every event is one JSON object per stdout line: `open`
//!   (`url`, `protocol`, `extensions`), `message` (`type` `text` or `binary`, `data`, base64
//!   for binary), `ping`/`pong` (`data` in base64), `close` (`code`, `reason`, `initiator`,
//!   `clean`) and `error` (`message`); each has a `time` (RFC 3339, local time).
//!
//! # Exit status
//!
//! - `0`: the connection closed normally: we closed it (end of stdin, `/quit`, `/close`,
//!   Ctrl-C, stdout closed) and the server answered, or the server closed with 1000, 1001 or
//!   no status code.
//! - `1`: no connection: the server is unreachable (DNS, refused, timeout), TLS failed, or the
//!   server refused the upgrade (`wsx: server refused the upgrade: 404 Not Found`).
//! - `2`: bad usage: an unknown flag, an invalid URL, a malformed `-H` header, an unreadable
//!   `--ca` file.
//! - `3`: the connection ended abnormally: the server closed with another code (printed on
//!   stderr), the connection was lost without a close frame (1006), a protocol error, the
//!   server did not answer our close in time, or a ping got no pong within `--ping-timeout`
//!   (`no pong within 5s of a ping`; `--reconnect` then connects again).

mod args;
mod interactive;
pub(crate) mod parse;
mod ping;
mod render;

pub use args::ConnectArgs;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wsx::{ClientBuilder, CloseCode, DeflateConfig, MaybeTlsStream, Message, WriteHalf};

use self::interactive::{Input, Prompt};
use self::parse::{Command, Header};
use self::render::{Event, Mode, Printer, Sink};

/// `--help` text on exit statuses and modes.
pub const AFTER_HELP: &str = "\
Interactive when stdin and stdout are terminals (type /help at the prompt); otherwise each
stdin line is sent as a text message and each received text message is printed as one line
(binary as base64). At end of input the connection is closed with 1000.

Exit status:
  0  closed normally (1000, 1001 or no status from the server, or closed by us)
  1  could not connect (unreachable, DNS, TLS, upgrade refused by the server)
  2  bad usage (unknown flag, invalid URL, malformed -H header)
  3  closed abnormally (other close code, connection lost, protocol error,
     no pong within --ping-timeout)";

const EXIT_OK: u8 = 0;
const EXIT_CONNECT: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_ABNORMAL: u8 = 3;

/// How long the server has to answer our close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);
/// After the server's close frame, how long to wait for it to close TCP.
const LINGER: Duration = Duration::from_secs(2);

const HELP: &str = "\
Type a line and press Enter to send it as a text message.
  /ping [data]            send a ping (the server's answer shows as \"< pong\")
  /binary <hex|base64>    send a binary message (hex if it is valid hex, else base64)
  /close [code] [reason]  close with a code (default 1000: 1000-1003, 1007-1014, 3000-4999)
  /quit                   close with 1000 and exit (also Ctrl-D or Ctrl-C)
  /help                   this help
  //text                  send \"/text\" (a message that starts with /)
Empty lines are not sent. Up and Down browse the history, Ctrl-R searches it.";

/// Runs the client.
pub async fn run(args: ConnectArgs) -> ExitCode {
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let (builder, url) = match prepare(&args) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("wsx: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // -x and -U read no stdin: the pipe mode's output, even on a terminal.
    let interactive = interactive && args.execute.is_empty() && !args.unidirectional_reverse;
    if args.reconnect && (interactive || !args.execute.is_empty()) {
        eprintln!(
            "wsx: --reconnect works in pipe mode (stdin or stdout not a terminal), without -x"
        );
        return ExitCode::from(EXIT_USAGE);
    }
    if interactive && args.null_terminated {
        eprintln!(
            "wsx: -0/--null-terminated works in pipe mode (stdin or stdout not a terminal), \
             where messages are separated by NUL bytes"
        );
        return ExitCode::from(EXIT_USAGE);
    }
    if interactive && args.max_messages.is_some() {
        eprintln!(
            "wsx: --max-messages counts stdin lines: it works in pipe mode (stdin or stdout not \
             a terminal) or with -x"
        );
        return ExitCode::from(EXIT_USAGE);
    }
    if interactive && !args.json {
        eprintln!("connecting to {url} …");
    }
    if args.reconnect {
        return ExitCode::from(reconnecting_session(&args, builder, &url).await);
    }
    let ws = match builder.connect().await {
        Ok((ws, _response)) => ws,
        Err(e) => {
            tracing::debug!("connect failed: {e:?}");
            eprintln!("wsx: {}", describe_connect_error(&url, &e));
            return ExitCode::from(EXIT_CONNECT);
        }
    };
    let settings = Settings::new(&args, interactive);
    let code = if interactive {
        interactive_session(ws, &url, &settings).await
    } else {
        let (mut lines, wait) = Source::new(&args).open(&Printer::new(settings.mode, Sink::Std));
        pipe_session(ws, &url, &settings, &mut lines, wait, &mut None)
            .await
            .0
    };
    ExitCode::from(code)
}

/// How the sessions behave, from the options (the same for each connection of --reconnect).
#[derive(Debug, Clone)]
struct Settings {
    mode: Mode,
    /// `--linger` (none with -u: replies are not printed).
    linger: Duration,
    /// Print received messages (not with -u).
    show_received: bool,
    /// `--ping-interval` and `--ping-timeout`.
    ping: Option<ping::Schedule>,
    /// `--max-messages-rev`: received messages still to print before closing, counted over
    /// all the connections of --reconnect.
    left_to_print: Option<Arc<AtomicU64>>,
}

impl Settings {
    fn new(args: &ConnectArgs, interactive: bool) -> Self {
        Self {
            mode: output_mode(args, interactive),
            linger: if args.unidirectional {
                Duration::ZERO
            } else {
                args.linger
            },
            show_received: !args.unidirectional,
            ping: args
                .ping_interval
                .filter(|d| !d.is_zero())
                .map(|every| ping::Schedule {
                    every,
                    timeout: args.ping_timeout,
                }),
            left_to_print: args.max_messages_rev.map(|n| Arc::new(AtomicU64::new(n))),
        }
    }
}

fn output_mode(args: &ConnectArgs, interactive: bool) -> Mode {
    if args.json {
        Mode::Json
    } else if interactive {
        Mode::Human {
            color: !args.no_color
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map_or(true, |t| t != "dumb"),
        }
    } else {
        Mode::Plain {
            binary: args.binary,
            pings: args.show_ping_pong,
            nul: args.null_terminated,
        }
    }
}

/// The first wait of `--reconnect`.
const RECONNECT_FIRST: Duration = Duration::from_millis(250);
/// A connection that lasted this long starts the waits over.
const RECONNECT_RESET: Duration = Duration::from_secs(5);

/// `--reconnect`: pipe sessions one after another over the same stdin, until we end one
/// (stdin ended, Ctrl-C, stdout closed). Exits as the last session did.
async fn reconnecting_session(args: &ConnectArgs, builder: ClientBuilder, url: &str) -> u8 {
    let settings = Settings::new(args, false);
    let printer = Printer::new(settings.mode, Sink::Std);
    let (mut lines, _) = Source::new(args).open(&printer);
    let mut unsent = None;
    let mut delay = RECONNECT_FIRST;
    let mut attempt = 0u32;
    let mut interrupts = match Interrupts::new() {
        Ok(i) => Some(i),
        Err(e) => {
            tracing::debug!("Ctrl-C will not stop reconnecting cleanly: {e}");
            None
        }
    };
    loop {
        let started = tokio::time::Instant::now();
        let code = match builder.clone().connect().await {
            Ok((ws, _)) => {
                attempt = 0;
                let (code, ended_by_us) =
                    pipe_session(ws, url, &settings, &mut lines, None, &mut unsent).await;
                if ended_by_us {
                    return code;
                }
                if started.elapsed() >= RECONNECT_RESET {
                    delay = RECONNECT_FIRST;
                }
                code
            }
            Err(e) => {
                tracing::debug!("connect failed: {e:?}");
                let _ = printer.emit(&Event::Error(&describe_connect_error(url, &e)));
                EXIT_CONNECT
            }
        };
        attempt += 1;
        // Up to a fifth less, so that clients cut off together do not come back together.
        let jitter = delay.mul_f64(rand::random::<f64>() * 0.2);
        let wait = delay - jitter;
        let _ = printer.emit(&Event::Reconnecting {
            attempt,
            delay: wait,
        });
        let stop = async {
            match interrupts.as_mut() {
                Some(i) => i.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop => return code,
        }
        delay = (delay * 2).min(args.reconnect_max_delay.max(RECONNECT_FIRST));
    }
}

/// stdin lines, or `-x` messages, as they reach a pipe session.
type Lines = mpsc::Receiver<std::io::Result<Vec<u8>>>;

impl Source {
    /// Where the options say the messages come from.
    fn new(args: &ConnectArgs) -> Self {
        if args.unidirectional_reverse {
            return Source::Nothing;
        }
        if args.execute.is_empty() {
            return Source::Stdin {
                limit: args.max_messages,
                separator: if args.null_terminated { b'\0' } else { b'\n' },
            };
        }
        let mut messages = args.execute.clone();
        if let Some(n) = args.max_messages {
            messages.truncate(usize::try_from(n).unwrap_or(usize::MAX));
        }
        Source::Execute {
            messages,
            wait: args.wait,
        }
    }

    /// The lines, and how long to wait after the last (`-w`; `None`: until replies stop).
    fn open(self, printer: &Printer) -> (Lines, Option<Duration>) {
        match self {
            Source::Stdin { limit, separator } => match stdin_lines(limit, separator) {
                Ok(rx) => (rx, None),
                Err(e) => {
                    let _ = printer.emit(&Event::Error(&format!("cannot read stdin: {e}")));
                    (mpsc::channel(1).1, None)
                }
            },
            Source::Execute { messages, wait } => {
                let (tx, rx) = mpsc::channel(messages.len().max(1));
                for m in messages {
                    let _ = tx.try_send(Ok(m.into_bytes()));
                }
                (rx, wait)
            }
            Source::Nothing => {
                let (tx, rx) = mpsc::channel(1);
                // Held as long as the lines are, so that they never end.
                tokio::spawn(async move { tx.closed().await });
                (rx, None)
            }
        }
    }
}

/// Where pipe mode's messages come from.
enum Source {
    /// stdin, a line per message; only the first `limit` lines (`--max-messages`), after
    /// which stdin is no longer read. Lines end with `separator`: `\n` (`\r\n` too), or NUL
    /// (`-0`).
    Stdin { limit: Option<u64>, separator: u8 },
    /// `-x` messages; then `wait` exactly, or until replies stop coming.
    Execute {
        messages: Vec<String>,
        wait: Option<Duration>,
    },
    /// `-U`: nothing, and no end (stdin is not read).
    Nothing,
}

/// Checks the arguments and builds the client.
fn prepare(args: &ConnectArgs) -> Result<(ClientBuilder, String), String> {
    let url = parse::url(&args.url)?;
    if let Some(timeout) = args.ping_timeout {
        if args.ping_interval.is_some_and(|d| d.is_zero()) {
            return Err("--ping-timeout needs pings: --ping-interval 0 sends none".into());
        }
        if timeout.is_zero() {
            return Err("--ping-timeout 0: a pong cannot come back at once".into());
        }
    }
    let mut builder = ClientBuilder::new(url.as_str());
    for p in &args.protocols {
        parse::protocol(p)?;
        builder = builder.protocol(p.as_str());
    }
    let mut origin = args.origin.clone();
    for h in &args.headers {
        match parse::header(h)? {
            Header::Extra(name, value) => builder = builder.header(&name, &value),
            Header::Origin(o) => {
                if origin.as_ref().is_some_and(|prev| *prev != o) {
                    return Err("two different Origin headers (-H Origin and --origin)".into());
                }
                origin = Some(o);
            }
        }
    }
    if let Some(o) = origin {
        if http::HeaderValue::from_str(&o).is_err() {
            return Err(format!("invalid origin {o:?}"));
        }
        builder = builder.origin(o);
    }
    let trust = match (&args.ca, args.insecure) {
        (Some(_), true) => return Err("--ca and --insecure cannot be used together".into()),
        (Some(path), false) => wsx::tls::Trust::ca_file(path)
            .map_err(|e| format!("cannot use --ca {}: {}", path.display(), with_causes(&e)))?,
        (None, true) => {
            if url.starts_with("wss:") || url.starts_with("https:") {
                eprintln!("wsx: warning: --insecure: the server's certificate is not checked");
            }
            wsx::tls::Trust::Insecure
        }
        (None, false) => wsx::tls::Trust::WebPki,
    };
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        let identity = wsx::tls::Identity::from_pem_files(cert, key)
            .map_err(|e| format!("cannot use --cert/--key: {}", with_causes(&e)))?;
        builder = builder.identity(identity);
    }
    if args.no_proxy {
        builder = builder.no_proxy();
    } else if let Some(p) = &args.proxy {
        let proxy = wsx::Proxy::parse(p).map_err(|e| format!("invalid --proxy: {e}"))?;
        builder = builder.proxy(proxy);
    }
    if let Some(auth) = &args.auth {
        if args.headers.iter().any(|h| {
            h.trim_start()
                .to_ascii_lowercase()
                .starts_with("authorization:")
        }) {
            return Err("two Authorization headers (--auth and -H Authorization)".into());
        }
        let Some((user, password)) = auth.split_once(':') else {
            return Err(format!("invalid --auth {auth:?}: expected USER:PASSWORD"));
        };
        builder = builder.basic_auth(user, password);
    }
    if let Some(host) = &args.host {
        if host.is_empty() || http::HeaderValue::from_str(host).is_err() {
            return Err(format!("invalid --host {host:?}"));
        }
        builder = builder.host(host.as_str());
    }
    let mut opts = wsx::Options::default();
    opts.close_timeout = CLOSE_TIMEOUT;
    opts.config = wsx::Config::default().max_payload(args.max_payload);
    builder = builder
        .options(opts)
        .trust(trust)
        .deflate((!args.no_deflate).then(DeflateConfig::default))
        .max_redirects(args.max_redirects)
        .handshake_timeout(args.handshake_timeout);
    Ok((builder, url))
}

/// The message for a failed connection attempt.
fn describe_connect_error(url: &str, e: &wsx::Error) -> String {
    use wsx::{Error, HandshakeError};
    match e {
        Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            format!(
                "cannot connect to {url}: the server closed the connection during the handshake"
            )
        }
        Error::Io(io) => format!("cannot connect to {url}: {}", io_message(io)),
        Error::Handshake(HandshakeError::UnexpectedStatus { status, location }) => {
            let reason = http::StatusCode::from_u16(*status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .map_or(String::new(), |r| format!(" {r}"));
            let mut s = format!("server refused the upgrade: {status}{reason}");
            if let Some(loc) = location.as_ref().filter(|_| (300..400).contains(status)) {
                s.push_str(&format!(
                    " (redirect to {loc}; --max-redirects allows following it)"
                ));
            }
            s
        }
        Error::Handshake(h) => format!("WebSocket handshake with {url} failed: {h}"),
        Error::HandshakeTimeout(d) => format!(
            "cannot connect to {url}: no answer within {} (see --handshake-timeout)",
            human_duration(*d)
        ),
        Error::Tls { .. } => {
            let m = with_causes(e);
            let hint = if m.contains("certificate") || m.contains("UnknownIssuer") {
                " (--ca FILE trusts a private CA; --insecure skips the check for testing)"
            } else {
                ""
            };
            format!("TLS with {url} failed: {m}{hint}")
        }
        other => format!("cannot connect to {url}: {other}"),
    }
}

/// An error's message followed by its causes (`message: cause: cause`), each said once.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let said = cause.to_string();
        if !out.ends_with(&said) {
            out.push_str(": ");
            out.push_str(&said);
        }
        next = cause.source();
    }
    out
}

/// An I/O error without the `(os error 111)` tail.
fn io_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

fn human_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// How the connection ended.
#[derive(Debug)]
enum Ending {
    /// A closing handshake.
    Closed {
        code: Option<u16>,
        reason: String,
        by_us: bool,
    },
    /// Anything else.
    Failed { code: u16, message: String },
}

impl Ending {
    fn exit_code(&self) -> u8 {
        match self {
            Ending::Closed { code, by_us, .. } if render::is_normal_close(*code, *by_us) => EXIT_OK,
            _ => EXIT_ABNORMAL,
        }
    }

    fn event(&self) -> Event<'_> {
        match self {
            Ending::Closed {
                code,
                reason,
                by_us,
            } => Event::Closed {
                code: *code,
                reason,
                by_us: *by_us,
            },
            Ending::Failed { code, message } => Event::Failed {
                code: *code,
                message,
            },
        }
    }

    /// The stderr line of a non-interactive session that did not end well.
    fn summary(&self) -> String {
        match self {
            Ending::Closed { code, reason, .. } => {
                let code = code.map_or("no status code".to_owned(), |c| c.to_string());
                if reason.is_empty() {
                    format!("wsx: connection closed: {code}")
                } else {
                    format!("wsx: connection closed: {code} ({reason})")
                }
            }
            Ending::Failed { code, message } => {
                format!("wsx: connection closed abnormally: {code} ({message})")
            }
        }
    }
}

/// State shared by the session's tasks.
struct Shared {
    /// We started the closing handshake (so the server's close frame is its answer).
    closing: AtomicBool,
    /// Messages received so far (pipe mode lingers until this stops moving).
    received: AtomicU64,
    printer: Printer,
    /// `--ping-interval`: told of pongs; knows whether `--ping-timeout` dropped the connection.
    liveness: Option<Arc<ping::Liveness>>,
    /// `--max-messages-rev`: received messages still to print.
    left_to_print: Option<Arc<AtomicU64>>,
    /// Print received messages (not with -u).
    show_received: bool,
}

impl Shared {
    /// The state of a new session on `ws`; starts its pings.
    fn new(
        ws: &wsx::WebSocket<MaybeTlsStream>,
        settings: &Settings,
        printer: Printer,
    ) -> Arc<Self> {
        Arc::new(Self {
            closing: AtomicBool::new(false),
            received: AtomicU64::new(0),
            printer,
            liveness: settings.ping.map(|s| ping::start(ws.sender(), s)),
            left_to_print: settings.left_to_print.clone(),
            show_received: settings.show_received,
        })
    }

    /// Counts a printed message against `--max-messages-rev`: whether it was the last one
    /// wanted.
    fn printed_the_last(&self) -> bool {
        self.left_to_print.as_ref().is_some_and(|left| {
            left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok_and(|before| before == 1)
        })
    }

    /// How the connection ended when it failed with `e` (`None`: TCP ended without a close
    /// frame): a ping timeout if that was the cause.
    fn failed(&self, e: Option<&wsx::Error>) -> Ending {
        if let Some(t) = self.liveness.as_ref().and_then(|l| l.timed_out()) {
            return Ending::Failed {
                code: 1006,
                message: format!(
                    "no pong within {} of a ping (--ping-timeout)",
                    human_duration(t)
                ),
            };
        }
        match e {
            Some(e) => failure(e),
            None => Ending::Failed {
                code: 1006,
                message: "the connection was lost without a close frame".into(),
            },
        }
    }

    fn emit(&self, ev: &Event<'_>) {
        if let Err(e) = self.printer.emit(ev) {
            tracing::debug!("cannot print: {e}");
        }
    }
}

/// Reads the connection to its end, printing what arrives.
async fn read_loop(
    mut read: wsx::ReadHalf<MaybeTlsStream>,
    sender: wsx::Sender,
    shared: Arc<Shared>,
) -> Ending {
    let mut close: Option<(Option<u16>, String, bool)> = None;
    let mut printing = true;
    loop {
        let next = if close.is_some() {
            // The close frame is in; give the server a moment to close TCP, no more.
            tokio::time::timeout(LINGER, read.recv())
                .await
                .unwrap_or_default()
        } else {
            read.recv().await
        };
        match next {
            None => break,
            Some(Ok(Message::Close(frame))) => {
                let by_us = shared.closing.load(Ordering::SeqCst);
                close = Some(match frame {
                    Some(f) => (Some(f.code.0), f.reason.to_string(), by_us),
                    None => (None, String::new(), by_us),
                });
            }
            Some(Ok(msg)) => {
                shared.received.fetch_add(1, Ordering::SeqCst);
                if let (Message::Pong(_), Some(live)) = (&msg, &shared.liveness) {
                    live.pong();
                }
                if !printing || close.is_some() || (msg.is_data() && !shared.show_received) {
                    continue;
                }
                let enough = match shared.printer.emit(&Event::Received(&msg)) {
                    Ok(()) => msg.is_data() && shared.printed_the_last(),
                    Err(e) => {
                        // stdout is gone (`wsx connect … | head -1`).
                        tracing::debug!("stdout closed ({e}): closing the connection");
                        true
                    }
                };
                if enough {
                    // Say goodbye; what arrives meanwhile is not printed.
                    printing = false;
                    shared.closing.store(true, Ordering::SeqCst);
                    sender.close(CloseCode::NORMAL, "");
                }
            }
            Some(Err(e)) => {
                tracing::debug!("connection failed: {e:?}");
                if let Some((code, reason, by_us)) = close {
                    // The closing handshake is done; only the TCP shutdown went wrong.
                    return Ending::Closed {
                        code,
                        reason,
                        by_us,
                    };
                }
                return shared.failed(Some(&e));
            }
        }
    }
    match close {
        Some((code, reason, by_us)) => Ending::Closed {
            code,
            reason,
            by_us,
        },
        None => shared.failed(None),
    }
}

fn failure(e: &wsx::Error) -> Ending {
    use wsx::Error;
    let (code, message) = match e {
        Error::AbnormalClosure => (
            1006,
            "the connection was lost without a close frame".to_owned(),
        ),
        Error::Protocol(p) => (p.close_code().0, format!("protocol error: {p}")),
        Error::CloseTimeout(_) => (
            1006,
            format!(
                "the server did not answer the close within {}",
                human_duration(CLOSE_TIMEOUT)
            ),
        ),
        Error::Terminated(why) => (1006, (*why).to_owned()),
        Error::Io(io) => (1006, format!("connection error: {}", io_message(io))),
        other => (1006, other.to_string()),
    };
    Ending::Failed { code, message }
}

/// Starts our side of the closing handshake (once).
async fn start_close(
    write: &mut WriteHalf<MaybeTlsStream>,
    shared: &Shared,
    code: CloseCode,
    reason: &str,
) {
    if shared.closing.swap(true, Ordering::SeqCst) {
        return;
    }
    if let Err(e) = write.close(code, reason).await {
        tracing::debug!("close: {e}");
    }
}

/// Waits for the reader (bounded: the library's close timeout plus a margin).
async fn finish(reader: &mut JoinHandle<Ending>) -> Ending {
    let limit = CLOSE_TIMEOUT + LINGER + Duration::from_secs(1);
    match tokio::time::timeout(limit, reader).await {
        Ok(Ok(ending)) => ending,
        Ok(Err(e)) => Ending::Failed {
            code: 1006,
            message: format!("the reading task failed: {e}"),
        },
        Err(_) => Ending::Failed {
            code: 1006,
            message: format!(
                "the server did not answer the close within {}",
                human_duration(limit)
            ),
        },
    }
}

/// Ctrl-C (as a signal, outside the prompt): the first one closes with 1000, a second one
/// drops the connection. The handler is in place when this returns.
fn watch_ctrl_c(sender: wsx::Sender, shared: Arc<Shared>) {
    let mut interrupts = match Interrupts::new() {
        Ok(i) => i,
        Err(e) => {
            tracing::debug!("Ctrl-C will not close cleanly: {e}");
            return;
        }
    };
    tokio::spawn(async move {
        if !interrupts.next().await {
            return;
        }
        shared.closing.store(true, Ordering::SeqCst);
        sender.close(CloseCode::NORMAL, "");
        if interrupts.next().await {
            sender.terminate();
        }
    });
}

/// SIGINT, registered as soon as this exists (on Unix).
struct Interrupts {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Interrupts {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            #[cfg(unix)]
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?,
        })
    }

    /// The next Ctrl-C; `false` if none can come.
    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        return self.signal.recv().await.is_some();
        #[cfg(not(unix))]
        return tokio::signal::ctrl_c().await.is_ok();
    }
}

/// Non-interactive: stdin lines out, received messages to stdout.
/// Returns the exit status and whether we ended the connection (stdin ended, Ctrl-C, stdout
/// closed) rather than the server or the network.
async fn pipe_session(
    ws: wsx::WebSocket<MaybeTlsStream>,
    url: &str,
    settings: &Settings,
    lines: &mut Lines,
    exact_wait: Option<Duration>,
    unsent: &mut Option<Message>,
) -> (u8, bool) {
    let shared = Shared::new(&ws, settings, Printer::new(settings.mode, Sink::Std));
    let sender = ws.sender();
    watch_ctrl_c(sender.clone(), shared.clone());
    shared.emit(&Event::Open {
        url,
        protocol: ws.protocol(),
        extensions: ws.extensions(),
    });
    let (read, mut write) = ws.split();
    let mut reader = tokio::spawn(read_loop(read, sender, shared.clone()));
    if let Some(msg) = unsent.take()
        && let Err(e) = write.send(msg.clone()).await
    {
        tracing::debug!("send: {e}");
        *unsent = Some(msg);
    }
    let mut n = 0u64;
    let ending = loop {
        tokio::select! {
            ending = &mut reader => break ending.unwrap_or_else(|e| Ending::Failed {
                code: 1006,
                message: format!("the reading task failed: {e}"),
            }),
            line = lines.recv() => match line {
                Some(Ok(bytes)) => {
                    n += 1;
                    if shared.closing.load(Ordering::SeqCst) {
                        continue;
                    }
                    let msg = match String::from_utf8(bytes) {
                        Ok(s) => Message::text(s),
                        Err(e) => {
                            shared.emit(&Event::Error(&format!(
                                "stdin line {n} is not valid UTF-8: sent as a binary message"
                            )));
                            Message::Binary(Bytes::from(e.into_bytes()))
                        }
                    };
                    if let Err(e) = write.send(msg.clone()).await {
                        // The connection is ending; the reader reports how. The line is kept
                        // for the next connection (--reconnect).
                        tracing::debug!("send: {e}");
                        *unsent = Some(msg);
                    }
                }
                Some(Err(e)) => {
                    shared.emit(&Event::Error(&format!("cannot read stdin: {e}")));
                    start_close(&mut write, &shared, CloseCode::NORMAL, "").await;
                    break finish(&mut reader).await;
                }
                None => {
                    // Replies to the last lines may still be on their way: wait (-w), or for
                    // a quiet spell (bounded), unless the server ends the connection first.
                    let waited = match exact_wait {
                        Some(d) => tokio::time::timeout(d, &mut reader).await.ok().map(|r| {
                            r.unwrap_or_else(|e| Ending::Failed {
                                code: 1006,
                                message: format!("the reading task failed: {e}"),
                            })
                        }),
                        None => linger(&mut reader, &shared, settings.linger).await,
                    };
                    if let Some(ending) = waited {
                        break ending;
                    }
                    start_close(&mut write, &shared, CloseCode::NORMAL, "").await;
                    break finish(&mut reader).await;
                }
            },
        }
    };
    shared.emit(&ending.event());
    let code = ending.exit_code();
    if code != EXIT_OK {
        eprintln!("{}", ending.summary());
    }
    (code, shared.closing.load(Ordering::SeqCst))
}

/// Waits until no message has arrived for `quiet` (at most 5 s in all). Returns how the
/// connection ended if the server ended it meanwhile.
async fn linger(
    reader: &mut tokio::task::JoinHandle<Ending>,
    shared: &Shared,
    quiet: Duration,
) -> Option<Ending> {
    if quiet.is_zero() {
        return None;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let seen = shared.received.load(Ordering::SeqCst);
        let wake = (tokio::time::Instant::now() + quiet).min(deadline);
        tokio::select! {
            ending = &mut *reader => {
                return Some(ending.unwrap_or_else(|e| Ending::Failed {
                    code: 1006,
                    message: format!("the reading task failed: {e}"),
                }));
            }
            _ = tokio::time::sleep_until(wake) => {
                if shared.received.load(Ordering::SeqCst) == seen || tokio::time::Instant::now() >= deadline {
                    return None;
                }
            }
        }
    }
}

/// Reads stdin on a thread of its own (a blocked read cannot be cancelled, and the process
/// must be able to exit under it), one line at a time without its line ending (`separator`,
/// and a `\r` before a `\n`); after `limit` lines, the channel ends as at the end of stdin.
fn stdin_lines(
    limit: Option<u64>,
    separator: u8,
) -> std::io::Result<mpsc::Receiver<std::io::Result<Vec<u8>>>> {
    use std::io::BufRead;
    let (tx, rx) = mpsc::channel(64);
    std::thread::Builder::new()
        .name("wsx-stdin".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            let mut left = limit.unwrap_or(u64::MAX);
            while left > 0 {
                let mut line = Vec::new();
                match input.read_until(separator, &mut line) {
                    Ok(0) => return,
                    Ok(_) => {
                        if line.last() == Some(&separator) {
                            line.pop();
                            if separator == b'\n' && line.last() == Some(&b'\r') {
                                line.pop();
                            }
                        }
                        if tx.blocking_send(Ok(line)).is_err() {
                            return;
                        }
                        left -= 1;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        })?;
    Ok(rx)
}

/// Interactive: a prompt, slash commands, output above the prompt.
async fn interactive_session(
    ws: wsx::WebSocket<MaybeTlsStream>,
    url: &str,
    settings: &Settings,
) -> u8 {
    // Before the prompt is drawn, so that it needs no redrawing.
    let open = Event::Open {
        url,
        protocol: ws.protocol(),
        extensions: ws.extensions(),
    };
    if let Err(e) = Printer::new(settings.mode, Sink::Std).emit(&open) {
        tracing::debug!("cannot print: {e}");
    }
    let (mut prompt, printer) = match Prompt::start() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("wsx: {e}; reading stdin line by line instead");
            let settings = Settings {
                mode: Mode::Plain {
                    binary: Default::default(),
                    pings: false,
                    nul: false,
                },
                ..settings.clone()
            };
            let (mut lines, _) = Source::Stdin {
                limit: None,
                separator: b'\n',
            }
            .open(&Printer::new(settings.mode, Sink::Std));
            return pipe_session(ws, url, &settings, &mut lines, None, &mut None)
                .await
                .0;
        }
    };
    let shared = Shared::new(
        &ws,
        settings,
        Printer::new(settings.mode, Sink::Prompt(std::sync::Mutex::new(printer))),
    );
    let sender = ws.sender();
    let (read, mut write) = ws.split();
    let mut reader = tokio::spawn(read_loop(read, sender.clone(), shared.clone()));
    watch_ctrl_c(sender, shared.clone());
    let ending = loop {
        tokio::select! {
            ending = &mut reader => break ending.unwrap_or_else(|e| Ending::Failed {
                code: 1006,
                message: format!("the reading task failed: {e}"),
            }),
            input = prompt.input.recv() => match input {
                Some(Input::Line(line, ack)) => {
                    let more = on_line(&line, &mut write, &shared).await;
                    let _ = ack.send(more);
                    if !more {
                        break finish(&mut reader).await;
                    }
                }
                Some(Input::Failed(e)) => {
                    shared.emit(&Event::Error(&format!("terminal: {e}")));
                    start_close(&mut write, &shared, CloseCode::NORMAL, "").await;
                    break finish(&mut reader).await;
                }
                Some(Input::Quit) | None => {
                    start_close(&mut write, &shared, CloseCode::NORMAL, "").await;
                    break finish(&mut reader).await;
                }
            },
        }
    };
    shared.emit(&ending.event());
    if prompt.is_reading() {
        // The prompt is still drawn and the terminal raw: let the printer finish, then put
        // the terminal back.
        tokio::time::sleep(Duration::from_millis(50)).await;
        prompt.release();
    }
    ending.exit_code()
}

/// Acts on a typed line; `false` ends the input.
async fn on_line(line: &str, write: &mut WriteHalf<MaybeTlsStream>, shared: &Shared) -> bool {
    let cmd = match parse::command(line) {
        Ok(c) => c,
        Err(e) => {
            shared.emit(&Event::Error(&e));
            return true;
        }
    };
    let msg = match cmd {
        Command::Nothing => return true,
        Command::Help => {
            shared.emit(&Event::Info(HELP));
            return true;
        }
        Command::Quit => {
            start_close(write, shared, CloseCode::NORMAL, "").await;
            return false;
        }
        Command::Close(code, reason) => {
            if let Ok(f) = wsx::CloseFrame::new(code, &reason) {
                shared.emit(&Event::Sent(&Message::Close(Some(f))));
            }
            start_close(write, shared, code, &reason).await;
            return false;
        }
        Command::Text(t) => Message::text(t),
        Command::Ping(b) => Message::Ping(b),
        Command::Binary(b) => Message::Binary(b),
    };
    let echo = !matches!(msg, Message::Text(_));
    // The typed line already shows a text message; show the others.
    if echo {
        shared.emit(&Event::Sent(&msg));
    }
    if let Err(e) = write.send(msg).await {
        shared.emit(&Event::Error(&format!("not sent: {e}")));
    }
    true
}
