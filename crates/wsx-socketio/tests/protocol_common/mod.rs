//! Shared by `engineio_protocol.rs` and `socketio_protocol.rs`: the servers the official
//! Engine.IO v4 / Socket.IO v5 suites expect (as in `examples/suite_server.rs`), started
//! in-process on 127.0.0.1:0, a minimal HTTP/1.1 client for the polling transport, helpers
//! around the wsx WebSocket client, and the Engine.IO checks both suites share
//! ([`eio_checks`]).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod eio_checks;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsx::Message as WsMessage;
use wsx_socketio::engine::{
    CloseReason, Engine, EngineConfig, MessageData, Session, SessionHandler,
};
use wsx_socketio::{Config, Socket, SocketIo};

/// The suites' `PING_INTERVAL`.
pub const PING_INTERVAL: Duration = Duration::from_millis(300);
/// The suites' `PING_TIMEOUT`.
pub const PING_TIMEOUT: Duration = Duration::from_millis(200);
/// The `maxPayload` the suites expect in the handshake.
pub const MAX_PAYLOAD: u64 = 1_000_000;
/// Bound on any single wait (mocha's timeout is 2 s, 5 s for the heartbeat tests).
pub const T: Duration = Duration::from_secs(5);
/// How late past a protocol deadline an event may be before a test calls it a failure.
pub const SLACK: Duration = Duration::from_millis(300);

/// Awaits `f`, failing the test with `what` after [`T`].
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(T, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {T:?}: {what}"),
    }
}

/// Polls `cond` every 2 ms until it holds; panics after [`T`].
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    within(what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
}

/// Measures how late this runtime's timers fire: the machines that run the tests are shared
/// and sometimes overloaded, and a thread that is not scheduled for 400 ms delays every
/// deadline by as much. A task sleeping 5 ms at a time records the worst delay it saw; the
/// upper bounds of the timing tests stretch by that (a ratio to a peer measured in the same
/// run, as docs/ARCHITECTURE.md asks of timings), and stay at deadline + [`SLACK`] on an idle machine.
pub struct Lateness {
    worst_us: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Lateness {
    /// Starts measuring.
    pub fn start() -> Self {
        let worst_us = Arc::new(AtomicU64::new(0));
        let worst = worst_us.clone();
        let task = tokio::spawn(async move {
            loop {
                let due = tokio::time::Instant::now() + Duration::from_millis(5);
                tokio::time::sleep_until(due).await;
                let late = tokio::time::Instant::now().saturating_duration_since(due);
                worst.fetch_max(late.as_micros() as u64, Ordering::Relaxed);
            }
        });
        Lateness { worst_us, task }
    }

    /// The worst timer delay seen so far.
    pub fn worst(&self) -> Duration {
        Duration::from_micros(self.worst_us.load(Ordering::Relaxed))
    }

    /// How long after its deadline an event may be observed: [`SLACK`], plus three times the
    /// worst timer delay (a server timer fires, the server task runs, the client task reads).
    pub fn allowance(&self) -> Duration {
        SLACK + self.worst() * 3
    }
}

impl Drop for Lateness {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ----- servers -----

/// The Engine.IO settings of both suites: pingInterval 300 ms, pingTimeout 200 ms,
/// maxPayload 1,000,000.
pub fn suite_config() -> EngineConfig {
    EngineConfig::default()
        .heartbeat(PING_INTERVAL, PING_TIMEOUT)
        .max_payload(MAX_PAYLOAD as usize)
}

/// What the echo handler saw of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent {
    /// `on_open`.
    Open,
    /// `on_close` with its reason.
    Close(CloseReason),
}

/// The sessions' opens and closes, with when they happened.
#[derive(Debug, Clone, Default)]
pub struct Log(Arc<Mutex<Vec<(String, SessionEvent, Instant)>>>);

impl Log {
    fn push(&self, sid: &str, event: SessionEvent) {
        self.0
            .lock()
            .unwrap()
            .push((sid.to_owned(), event, Instant::now()));
    }

    /// Every event of `sid`, in order.
    pub fn events(&self, sid: &str) -> Vec<SessionEvent> {
        let log = self.0.lock().unwrap();
        log.iter()
            .filter(|(s, _, _)| s == sid)
            .map(|(_, e, _)| *e)
            .collect()
    }

    /// When and why `sid` closed, if it did.
    pub fn closed(&self, sid: &str) -> Option<(CloseReason, Instant)> {
        let log = self.0.lock().unwrap();
        log.iter().find_map(|(s, e, at)| match e {
            SessionEvent::Close(r) if s == sid => Some((*r, *at)),
            _ => None,
        })
    }
}

/// The Engine.IO suite's handler: every message, text or binary, is echoed to its session.
/// It also records opens and closes.
pub struct Echo {
    log: Log,
}

impl SessionHandler for Echo {
    fn on_open(&self, session: &Arc<Session>) {
        self.log.push(session.sid(), SessionEvent::Open);
    }

    fn on_message(&self, session: &Arc<Session>, message: MessageData) {
        session.send(message);
    }

    fn on_close(&self, session: &Arc<Session>, reason: CloseReason) {
        self.log.push(session.sid(), SessionEvent::Close(reason));
    }
}

/// An endpoint under test: where it listens, its path and its engine (to look at sessions).
#[derive(Clone)]
pub struct Target {
    /// The listening address.
    pub addr: SocketAddr,
    /// `/engine.io/` or `/socket.io/`.
    pub path: &'static str,
    /// The engine serving it.
    pub engine: Engine,
    /// Opens and closes, with reasons (the echo engine only).
    pub log: Option<Log>,
}

/// Starts the Engine.IO suite's echo server (`Engine::new(config, Echo)` served at
/// `/engine.io/`) with `config` on 127.0.0.1:0.
pub async fn eio_server(config: EngineConfig) -> Target {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Log::default();
    let engine = Engine::new(config, Echo { log: log.clone() });
    tokio::spawn(engine.clone().serve(listener));
    Target {
        addr,
        path: "/engine.io/",
        engine,
        log: Some(log),
    }
}

/// The Engine.IO suite's server: [`suite_config`] and the echo handler.
pub async fn eio_suite_server() -> Target {
    eio_server(suite_config()).await
}

/// Sends `auth` with the CONNECT payload; on `/`, echoes `message` as `message-back` and acks
/// `message-with-ack` with its arguments (the handlers of the Node reference server).
fn on_connection(socket: Socket) {
    socket.emit("auth", socket.handshake().auth.clone());
    if socket.ns().name() != "/" {
        return;
    }
    socket.on("message", |socket, event| async move {
        socket.emit("message-back", event.args);
    });
    socket.on("message-with-ack", |_, mut event| async move {
        let args = std::mem::take(&mut event.args);
        event.ack(args);
    });
}

/// The Socket.IO suite's `connectTimeout`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);

/// Starts the Socket.IO suite's server on 127.0.0.1:0: `/socket.io/`, namespaces `/` and
/// `/custom`, connectTimeout 1000 ms, [`suite_config`].
pub async fn sio_suite_server() -> Target {
    sio_server(CONNECT_TIMEOUT).await
}

/// The Socket.IO suite's server with another `connectTimeout`.
pub async fn sio_server(connect_timeout: Duration) -> Target {
    let io = SocketIo::new(
        Config::default()
            .engine(suite_config().path("/socket.io/"))
            .connect_timeout(connect_timeout),
    );
    for nsp in ["/", "/custom"] {
        io.ns(nsp, |socket| async move { on_connection(socket) });
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let engine = io.engine().clone();
    tokio::spawn(io.serve(listener));
    Target {
        addr,
        path: "/socket.io/",
        engine,
        log: None,
    }
}

impl Target {
    /// `<path>?<query>`.
    pub fn target(&self, query: &str) -> String {
        format!("{}?{query}", self.path)
    }

    /// The polling URL of session `sid`.
    pub fn poll(&self, sid: &str) -> String {
        self.target(&format!("EIO=4&transport=polling&sid={sid}"))
    }

    /// `ws://<addr><path>?<query>`.
    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://{}{}?{query}", self.addr, self.path)
    }

    /// A GET of `<path>?<query>`.
    pub async fn get(&self, query: &str) -> Http {
        http(self.addr, "GET", &self.target(query), &[], b"").await
    }

    /// A polling GET on session `sid`.
    pub async fn poll_get(&self, sid: &str) -> Http {
        http(self.addr, "GET", &self.poll(sid), &[], b"").await
    }

    /// A polling POST of `body` on session `sid`.
    pub async fn poll_post(&self, sid: &str, body: &[u8]) -> Http {
        http(self.addr, "POST", &self.poll(sid), &[], body).await
    }

    /// `initLongPollingSession()`: a polling handshake; returns the sid.
    pub async fn open_polling(&self) -> String {
        let resp = self.get("EIO=4&transport=polling").await;
        assert_eq!(resp.status, 200, "handshake: {resp:?}");
        let open = parse_open(&resp.text());
        open["sid"].as_str().unwrap().to_owned()
    }

    /// A polling GET as a client that is not testing the heartbeat does it: heartbeat pings
    /// (`2`) in the payload are answered (`3`) and left out, and a payload of pings only is
    /// followed by another GET. Non-200 answers are returned as they are.
    pub async fn poll_msgs(&self, sid: &str) -> Http {
        loop {
            let mut resp = self.poll_get(sid).await;
            if resp.status != 200 {
                return resp;
            }
            let body = resp.text();
            let packets: Vec<&str> = body.split('\x1e').collect();
            if !packets.contains(&"2") {
                return resp;
            }
            // may be refused if the session is closing; the next GET tells
            let _ = self.poll_post(sid, b"3").await;
            let rest: Vec<&str> = packets.into_iter().filter(|p| *p != "2").collect();
            if !rest.is_empty() {
                resp.body = rest.join("\x1e").into_bytes();
                return resp;
            }
        }
    }

    /// Whether the engine still routes `sid`.
    pub fn has_session(&self, sid: &str) -> bool {
        self.engine.session(sid).is_some()
    }

    /// The session `sid` (it must be open).
    pub fn session(&self, sid: &str) -> Arc<Session> {
        self.engine
            .session(sid)
            .unwrap_or_else(|| panic!("session {sid} is not open"))
    }

    /// Waits until the engine no longer routes `sid`; returns when that was noticed.
    pub async fn wait_gone(&self, sid: &str) -> Instant {
        wait_until(&format!("session {sid} closed"), || !self.has_session(sid)).await;
        Instant::now()
    }

    /// Waits until a long-poll GET of `sid` is registered and waiting.
    pub async fn wait_poll_waiting(&self, sid: &str) {
        let session = self.session(sid);
        wait_until("a GET waiting", || session.writable()).await;
    }

    /// Waits until `sid` has moved to the WebSocket transport.
    pub async fn wait_upgraded(&self, sid: &str) {
        let session = self.session(sid);
        wait_until("upgrade complete", || {
            session.transport() == wsx_socketio::engine::TransportKind::WebSocket
        })
        .await;
    }

    /// With the echo engine, asserts that `sid` was closed for `reason` (the Socket.IO
    /// engine's handler is not observable; nothing is checked there).
    pub async fn assert_closed_for(&self, sid: &str, reason: CloseReason) {
        let Some(log) = &self.log else {
            return;
        };
        wait_until(&format!("on_close of {sid}"), || log.closed(sid).is_some()).await;
        let (got, _) = log.closed(sid).unwrap();
        assert_eq!(got, reason, "close reason of {sid}");
    }

    /// A WebSocket to `<path>?<query>`.
    pub async fn ws(&self, query: &str) -> Ws {
        ws_connect(&self.ws_url(query)).await
    }
}

/// Parses an Engine.IO `open` packet and checks what both suites check of every handshake: it
/// starts with `0`, has **exactly** the keys `sid`, `upgrades`, `pingInterval`, `pingTimeout`,
/// `maxPayload`, and the sid is a string.
pub fn parse_open(text: &str) -> Map<String, Value> {
    assert!(text.starts_with('0'), "not an open packet: {text:?}");
    let value: Value = serde_json::from_str(&text[1..]).unwrap();
    let map = value.as_object().expect("handshake is an object").clone();
    let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "maxPayload",
            "pingInterval",
            "pingTimeout",
            "sid",
            "upgrades"
        ],
        "handshake keys of {text:?}"
    );
    assert!(map["sid"].is_string(), "sid is a string: {text:?}");
    map
}

/// Asserts the suites' `pingInterval`, `pingTimeout` and `maxPayload` in a handshake.
pub fn assert_suite_settings(open: &Map<String, Value>) {
    assert_eq!(
        open["pingInterval"],
        Value::from(PING_INTERVAL.as_millis() as u64)
    );
    assert_eq!(
        open["pingTimeout"],
        Value::from(PING_TIMEOUT.as_millis() as u64)
    );
    assert_eq!(open["maxPayload"], Value::from(MAX_PAYLOAD));
}

// ----- HTTP/1.1 client -----

/// An HTTP response.
pub struct Http {
    /// The status code.
    pub status: u16,
    /// The headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &self.text())
            .finish()
    }
}

impl Http {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The request head (and body) as written on the wire; `Content-Length` is added for a body
/// and for POST/PUT.
pub fn request_bytes(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// One request on a fresh connection; the final (non-1xx) response.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Http {
    within(&format!("{method} {target}"), async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(&request_bytes(addr, method, target, headers, body))
            .await
            .unwrap();
        loop {
            let resp = read_response(&mut stream).await;
            if !(100..200).contains(&resp.status) {
                return resp;
            }
        }
    })
    .await
}

/// Writes a raw request head (and whatever else is in `bytes`) on a fresh connection.
pub async fn send_raw(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = within("connect", TcpStream::connect(addr)).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

/// Reads one response (a 1xx interim response counts as one). A body is read by
/// `Content-Length`, chunked, or to the end of the stream.
pub async fn read_response(stream: &mut TcpStream) -> Http {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before a response head: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let mut rest = buf[head_end..].to_vec();
    let mut resp = Http {
        status,
        headers,
        body: Vec::new(),
    };
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return resp;
    }
    if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().unwrap();
        while rest.len() < len {
            let mut chunk = vec![0u8; len - rest.len()];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed in the body");
            rest.extend_from_slice(&chunk[..n]);
        }
        rest.truncate(len);
        resp.body = rest;
    } else if resp
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        let _ = stream.read_to_end(&mut rest).await;
        resp.body = dechunk(&rest);
    } else {
        let _ = stream.read_to_end(&mut rest).await;
        resp.body = rest;
    }
    resp
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(i) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = std::str::from_utf8(&data[..i]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[i + 2..i + 2 + size]);
        data = &data[i + 2 + size + 2..];
    }
}

// ----- WebSocket client -----

/// A wsx client connection.
pub type Ws = wsx::WebSocket<wsx::MaybeTlsStream>;

/// A data message received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl Frame {
    /// The text, or a panic for a binary message.
    pub fn text(&self) -> &str {
        match self {
            Frame::Text(t) => t,
            Frame::Binary(b) => panic!("expected a text message, got binary {b:?}"),
        }
    }
}

/// A text frame, for comparisons.
pub fn text(s: &str) -> Frame {
    Frame::Text(s.to_owned())
}

/// Connects (failing the test if the handshake fails).
pub async fn ws_connect(url: &str) -> Ws {
    match ws_try_connect(url).await {
        Ok(ws) => ws,
        Err(e) => panic!("connect {url}: {e}"),
    }
}

/// Connects; the handshake's outcome.
pub async fn ws_try_connect(url: &str) -> wsx::Result<Ws> {
    within(&format!("connect {url}"), async {
        wsx::ClientBuilder::new(url)
            .handshake_timeout(T)
            .connect()
            .await
            .map(|(ws, _)| ws)
    })
    .await
}

/// `socket.send(text)`.
pub async fn send_text(ws: &mut Ws, s: &str) {
    within("send", ws.send(WsMessage::text(s))).await.unwrap();
}

/// `socket.send(Uint8Array)`.
pub async fn send_binary(ws: &mut Ws, b: &[u8]) {
    within("send", ws.send(WsMessage::binary(b.to_vec())))
        .await
        .unwrap();
}

/// How a connection ended.
#[derive(Debug)]
pub enum Ended {
    /// A close frame with this code (`None`: no status code).
    Close(Option<u16>),
    /// The connection ended without a close frame, or with an error.
    Dropped(String),
}

/// The next step of a connection: a data message or its end.
pub async fn next_event(ws: &mut Ws) -> Result<Frame, Ended> {
    loop {
        match ws.recv().await {
            Some(Ok(WsMessage::Text(t))) => return Ok(Frame::Text(t.as_str().to_owned())),
            Some(Ok(WsMessage::Binary(b))) => return Ok(Frame::Binary(b.to_vec())),
            Some(Ok(WsMessage::Close(frame))) => {
                return Err(Ended::Close(frame.map(|f| f.code.0)));
            }
            Some(Ok(_)) => {} // ping/pong control frames
            Some(Err(e)) => return Err(Ended::Dropped(e.to_string())),
            None => return Err(Ended::Dropped("closed".into())),
        }
    }
}

/// `waitFor(socket, "message")`: the next data message (bounded by [`T`]).
pub async fn next_frame(ws: &mut Ws) -> Frame {
    match within("a message", next_event(ws)).await {
        Ok(frame) => frame,
        Err(end) => panic!("connection ended while waiting for a message: {end:?}"),
    }
}

/// The next data message other than a heartbeat ping; pings are answered (`3`), as any
/// client does. For tests about something else than the heartbeat (which a stalled machine
/// may let interleave).
pub async fn next_msg(ws: &mut Ws) -> Frame {
    loop {
        let frame = next_frame(ws).await;
        if frame != text("2") {
            return frame;
        }
        send_text(ws, "3").await;
    }
}

/// The next text message other than a ping (see [`next_msg`]).
pub async fn next_text(ws: &mut Ws) -> String {
    next_msg(ws).await.text().to_owned()
}

/// `waitFor(socket, "close")`: the messages received before the connection ended, and how it
/// ended (bounded by [`T`]).
pub async fn wait_close(ws: &mut Ws) -> (Vec<Frame>, Ended) {
    within("the connection to close", async {
        let mut before = Vec::new();
        loop {
            match next_event(ws).await {
                Ok(frame) => before.push(frame),
                Err(end) => return (before, end),
            }
        }
    })
    .await
}

/// A WebSocket session's handshake: the `open` packet parsed (see [`parse_open`]).
pub async fn ws_handshake(ws: &mut Ws) -> Map<String, Value> {
    let open = next_text(ws).await;
    parse_open(&open)
}
