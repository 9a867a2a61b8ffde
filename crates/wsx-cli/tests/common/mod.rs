//! Shared by the tests that run `wsx serve` as a process: starting and stopping it, and driving
//! a headless-Chromium script (`interop/chromium/*.mjs`) against it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[path = "../../../../tests-support/procs.rs"]
pub mod procs;
#[path = "../../../../tests-support/redis.rs"]
pub mod redis_procs;

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use procs::{Kill, Patience, free_port};
#[allow(unused_imports)]
pub use redis_procs::{Redis, RedisClusterProcs};

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Bound on waiting for a `wsx serve` process to start or to exit.
const START_STOP: Duration = Duration::from_secs(20);

/// A `wsx serve` process (killed on drop). Its stderr is read line by line (shown with
/// `WSX_TEST_LOG=1`): it is ready when it says where it listens, and gone when its stderr
/// ends.
pub struct ServeProc {
    pub child: Kill,
    /// The port it listens on.
    pub port: u16,
    stderr: mpsc::Receiver<String>,
    /// The lines read so far.
    pub log: Vec<String>,
}

impl ServeProc {
    /// `wsx serve --listen 127.0.0.1:PORT ARGS` (`PORT` 0: any free port), waited on until it
    /// listens; fails if it exits first.
    pub fn start(port: u16, args: &[&OsStr]) -> ServeProc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsx"));
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(args);
        Self::spawn(cmd)
    }

    /// `wsx serve ARGS` set up by `WSX_*` variables (`--listen` too: `WSX_LISTEN`).
    pub fn start_with_env(vars: &[(&str, &OsStr)], args: &[&str]) -> ServeProc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsx"));
        cmd.arg("serve").args(args).envs(vars.iter().copied());
        Self::spawn(cmd)
    }

    fn spawn(mut cmd: Command) -> ServeProc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, stderr) = mpsc::channel();
        let show = std::env::var_os("WSX_TEST_LOG").is_some();
        procs::read_lines(
            child.stderr.take().unwrap(),
            move |line| {
                if show {
                    eprintln!("wsx serve: {line}");
                }
                let _ = tx.send(line);
            },
            || {},
        );
        let mut s = ServeProc {
            child: Kill(child),
            port: 0,
            stderr,
            log: Vec::new(),
        };
        // "listening on http://127.0.0.1:PORT/" (the log's own line says more).
        let line = s
            .line_where(|l| l.starts_with("listening on "))
            .unwrap_or_else(|| panic!("wsx serve exited before listening: {:?}", s.log));
        let addr = line
            .split_once("://")
            .map(|(_, rest)| rest.trim_end_matches('/'))
            .unwrap();
        s.port = addr.rsplit_once(':').unwrap().1.parse().unwrap();
        s
    }

    /// The next line of its stderr (kept in `log` too); `None` once stderr ended (the process
    /// exited). Fails after a long silence.
    fn next_line(&mut self) -> Option<String> {
        match self.stderr.recv_timeout(START_STOP) {
            Ok(line) => {
                self.log.push(line.clone());
                Some(line)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("wsx serve silent for {START_STOP:?}: {:?}", self.log)
            }
        }
    }

    /// The next stderr line for which `pred` holds; `None` if stderr ended first.
    pub fn line_where(&mut self, pred: impl Fn(&str) -> bool) -> Option<String> {
        while let Some(line) = self.next_line() {
            if pred(&line) {
                return Some(line);
            }
        }
        None
    }

    /// Waits until the process exits by itself (its stderr ends); returns its status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        while self.next_line().is_some() {}
        self.child.0.wait().unwrap()
    }

    /// Everything it wrote on stderr, to the end (it must exit meanwhile).
    pub fn stderr_to_end(&mut self) -> String {
        while self.next_line().is_some() {}
        self.log.join("\n")
    }
}

/// `wsx serve` on `port`, its documents in `data`, with a short graceful shutdown.
pub fn start_serve(port: u16, data: &Path) -> ServeProc {
    ServeProc::start(
        port,
        &[
            "--shutdown-timeout".as_ref(),
            "2s".as_ref(),
            "--data-dir".as_ref(),
            data.as_os_str(),
        ],
    )
}

/// SIGINT, as Ctrl-C would: the server closes every connection and exits 0.
pub fn stop_gracefully(mut s: ServeProc) {
    s.child.signal("INT");
    assert!(s.wait_exit().success(), "graceful shutdown exits 0");
}

/// Runs `interop/chromium/<script>` against a `wsx serve` of its own and returns the steps
/// it reported. The script prints one JSON line per step; on `{"step":"restart-now"}` the
/// server is stopped gracefully and started again on the same port and data directory, and
/// the script is told with a line on its stdin. A `failed` step (or a `page-error`, when
/// `page_errors_fail`) fails the test; the screenshot goes to `target/e2e/<shot>`.
pub fn run_browser_script(script: &str, shot: &str, page_errors_fail: bool) -> Vec<String> {
    let root = repo_root();
    assert!(
        root.join("interop/node_modules/playwright-core").is_dir()
            && Path::new("/usr/bin/chromium").exists(),
        "playwright-core or /usr/bin/chromium is missing: run interop/setup.sh (the README's test command does)"
    );
    let port = free_port();
    let shot_dir = root.join("target/e2e");
    std::fs::create_dir_all(&shot_dir).unwrap();
    let shot = shot_dir.join(shot);
    let _ = std::fs::remove_file(&shot);

    let data = tempfile::tempdir().unwrap();
    let mut server = Some(start_serve(port, data.path()));
    let mut node = Kill(
        Command::new("node")
            .arg(root.join("interop/chromium").join(script))
            .arg(format!("http://127.0.0.1:{port}"))
            .arg(&shot)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let steps = follow_steps(&mut node, |step, line, node| {
        if page_errors_fail {
            assert_ne!(step, "page-error", "{line}");
        }
        if step == "restart-now" {
            stop_gracefully(server.take().unwrap());
            server = Some(start_serve(port, data.path()));
            let stdin = node.0.stdin.as_mut().unwrap();
            stdin.write_all(b"restarted\n").unwrap();
            stdin.flush().unwrap();
        }
    });
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot"
    );
    drop(server);
    steps
}

/// Reads a browser script's JSON lines (`{"step": ...}`) until its `done` step, failing on a
/// `failed` step or a 90 s stall, and calls `on` with each step, its line and the script's
/// process; returns the steps; asserts the script then exits 0.
pub fn follow_steps(node: &mut Kill, mut on: impl FnMut(&str, &str, &mut Kill)) -> Vec<String> {
    let stdout = node.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut steps = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(90))
            .expect("the browser script stalled");
        eprintln!("chromium: {line}");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let step = v["step"].as_str().unwrap_or("").to_owned();
        assert_ne!(step, "failed", "{line}");
        on(&step, &line, node);
        let done = step == "done";
        steps.push(step);
        if done {
            break;
        }
    }
    assert!(node.0.wait().unwrap().success());
    steps
}

/// Asserts that every one of `expected` is among `steps`.
pub fn assert_steps(steps: &[String], expected: &[&str]) {
    for s in expected {
        assert!(steps.iter().any(|x| x == s), "missing step {s}: {steps:?}");
    }
}

/// What the clients of [`sigterm_under_load`] got.
pub struct LoadOutcome {
    /// Echoes received by each echoer (its first messages, checked).
    pub echoed: Vec<usize>,
    /// Chat messages received by each room member (the same, checked).
    pub broadcast: usize,
    /// Chat joins sent (each is a message the server received).
    pub joins: usize,
}

/// A client of [`sigterm_under_load`]: what it read, and the close code that ended it.
struct LoadClient {
    texts: Vec<String>,
    close: Option<wsx::CloseCode>,
}

type LoadWs = wsx::WebSocket<wsx::MaybeTlsStream>;

/// Reads `read` to its end; `keep` picks the texts to keep (counted in `progress`).
fn read_all(
    mut read: wsx::ReadHalf<wsx::MaybeTlsStream>,
    progress: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    keep: fn(&str) -> Option<String>,
) -> tokio::task::JoinHandle<LoadClient> {
    tokio::spawn(async move {
        let mut got = LoadClient {
            texts: Vec::new(),
            close: None,
        };
        loop {
            match tokio::time::timeout(procs::T, read.recv()).await {
                Ok(Some(Ok(wsx::Message::Text(t)))) => {
                    assert!(got.close.is_none(), "a message after the close frame: {t}");
                    if let Some(k) = keep(&t) {
                        got.texts.push(k);
                        progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                Ok(Some(Ok(wsx::Message::Close(f)))) => got.close = f.map(|f| f.code),
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_)) | None) => return got,
                Err(_) => panic!("a client got nothing for {:?}", procs::T),
            }
        }
    })
}

/// Sends `make(0)`, `make(1)`, … on `write` as fast as it takes them, until it closes.
fn write_all(mut write: wsx::WriteHalf<wsx::MaybeTlsStream>, make: fn(usize) -> String) {
    tokio::spawn(async move {
        for i in 0..1_000_000 {
            if write.send(wsx::Message::text(make(i))).await.is_err() {
                return;
            }
        }
    });
}

/// A chat member of `wsx serve` on `port`, in room `load`.
async fn chat_member(port: u16, nick: &str) -> LoadWs {
    let (mut ws, _) = wsx::ClientBuilder::new(format!("ws://127.0.0.1:{port}/chat"))
        .protocol("wsx.chat.v1")
        .connect()
        .await
        .unwrap();
    let join = serde_json::json!({"type": "join", "room": "load", "nick": nick});
    ws.send(wsx::Message::text(join.to_string())).await.unwrap();
    loop {
        let m = tokio::time::timeout(procs::T, ws.recv())
            .await
            .expect("joined")
            .unwrap()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(m.as_text().unwrap()).unwrap();
        if v["type"] == "joined" {
            return ws;
        }
    }
}

fn chat_text(t: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(t).ok()?;
    (v["type"] == "message").then(|| v["text"].as_str().unwrap().to_owned())
}

/// Graceful shutdown under load, from outside: on `wsx serve` at `port`, `echoers`
/// connections pipeline echoes on `/echo` while a chat member says messages as fast as it can
/// to `receivers` members of its room; once each echoer and receiver has got 200, the server
/// is sent SIGTERM. Each echoer must get exactly its first messages back, in order, then a
/// 1001 close frame; each receiver the same first chat messages, in order, then 1001.
pub async fn sigterm_under_load(
    server: &ServeProc,
    echoers: usize,
    receivers: usize,
) -> LoadOutcome {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let port = server.port;
    let progress: Vec<Arc<AtomicUsize>> =
        (0..echoers + receivers).map(|_| Arc::default()).collect();
    let mut members = Vec::new();
    for (i, p) in progress[echoers..].iter().enumerate() {
        let (read, _write) = chat_member(port, &format!("r{i}")).await.split();
        members.push((read_all(read, p.clone(), chat_text), _write));
    }
    let (read, write) = chat_member(port, "sayer").await.split();
    let sayer = read_all(read, Arc::default(), chat_text);
    write_all(write, |i| {
        serde_json::json!({"type": "say", "text": format!("b{i}")}).to_string()
    });
    let mut echo = Vec::new();
    for p in &progress[..echoers] {
        let (ws, _) = wsx::connect(&format!("ws://127.0.0.1:{port}/echo"))
            .await
            .unwrap();
        let (read, write) = ws.split();
        write_all(write, |i| format!("e{i}"));
        echo.push(read_all(read, p.clone(), |t| Some(t.to_owned())));
    }
    let p = Patience::new("every client to get 200 messages");
    while progress.iter().any(|p| p.load(Ordering::Relaxed) < 200) {
        p.again().await;
    }
    server.child.signal("TERM");

    let numbered =
        |tag: &str, n: usize| -> Vec<String> { (0..n).map(|i| format!("{tag}{i}")).collect() };
    let mut echoed = Vec::new();
    for (i, e) in echo.into_iter().enumerate() {
        let got = e.await.unwrap();
        assert_eq!(got.close, Some(wsx::CloseCode::GOING_AWAY), "echoer {i}");
        assert!(
            got.texts == numbered("e", got.texts.len()),
            "echoer {i}: the echoes are not its first messages in order"
        );
        echoed.push(got.texts.len());
    }
    let mut broadcast = None;
    for (i, (m, _write)) in members.into_iter().enumerate() {
        let got = m.await.unwrap();
        assert_eq!(got.close, Some(wsx::CloseCode::GOING_AWAY), "member r{i}");
        let n = *broadcast.get_or_insert(got.texts.len());
        assert_eq!(got.texts.len(), n, "member r{i} got another count");
        if let Some(at) = (0..n).find(|&k| got.texts[k] != format!("b{k}")) {
            let around = &got.texts[at.saturating_sub(2)..(at + 3).min(n)];
            panic!("member r{i}: in order, but at {at} of {n}: {around:?}");
        }
    }
    let got = sayer.await.unwrap();
    assert_eq!(got.close, Some(wsx::CloseCode::GOING_AWAY), "the sayer");
    LoadOutcome {
        echoed,
        broadcast: broadcast.unwrap_or(0),
        joins: receivers + 1,
    }
}

/// Checks, from the last line of a `wsx serve` log ("bye messages_received=N …"), that every
/// message the server received was answered (`outcome`'s echoes) or broadcast (its chat
/// messages, the joins aside): nothing accepted was lost before the close.
pub fn assert_all_accepted_answered(log: &str, outcome: &LoadOutcome) -> u64 {
    let plain = strip_ansi(log);
    let bye = plain
        .lines()
        .rev()
        .find(|l| l.contains("bye"))
        .unwrap_or_else(|| panic!("no bye line in the log:\n{plain}"));
    let received: u64 = bye
        .split("messages_received=")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no messages_received in {bye:?}"));
    let answered: usize = outcome.echoed.iter().sum::<usize>() + outcome.broadcast + outcome.joins;
    assert_eq!(
        received, answered as u64,
        "the server received {received} messages; its clients got answers or broadcasts for {answered}"
    );
    received
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// An HTTP/1.1 request to `127.0.0.1:port` with `headers` ("Name: value\r\n" each), read to
/// the end: (status, head in lower case, body as sent, chunked or not).
pub fn http_request(port: u16, method: &str, path: &str, headers: &str) -> (u16, String, Vec<u8>) {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
    let status = head[9..12].parse().unwrap();
    (status, head, buf[split + 4..].to_vec())
}

/// `/metrics` of the `wsx serve` on `port`.
pub fn metrics(port: u16) -> String {
    String::from_utf8(http_request(port, "GET", "/metrics", "").2).unwrap()
}
