//! Interop harness shared by `interop_node.rs` and `interop_python.rs`: it runs the real peers
//! of `interop/` (Node `ws`, Python `websockets`; installed by `interop/setup.sh`), a scripted
//! wsx server that mirrors the peers' echo server, and the scenarios themselves, written once
//! and run against each peer in both directions.
//!
//! Peers print JSON lines (see the header of `interop/node/server.js` and `client.js`); the wsx
//! server reports the same events, so both ends of every connection are asserted on.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use wsx::tls::Trust;
use wsx::{
    ClientBuilder, Connected, DeflateConfig, MaybeTlsStream, Message, Server, ServerBuilder,
    ShutdownHandle, WebSocket,
};

/// Deadline for every single await (a line from a peer, a message, a handshake).
pub const T: Duration = Duration::from_secs(30);
/// The large-message size both ways.
pub const BIG: usize = 16 << 20;

/// Awaits `f`, panicking after [`T`] with `what`.
pub async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(T, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {T:?}: {what}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Peers
// ---------------------------------------------------------------------------------------------

/// Which real peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Node.js with the `ws` package.
    Node,
    /// Python with the `websockets` package.
    Python,
}

/// The `interop/` directory of the repository.
pub fn interop_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop");
    d.canonicalize().unwrap_or(d)
}

fn python_bin() -> PathBuf {
    interop_dir().join(".venv/bin/python")
}

fn not_installed(kind: Kind, what: &str) -> ! {
    panic!(
        "interop peer {kind:?} is not installed ({what}): run interop/setup.sh first \
         (`bash interop/setup.sh`; it needs node + npm and python3 with venv, and reaches only \
         the npm and PyPI registries)"
    )
}

/// Panics with "run interop/setup.sh first" unless the peer's dependencies are installed.
/// Never skips: a missing peer is a failure.
pub fn require(kind: Kind) {
    static NODE: OnceLock<Result<(), String>> = OnceLock::new();
    static PYTHON: OnceLock<Result<(), String>> = OnceLock::new();
    let dir = interop_dir();
    let checked = match kind {
        Kind::Node => NODE.get_or_init(|| {
            if !dir.join("node_modules/ws/package.json").is_file() {
                return Err(format!("{}/node_modules/ws is missing", dir.display()));
            }
            match Command::new("node").arg("--version").output() {
                Ok(o) if o.status.success() => Ok(()),
                Ok(o) => Err(format!(
                    "`node --version` failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                )),
                Err(e) => Err(format!("node not found on PATH: {e}")),
            }
        }),
        Kind::Python => PYTHON.get_or_init(|| {
            let py = python_bin();
            if !py.exists() {
                return Err(format!("{} is missing", py.display()));
            }
            let lib = dir.join(".venv/lib");
            let found = std::fs::read_dir(&lib)
                .map(|rd| {
                    rd.flatten().any(|e| {
                        e.path()
                            .join("site-packages/websockets/__init__.py")
                            .is_file()
                    })
                })
                .unwrap_or(false);
            if found {
                Ok(())
            } else {
                Err(format!("websockets is not installed in {}", lib.display()))
            }
        }),
    };
    if let Err(what) = checked {
        not_installed(kind, what);
    }
}

/// A running peer process: its stdout lines arrive on a channel, stderr is kept for
/// diagnostics. Killed (and reaped) on drop.
pub struct Peer {
    name: String,
    child: Child,
    // Kept open: servers started with --exit-on-stdin-eof exit when the test process dies.
    _stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    stderr: Arc<Mutex<String>>,
    seen: Vec<String>,
}

impl Peer {
    /// Starts `interop/node/<script>.js` or `interop/python/<script>.py` with `args`.
    pub fn spawn(kind: Kind, script: &str, args: &[String]) -> Self {
        require(kind);
        let dir = interop_dir();
        let mut cmd = match kind {
            Kind::Node => {
                let mut c = Command::new("node");
                c.arg(dir.join("node").join(format!("{script}.js")));
                c
            }
            Kind::Python => {
                let mut c = Command::new(python_bin());
                c.arg(dir.join("python").join(format!("{script}.py")));
                c.env("PYTHONUNBUFFERED", "1")
                    .env("PYTHONDONTWRITEBYTECODE", "1");
                c
            }
        };
        cmd.args(args)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| not_installed(kind, &format!("cannot start {script}: {e}")));
        let name = format!("{kind:?} {script} (pid {})", child.id());

        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(l) = line else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err_pipe.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Self {
            name,
            _stdin: child.stdin.take(),
            child,
            lines,
            stderr,
            seen: Vec::new(),
        }
    }

    /// What the peer printed so far, for panic messages.
    pub fn diagnostics(&self) -> String {
        let mut s = format!("--- {} stdout:\n", self.name);
        for l in &self.seen {
            s.push_str(&l[..l.len().min(400)]);
            s.push('\n');
        }
        s.push_str("--- stderr:\n");
        s.push_str(&self.stderr.lock().unwrap());
        s
    }

    /// The next stdout line; `None` at EOF. Panics after [`T`].
    pub async fn line(&mut self) -> Option<String> {
        match tokio::time::timeout(T, self.lines.recv()).await {
            Ok(Some(l)) => {
                self.seen.push(l.clone());
                Some(l)
            }
            Ok(None) => None,
            Err(_) => panic!(
                "{}: no output within {T:?}\n{}",
                self.name,
                self.diagnostics()
            ),
        }
    }

    /// The next stdout line as JSON. Panics at EOF.
    pub async fn json(&mut self) -> Value {
        let Some(l) = self.line().await else {
            panic!("{}: exited early\n{}", self.name, self.diagnostics());
        };
        serde_json::from_str(&l).unwrap_or_else(|e| {
            panic!("{}: not JSON ({e}): {l}\n{}", self.name, self.diagnostics())
        })
    }

    /// The next event named `name`, skipping others; panics on an "error" event.
    pub async fn event(&mut self, name: &str) -> Value {
        loop {
            let v = self.json().await;
            if v["event"] == "error" {
                panic!(
                    "{} reported an error: {v}\n{}",
                    self.name,
                    self.diagnostics()
                );
            }
            if v["event"] == name {
                return v;
            }
        }
    }

    /// Waits (bounded) for the process to exit; its status.
    async fn exit_status(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + T;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                panic!("{} did not exit\n{}", self.name, self.diagnostics());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A peer echo server (`server.js` / `server.py`), ready: its port is known.
pub struct PeerServer {
    pub kind: Kind,
    pub port: u16,
    pub peer: Peer,
}

impl PeerServer {
    /// Starts the peer's server with `args` and waits for the port line.
    pub async fn start(kind: Kind, args: &[&str]) -> Self {
        Self::start_all(kind, &[args.to_vec()]).await.pop().unwrap()
    }

    /// Starts several servers at once (their start-up overlaps), in order.
    pub async fn start_all(kind: Kind, configs: &[Vec<&str>]) -> Vec<Self> {
        let mut peers: Vec<Peer> = configs
            .iter()
            .map(|args| {
                let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
                a.push("--exit-on-stdin-eof".into());
                Peer::spawn(kind, "server", &a)
            })
            .collect();
        let mut out = Vec::new();
        for mut peer in peers.drain(..) {
            let Some(first) = peer.line().await else {
                panic!(
                    "{kind:?} server exited before printing its port\n{}",
                    peer.diagnostics()
                );
            };
            let port = first.trim().parse().unwrap_or_else(|_| {
                panic!(
                    "first line is not a port: {first:?}\n{}",
                    peer.diagnostics()
                )
            });
            out.push(Self { kind, port, peer });
        }
        out
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    pub fn wss_url(&self, path: &str) -> String {
        format!("wss://127.0.0.1:{}{path}", self.port)
    }

    pub async fn event(&mut self, name: &str) -> Value {
        self.peer.event(name).await
    }
}

/// What a peer client (`client.js` / `client.py`) printed.
pub struct ClientOutput {
    pub lines: Vec<Value>,
    diagnostics: String,
}

impl ClientOutput {
    /// Lines of connection `conn` with `op`, in order.
    pub fn ops(&self, conn: usize, op: &str) -> Vec<&Value> {
        self.lines
            .iter()
            .filter(|l| l["conn"] == conn && l["op"] == op)
            .collect()
    }

    /// The one line of connection `conn` with `op`.
    pub fn one(&self, conn: usize, op: &str) -> &Value {
        let v = self.ops(conn, op);
        assert_eq!(
            v.len(),
            1,
            "expected one {op:?} line for connection {conn}\n{self}"
        );
        v[0]
    }

    /// The "message" lines of connection `conn`.
    pub fn messages(&self, conn: usize) -> Vec<&Value> {
        self.ops(conn, "message")
    }
}

impl fmt::Display for ClientOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostics)
    }
}

/// Runs the peer's client driver with `plan` (one connection or an array) to completion and
/// returns its output; panics unless it printed `{"op":"done"}` and exited with status 0.
pub async fn run_client(kind: Kind, plan: Value) -> ClientOutput {
    // In a file: plans with many connections exceed the size limit of one argument.
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(plan.to_string().as_bytes()).unwrap();
    let path = file.path().to_str().unwrap().to_owned();
    let mut peer = Peer::spawn(kind, "client", &["--plan-file".into(), path]);
    let mut lines = Vec::new();
    while peer.line().await.is_some() {}
    for l in &peer.seen {
        let v: Value = serde_json::from_str(l)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{}", peer.diagnostics()));
        lines.push(v);
    }
    let status = peer.exit_status().await;
    let done = lines.last().is_some_and(|l| l["op"] == "done");
    assert!(
        status.success() && done,
        "{kind:?} client failed ({status})\nplan: {plan}\n{}",
        peer.diagnostics()
    );
    ClientOutput {
        lines,
        diagnostics: peer.diagnostics(),
    }
}

// ---------------------------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------------------------

/// CRC-32 (IEEE), as zlib computes it in the peers.
pub fn crc32(data: &[u8]) -> u32 {
    static TABLE: OnceLock<[u32; 256]> = OnceLock::new();
    let t = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (n, e) in t.iter_mut().enumerate() {
            let mut c = n as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *e = c;
        }
        t
    });
    let mut c = !0u32;
    for &b in data {
        c = t[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The description the peers print for a message: type, len, crc32 and, up to 256 bytes, data.
pub fn describe(msg: &Message) -> Value {
    let (kind, bytes) = match msg {
        Message::Text(t) => ("text", t.as_bytes()),
        Message::Binary(b) => ("binary", &b[..]),
        other => panic!("not a data message: {other:?}"),
    };
    let mut v = json!({"type": kind, "len": bytes.len(), "crc32": crc32(bytes)});
    if bytes.len() <= 256 {
        v["data"] = match msg {
            Message::Text(t) => json!(t.as_str()),
            _ => json!(hex(bytes)),
        };
    }
    v
}

/// `size` bytes: pseudo-random for binary, printable ASCII (a random 4 KiB chunk, repeated)
/// for text.
pub fn generate(text: bool, size: usize) -> Message {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ (size as u64).wrapping_mul(0x2545_f491_4f6c_dd1d);
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    if text {
        let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:-_";
        let chunk: Vec<u8> = (0..size.min(4096))
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let s: Vec<u8> = chunk.iter().copied().cycle().take(size).collect();
        Message::text(String::from_utf8(s).unwrap())
    } else {
        let mut v = Vec::with_capacity(size + 8);
        while v.len() < size {
            v.extend_from_slice(&next().to_le_bytes());
        }
        v.truncate(size);
        Message::binary(v)
    }
}

/// A compressible text of about 2 KiB.
pub fn compressible_text() -> String {
    (0..64)
        .map(|i| format!("line {i:03}: the quick brown fox "))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The scripted wsx server (mirror of the peers' echo server)
// ---------------------------------------------------------------------------------------------

/// A wsx server on 127.0.0.1:0 that echoes, obeys the same `cmd:` commands as the peers'
/// servers and reports the same events (each with the connection `id`).
pub struct WsxServer {
    pub addr: SocketAddr,
    events: mpsc::UnboundedReceiver<Value>,
    shutdown: ShutdownHandle,
    seen: Vec<Value>,
}

impl WsxServer {
    pub async fn start(builder: ServerBuilder) -> Self {
        let server = builder.bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let shutdown = server.shutdown_handle();
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(server.serve(move |c: Connected| scripted(c, tx.clone())));
        Self {
            addr,
            events,
            shutdown,
            seen: Vec::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.addr.port())
    }

    pub fn wss_url(&self, path: &str) -> String {
        format!("wss://127.0.0.1:{}{path}", self.addr.port())
    }

    fn diagnostics(&self) -> String {
        let mut s = String::from("--- wsx server events:\n");
        for e in &self.seen {
            s.push_str(&format!("{e}\n"));
        }
        s
    }

    /// The events of the next `n` connections to finish, grouped per connection (in accept
    /// order). Panics on an "error" event.
    pub async fn connections(&mut self, n: usize) -> Vec<Vec<Value>> {
        let mut ended = 0;
        let mut all = Vec::new();
        while ended < n {
            let e = match tokio::time::timeout(T, self.events.recv()).await {
                Ok(Some(e)) => e,
                _ => panic!(
                    "wsx server: {ended} of {n} connections ended\n{}",
                    self.diagnostics()
                ),
            };
            self.seen.push(e.clone());
            if e["event"] == "error" {
                panic!("wsx server error: {e}\n{}", self.diagnostics());
            }
            if e["event"] == "end" {
                ended += 1;
            }
            all.push(e);
        }
        let mut by_id: BTreeMap<u64, Vec<Value>> = BTreeMap::new();
        for e in all {
            by_id.entry(e["id"].as_u64().unwrap()).or_default().push(e);
        }
        by_id.into_values().collect()
    }

    /// The events of the next connection to finish.
    pub async fn connection(&mut self) -> Vec<Value> {
        self.connections(1).await.pop().unwrap()
    }
}

impl Drop for WsxServer {
    fn drop(&mut self) {
        self.shutdown.shutdown();
    }
}

/// Events named `name` among one connection's events.
pub fn events<'a>(evs: &'a [Value], name: &str) -> Vec<&'a Value> {
    evs.iter().filter(|e| e["event"] == name).collect()
}

/// The one event named `name`.
pub fn event<'a>(evs: &'a [Value], name: &str) -> &'a Value {
    let v = events(evs, name);
    assert_eq!(v.len(), 1, "expected one {name:?} event in {evs:#?}");
    v[0]
}

fn or_null(s: &str) -> Value {
    if s.is_empty() { Value::Null } else { json!(s) }
}

async fn scripted(mut c: Connected, tx: mpsc::UnboundedSender<Value>) {
    let id = c.id.0;
    let emit = |mut v: Value| {
        v["id"] = json!(id);
        let _ = tx.send(v);
    };
    emit(json!({
        "event": "connection",
        "path": c.request.uri().path(),
        "protocol": or_null(c.ws.protocol()),
        "extensions": or_null(c.ws.extensions()),
        "offer": c.request.headers().get("sec-websocket-extensions").and_then(|v| v.to_str().ok()),
    }));
    let mut awaiting_pong: Vec<Bytes> = Vec::new();
    loop {
        let msg = match tokio::time::timeout(T, c.ws.recv()).await {
            Err(_) => {
                emit(json!({"event": "error", "message": "recv timed out"}));
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                emit(json!({"event": "error", "message": e.to_string()}));
                continue;
            }
            Ok(Some(Ok(m))) => m,
        };
        let reply = match msg {
            Message::Text(ref t) => {
                let mut d = describe(&msg);
                d["event"] = json!("message");
                emit(d);
                match t.strip_prefix("cmd:") {
                    Some(cmd) => command(&mut c.ws, cmd, &mut awaiting_pong, &emit).await,
                    None => Some(msg.clone()),
                }
            }
            Message::Binary(_) => {
                let mut d = describe(&msg);
                d["event"] = json!("message");
                emit(d);
                Some(msg)
            }
            Message::Ping(d) => {
                emit(json!({"event": "ping", "data": String::from_utf8_lossy(&d)}));
                None
            }
            Message::Pong(d) => {
                emit(json!({"event": "pong", "data": String::from_utf8_lossy(&d)}));
                awaiting_pong.iter().position(|p| *p == d).map(|i| {
                    awaiting_pong.remove(i);
                    Message::text(format!("got-pong:{}", String::from_utf8_lossy(&d)))
                })
            }
            Message::Close(f) => {
                let (code, reason) =
                    f.map_or((1005, String::new()), |f| (f.code.0, f.reason.to_string()));
                emit(json!({"event": "close", "code": code, "reason": reason}));
                None
            }
        };
        if let Some(m) = reply {
            match tokio::time::timeout(T, c.ws.send(m)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => emit(json!({"event": "error", "message": format!("send: {e}")})),
                Err(_) => emit(json!({"event": "error", "message": "send timed out"})),
            }
        }
    }
    emit(json!({"event": "end"}));
}

/// Runs a `cmd:` command; returns a message to send, if any.
async fn command(
    ws: &mut WebSocket<MaybeTlsStream>,
    cmd: &str,
    awaiting_pong: &mut Vec<Bytes>,
    emit: &impl Fn(Value),
) -> Option<Message> {
    let parts: Vec<&str> = cmd.splitn(3, ':').collect();
    match parts[..] {
        ["close", code, reason] => {
            let code: u16 = code.parse().unwrap();
            if let Err(e) = ws.close(code, reason).await {
                emit(json!({"event": "error", "message": format!("close: {e}")}));
            }
            None
        }
        ["ping", ..] => {
            let data = Bytes::from(cmd["ping:".len()..].to_owned());
            awaiting_pong.push(data.clone());
            Some(Message::Ping(data))
        }
        ["big", kind, size] => {
            let m = generate(kind == "text", size.parse().unwrap());
            let mut d = describe(&m);
            d["event"] = json!("sent");
            emit(d);
            Some(m)
        }
        _ => {
            // wsx has no public API to send a fragmented message (see the interop report).
            emit(json!({"event": "error", "message": format!("unknown command {cmd}")}));
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------

/// A self-signed certificate for 127.0.0.1 (and localhost), as DER and as PEM files in a
/// temporary directory.
pub struct TestCert {
    _dir: tempfile::TempDir,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl TestCert {
    pub fn new() -> Self {
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&cert_path, ck.cert.pem()).unwrap();
        std::fs::write(&key_path, ck.key_pair.serialize_pem()).unwrap();
        Self {
            _dir: dir,
            cert_path,
            key_path,
            cert_der: ck.cert.der().clone(),
            key_der: ck.key_pair.serialize_der(),
        }
    }

    /// A server builder serving wss:// with this certificate (`wsx::tls::server_config`).
    pub fn server(&self, b: ServerBuilder) -> ServerBuilder {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        b.tls(wsx::tls::server_config(vec![self.cert_der.clone()], key).unwrap())
    }

    pub fn cert(&self) -> &str {
        self.cert_path.to_str().unwrap()
    }

    pub fn key(&self) -> &str {
        self.key_path.to_str().unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// permessage-deflate expectations
// ---------------------------------------------------------------------------------------------

/// The effective parameters of a `permessage-deflate` response (absent window bits = 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pmd {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: u8,
    pub client_max_window_bits: u8,
}

impl Default for Pmd {
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

/// Parses a response's `Sec-WebSocket-Extensions` value: exactly one `permessage-deflate`,
/// known parameters only, each at most once.
pub fn parse_pmd(header: &str) -> Pmd {
    let mut parts = header.split(';').map(str::trim);
    assert_eq!(
        parts.next(),
        Some("permessage-deflate"),
        "unexpected extensions {header:?}"
    );
    assert!(!header.contains(','), "more than one extension: {header:?}");
    let mut p = Pmd::default();
    let mut seen = Vec::new();
    for param in parts {
        let (k, v) = match param.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim().trim_matches('"'))),
            None => (param, None),
        };
        assert!(!seen.contains(&k.to_owned()), "repeated {k} in {header:?}");
        seen.push(k.to_owned());
        let bits = || -> u8 {
            let b: u8 = v
                .unwrap_or_else(|| panic!("{k} without a value in {header:?}"))
                .parse()
                .unwrap();
            assert!((8..=15).contains(&b), "{k}={b} in {header:?}");
            b
        };
        match k {
            "server_no_context_takeover" => p.server_no_context_takeover = true,
            "client_no_context_takeover" => p.client_no_context_takeover = true,
            "server_max_window_bits" => p.server_max_window_bits = bits(),
            "client_max_window_bits" => p.client_max_window_bits = bits(),
            other => panic!("unknown parameter {other} in {header:?}"),
        }
    }
    p
}

/// One permessage-deflate case: how the configured side is set up (as a peer JSON spec, as
/// peer server arguments and as a wsx `DeflateConfig`) and what must be negotiated.
#[derive(Debug, Clone)]
pub struct PmdCase {
    pub label: String,
    pub spec: Value,
    pub args: Vec<String>,
    pub config: DeflateConfig,
    pub expect: Pmd,
}

/// Every parameter on its own (window bits 9–15 each) and all four together.
pub fn pmd_cases() -> Vec<PmdCase> {
    let base = DeflateConfig::default().threshold(0);
    let mut v = vec![PmdCase {
        label: "defaults".into(),
        spec: json!(true),
        args: vec![],
        config: base.clone(),
        expect: Pmd::default(),
    }];
    v.push(PmdCase {
        label: "server_no_context_takeover".into(),
        spec: json!({"server_no_context_takeover": true}),
        args: vec!["--server-no-context-takeover".into()],
        config: base.clone().server_no_context_takeover(true),
        expect: Pmd {
            server_no_context_takeover: true,
            ..Pmd::default()
        },
    });
    v.push(PmdCase {
        label: "client_no_context_takeover".into(),
        spec: json!({"client_no_context_takeover": true}),
        args: vec!["--client-no-context-takeover".into()],
        config: base.clone().client_no_context_takeover(true),
        expect: Pmd {
            client_no_context_takeover: true,
            ..Pmd::default()
        },
    });
    for bits in 9..=15u8 {
        v.push(PmdCase {
            label: format!("server_max_window_bits={bits}"),
            spec: json!({"server_max_window_bits": bits}),
            args: vec!["--server-max-window-bits".into(), bits.to_string()],
            config: base.clone().server_max_window_bits(bits),
            expect: Pmd {
                server_max_window_bits: bits,
                ..Pmd::default()
            },
        });
    }
    for bits in 9..=15u8 {
        v.push(PmdCase {
            label: format!("client_max_window_bits={bits}"),
            spec: json!({"client_max_window_bits": bits}),
            args: vec!["--client-max-window-bits".into(), bits.to_string()],
            config: base.clone().client_max_window_bits(bits),
            expect: Pmd {
                client_max_window_bits: bits,
                ..Pmd::default()
            },
        });
    }
    v.push(PmdCase {
        label: "all four".into(),
        spec: json!({"server_no_context_takeover": true, "client_no_context_takeover": true,
                     "server_max_window_bits": 10, "client_max_window_bits": 11}),
        args: [
            "--server-no-context-takeover",
            "--client-no-context-takeover",
            "--server-max-window-bits",
            "10",
            "--client-max-window-bits",
            "11",
        ]
        .map(String::from)
        .to_vec(),
        config: base
            .server_no_context_takeover(true)
            .client_no_context_takeover(true)
            .server_max_window_bits(10)
            .client_max_window_bits(11),
        expect: Pmd {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 10,
            client_max_window_bits: 11,
        },
    });
    v
}

/// Steps that exercise compression: the same compressible text several times (context
/// takeover), binary, an empty and a short message; each echoed.
fn pmd_steps() -> Value {
    let text = compressible_text();
    json!([
        {"op": "text", "data": text}, {"op": "recv"},
        {"op": "text", "data": text}, {"op": "recv"},
        {"op": "binary", "hex": hex(&vec![0xab; 1500])}, {"op": "recv"},
        {"op": "text", "data": format!("{text}{text}")}, {"op": "recv"},
        {"op": "text", "data": ""}, {"op": "recv"},
        {"op": "text", "data": "short"}, {"op": "recv"},
    ])
}

fn pmd_messages() -> Vec<Message> {
    let text = compressible_text();
    vec![
        Message::text(text.clone()),
        Message::text(text.clone()),
        Message::binary(vec![0xab; 1500]),
        Message::text(format!("{text}{text}")),
        Message::text(""),
        Message::text("short"),
    ]
}

// ---------------------------------------------------------------------------------------------
// Helpers for the wsx client side
// ---------------------------------------------------------------------------------------------

pub type Ws = WebSocket<MaybeTlsStream>;

pub async fn connect(b: ClientBuilder) -> Ws {
    within("wsx connect", b.connect()).await.unwrap().0
}

/// The next message, which must not be an error or the end.
pub async fn recv(ws: &mut Ws) -> Message {
    match within("wsx recv", ws.recv()).await {
        Some(Ok(m)) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// The next data message, skipping pings and pongs.
pub async fn recv_data(ws: &mut Ws) -> Message {
    loop {
        match recv(ws).await {
            Message::Ping(_) | Message::Pong(_) => {}
            m => return m,
        }
    }
}

pub async fn send(ws: &mut Ws, m: Message) {
    within("wsx send", ws.send(m)).await.unwrap();
}

/// Sends `m` and expects it echoed.
pub async fn echo(ws: &mut Ws, m: Message) {
    send(ws, m.clone()).await;
    let got = recv_data(ws).await;
    assert!(
        got == m,
        "echo differs: sent {}, got {}",
        describe(&m),
        describe(&got)
    );
}

/// Reads until the connection ends; the close frame received (code, reason), if any.
pub async fn until_closed(ws: &mut Ws) -> Option<(u16, String)> {
    let mut close = None;
    loop {
        match within("wsx recv until closed", ws.recv()).await {
            None => return close,
            Some(Ok(Message::Close(f))) => {
                close = Some(f.map_or((1005, String::new()), |f| (f.code.0, f.reason.to_string())))
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("connection failed while closing: {e}"),
        }
    }
}

/// Closes with `code`/`reason` and completes the handshake; the peer's close frame.
pub async fn close(ws: &mut Ws, code: u16, reason: &str) -> Option<(u16, String)> {
    within("wsx close", ws.close(code, reason)).await.unwrap();
    until_closed(ws).await
}

// =============================================================================================
// Scenarios: the peer is the client, wsx the server
// =============================================================================================

fn assert_echoes(out: &ClientOutput, conn: usize, n: usize) {
    let msgs = out.messages(conn);
    assert_eq!(
        msgs.len(),
        n,
        "connection {conn}: {n} messages expected\n{out}"
    );
    for m in msgs {
        assert_eq!(
            m["echo"], true,
            "connection {conn}: not an exact echo: {m}\n{out}"
        );
    }
}

/// Fields of a description that identify the payload.
fn same_payload(a: &Value, b: &Value) -> bool {
    a["type"] == b["type"] && a["len"] == b["len"] && a["crc32"] == b["crc32"]
}

/// Text, binary (including empty ones) and messages the peer sends in fragments.
pub async fn peer_client_text_binary_fragmented(kind: Kind) {
    let mut srv = WsxServer::start(Server::builder()).await;
    let plan = json!({"url": srv.url("/echo"), "steps": [
        {"op": "text", "data": "héllo wörld ✓"}, {"op": "recv"},
        {"op": "binary", "hex": "00ff10807f"}, {"op": "recv"},
        {"op": "text", "data": ""}, {"op": "recv"},
        {"op": "binary", "hex": ""}, {"op": "recv"},
        {"op": "fragments", "type": "text", "parts": ["frag", "ment", "ed ✓"]}, {"op": "recv"},
        {"op": "fragments", "type": "binary", "parts": ["000102", "0304", "ff"]}, {"op": "recv"},
        // A multi-byte character split across fragments.
        {"op": "fragments", "type": "text", "parts": ["caf", "é ✓ end"]}, {"op": "recv"},
    ]});
    let out = run_client(kind, plan).await;
    assert_echoes(&out, 0, 7);
    let data: Vec<&Value> = out.messages(0).iter().map(|m| &m["data"]).collect();
    assert_eq!(
        data,
        [
            "héllo wörld ✓",
            "00ff10807f",
            "",
            "",
            "fragmented ✓",
            "0001020304ff",
            "café ✓ end"
        ],
        "{out}"
    );
    let evs = srv.connection().await;
    assert_eq!(event(&evs, "connection")["path"], "/echo");
    let got: Vec<(&Value, &Value)> = events(&evs, "message")
        .iter()
        .map(|e| (&e["type"], &e["data"]))
        .collect();
    assert_eq!(
        got,
        [
            (&json!("text"), &json!("héllo wörld ✓")),
            (&json!("binary"), &json!("00ff10807f")),
            (&json!("text"), &json!("")),
            (&json!("binary"), &json!("")),
            (&json!("text"), &json!("fragmented ✓")),
            (&json!("binary"), &json!("0001020304ff")),
            (&json!("text"), &json!("café ✓ end")),
        ]
    );
}

/// 16 MiB text and binary messages both ways, with compression and without.
pub async fn peer_client_large_messages(kind: Kind) {
    // Both on the default limits: a 16 MiB incompressible message deflates to a frame a
    // little over 16 MiB, which the default frame limit (64 MiB) admits.
    let b = Server::builder();
    let mut compressed =
        WsxServer::start(b.deflate(Some(DeflateConfig::default().threshold(0)))).await;
    let mut plain = WsxServer::start(Server::builder()).await;
    let big = |srv: &WsxServer, deflate: bool| {
        json!({"url": srv.url("/big"), "deflate": deflate, "timeout_ms": 60000, "steps": [
            {"op": "big", "type": "binary", "size": BIG}, {"op": "recv"},
            {"op": "big", "type": "text", "size": BIG}, {"op": "recv"},
            {"op": "text", "data": format!("cmd:big:binary:{BIG}")}, {"op": "recv"},
            {"op": "text", "data": format!("cmd:big:text:{BIG}")}, {"op": "recv"},
        ]})
    };
    let out = run_client(kind, json!([big(&compressed, true), big(&plain, false)])).await;
    let conns = [compressed.connection().await, plain.connection().await];
    for (i, evs) in conns.iter().enumerate() {
        let compressed = i == 0;
        assert_eq!(
            event(evs, "connection")["extensions"].is_string(),
            compressed,
            "connection {i}: {evs:?}"
        );
        // Peer → wsx: what the peer sent is what wsx received, and the echo is exact.
        let sent = out.ops(i, "sent");
        let received = events(evs, "message");
        assert_eq!(sent.len(), 2, "{out}");
        for (s, r) in sent.iter().zip(&received) {
            assert!(
                same_payload(s, r),
                "connection {i}: peer sent {s}, wsx got {r}"
            );
            assert_eq!(r["len"], BIG);
        }
        let msgs = out.messages(i);
        assert_eq!(msgs.len(), 4, "{out}");
        assert_eq!(msgs[0]["echo"], true, "{out}");
        assert_eq!(msgs[1]["echo"], true, "{out}");
        // wsx → peer: generated by wsx, received intact.
        let wsx_sent = events(evs, "sent");
        assert_eq!(wsx_sent.len(), 2);
        assert!(
            same_payload(wsx_sent[0], msgs[2]),
            "{} vs {}",
            wsx_sent[0],
            msgs[2]
        );
        assert!(
            same_payload(wsx_sent[1], msgs[3]),
            "{} vs {}",
            wsx_sent[1],
            msgs[3]
        );
        assert_eq!(msgs[2]["type"], "binary");
        assert_eq!(msgs[3]["type"], "text");
    }
}

fn check_pmd(out: &ClientOutput, evs: &[Value], conn: usize, case: &PmdCase) {
    let client_view = out.one(conn, "open")["extensions"]
        .as_str()
        .unwrap_or_else(|| {
            panic!("{}: no extension negotiated\n{out}", case.label);
        });
    let server_view = event(evs, "connection")["extensions"].as_str().unwrap();
    assert_eq!(
        client_view, server_view,
        "{}: both ends see the same header",
        case.label
    );
    assert_eq!(
        parse_pmd(client_view),
        case.expect,
        "{}: {client_view:?}",
        case.label
    );
    assert_echoes(out, conn, 6);
    assert_eq!(events(evs, "message").len(), 6, "{}", case.label);
}

/// The peer client offers each parameter; a default wsx server accepts it.
pub async fn peer_client_compression_offers(kind: Kind) {
    let mut srv =
        WsxServer::start(Server::builder().deflate(Some(DeflateConfig::default().threshold(0))))
            .await;
    let cases = pmd_cases();
    let plan: Vec<Value> = cases
        .iter()
        .map(|c| json!({"url": srv.url(&format!("/{}", c.label.replace(' ', "_"))), "deflate": c.spec, "steps": pmd_steps()}))
        .collect();
    let out = run_client(kind, json!(plan)).await;
    let conns = srv.connections(cases.len()).await;
    for (i, (case, evs)) in cases.iter().zip(&conns).enumerate() {
        check_pmd(&out, evs, i, case);
    }
}

/// wsx servers configured with each parameter; the peer client makes its default offer.
pub async fn peer_client_compression_server_config(kind: Kind) {
    let cases = pmd_cases();
    let mut servers = Vec::new();
    for c in &cases {
        servers.push(WsxServer::start(Server::builder().deflate(Some(c.config.clone()))).await);
    }
    let plan: Vec<Value> = servers
        .iter()
        .map(|s| json!({"url": s.url("/"), "steps": pmd_steps()}))
        .collect();
    let out = run_client(kind, json!(plan)).await;
    for (i, (case, srv)) in cases.iter().zip(servers.iter_mut()).enumerate() {
        let evs = srv.connection().await;
        check_pmd(&out, &evs, i, case);
    }
}

/// No compression when the client does not offer it, or the server refuses it.
pub async fn peer_client_compression_off(kind: Kind) {
    let mut on = WsxServer::start(Server::builder()).await;
    let mut off = WsxServer::start(Server::builder().deflate(None)).await;
    let plan = json!([
        {"url": on.url("/"), "deflate": false, "steps": pmd_steps()},
        {"url": off.url("/"), "deflate": true, "steps": pmd_steps()},
    ]);
    let out = run_client(kind, plan).await;
    for (i, srv) in [&mut on, &mut off].into_iter().enumerate() {
        let evs = srv.connection().await;
        assert_eq!(out.one(i, "open")["extensions"], Value::Null, "{out}");
        assert_eq!(event(&evs, "connection")["extensions"], Value::Null);
        assert_echoes(&out, i, 6);
    }
}

/// Close codes and reasons both ways: the peer closes (4000 "bye", 1000) and wsx sees them;
/// wsx closes (4001 "server bye", 1000) and the peer sees them.
pub async fn peer_client_close_codes(kind: Kind) {
    let mut srv = WsxServer::start(Server::builder()).await;
    let url = srv.url("/");
    let plan = json!([
        {"url": url, "steps": [{"op": "close", "code": 4000, "reason": "bye"}]},
        {"url": url, "steps": [{"op": "close", "code": 1000, "reason": ""}]},
        {"url": url, "steps": [{"op": "text", "data": "cmd:close:4001:server bye"}, {"op": "wait_close"}]},
        {"url": url, "steps": [{"op": "text", "data": "cmd:close:1000:"}, {"op": "wait_close"}]},
    ]);
    let out = run_client(kind, plan).await;
    let conns = srv.connections(4).await;
    // Peer-initiated: wsx receives code and reason, and echoes the code.
    for (i, code, reason) in [(0, 4000, "bye"), (1, 1000, "")] {
        let c = event(&conns[i], "close");
        assert_eq!(
            (c["code"].as_u64().unwrap(), c["reason"].as_str().unwrap()),
            (code, reason),
            "{c}"
        );
        assert_eq!(out.one(i, "closed")["code"], code, "{out}");
    }
    // wsx-initiated: the peer receives code and reason, and echoes the code.
    for (i, code, reason) in [(2, 4001, "server bye"), (3, 1000, "")] {
        let c = out.one(i, "closed");
        assert_eq!(c["code"], code, "{out}");
        assert_eq!(c["reason"], reason, "{out}");
        assert_eq!(event(&conns[i], "close")["code"], code, "{:?}", conns[i]);
    }
}

/// The peer pings and wsx answers; wsx pings (`Message::Ping`) and the peer answers.
pub async fn peer_client_ping_pong(kind: Kind) {
    let mut srv = WsxServer::start(Server::builder()).await;
    let plan = json!({"url": srv.url("/"), "steps": [
        {"op": "ping", "data": "from-peer"},
        {"op": "ping", "data": ""},
        {"op": "text", "data": "cmd:ping:from-wsx"}, {"op": "recv"},
        {"op": "text", "data": "after"}, {"op": "recv"},
    ]});
    let out = run_client(kind, plan).await;
    let pongs: Vec<&Value> = out.ops(0, "pong").iter().map(|p| &p["data"]).collect();
    assert_eq!(pongs, ["from-peer", ""], "{out}");
    let msgs = out.messages(0);
    assert_eq!(msgs[0]["data"], "got-pong:from-wsx", "{out}");
    assert_eq!(msgs[1]["echo"], true, "{out}");
    if kind == Kind::Node {
        assert_eq!(out.one(0, "ping_received")["data"], "from-wsx", "{out}");
    }
    let evs = srv.connection().await;
    let pings: Vec<&Value> = events(&evs, "ping").iter().map(|p| &p["data"]).collect();
    assert_eq!(pings, ["from-peer", ""]);
    assert_eq!(event(&evs, "pong")["data"], "from-wsx");
}

/// The client offers [a, b], the server speaks b: b on both ends.
pub async fn peer_client_subprotocol(kind: Kind) {
    let mut srv = WsxServer::start(Server::builder().protocols(["b"])).await;
    let plan = json!({"url": srv.url("/"), "protocols": ["a", "b"], "steps": [
        {"op": "text", "data": "with b"}, {"op": "recv"},
    ]});
    let out = run_client(kind, plan).await;
    assert_eq!(out.one(0, "open")["protocol"], "b", "{out}");
    assert_echoes(&out, 0, 1);
    let evs = srv.connection().await;
    assert_eq!(event(&evs, "connection")["protocol"], "b");
}

/// The peer connects over TLS to a wsx server (`wsx::tls::server_config`), trusting the
/// self-signed certificate as its CA.
pub async fn peer_client_wss(kind: Kind) {
    let cert = TestCert::new();
    let mut srv = WsxServer::start(cert.server(Server::builder())).await;
    let plan = json!({"url": srv.wss_url("/tls"), "ca": cert.cert(), "steps": [
        {"op": "text", "data": "over tls"}, {"op": "recv"},
        {"op": "big", "type": "binary", "size": 1 << 20}, {"op": "recv"},
        {"op": "ping", "data": "tls-ping"},
        {"op": "close", "code": 4000, "reason": "bye"},
    ]});
    let out = run_client(kind, plan).await;
    assert_echoes(&out, 0, 2);
    assert_eq!(out.one(0, "closed")["code"], 4000, "{out}");
    let evs = srv.connection().await;
    assert_eq!(event(&evs, "connection")["path"], "/tls");
    assert_eq!(event(&evs, "close")["reason"], "bye");
}

// =============================================================================================
// Scenarios: wsx is the client, the peer the server
// =============================================================================================

/// Text, binary, empty messages, and fragmented messages sent by the peer.
pub async fn wsx_client_text_binary_fragmented(kind: Kind) {
    let mut peer = PeerServer::start(kind, &[]).await;
    let mut ws = connect(ClientBuilder::new(peer.url("/echo"))).await;
    assert_eq!(peer.event("connection").await["path"], "/echo");
    for m in [
        Message::text("héllo wörld ✓"),
        Message::binary(vec![0u8, 0xff, 0x10, 0x80, 0x7f]),
        Message::text(""),
        Message::binary(Vec::new()),
    ] {
        echo(&mut ws, m.clone()).await;
        let e = peer.event("message").await;
        let mut want = describe(&m);
        want["event"] = json!("message");
        assert_eq!(e, want);
    }
    send(&mut ws, Message::text("cmd:fragments")).await;
    assert_eq!(recv_data(&mut ws).await, Message::text("fragmented ✓"));
    assert_eq!(
        recv_data(&mut ws).await,
        Message::binary(vec![0u8, 1, 2, 3, 4, 0xff])
    );
    // wsx sends in fragments (a multi-byte character split across two), with a ping between
    // them; the peer reassembles and echoes the whole message.
    let parts: [&[u8]; 3] = [b"caf", b"\xc3", b"\xa9 \xe2\x9c\x93 wsx"];
    for (i, p) in parts.iter().enumerate() {
        let op = if i == 0 {
            wsx::OpCode::Text
        } else {
            wsx::OpCode::Continuation
        };
        within(
            "send fragment",
            ws.send_fragment(op, Bytes::copy_from_slice(p), i == parts.len() - 1),
        )
        .await
        .unwrap();
        if i == 0 {
            send(&mut ws, Message::Ping(Bytes::from_static(b"mid"))).await;
        }
    }
    assert_eq!(recv_data(&mut ws).await, Message::text("café ✓ wsx"));
    // The peer saw one whole text message (skip its log of the earlier command).
    let mut e = peer.event("message").await;
    if e["data"] == json!("cmd:fragments") {
        e = peer.event("message").await;
    }
    assert_eq!(
        (&e["type"], &e["data"]),
        (&json!("text"), &json!("café ✓ wsx"))
    );
    assert_eq!(close(&mut ws, 1000, "").await, Some((1000, String::new())));
}

/// 16 MiB text and binary messages both ways, with compression and without.
pub async fn wsx_client_large_messages(kind: Kind) {
    let mut peer = PeerServer::start(kind, &[]).await;
    for deflate in [Some(DeflateConfig::default().threshold(0)), None] {
        let compressed = deflate.is_some();
        let b = ClientBuilder::new(peer.url("/big"));
        let mut ws = connect(b.deflate(deflate)).await;
        assert_eq!(
            !ws.extensions().is_empty(),
            compressed,
            "{}",
            ws.extensions()
        );
        assert_eq!(
            peer.event("connection").await["extensions"].is_string(),
            compressed
        );
        for text in [false, true] {
            let m = generate(text, BIG);
            echo(&mut ws, m.clone()).await;
            let e = peer.event("message").await;
            assert!(same_payload(&e, &describe(&m)), "peer got {e}");
            let kind_name = if text { "text" } else { "binary" };
            send(&mut ws, Message::text(format!("cmd:big:{kind_name}:{BIG}"))).await;
            let got = recv_data(&mut ws).await;
            let sent = peer.event("sent").await;
            assert!(
                same_payload(&sent, &describe(&got)),
                "peer sent {sent}, wsx got {}",
                describe(&got)
            );
            assert_eq!(sent["len"], BIG);
        }
        assert_eq!(close(&mut ws, 1000, "").await.map(|c| c.0), Some(1000));
    }
}

async fn wsx_pmd_round_trip(ws: &mut Ws, peer: &mut PeerServer, case: &PmdCase) {
    let client_view = ws.extensions().to_owned();
    let conn = peer.event("connection").await;
    assert_eq!(
        conn["extensions"],
        client_view.as_str(),
        "{}: both ends see the same header",
        case.label
    );
    assert_eq!(
        parse_pmd(&client_view),
        case.expect,
        "{}: {client_view:?}",
        case.label
    );
    for m in pmd_messages() {
        echo(ws, m).await;
    }
    assert_eq!(
        close(ws, 1000, "").await.map(|c| c.0),
        Some(1000),
        "{}",
        case.label
    );
}

/// wsx offers each parameter; the peer server accepts offers as they are.
pub async fn wsx_client_compression_offers(kind: Kind) {
    let mut peer = PeerServer::start(kind, &[]).await;
    for case in pmd_cases() {
        let mut ws =
            connect(ClientBuilder::new(peer.url("/")).deflate(Some(case.config.clone()))).await;
        wsx_pmd_round_trip(&mut ws, &mut peer, &case).await;
    }
}

/// Peer servers configured with each parameter; wsx makes its default offer.
pub async fn wsx_client_compression_server_config(kind: Kind) {
    let cases = pmd_cases();
    let configs: Vec<Vec<&str>> = cases
        .iter()
        .map(|c| c.args.iter().map(String::as_str).collect())
        .collect();
    let peers = PeerServer::start_all(kind, &configs).await;
    for (case, mut peer) in cases.iter().zip(peers) {
        let offer = DeflateConfig::default().threshold(0);
        let mut ws = connect(ClientBuilder::new(peer.url("/")).deflate(Some(offer))).await;
        wsx_pmd_round_trip(&mut ws, &mut peer, case).await;
    }
}

/// No compression when wsx does not offer it, or the peer server refuses it.
pub async fn wsx_client_compression_off(kind: Kind) {
    let mut on = PeerServer::start(kind, &[]).await;
    let mut off = PeerServer::start(kind, &["--deflate", "off"]).await;
    for (peer, offer) in [(&mut on, None), (&mut off, Some(DeflateConfig::default()))] {
        let mut ws = connect(ClientBuilder::new(peer.url("/")).deflate(offer)).await;
        assert_eq!(ws.extensions(), "");
        assert_eq!(peer.event("connection").await["extensions"], Value::Null);
        for m in pmd_messages() {
            echo(&mut ws, m).await;
        }
        close(&mut ws, 1000, "").await;
    }
}

/// Close codes and reasons both ways, and a server that closes at once.
pub async fn wsx_client_close_codes(kind: Kind) {
    let mut peer = PeerServer::start(kind, &[]).await;
    // wsx closes: the peer sees code and reason, and echoes the code.
    for (code, reason) in [(4000, "bye"), (1000, "")] {
        let mut ws = connect(ClientBuilder::new(peer.url("/"))).await;
        assert_eq!(close(&mut ws, code, reason).await.map(|c| c.0), Some(code));
        let e = peer.event("close").await;
        assert_eq!(
            (e["code"].as_u64().unwrap(), e["reason"].as_str().unwrap()),
            (u64::from(code), reason),
            "{e}"
        );
    }
    // The peer closes: wsx sees code and reason.
    for (code, reason) in [(4001, "server bye"), (1000, "")] {
        let mut ws = connect(ClientBuilder::new(peer.url("/"))).await;
        send(&mut ws, Message::text(format!("cmd:close:{code}:{reason}"))).await;
        assert_eq!(until_closed(&mut ws).await, Some((code, reason.to_owned())));
        assert_eq!(
            peer.event("close").await["code"],
            code,
            "wsx echoes the code"
        );
    }
    let mut closer = PeerServer::start(
        kind,
        &["--close-code", "4002", "--close-reason", "closing now"],
    )
    .await;
    let mut ws = connect(ClientBuilder::new(closer.url("/"))).await;
    assert_eq!(
        until_closed(&mut ws).await,
        Some((4002, "closing now".to_owned()))
    );
    assert_eq!(closer.event("close").await["code"], 4002);
}

/// wsx pings (`Message::Ping`) and gets `Message::Pong`; the peer pings and wsx answers.
pub async fn wsx_client_ping_pong(kind: Kind) {
    let mut peer = PeerServer::start(kind, &[]).await;
    let mut ws = connect(ClientBuilder::new(peer.url("/"))).await;
    for data in ["from-wsx", ""] {
        send(&mut ws, Message::Ping(Bytes::from(data))).await;
        assert_eq!(recv(&mut ws).await, Message::Pong(Bytes::from(data)));
        if kind == Kind::Node {
            assert_eq!(peer.event("ping").await["data"], data);
        }
    }
    send(&mut ws, Message::text("cmd:ping:from-peer")).await;
    assert_eq!(recv(&mut ws).await, Message::Ping(Bytes::from("from-peer")));
    assert_eq!(recv(&mut ws).await, Message::text("got-pong:from-peer"));
    assert_eq!(peer.event("pong").await["data"], "from-peer");
    echo(&mut ws, Message::text("after")).await;
    close(&mut ws, 1000, "").await;
}

/// wsx offers [a, b], the peer speaks b: b on both ends.
pub async fn wsx_client_subprotocol(kind: Kind) {
    let mut peer = PeerServer::start(kind, &["--protocols", "b"]).await;
    let mut ws = connect(
        ClientBuilder::new(peer.url("/"))
            .protocol("a")
            .protocol("b"),
    )
    .await;
    assert_eq!(ws.protocol(), "b");
    assert_eq!(peer.event("connection").await["protocol"], "b");
    echo(&mut ws, Message::text("with b")).await;
    close(&mut ws, 1000, "").await;
}

/// A 301 to a 302 to an echo server: followed with `max_redirects(2)`, refused with 1, an
/// error without redirects.
pub async fn wsx_client_redirects(kind: Kind) {
    let mut target = PeerServer::start(kind, &[]).await;
    let final_url = target.url("/final?x=1");
    let mut hop2 = PeerServer::start(
        kind,
        &["--redirect", &final_url, "--redirect-status", "302"],
    )
    .await;
    let hop2_url = hop2.url("/hop2");
    let mut hop1 =
        PeerServer::start(kind, &["--redirect", &hop2_url, "--redirect-status", "301"]).await;

    let mut ws = connect(ClientBuilder::new(hop1.url("/start")).max_redirects(2)).await;
    assert_eq!(ws.url(), Some(final_url.as_str()));
    echo(&mut ws, Message::text("arrived")).await;
    close(&mut ws, 1000, "").await;
    assert_eq!(hop1.event("redirect").await["path"], "/start");
    assert_eq!(hop2.event("redirect").await["path"], "/hop2");
    assert_eq!(target.event("connection").await["path"], "/final?x=1");

    // One hop is enough for hop2 alone (302).
    let mut ws = connect(ClientBuilder::new(hop2.url("/hop2")).max_redirects(1)).await;
    echo(&mut ws, Message::text("one hop")).await;
    close(&mut ws, 1000, "").await;

    let err = within(
        "connect",
        ClientBuilder::new(hop1.url("/start"))
            .max_redirects(1)
            .connect(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, wsx::Error::Redirect { .. }),
        "too many redirects: {err}"
    );

    let err = within("connect", ClientBuilder::new(hop1.url("/start")).connect())
        .await
        .unwrap_err();
    match &err {
        wsx::Error::Handshake(wsx::HandshakeError::UnexpectedStatus { status, location }) => {
            assert_eq!(*status, 301);
            assert_eq!(location.as_deref(), Some(hop2_url.as_str()));
        }
        other => panic!("not followed by default, expected a 301 error: {other}"),
    }
    assert!(wsx::is_refused(&err, 301));
}

/// wss:// to the peer's TLS server, trusting its self-signed certificate by file and by DER;
/// refused with the default web PKI roots.
pub async fn wsx_client_wss(kind: Kind) {
    let cert = TestCert::new();
    let mut peer =
        PeerServer::start(kind, &["--tls-cert", cert.cert(), "--tls-key", cert.key()]).await;
    for trust in [
        Trust::ca_file(&cert.cert_path).unwrap(),
        Trust::Custom(vec![cert.cert_der.clone()]),
    ] {
        let mut ws = connect(ClientBuilder::new(peer.wss_url("/tls")).trust(trust)).await;
        assert_eq!(peer.event("connection").await["path"], "/tls");
        echo(&mut ws, Message::text("over tls")).await;
        echo(&mut ws, generate(false, 1 << 20)).await;
        send(&mut ws, Message::Ping(Bytes::from_static(b"tls"))).await;
        assert_eq!(
            recv(&mut ws).await,
            Message::Pong(Bytes::from_static(b"tls"))
        );
        assert_eq!(close(&mut ws, 4000, "bye").await.map(|c| c.0), Some(4000));
        assert_eq!(peer.event("close").await["reason"], "bye");
    }
    let err = within("connect", ClientBuilder::new(peer.wss_url("/")).connect())
        .await
        .unwrap_err();
    assert!(
        matches!(err, wsx::Error::Tls { .. } | wsx::Error::Io(_)),
        "untrusted certificate accepted? {err}"
    );
}

/// Redirects under TLS: wss → wss is followed, wss → ws is refused.
pub async fn wsx_client_wss_redirects(kind: Kind) {
    let cert = TestCert::new();
    let tls = ["--tls-cert", cert.cert(), "--tls-key", cert.key()];
    let mut plain = PeerServer::start(kind, &[]).await;
    let mut secure = PeerServer::start(kind, &tls).await;
    let to_secure = secure.wss_url("/secure");
    let to_plain = plain.url("/plain");
    let mut up = PeerServer::start(kind, &[&tls[..], &["--redirect", &to_secure]].concat()).await;
    let mut down = PeerServer::start(
        kind,
        &[
            &tls[..],
            &["--redirect", &to_plain, "--redirect-status", "301"],
        ]
        .concat(),
    )
    .await;
    let trust = || Trust::ca_file(&cert.cert_path).unwrap();

    let mut ws = connect(
        ClientBuilder::new(up.wss_url("/"))
            .trust(trust())
            .max_redirects(3),
    )
    .await;
    assert_eq!(ws.url(), Some(to_secure.as_str()));
    echo(&mut ws, Message::text("still secure")).await;
    close(&mut ws, 1000, "").await;
    up.event("redirect").await;
    assert_eq!(secure.event("connection").await["path"], "/secure");

    let err = within(
        "connect",
        ClientBuilder::new(down.wss_url("/"))
            .trust(trust())
            .max_redirects(3)
            .connect(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, wsx::Error::Redirect { message: m, .. } if m.contains("downgrade")),
        "wss → ws must be refused: {err}"
    );
    down.event("redirect").await;
    // The plain server was never contacted: its first event is the next connection's.
    let mut ws = connect(ClientBuilder::new(plain.url("/direct"))).await;
    assert_eq!(plain.event("connection").await["path"], "/direct");
    close(&mut ws, 1000, "").await;
}

/// Expands to the interop tests against one peer (`Kind::Node` or `Kind::Python`): every
/// scenario above, as `#[tokio::test]` functions of the including test crate.
macro_rules! interop_tests {
    ($peer:expr) => {
        /// The peer sends text, binary, empty and fragmented messages; wsx echoes them.
        #[tokio::test]
        async fn peer_client_text_binary_fragmented() {
            interop_common::peer_client_text_binary_fragmented($peer).await;
        }

        /// 16 MiB text and binary both ways, compressed and not.
        #[tokio::test]
        async fn peer_client_large_messages() {
            interop_common::peer_client_large_messages($peer).await;
        }

        /// The peer offers each permessage-deflate parameter.
        #[tokio::test]
        async fn peer_client_compression_offers() {
            interop_common::peer_client_compression_offers($peer).await;
        }

        /// Wsx servers configured with each permessage-deflate parameter.
        #[tokio::test]
        async fn peer_client_compression_server_config() {
            interop_common::peer_client_compression_server_config($peer).await;
        }

        /// No compression offered, or refused by wsx.
        #[tokio::test]
        async fn peer_client_compression_off() {
            interop_common::peer_client_compression_off($peer).await;
        }

        /// Close codes and reasons both ways.
        #[tokio::test]
        async fn peer_client_close_codes() {
            interop_common::peer_client_close_codes($peer).await;
        }

        /// Pings both ways.
        #[tokio::test]
        async fn peer_client_ping_pong() {
            interop_common::peer_client_ping_pong($peer).await;
        }

        /// [a, b] offered, b spoken.
        #[tokio::test]
        async fn peer_client_subprotocol() {
            interop_common::peer_client_subprotocol($peer).await;
        }

        /// The peer over TLS to a wsx TLS server.
        #[tokio::test]
        async fn peer_client_wss() {
            interop_common::peer_client_wss($peer).await;
        }

        /// Wsx sends text, binary, empty messages; the peer sends fragmented ones.
        #[tokio::test]
        async fn wsx_client_text_binary_fragmented() {
            interop_common::wsx_client_text_binary_fragmented($peer).await;
        }

        /// 16 MiB text and binary both ways, compressed and not.
        #[tokio::test]
        async fn wsx_client_large_messages() {
            interop_common::wsx_client_large_messages($peer).await;
        }

        /// Wsx offers each permessage-deflate parameter.
        #[tokio::test]
        async fn wsx_client_compression_offers() {
            interop_common::wsx_client_compression_offers($peer).await;
        }

        /// Peer servers configured with each permessage-deflate parameter.
        #[tokio::test]
        async fn wsx_client_compression_server_config() {
            interop_common::wsx_client_compression_server_config($peer).await;
        }

        /// No compression offered, or refused by the peer.
        #[tokio::test]
        async fn wsx_client_compression_off() {
            interop_common::wsx_client_compression_off($peer).await;
        }

        /// Close codes and reasons both ways; a server that closes at once.
        #[tokio::test]
        async fn wsx_client_close_codes() {
            interop_common::wsx_client_close_codes($peer).await;
        }

        /// Pings both ways.
        #[tokio::test]
        async fn wsx_client_ping_pong() {
            interop_common::wsx_client_ping_pong($peer).await;
        }

        /// [a, b] offered, b spoken.
        #[tokio::test]
        async fn wsx_client_subprotocol() {
            interop_common::wsx_client_subprotocol($peer).await;
        }

        /// 301 and 302 followed with max_redirects, refused without.
        #[tokio::test]
        async fn wsx_client_redirects() {
            interop_common::wsx_client_redirects($peer).await;
        }

        /// Wss:// with Trust::ca_file and Trust::Custom.
        #[tokio::test]
        async fn wsx_client_wss() {
            interop_common::wsx_client_wss($peer).await;
        }

        /// Wss → wss followed, wss → ws refused.
        #[tokio::test]
        async fn wsx_client_wss_redirects() {
            interop_common::wsx_client_wss_redirects($peer).await;
        }
    };
}
pub(crate) use interop_tests;
