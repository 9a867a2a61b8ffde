//! `wsx connect` end to end: the real binary against an in-process wsx server, in pipe mode,
//! with `--json`, through a pseudo-terminal (interactive mode), and its exit statuses.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use wsx::{Connected, Message, Rejection, Server};

/// Every test step is bounded by this.
const LIMIT: Duration = Duration::from_secs(20);

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("test step timed out")
}

/// What the test server saw.
#[derive(Default)]
struct Seen {
    token: Mutex<Option<String>>,
    authorization: Mutex<Option<String>>,
    host: Mutex<Option<String>>,
    /// The text messages the echo and `/stream` paths received, in order.
    messages: Mutex<Vec<String>>,
}

impl Seen {
    fn record(&self, msg: &Message) {
        if let Message::Text(t) = msg {
            self.messages.lock().unwrap().push(t.to_string());
        }
    }

    fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }
}

/// A wsx server: echo by default (recording the text messages in [`Seen`]); `/close4000` closes with 4000 after the client's first
/// message, `/drop` drops TCP without a close frame after it, `/binary` sends one binary message and closes with 1000, `/deaf` never reads,
/// `/stream` sends `tick N` every millisecond, `/three` sends `tick 0` to `tick 2` and goes away
/// (1001), `/forbidden` is refused with 403, `/auth` needs
/// `x-token: secret` (else 401). Speaks `chat.v2`.
async fn server() -> (SocketAddr, Arc<Seen>) {
    server_with(Server::builder()).await
}

async fn server_with(builder: wsx::ServerBuilder) -> (SocketAddr, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let seen2 = seen.clone();
    let server = builder
        .protocols(["chat.v2"])
        .verify(move |r| {
            let token = r
                .headers()
                .get("x-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            match r.path() {
                "/forbidden" => Err(Rejection::new(StatusCode::FORBIDDEN, "go away\n")),
                "/auth" if token.as_deref() != Some("secret") => {
                    Err(Rejection::new(StatusCode::UNAUTHORIZED, "token?\n"))
                }
                _ => {
                    *seen2.token.lock().unwrap() = token;
                    let header = |name: &str| {
                        r.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    *seen2.authorization.lock().unwrap() = header("authorization");
                    *seen2.host.lock().unwrap() = header("host");
                    Ok(())
                }
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let seen3 = seen.clone();
    tokio::spawn(server.serve(move |c| handler(c, seen3.clone())));
    (addr, seen)
}

/// A server that does not answer pings (otherwise [`server`]'s).
async fn server_without_pongs() -> (SocketAddr, Arc<Seen>) {
    let mut opts = wsx::Options::default();
    opts.config = wsx::Config::default().auto_pong(false);
    server_with(Server::builder().options(opts)).await
}

async fn handler(mut c: Connected, seen: Arc<Seen>) {
    match c.request.uri().path() {
        "/close4000" => {
            // Once the client is fully up (its first message came), close with an application
            // code.
            let _ = c.ws.recv().await;
            let _ = c.ws.close(4000u16, "custom reason").await;
            while c.ws.recv().await.is_some() {}
        }
        "/slow-echo" => {
            // Like servers whose protocol layer answers a close at once while the application
            // is still busy: the read half keeps reading (and answers the close), the write half
            // echoes each message 300 ms after it arrived.
            let (mut rx, mut tx) = c.ws.split();
            let (q, mut dq) = tokio::sync::mpsc::unbounded_channel();
            let writer = tokio::spawn(async move {
                while let Some((at, msg)) = dq.recv().await {
                    tokio::time::sleep_until(at + Duration::from_millis(300)).await;
                    if tx.send(msg).await.is_err() {
                        break;
                    }
                }
            });
            while let Some(Ok(msg)) = rx.recv().await {
                if msg.is_data() {
                    let _ = q.send((tokio::time::Instant::now(), msg));
                }
            }
            drop(q);
            let _ = writer.await;
        }
        "/drop" => {
            // Once the client is fully up (its first message came), drop the connection.
            let _ = c.ws.recv().await;
            c.ws.terminate();
            while c.ws.recv().await.is_some() {}
        }
        "/deaf" => {
            // Never reads, so never answers a close; holds the connection until the test ends.
            std::future::pending::<()>().await;
            drop(c);
        }
        "/stream" => {
            let tx = c.ws.sender();
            let ticker = tokio::spawn(async move {
                for i in 0u64.. {
                    if tx.send(Message::text(format!("tick {i}"))) == wsx::SendStatus::Closed {
                        break;
                    }
                    // Pacing, not synchronization: a stream that goes on until the client
                    // closes.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            });
            // Reading answers the client's close.
            while let Some(Ok(msg)) = c.ws.recv().await {
                seen.record(&msg);
            }
            ticker.abort();
        }
        "/one-each" => {
            // Echoes one message, then goes away (1001), as a server restarting would.
            if let Some(Ok(m)) = c.ws.recv().await {
                let _ = c.ws.send(m).await;
            }
            let _ = c.ws.close(1001u16, "restarting").await;
            while c.ws.recv().await.is_some() {}
        }
        "/three" => {
            for i in 0..3 {
                let _ = c.ws.send(Message::text(format!("tick {i}"))).await;
            }
            let _ = c.ws.close(1001u16, "restarting").await;
            while c.ws.recv().await.is_some() {}
        }
        "/binary" => {
            let _ = c.ws.send(Message::binary(vec![0u8, 1, 0xff, b'a'])).await;
            let _ = c.ws.close(1000u16, "done").await;
            while c.ws.recv().await.is_some() {}
        }
        _ => {
            while let Some(Ok(msg)) = c.ws.recv().await {
                seen.record(&msg);
                if msg.is_data() && c.ws.send(msg).await.is_err() {
                    break;
                }
            }
        }
    }
}

fn wsx(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsx"));
    cmd.arg("connect")
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs `wsx connect ARGS` with `input` on stdin, then end of input.
async fn run(args: &[&str], input: &[u8]) -> Output {
    let mut child = wsx(args).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).await.unwrap();
    drop(stdin);
    within(child.wait_with_output()).await.unwrap()
}

/// Runs `wsx connect ARGS` with stdin held open (the server has to end the session).
async fn run_open_stdin(args: &[&str]) -> Output {
    run_holding_stdin(args, b"").await
}

/// Runs `wsx connect ARGS` with `input` on stdin, held open after it (the server has to end
/// the session).
async fn run_holding_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = wsx(args).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).await.unwrap();
    stdin.flush().await.unwrap();
    let out = within(child.wait_with_output()).await.unwrap();
    drop(stdin);
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json_events(out: &Output) -> Vec<serde_json::Value> {
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn pipe_mode_round_trips_lines_verbatim() {
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/echo");
    // Empty lines, a leading slash (no commands in pipe mode), CRLF, unicode, and a last line
    // without a newline.
    let input = "hello\n\n/ping not a command\r\nünïcödé ✓\n  spaced  \nlast";
    let out = run(&[&url], input.as_bytes()).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "hello\n\n/ping not a command\nünïcödé ✓\n  spaced  \nlast\n"
    );
    assert_eq!(text(&out.stderr), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn pipe_mode_waits_for_late_replies_before_closing() {
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/slow-echo");
    let out = run(&[&url], b"one\ntwo\n").await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "one\ntwo\n",
        "replies arriving after stdin ended are printed"
    );
    // --linger 0 closes at once: the late replies are lost, by request.
    let out = run(&["--linger", "0", &url], b"one\n").await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn pipe_mode_many_lines_in_order() {
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/");
    let input: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    let out = run(&[&url], input.as_bytes()).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), input);
}

#[tokio::test(flavor = "multi_thread")]
async fn pipe_mode_prints_binary_as_base64() {
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/binary");
    let out = run_open_stdin(&[&url]).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "AAH/YQ==\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn pipe_mode_prints_binary_as_hex_or_raw() {
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/binary");
    let out = run_open_stdin(&["--binary", "hex", &url]).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "0001ff61\n");
    let out = run_open_stdin(&["--binary", "raw", &url]).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(out.stdout, [0u8, 1, 0xff, b'a', b'\n']);
}

#[tokio::test(flavor = "multi_thread")]
async fn execute_sends_then_closes_without_reading_stdin() {
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/");
    // stdin stays open: with -x it is not read, so the client still ends.
    let out = run_open_stdin(&["-x", "first", "-x", "second", &url]).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "first\nsecond\n");

    // -w waits that long, printing what arrives: a stream's ticks, in order.
    let url = format!("ws://{addr}/stream");
    let started = std::time::Instant::now();
    let out = run_open_stdin(&["-x", "go", "-w", "300ms", &url]).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(started.elapsed() >= Duration::from_millis(300));
    let ticks: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert!(ticks.len() > 3, "{ticks:?}");
    for (i, t) in ticks.iter().enumerate() {
        assert_eq!(*t, format!("tick {i}"));
    }
    // -w needs -x.
    let out = run(&["-w", "1s", &url], b"").await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn pings_are_sent_on_an_interval_and_shown_with_show_ping_pong() {
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/");
    let out = run_open_stdin(&[
        "-P",
        "--ping-interval",
        "50ms",
        "-x",
        "hi",
        "-w",
        "400ms",
        &url,
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi\n", "pings stay off stdout");
    let err = text(&out.stderr);
    assert!(err.contains("< pong 1"), "{err}");
    assert!(err.contains("< pong 2"), "{err}");
    // Without -P nothing of them is shown.
    let out = run_open_stdin(&["--ping-interval", "50ms", "-x", "hi", "-w", "200ms", &url]).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("pong"));
}

const PING_TIMEOUT: [&str; 4] = ["--ping-interval", "100ms", "--ping-timeout", "300ms"];

#[tokio::test(flavor = "multi_thread")]
async fn ping_timeout_drops_a_server_that_does_not_answer_pings() {
    let (addr, _) = server_without_pongs().await;
    let url = format!("ws://{addr}/");
    let out = run_open_stdin(&[&PING_TIMEOUT[..], &[&url]].concat()).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("wsx: connection closed abnormally: 1006 (no pong within 300ms of a ping"),
        "{err}"
    );
    // --json: an error, then an unclean close, as for a lost connection.
    let out = run_open_stdin(&[&PING_TIMEOUT[..], &["--json", &url]].concat()).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let ev = json_events(&out);
    let n = ev.len();
    assert!(n >= 3, "{ev:?}");
    assert_eq!(ev[0]["event"], "open");
    assert_eq!(ev[n - 2]["event"], "error");
    assert!(
        ev[n - 2]["message"]
            .as_str()
            .unwrap()
            .starts_with("no pong within 300ms"),
        "{ev:?}"
    );
    assert_eq!(
        (ev[n - 1]["event"].as_str(), ev[n - 1]["code"].as_u64()),
        (Some("close"), Some(1006))
    );
    assert_eq!(ev[n - 1]["clean"], false);

    // A server that answers keeps the connection well past the timeout.
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/");
    let out = run_open_stdin(&[
        "-P",
        "--ping-interval",
        "100ms",
        "--ping-timeout",
        "500ms",
        "-x",
        "hi",
        "-w",
        "1500ms",
        &url,
    ])
    .await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(text(&out.stdout), "hi\n");
    assert!(err.contains("< pong 10"), "{err}");
    assert!(!err.contains("no pong"), "{err}");

    // It needs pings.
    for args in [
        &["--ping-timeout", "1s", &url][..],
        &["--ping-interval", "0", "--ping-timeout", "1s", &url][..],
        &["--ping-interval", "1s", "--ping-timeout", "0", &url][..],
    ] {
        let out = run(args, b"").await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ping_timeout_with_reconnect_connects_again() {
    use tokio::io::AsyncBufReadExt;
    let (addr, _) = server_without_pongs().await;
    let url = format!("ws://{addr}/");
    let mut child = wsx(&[&PING_TIMEOUT[..], &["--reconnect", "--json", &url]].concat())
        .spawn()
        .unwrap();
    let _stdin = child.stdin.take().unwrap();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || -> serde_json::Value {
        let line = within(out.next_line()).await.unwrap().expect("a JSON line");
        serde_json::from_str(&line).unwrap()
    };
    for _ in 0..2 {
        assert_eq!(next().await["event"], "open");
        let e = next().await;
        assert_eq!(e["event"], "error", "{e}");
        assert!(
            e["message"].as_str().unwrap().starts_with("no pong within"),
            "{e}"
        );
        let c = next().await;
        assert_eq!(
            (c["event"].as_str(), c["code"].as_u64()),
            (Some("close"), Some(1006))
        );
        let r = next().await;
        assert_eq!(r["event"], "reconnecting", "{r}");
        assert_eq!(r["attempt"], 1, "{r}");
    }
    assert_eq!(next().await["event"], "open");
    child.start_kill().unwrap();
    within(child.wait()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn max_messages_sends_the_first_n_lines_then_closes() {
    let (addr, seen) = server().await;
    let url = format!("ws://{addr}/");
    // stdin stays open: after the second line it is no longer read, and the session ends as
    // at its end (the echoes of what was sent are printed).
    let out = run_holding_stdin(&["--max-messages", "2", &url], b"a\nb\nc\nd\n").await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "a\nb\n");
    assert_eq!(seen.messages(), ["a", "b"]);
    // -x messages count too.
    let out = run_open_stdin(&["--max-messages", "1", "-x", "one", "-x", "two", &url]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "one\n");
    assert_eq!(seen.messages(), ["a", "b", "one"]);
    let out = run(&["--max-messages", "0", &url], b"").await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn max_messages_rev_closes_after_n_received() {
    let (addr, _) = server().await;
    // An endless stream: the client ends it, normally, after the third message.
    let url = format!("ws://{addr}/stream");
    let out = run_open_stdin(&["--max-messages-rev", "3", &url]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "tick 0\ntick 1\ntick 2\n");
    let out = run_open_stdin(&["--json", "--max-messages-rev", "2", &url]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let ev = json_events(&out);
    let kinds: Vec<_> = ev.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["open", "message", "message", "close"], "{ev:?}");
    assert_eq!(ev[2]["data"], "tick 1");
    assert_eq!(
        (ev[3]["code"].as_u64(), ev[3]["initiator"].as_str()),
        (Some(1000), Some("client"))
    );
    // With --reconnect the count goes on over the connections: 3 from the first, 2 from the
    // second.
    let url = format!("ws://{addr}/three");
    let out = run_open_stdin(&["--reconnect", "--max-messages-rev", "5", &url]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "tick 0\ntick 1\ntick 2\ntick 0\ntick 1\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unidirectional_sends_and_prints_nothing_received() {
    let (addr, seen) = server().await;
    let url = format!("ws://{addr}/");
    // The echo server answers each line; -u prints none of it.
    let out = run(&["-u", &url], b"one\ntwo\n").await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(text(&out.stderr), "");
    assert_eq!(seen.messages(), ["one", "two"]);
    // --json: the open and the close, no message.
    let out = run(&["--json", "--unidirectional", &url], b"three\n").await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let ev = json_events(&out);
    let kinds: Vec<_> = ev.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["open", "close"], "{ev:?}");
    assert_eq!(seen.messages(), ["one", "two", "three"]);
    // No lingering for replies: an endless stream does not hold the client up to its 5 s.
    let url = format!("ws://{addr}/stream");
    let started = std::time::Instant::now();
    let out = run(&["-u", &url], b"go\n").await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unidirectional_reverse_prints_without_reading_stdin() {
    let (addr, seen) = server().await;
    let url = format!("ws://{addr}/stream");
    // A line, then the end of stdin: neither is read (the line is not sent, and the session
    // goes on after the end of stdin, even with --linger 0), and the stream is printed until
    // --max-messages-rev ends it.
    let out = run(
        &["-U", "--linger", "0", "--max-messages-rev", "3", &url],
        b"hello\n",
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "tick 0\ntick 1\ntick 2\n");
    assert_eq!(seen.messages(), Vec::<String>::new());
    // Usage errors: the two directions, -U with what sends.
    for args in [
        &["-u", "-U", &url][..],
        &["-U", "-x", "hi", &url][..],
        &["-U", "--max-messages", "1", &url][..],
        &["-u", "--max-messages-rev", "1", &url][..],
    ] {
        let out = run(args, b"").await;
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("cannot be used with"), "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn null_terminated_messages_may_hold_newlines() {
    let (addr, seen) = server().await;
    let url = format!("ws://{addr}/");
    // NUL separates messages (an empty one among them); newlines and carriage returns are
    // theirs; the last one needs no NUL.
    let out = run(&["-0", &url], b"one\ntwo\0\0three\r\n\0last").await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(seen.messages(), ["one\ntwo", "", "three\r\n", "last"]);
    assert_eq!(text(&out.stdout), "one\ntwo\0\0three\r\n\0last\0");
    // Raw binary messages end with a NUL too.
    let binary = format!("ws://{addr}/binary");
    let out = run_open_stdin(&["--null-terminated", "--binary", "raw", &binary]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(out.stdout, [0u8, 1, 0xff, b'a', 0]);
    // --json: NUL-separated input, events one per line.
    let out = run(&["-0", "--json", &url], b"a\nb\0").await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let ev = json_events(&out);
    assert_eq!(ev.len(), 3, "{ev:?}");
    assert_eq!(ev[1]["data"], "a\nb");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_reports_open_messages_and_close() {
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/echo");
    let out = run(&["--json", &url], b"one\ntwo\n").await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let ev = json_events(&out);
    assert_eq!(ev.len(), 4, "{ev:?}");
    assert_eq!(ev[0]["event"], "open");
    assert_eq!(ev[0]["url"], url.as_str());
    assert_eq!(ev[0]["extensions"], "permessage-deflate");
    assert_eq!(ev[1]["event"], "message");
    assert_eq!(ev[1]["type"], "text");
    assert_eq!(ev[1]["data"], "one");
    assert_eq!(ev[2]["data"], "two");
    assert_eq!(ev[3]["event"], "close");
    assert_eq!(ev[3]["code"], 1000);
    assert_eq!(ev[3]["initiator"], "client");
    assert_eq!(ev[3]["clean"], true);
    assert!(ev.iter().all(|e| e["time"].is_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn json_binary_is_base64_and_server_close_is_reported() {
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/binary");
    let out = run_open_stdin(&["--json", "--no-deflate", &url]).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let ev = json_events(&out);
    assert_eq!(ev[0]["event"], "open");
    assert_eq!(ev[0]["extensions"], serde_json::Value::Null);
    assert_eq!(ev[1]["type"], "binary");
    assert_eq!(ev[1]["data"], "AAH/YQ==");
    assert_eq!(ev[2]["event"], "close");
    assert_eq!(ev[2]["code"], 1000);
    assert_eq!(ev[2]["reason"], "done");
    assert_eq!(ev[2]["initiator"], "server");
}

#[tokio::test(flavor = "multi_thread")]
async fn subprotocol_is_negotiated_and_shown() {
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/");
    let out = run(
        &["--json", "-p", "chat.v1", "--protocol", "chat.v2", &url],
        b"",
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let ev = json_events(&out);
    assert_eq!(ev[0]["event"], "open");
    assert_eq!(ev[0]["protocol"], "chat.v2");
}

#[tokio::test(flavor = "multi_thread")]
async fn header_is_sent() {
    let (addr, seen) = server().await;
    let url = format!("ws://{addr}/auth");
    let out = run(&["-H", "X-Token:   secret  ", &url], b"hi\n").await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi\n");
    assert_eq!(seen.token.lock().unwrap().as_deref(), Some("secret"));

    // Without it the server answers 401: a connection error.
    let out = run(&[&url], b"").await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("401"), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn server_close_code_gives_exit_3() {
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/close4000");
    let out = run_holding_stdin(&[&url], b"up\n").await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {err}");
    assert!(err.contains("4000"), "{err}");
    assert!(err.contains("custom reason"), "{err}");
    assert_eq!(text(&out.stdout), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_connection_gives_exit_3() {
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/drop");
    let out = run_holding_stdin(&["--json", &url], b"up\n").await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {err}");
    assert!(err.contains("1006"), "{err}");
    let ev = json_events(&out);
    let last = ev.last().unwrap();
    assert_eq!(last["event"], "close");
    assert_eq!(last["code"], 1006);
    assert_eq!(last["clean"], false);
    assert!(ev.iter().any(|e| e["event"] == "error"));
}

#[tokio::test(flavor = "multi_thread")]
async fn unanswered_close_gives_exit_3_in_bounded_time() {
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/deaf");
    let started = std::time::Instant::now();
    let out = run(&[&url], b"").await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("did not answer the close"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_closes_normally() {
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/echo");
    let mut child = wsx(&["--json", &url]).spawn().unwrap();
    let _stdin = child.stdin.take().unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    use tokio::io::AsyncBufReadExt;
    within(stdout.read_line(&mut first)).await.unwrap();
    assert!(first.contains(r#""event":"open""#), "{first}");
    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut rest = String::new();
    within(stdout.read_to_string(&mut rest)).await.unwrap();
    let status = within(child.wait()).await.unwrap();
    assert_eq!(status.code(), Some(0), "{rest}");
    let close: serde_json::Value = serde_json::from_str(rest.trim()).unwrap();
    assert_eq!(close["event"], "close");
    assert_eq!(close["code"], 1000);
    assert_eq!(close["initiator"], "client");
}

#[tokio::test(flavor = "multi_thread")]
async fn closed_stdout_closes_normally() {
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/stream");
    let mut child = wsx(&[&url]).spawn().unwrap();
    let _stdin = child.stdin.take().unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    use tokio::io::AsyncBufReadExt;
    within(stdout.read_line(&mut first)).await.unwrap();
    assert_eq!(first, "tick 0\n");
    // Like `wsx connect … | head -1`.
    drop(stdout);
    let status = within(child.wait()).await.unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_connection_gives_exit_1() {
    // A port nobody listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ws://127.0.0.1:{port}/");
    let out = run(&[&url], b"").await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("wsx: cannot connect to {url}: Connection refused")),
        "{err}"
    );
    assert_eq!(text(&out.stdout), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_upgrade_gives_exit_1() {
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/forbidden");
    let out = run(&[&url], b"").await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("wsx: server refused the upgrade: 403 Forbidden"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn handshake_timeout_gives_exit_1() {
    // Accepts TCP but never answers the upgrade.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let url = format!("ws://{addr}/");
    let out = run(&["--handshake-timeout", "300ms", &url], b"").await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no answer within 300ms"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_give_exit_2() {
    for (args, needle) in [
        (&["--bogus-flag", "ws://127.0.0.1:1/"][..], "--bogus-flag"),
        (&["ftp://x"][..], "unsupported scheme"),
        (&["ws://a/#frag"][..], "fragment"),
        (
            &["-H", "NoColon", "ws://127.0.0.1:1/"][..],
            "invalid header",
        ),
        (
            &["-H", "bad name: v", "ws://127.0.0.1:1/"][..],
            "not a valid header name",
        ),
        (
            &["-H", "Sec-WebSocket-Protocol: x", "ws://127.0.0.1:1/"][..],
            "--protocol",
        ),
        (
            &["-p", "a b", "ws://127.0.0.1:1/"][..],
            "invalid subprotocol",
        ),
        (
            &["--ca", "/nonexistent/ca.pem", "wss://127.0.0.1:1/"][..],
            "ca.pem",
        ),
        (
            &["--ca", "x.pem", "-k", "wss://127.0.0.1:1/"][..],
            "cannot be used together",
        ),
        (
            &["--max-payload", "12q", "ws://127.0.0.1:1/"][..],
            "invalid size",
        ),
    ] {
        let out = run(args, b"").await;
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn help_documents_exit_statuses() {
    let out = within(
        Command::new(env!("CARGO_BIN_EXE_wsx"))
            .args(["connect", "--help"])
            .output(),
    )
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    assert!(help.contains("Exit status:"), "{help}");
    assert!(help.contains("3  closed abnormally"), "{help}");
}

/// Self-signed `localhost` certificate and key, as PEM files.
fn tls_files(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
    (cert, key)
}

#[tokio::test(flavor = "multi_thread")]
async fn wss_with_ca_insecure_and_untrusted() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = tls_files(dir.path());
    let cfg = wsx::tls::server_config_from_pem_files(&cert, &key).unwrap();
    let (addr, _) = server_with(Server::builder().tls(cfg)).await;
    let url = format!("wss://localhost:{}/", addr.port());
    let ca = cert.to_str().unwrap();

    let out = run(&["--ca", ca, &url], b"over tls\n").await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "over tls\n");

    let out = run(&["-k", &url], b"insecure\n").await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "insecure\n");
    assert!(text(&out.stderr).contains("not checked"));

    let out = run(&[&url], b"").await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("certificate"), "{err}");
    assert!(err.contains("--ca"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reconnect_comes_back_after_each_server_close_and_ends_with_stdin() {
    use tokio::io::AsyncBufReadExt;
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/one-each");
    let mut child = wsx(&["--reconnect", "--json", &url]).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || -> serde_json::Value {
        let line = within(out.next_line()).await.unwrap().expect("a JSON line");
        serde_json::from_str(&line).unwrap()
    };
    for (i, word) in ["one", "two", "three"].iter().enumerate() {
        assert_eq!(next().await["event"], "open");
        stdin
            .write_all(format!("{word}\n").as_bytes())
            .await
            .unwrap();
        let m = next().await;
        assert_eq!(
            (m["event"].as_str(), m["data"].as_str()),
            (Some("message"), Some(*word))
        );
        let c = next().await;
        assert_eq!(
            (c["event"].as_str(), c["code"].as_u64()),
            (Some("close"), Some(1001))
        );
        let r = next().await;
        assert_eq!(r["event"], "reconnecting", "{r}");
        assert_eq!(r["attempt"], 1, "the first attempt after a connection: {r}");
        // Connections this short do not start the waits over: 250 ms, 500 ms, 1 s, each up
        // to a fifth less (jitter).
        let full = 250u64 << i;
        let delay = r["delay_ms"].as_u64().unwrap();
        assert!((full * 4 / 5..=full).contains(&delay), "{r}");
    }
    assert_eq!(next().await["event"], "open");
    drop(stdin);
    let c = next().await;
    assert_eq!(
        (c["event"].as_str(), c["initiator"].as_str()),
        (Some("close"), Some("client"))
    );
    let status = within(child.wait()).await.unwrap();
    assert_eq!(status.code(), Some(0));
    // Without a pipe it is refused: -x cannot reconnect.
    let out = run(&["--reconnect", "-x", "hi", &url], b"").await;
    assert_eq!(out.status.code(), Some(2));
}

#[path = "../../../tests-support/proxies.rs"]
mod proxy_procs;

#[tokio::test(flavor = "multi_thread")]
async fn through_http_and_socks5_proxies() {
    use proxy_procs::{PASSWORD, USER, microsocks, tinyproxy};
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/");
    let http = tinyproxy().await;
    let socks = microsocks().await;
    for proxy in [
        format!("http://{USER}:{PASSWORD}@127.0.0.1:{}", http.port),
        format!("socks5h://{USER}:{PASSWORD}@127.0.0.1:{}", socks.port),
    ] {
        let out = run(&["--proxy", &proxy, &url], b"via proxy\n").await;
        assert_eq!(out.status.code(), Some(0), "{proxy}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "via proxy\n");
    }
    // Wrong credentials: a connection error that names the proxy's refusal.
    let wrong = format!("http://{USER}:nope@127.0.0.1:{}", http.port);
    let out = run(&["--proxy", &wrong, &url], b"").await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("proxy"), "{}", text(&out.stderr));
    // A proxy URL that does not parse is a usage error.
    let out = run(&["--proxy", "ftp://x:1", &url], b"").await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_and_host_are_sent() {
    let (addr, seen) = server().await;
    let url = format!("ws://{addr}/");
    let out = run(
        &["--auth", "alice:pa:ss", "--host", "chat.example", &url],
        b"x\n",
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // base64("alice:pa:ss")
    assert_eq!(
        seen.authorization.lock().unwrap().as_deref(),
        Some("Basic YWxpY2U6cGE6c3M=")
    );
    assert_eq!(seen.host.lock().unwrap().as_deref(), Some("chat.example"));
    // Credentials in the URL do the same.
    let out = run(&[&format!("ws://bob:pw@{addr}/")], b"y\n").await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        seen.authorization.lock().unwrap().as_deref(),
        Some("Basic Ym9iOnB3")
    );
    for bad in [
        vec!["--auth", "no-colon", url.as_str()],
        vec![
            "--auth",
            "a:b",
            "-H",
            "Authorization: Bearer t",
            url.as_str(),
        ],
        vec!["--host", "bad\u{7f}host", url.as_str()],
    ] {
        let out = run(&bad, b"").await;
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out.stderr));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_certificate_from_cert_and_key() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let ca_pem = write("ca.pem", ca.pem());
    let (server_cert, server_key) = leaf(vec!["localhost".into()]);
    let (client_cert, client_key) = leaf(vec![]);
    let server_cert = write("server.pem", server_cert);
    let server_key = write("server-key.pem", server_key);
    let client_cert = write("client.pem", client_cert);
    let client_key = write("client-key.pem", client_key);

    let tls = wsx::tls::ServerTls::from_pem_files(&server_cert, &server_key)
        .unwrap()
        .client_auth(wsx::tls::ClientAuth::Required(
            wsx::tls::certificates_from_pem_file(&ca_pem).unwrap(),
        ))
        .build()
        .unwrap();
    let (addr, _) = server_with(Server::builder().tls(tls)).await;
    let url = format!("wss://localhost:{}/", addr.port());
    let (ca, cert, key) = (
        ca_pem.to_str().unwrap(),
        client_cert.to_str().unwrap(),
        client_key.to_str().unwrap(),
    );
    let out = run(&["--ca", ca, "--cert", cert, "--key", key, &url], b"mtls\n").await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "mtls\n");
    // Without a certificate the server refuses (after the client's half of the handshake,
    // in TLS 1.3: an error at connect or at the first read, never a delivered line).
    let out = run(&["--ca", ca, &url], b"mtls\n").await;
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    // --cert without --key is a usage error; a key that does not parse is refused.
    let out = run(&["--ca", ca, "--cert", cert, &url], b"").await;
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["--ca", ca, "--cert", cert, "--key", ca, &url], b"").await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

// ---- Interactive mode, through a pseudo-terminal made by `script` (util-linux). ----

/// A `wsx connect` running under a pty; its output accumulates as it arrives.
struct Pty {
    child: Child,
    stdin: tokio::process::ChildStdin,
    output: Arc<Mutex<String>>,
    /// Told each time output arrives.
    more: Arc<tokio::sync::Notify>,
}

/// What a terminal would roughly show: ANSI escape sequences removed, and a carriage return
/// starts its line over.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.peek() {
                Some('[') => {
                    chars.next();
                    // Parameters and intermediates, then one final byte in @..~.
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                Some(_) => {
                    chars.next();
                }
                None => {}
            },
            // A carriage return starts the line over (rustyline redraws that way).
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' => out.truncate(out.rfind('\n').map_or(0, |i| i + 1)),
            c => out.push(c),
        }
    }
    out
}

impl Pty {
    /// Always `Some`: fails (never skips) when `script` (util-linux, essential on Debian) is
    /// missing, so a broken set-up cannot hide the interactive mode.
    fn spawn(args: &[&str]) -> Option<Self> {
        assert!(
            std::process::Command::new("script")
                .arg("--version")
                .output()
                .is_ok(),
            "`script` (util-linux) is needed for the interactive tests"
        );
        let mut line = format!("exec '{}' connect", env!("CARGO_BIN_EXE_wsx"));
        for a in args {
            line.push_str(&format!(" '{a}'"));
        }
        let mut child = Command::new("script")
            .args(["-q", "-f", "-e", "-c", &line, "/dev/null"])
            .env("TERM", "xterm")
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        let more = Arc::new(tokio::sync::Notify::new());
        let (out2, more2) = (output.clone(), more.clone());
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                out2.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
                more2.notify_waiters();
            }
        });
        Some(Self {
            child,
            stdin,
            output,
            more,
        })
    }

    fn screen(&self) -> String {
        strip_ansi(&self.output.lock().unwrap())
    }

    /// Waits until the (cleaned) output has a line for which `pred` holds, looking again each
    /// time output arrives.
    async fn wait_line(&self, what: &str, pred: impl Fn(&str) -> bool) {
        self.wait_output(what, |raw| strip_ansi(raw).lines().any(&pred))
            .await;
    }

    /// Waits until `pred` holds of the raw output, looking again each time output arrives.
    async fn wait_output(&self, what: &str, pred: impl Fn(&str) -> bool) {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            // Registered before looking, so that output arriving meanwhile is not missed.
            let more = self.more.notified();
            let raw = self.output.lock().unwrap().clone();
            if pred(&raw) {
                return;
            }
            if tokio::time::timeout_at(deadline, more).await.is_err() {
                panic!(
                    "timed out waiting for {what}; output so far:\n{}",
                    self.screen()
                );
            }
        }
    }

    /// Waits until the banner is out and the prompt (`> `) is drawn: the terminal is in raw
    /// mode from then on, so the next keys reach the line editor (keys typed before it would
    /// go through the terminal's cooked mode).
    async fn wait_prompt(&self) {
        self.wait_line("the banner", |l| l.starts_with("connected to ws://"))
            .await;
        // (The line editor moves the cursor back over it: look at the raw output.)
        self.wait_output("the prompt", |raw| {
            raw.split_once("Ctrl-D to quit")
                .is_some_and(|(_, after)| after.contains("> "))
        })
        .await;
    }

    async fn type_line(&mut self, s: &str) {
        self.stdin.write_all(s.as_bytes()).await.unwrap();
        self.stdin.write_all(b"\r").await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    async fn exit_code(mut self) -> Option<i32> {
        within(self.child.wait()).await.unwrap().code()
    }
}

/// `< 12:03:04.123 {text}`
fn received(line: &str, text: &str) -> bool {
    let Some(rest) = line.strip_prefix("< ") else {
        return false;
    };
    rest.len() > 13
        && rest.as_bytes()[2] == b':'
        && rest.as_bytes()[8] == b'.'
        && &rest[13..] == text
}

#[tokio::test(flavor = "multi_thread")]
async fn interactive_session_with_commands() {
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/echo");
    let Some(mut pty) = Pty::spawn(&[&url]) else {
        return;
    };
    pty.wait_prompt().await;

    pty.type_line("hello there").await;
    pty.wait_line("the echo", |l| received(l, "hello there"))
        .await;

    pty.type_line("/ping abc").await;
    pty.wait_line("the pong", |l| received(l, "pong abc")).await;

    pty.type_line("/binary 0001ff").await;
    pty.wait_line("the binary echo", |l| {
        received(l, "[binary 3 bytes] 0001ff")
    })
    .await;

    pty.type_line("/close 999").await;
    pty.wait_line("the refusal", |l| {
        l.contains("error: /close: 999 cannot be sent")
    })
    .await;

    // The session goes on after a bad command; // sends a leading slash.
    pty.type_line("//still here").await;
    pty.wait_line("the echo", |l| received(l, "/still here"))
        .await;

    pty.type_line("/help").await;
    pty.wait_line("the help", |l| {
        l.trim_start().starts_with("/binary <hex|base64>")
    })
    .await;

    pty.type_line("/quit").await;
    pty.wait_line("the close", |l| l == "closed: 1000").await;
    assert_eq!(pty.exit_code().await, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn interactive_ctrl_d_quits_and_server_close_ends_the_prompt() {
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/");
    let Some(mut pty) = Pty::spawn(&[&url]) else {
        return;
    };
    pty.wait_prompt().await;
    pty.stdin.write_all(b"\x04").await.unwrap();
    pty.stdin.flush().await.unwrap();
    pty.wait_line("the close", |l| l == "closed: 1000").await;
    assert_eq!(pty.exit_code().await, Some(0));

    // The server closes with 4000 while the prompt waits for a key (after a first line).
    let url = format!("ws://{addr}/close4000");
    let Some(mut pty) = Pty::spawn(&[&url]) else {
        return;
    };
    pty.wait_prompt().await;
    pty.type_line("up").await;
    pty.wait_line("the close", |l| l.contains("closed: 4000 (custom reason)"))
        .await;
    assert_eq!(pty.exit_code().await, Some(3));
}

#[tokio::test(flavor = "multi_thread")]
async fn interactive_ping_timeout_ends_the_session() {
    let (addr, _) = server_without_pongs().await;
    let url = format!("ws://{addr}/");
    let Some(pty) = Pty::spawn(&[&PING_TIMEOUT[..], &[&url]].concat()) else {
        return;
    };
    pty.wait_prompt().await;
    pty.wait_line("the end", |l| {
        l.contains("closed abnormally: 1006 (no pong within 300ms of a ping")
    })
    .await;
    assert_eq!(pty.exit_code().await, Some(3));
}

#[tokio::test(flavor = "multi_thread")]
async fn interactive_max_messages_rev_closes_and_max_messages_is_refused() {
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/stream");
    let Some(pty) = Pty::spawn(&["--max-messages-rev", "2", &url]) else {
        return;
    };
    pty.wait_line("the close", |l| l == "closed: 1000").await;
    assert!(pty.screen().lines().any(|l| received(l, "tick 1")));
    assert!(!pty.screen().lines().any(|l| received(l, "tick 2")));
    assert_eq!(pty.exit_code().await, Some(0));
    // --max-messages counts stdin lines: not at the prompt.
    let Some(pty) = Pty::spawn(&["--max-messages", "2", &url]) else {
        return;
    };
    pty.wait_line("the refusal", |l| {
        l.starts_with("wsx: --max-messages counts stdin lines")
    })
    .await;
    assert_eq!(pty.exit_code().await, Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn interactive_unidirectional_hides_received_messages() {
    let (addr, seen) = server().await;
    let url = format!("ws://{addr}/");
    let Some(mut pty) = Pty::spawn(&["-u", &url]) else {
        return;
    };
    pty.wait_prompt().await;
    pty.type_line("hello").await;
    // Nothing to see but the next prompt (keys typed before it would be mangled).
    pty.wait_output("the next prompt", |raw| {
        raw.split_once("hello")
            .is_some_and(|(_, after)| after.contains("> "))
    })
    .await;
    // The server echoes "hello" before it answers the ping that follows: once the pong is
    // shown, the echo has arrived.
    pty.type_line("/ping abc").await;
    pty.wait_line("the pong", |l| received(l, "pong abc")).await;
    assert!(
        !pty.screen().lines().any(|l| received(l, "hello")),
        "{}",
        pty.screen()
    );
    pty.type_line("/quit").await;
    pty.wait_line("the close", |l| l == "closed: 1000").await;
    assert_eq!(pty.exit_code().await, Some(0));
    assert_eq!(seen.messages(), ["hello"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn interactive_refuses_null_terminated() {
    let (addr, _) = server().await;
    let url = format!("ws://{addr}/");
    let Some(pty) = Pty::spawn(&["-0", &url]) else {
        return;
    };
    pty.wait_line("the refusal", |l| {
        l.starts_with("wsx: -0/--null-terminated works in pipe mode")
    })
    .await;
    assert_eq!(pty.exit_code().await, Some(2));
}
