//! How events look: timestamped, colored lines for a person at a terminal; the bare payloads
//! for a pipe; one JSON object per line for `--json`.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use wsx::Message;

/// Bytes of a binary message shown in hex before `…`.
const HEX_PREVIEW: usize = 32;

/// The presentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Interactive: `< 12:03:04.123 hello`, colors unless `NO_COLOR` or a dumb terminal.
    Human {
        /// Use ANSI colors.
        color: bool,
    },
    /// Pipe: one received text message per stdout line, binary as `binary` says; pings and
    /// pongs on stderr when `pings`.
    Plain {
        /// How a binary message is written.
        binary: BinaryAs,
        /// Show pings and pongs (on stderr, so stdout stays the messages).
        pings: bool,
        /// `-0`: each message on stdout ends with a NUL byte instead of a newline.
        nul: bool,
    },
    /// `--json`: one JSON object per line on stdout.
    Json,
}

/// How pipe mode writes a binary message: one line of base64 or hex, or its bytes as they
/// are followed by a newline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum BinaryAs {
    /// One line of base64 (the default).
    #[default]
    Base64,
    /// One line of lowercase hex.
    Hex,
    /// The bytes themselves, then a newline.
    Raw,
}

/// Something worth showing.
#[derive(Debug)]
pub(crate) enum Event<'a> {
    /// The handshake succeeded.
    Open {
        /// The URL connected to.
        url: &'a str,
        /// The negotiated subprotocol ("" if none).
        protocol: &'a str,
        /// The negotiated extensions ("" if none).
        extensions: &'a str,
    },
    /// A message or control frame arrived.
    Received(&'a Message),
    /// We sent something the typed line does not already show (a ping, a binary, a close).
    Sent(&'a Message),
    /// `--reconnect`: the next attempt, after `delay`.
    Reconnecting {
        /// 1 for the first attempt after a connection ended.
        attempt: u32,
        /// How long until it.
        delay: std::time::Duration,
    },
    /// The closing handshake finished.
    Closed {
        /// The code of the close frame that ended the connection (`None`: no status).
        code: Option<u16>,
        /// Its reason.
        reason: &'a str,
        /// Whether we started the closing handshake.
        by_us: bool,
    },
    /// The connection ended without a clean closing handshake.
    Failed {
        /// The close code that describes it (1006, or the code of a protocol error).
        code: u16,
        /// What happened.
        message: &'a str,
    },
    /// A problem that does not end the session (a mistyped command, a line not sent).
    Error(&'a str),
    /// Text for the person at the terminal (help, banner).
    Info(&'a str),
}

/// Where a rendered line goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Stdout,
    Stderr,
}

fn now_short() -> String {
    chrono::Local::now().format("%H:%M:%S%.3f").to_string()
}

fn now_rfc3339() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    fn green(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    fn blue(&self, s: &str) -> String {
        self.wrap("34", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.wrap("33", s)
    }
    fn red(&self, s: &str) -> String {
        self.wrap("31", s)
    }
}

/// Makes untrusted text safe for a terminal: control characters other than newline and tab
/// are shown escaped (`\u{1b}`), so a peer cannot move the cursor or change colors.
pub(crate) fn sanitize(s: &str) -> String {
    let s = s.replace("\r\n", "\n");
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `0001ff…`: the first bytes in hex.
pub(crate) fn hex_preview(b: &[u8]) -> String {
    let mut s: String = b
        .iter()
        .take(HEX_PREVIEW)
        .map(|x| format!("{x:02x}"))
        .collect();
    if b.len() > HEX_PREVIEW {
        s.push('…');
    }
    s
}

/// A control payload for people: the text if it is printable UTF-8, else hex.
fn control_payload(b: &[u8]) -> String {
    if b.is_empty() {
        return String::new();
    }
    match std::str::from_utf8(b) {
        Ok(s) if !s.chars().any(char::is_control) => format!(" {s}"),
        _ => format!(" [{} bytes] {}", b.len(), hex_preview(b)),
    }
}

fn describe_close(code: Option<u16>, reason: &str) -> String {
    match (code, reason) {
        (None, _) => "no status code".to_owned(),
        (Some(c), "") => c.to_string(),
        (Some(c), r) => format!("{c} ({})", sanitize(r)),
    }
}

/// Whether a close ends the session well (exit status 0): we asked for it, or the server
/// closed with 1000, 1001 or no status code.
pub(crate) fn is_normal_close(code: Option<u16>, by_us: bool) -> bool {
    by_us || matches!(code, None | Some(1000 | 1001))
}

/// The lines an event becomes in `mode` (without trailing newlines).
pub(crate) fn render(mode: Mode, ev: &Event<'_>) -> Vec<(Target, String)> {
    match mode {
        Mode::Human { color } => human(&Paint(color), ev)
            .map(|s| vec![(Target::Stdout, s)])
            .unwrap_or_default(),
        Mode::Plain { binary, pings, .. } => plain(ev, binary, pings).into_iter().collect(),
        Mode::Json => json_lines(ev),
    }
}

/// One line for a message, after its direction arrow.
fn message_line(p: &Paint, arrow: String, m: &Message) -> String {
    let body = match m {
        Message::Text(t) => sanitize(t),
        Message::Binary(b) => format!(
            "{} {}",
            p.blue(&format!("[binary {} bytes]", b.len())),
            hex_preview(b)
        ),
        Message::Ping(b) => p.yellow(&format!("ping{}", control_payload(b))),
        Message::Pong(b) => p.yellow(&format!("pong{}", control_payload(b))),
        Message::Close(f) => p.yellow(&format!(
            "close {}",
            describe_close(
                f.as_ref().map(|f| f.code.0),
                f.as_ref().map_or("", |f| &f.reason)
            )
        )),
    };
    let head = format!("{arrow} {} ", p.dim(&now_short()));
    // Continuation lines line up under the first one.
    let indent = format!("\n{}", " ".repeat(2 + 12 + 1));
    format!("{head}{}", body.replace('\n', &indent))
}

fn human(p: &Paint, ev: &Event<'_>) -> Option<String> {
    Some(match ev {
        Event::Open {
            url,
            protocol,
            extensions,
        } => {
            let mut s = format!("connected to {url}");
            if !protocol.is_empty() {
                s.push_str(&format!(" · protocol {protocol}"));
            }
            if !extensions.is_empty() {
                s.push_str(&format!(" · {extensions}"));
            }
            format!(
                "{}\n{}",
                p.green(&s),
                p.dim("type a line to send it, /help for commands, Ctrl-D to quit")
            )
        }
        Event::Received(Message::Close(_)) => return None,
        Event::Received(m) => message_line(p, p.green("<"), m),
        Event::Sent(m) => message_line(p, p.blue(">"), m),
        Event::Closed {
            code,
            reason,
            by_us,
        } => {
            let s = format!("closed: {}", describe_close(*code, reason));
            if is_normal_close(*code, *by_us) {
                s
            } else {
                p.red(&s)
            }
        }
        Event::Failed { code, message } => p.red(&format!(
            "closed abnormally: {code} ({})",
            sanitize(message)
        )),
        Event::Error(m) => p.red(&format!("error: {m}")),
        Event::Reconnecting { attempt, delay } => p.yellow(&reconnecting(*attempt, *delay)),
        Event::Info(m) => (*m).to_owned(),
    })
}

fn plain(ev: &Event<'_>, binary: BinaryAs, pings: bool) -> Option<(Target, String)> {
    match ev {
        Event::Received(Message::Text(t)) => Some((Target::Stdout, t.to_string())),
        Event::Received(Message::Binary(b)) => Some((
            Target::Stdout,
            match binary {
                BinaryAs::Base64 => BASE64.encode(b),
                BinaryAs::Hex => b.iter().map(|x| format!("{x:02x}")).collect(),
                // Written as bytes by `Printer::emit`; this is only its stand-in.
                BinaryAs::Raw => String::from_utf8_lossy(b).into_owned(),
            },
        )),
        Event::Received(Message::Ping(b)) if pings => {
            Some((Target::Stderr, format!("< ping{}", control_payload(b))))
        }
        Event::Received(Message::Pong(b)) if pings => {
            Some((Target::Stderr, format!("< pong{}", control_payload(b))))
        }
        Event::Sent(Message::Ping(b)) if pings => {
            Some((Target::Stderr, format!("> ping{}", control_payload(b))))
        }
        Event::Error(m) => Some((Target::Stderr, format!("wsx: {m}"))),
        Event::Reconnecting { attempt, delay } => Some((
            Target::Stderr,
            format!("wsx: {}", reconnecting(*attempt, *delay)),
        )),
        Event::Info(m) => Some((Target::Stderr, (*m).to_owned())),
        // Close and failure summaries go to stderr from the session, only when abnormal.
        _ => None,
    }
}

/// One `--json` line; the `event` tag comes first.
#[derive(Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum JsonEvent<'a> {
    Open {
        url: &'a str,
        protocol: Option<&'a str>,
        extensions: Option<&'a str>,
        time: &'a str,
    },
    Message {
        #[serde(rename = "type")]
        kind: &'static str,
        data: Cow<'a, str>,
        time: &'a str,
    },
    Ping {
        data: String,
        time: &'a str,
    },
    Pong {
        data: String,
        time: &'a str,
    },
    Close {
        code: Option<u16>,
        reason: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        initiator: Option<&'static str>,
        clean: bool,
        time: &'a str,
    },
    Error {
        message: &'a str,
        time: &'a str,
    },
    Reconnecting {
        attempt: u32,
        delay_ms: u64,
        time: &'a str,
    },
}

fn reconnecting(attempt: u32, delay: std::time::Duration) -> String {
    format!(
        "reconnecting in {:.1} s (attempt {attempt})",
        delay.as_secs_f64()
    )
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn json_lines(ev: &Event<'_>) -> Vec<(Target, String)> {
    let time = &now_rfc3339();
    let values = match ev {
        Event::Open {
            url,
            protocol,
            extensions,
        } => vec![JsonEvent::Open {
            url,
            protocol: non_empty(protocol),
            extensions: non_empty(extensions),
            time,
        }],
        Event::Received(m) => match m {
            Message::Text(t) => vec![JsonEvent::Message {
                kind: "text",
                data: Cow::Borrowed(t.as_str()),
                time,
            }],
            Message::Binary(b) => vec![JsonEvent::Message {
                kind: "binary",
                data: Cow::Owned(BASE64.encode(b)),
                time,
            }],
            Message::Ping(b) => vec![JsonEvent::Ping {
                data: BASE64.encode(b),
                time,
            }],
            Message::Pong(b) => vec![JsonEvent::Pong {
                data: BASE64.encode(b),
                time,
            }],
            Message::Close(_) => vec![],
        },
        Event::Sent(_) => vec![],
        Event::Closed {
            code,
            reason,
            by_us,
        } => vec![JsonEvent::Close {
            code: *code,
            reason,
            initiator: Some(if *by_us { "client" } else { "server" }),
            clean: true,
            time,
        }],
        Event::Failed { code, message } => vec![
            JsonEvent::Error { message, time },
            JsonEvent::Close {
                code: Some(*code),
                reason: message,
                initiator: None,
                clean: false,
                time,
            },
        ],
        Event::Error(message) => vec![JsonEvent::Error { message, time }],
        Event::Reconnecting { attempt, delay } => vec![JsonEvent::Reconnecting {
            attempt: *attempt,
            delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            time,
        }],
        Event::Info(m) => return vec![(Target::Stdout, (*m).to_owned())],
    };
    values
        .iter()
        .filter_map(|v| serde_json::to_string(v).ok())
        .map(|s| (Target::Stdout, s))
        .collect()
}

/// Where lines are written: the standard streams, or rustyline's external printer so that
/// output appears above the prompt without garbling the line being edited.
pub(crate) enum Sink {
    /// stdout and stderr.
    Std,
    /// The prompt's printer.
    Prompt(Mutex<Box<dyn rustyline::ExternalPrinter + Send>>),
}

/// Renders events and writes them.
pub(crate) struct Printer {
    mode: Mode,
    sink: Sink,
}

impl Printer {
    pub(crate) fn new(mode: Mode, sink: Sink) -> Self {
        Self { mode, sink }
    }

    /// What ends a line written to `target`: a newline, or with `-0` a NUL after a message.
    fn end(&self, target: Target) -> u8 {
        match (self.mode, target) {
            (Mode::Plain { nul: true, .. }, Target::Stdout) => b'\0',
            _ => b'\n',
        }
    }

    /// Writes an event. An error means stdout is gone (a closed pipe): stop printing.
    pub(crate) fn emit(&self, ev: &Event<'_>) -> io::Result<()> {
        if let (
            Mode::Plain {
                binary: BinaryAs::Raw,
                ..
            },
            Event::Received(Message::Binary(b)),
            Sink::Std,
        ) = (self.mode, ev, &self.sink)
        {
            let mut out = io::stdout().lock();
            out.write_all(b)?;
            out.write_all(&[self.end(Target::Stdout)])?;
            return out.flush();
        }
        for (target, mut line) in render(self.mode, ev) {
            line.push(char::from(self.end(target)));
            match (&self.sink, target) {
                (Sink::Prompt(p), _) => {
                    let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
                    p.print(line).map_err(io::Error::other)?;
                }
                (Sink::Std, Target::Stdout) => {
                    let mut out = io::stdout().lock();
                    out.write_all(line.as_bytes())?;
                    out.flush()?;
                }
                (Sink::Std, Target::Stderr) => {
                    // Nothing sensible is left to do if stderr is gone too.
                    let _ = io::stderr().lock().write_all(line.as_bytes());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const PLAIN: Mode = Mode::Plain {
        binary: BinaryAs::Base64,
        pings: false,
        nul: false,
    };

    #[test]
    fn pipe_mode_binary_forms_and_pings() {
        let b = Message::binary(vec![0u8, 0xff, b'a']);
        let one = |binary, pings, m: &Message| {
            let mode = Mode::Plain {
                binary,
                pings,
                nul: false,
            };
            render(mode, &Event::Received(m))
        };
        assert_eq!(one(BinaryAs::Base64, false, &b)[0].1, "AP9h");
        assert_eq!(one(BinaryAs::Hex, false, &b)[0].1, "00ff61");
        let ping = Message::Ping(Bytes::from_static(b"hb"));
        assert!(one(BinaryAs::Hex, false, &ping).is_empty());
        let shown = one(BinaryAs::Hex, true, &ping);
        assert!(matches!(shown[0].0, Target::Stderr));
        assert_eq!(shown[0].1, "< ping hb");
        let pong = Message::Pong(Bytes::new());
        assert_eq!(one(BinaryAs::Hex, true, &pong)[0].1, "< pong");
    }

    #[test]
    fn nul_ends_only_the_messages_on_stdout() {
        let nul = Printer::new(
            Mode::Plain {
                binary: BinaryAs::Raw,
                pings: true,
                nul: true,
            },
            Sink::Std,
        );
        assert_eq!(nul.end(Target::Stdout), b'\0');
        assert_eq!(nul.end(Target::Stderr), b'\n');
        assert_eq!(Printer::new(PLAIN, Sink::Std).end(Target::Stdout), b'\n');
        assert_eq!(
            Printer::new(Mode::Json, Sink::Std).end(Target::Stdout),
            b'\n'
        );
    }

    #[test]
    fn sanitizes_terminal_escapes() {
        assert_eq!(sanitize("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(sanitize("l1\r\nl2\tx"), "l1\nl2\tx");
    }

    #[test]
    fn hex_previews() {
        assert_eq!(hex_preview(&[0, 1, 0xff]), "0001ff");
        let long = vec![0xab; 40];
        let p = hex_preview(&long);
        assert!(p.ends_with('…'));
        assert_eq!(p.chars().count(), HEX_PREVIEW * 2 + 1);
    }

    #[test]
    fn human_lines() {
        let m = Message::text("hello");
        let out = render(Mode::Human { color: false }, &Event::Received(&m));
        assert_eq!(out.len(), 1);
        let line = &out[0].1;
        assert!(line.starts_with("< "), "{line}");
        assert!(line.ends_with(" hello"), "{line}");
        // "< HH:MM:SS.mmm hello"
        assert_eq!(line.len(), 2 + 12 + 1 + 5);

        let b = Message::Binary(Bytes::from_static(&[0, 1, 0xff]));
        let out = render(Mode::Human { color: false }, &Event::Received(&b));
        assert!(
            out[0].1.ends_with("[binary 3 bytes] 0001ff"),
            "{}",
            out[0].1
        );

        let out = render(
            Mode::Human { color: false },
            &Event::Closed {
                code: Some(1000),
                reason: "bye",
                by_us: true,
            },
        );
        assert_eq!(out[0].1, "closed: 1000 (bye)");
    }

    #[test]
    fn plain_lines() {
        let m = Message::text("a b");
        assert_eq!(
            render(PLAIN, &Event::Received(&m)),
            vec![(Target::Stdout, "a b".to_owned())]
        );
        let b = Message::Binary(Bytes::from_static(&[0, 1, 0xff]));
        assert_eq!(
            render(PLAIN, &Event::Received(&b)),
            vec![(Target::Stdout, "AAH/".to_owned())]
        );
        let p = Message::Ping(Bytes::new());
        assert!(render(PLAIN, &Event::Received(&p)).is_empty());
    }

    #[test]
    fn json_lines_parse() {
        let m = Message::text("hi");
        let out = render(Mode::Json, &Event::Received(&m));
        let v: serde_json::Value = serde_json::from_str(&out[0].1).unwrap();
        assert_eq!(v["event"], "message");
        assert_eq!(v["type"], "text");
        assert_eq!(v["data"], "hi");
        assert!(v["time"].is_string());

        let out = render(
            Mode::Json,
            &Event::Open {
                url: "ws://a/",
                protocol: "",
                extensions: "permessage-deflate",
            },
        );
        let v: serde_json::Value = serde_json::from_str(&out[0].1).unwrap();
        assert_eq!(v["protocol"], serde_json::Value::Null);
        assert_eq!(v["extensions"], "permessage-deflate");

        let out = render(
            Mode::Json,
            &Event::Failed {
                code: 1006,
                message: "lost",
            },
        );
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn normal_closes() {
        assert!(is_normal_close(Some(1000), false));
        assert!(is_normal_close(Some(1001), false));
        assert!(is_normal_close(None, false));
        assert!(!is_normal_close(Some(4000), false));
        assert!(is_normal_close(Some(4000), true));
    }
}
