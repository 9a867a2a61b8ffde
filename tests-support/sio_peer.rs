//! The official `socket.io-client` as a test peer, for the tests of `wsx-socketio`
//! (`tests/sio_interop`) and `wsx-redis` (`tests/common`), which include this file with
//! `#[path]` next to [`procs`](super::procs). In Node (`interop/node/sio_client.js`) or as the
//! browser bundle in headless Chromium (`interop/chromium/sio.mjs`), both peers run the same
//! driver, `interop/node/sio_core.js`: JSON commands in, JSON events out (see its header).
//! Also here: the driver's data notation, matchers for its events, and [`serve`], which
//! serves a wsx `SocketIo` with the page and scripts the browser peer loads.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use wsx_socketio::{Data, SocketIo};

use super::procs::{Inbox, JsonChild, Kill, call, interop_dir, read_json_lines, require};

// ---------------------------------------------------------------------------------------------
// Matchers of the driver's events
// ---------------------------------------------------------------------------------------------

/// Matches events `ev` of socket (or manager) `id`.
pub fn is(id: &str, ev: &str) -> impl Fn(&Value) -> bool + use<> {
    let (id, ev) = (id.to_owned(), ev.to_owned());
    move |v| v["ev"] == *ev && (v["id"] == *id || v["manager"] == *id)
}

/// Matches event `name` received by socket `id`.
pub fn event(id: &str, name: &str) -> impl Fn(&Value) -> bool + use<> {
    let (id, name) = (id.to_owned(), name.to_owned());
    move |v| v["ev"] == "event" && v["id"] == *id && v["event"] == *name
}

/// Matches the answer (`ack` or `ack_error`) to the emit tagged `tag`.
pub fn answer(tag: &str) -> impl Fn(&Value) -> bool + use<> {
    let tag = tag.to_owned();
    move |v| (v["ev"] == "ack" || v["ev"] == "ack_error") && v["tag"] == *tag
}

// ---------------------------------------------------------------------------------------------
// Data in the driver's notation ({"$bin": hex})
// ---------------------------------------------------------------------------------------------

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn unhex(s: &str) -> Bytes {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect::<Vec<u8>>()
        .into()
}

/// A server-side argument in the driver's notation.
pub fn marked(d: &Data) -> Value {
    match d {
        Data::Json(v) => v.clone(),
        Data::Binary(b) => json!({ "$bin": hex(b) }),
        Data::Array(items) => Value::Array(items.iter().map(marked).collect()),
        Data::Object(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), marked(v)))
                .collect::<Map<_, _>>(),
        ),
    }
}

pub fn marked_args(args: &[Data]) -> Value {
    Value::Array(args.iter().map(marked).collect())
}

fn has_bin(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.iter().any(has_bin),
        Value::Object(o) => (o.len() == 1 && o.contains_key("$bin")) || o.values().any(has_bin),
        _ => false,
    }
}

/// The driver's notation as a server-side argument (binary parts as [`Data::Binary`]).
pub fn unmarked(v: &Value) -> Data {
    if !has_bin(v) {
        return Data::Json(v.clone());
    }
    match v {
        Value::Object(o) if o.len() == 1 && o.contains_key("$bin") => {
            Data::Binary(unhex(o["$bin"].as_str().unwrap()))
        }
        Value::Object(o) => Data::Object(o.iter().map(|(k, v)| (k.clone(), unmarked(v))).collect()),
        Value::Array(a) => Data::Array(a.iter().map(unmarked).collect()),
        _ => unreachable!(),
    }
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/// The page the browser opens: the official bundle and the driver, both served below.
const PAGE: &str = "<!doctype html><meta charset=utf-8><title>wsx socket.io interop</title>\
<link rel=icon href=\"data:,\"><script src=\"/socket.io.min.js\"></script><script src=\"/sio_core.js\"></script>";

fn static_file(path: &str) -> Option<(Bytes, &'static str)> {
    let dir = interop_dir();
    let (file, ty) = match path {
        "/" => {
            return Some((
                Bytes::from_static(PAGE.as_bytes()),
                "text/html; charset=utf-8",
            ));
        }
        "/socket.io.min.js" => (
            dir.join("node_modules/socket.io-client/dist/socket.io.min.js"),
            "application/javascript",
        ),
        "/sio_core.js" => (dir.join("node/sio_core.js"), "application/javascript"),
        _ => return None,
    };
    Some((std::fs::read(file).ok()?.into(), ty))
}

/// Serves `io` on 127.0.0.1 (an ephemeral port) until the test's runtime ends, with the
/// browser's page and scripts on `/`, `/socket.io.min.js` and `/sio_core.js`. Returns the
/// base URL (`http://127.0.0.1:PORT`).
pub async fn serve(io: SocketIo) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let io = io.clone();
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                        let io = io.clone();
                        async move {
                            if !io.engine().matches_path(req.uri().path()) {
                                let resp = match static_file(req.uri().path()) {
                                    Some((body, ty)) => Response::builder()
                                        .header(header::CONTENT_TYPE, ty)
                                        .body(Full::new(body))
                                        .unwrap(),
                                    None => Response::builder()
                                        .status(StatusCode::NOT_FOUND)
                                        .body(Full::new(Bytes::from_static(b"not found")))
                                        .unwrap(),
                                };
                                return Ok::<_, std::convert::Infallible>(resp);
                            }
                            req.extensions_mut().insert(peer);
                            Ok(io.handle(req).await)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

// ---------------------------------------------------------------------------------------------
// Peers
// ---------------------------------------------------------------------------------------------

/// Which `socket.io-client`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The npm package in Node.
    Node,
    /// The browser bundle (`dist/socket.io.min.js`) in headless Chromium.
    Chromium,
}

/// The one headless Chromium shared by every test of a binary (one launch): each test opens
/// its own page, and the driver's events are routed back by page.
struct Browser {
    stdin: Mutex<ChildStdin>,
    routes: Arc<Mutex<HashMap<String, UnboundedSender<Value>>>>,
    _child: Mutex<Kill>,
}

fn browser() -> &'static Browser {
    static BROWSER: OnceLock<Browser> = OnceLock::new();
    BROWSER.get_or_init(|| {
        let dir = interop_dir();
        require(&dir.join("node_modules/playwright-core"));
        require(&dir.join("node_modules/socket.io-client/dist/socket.io.min.js"));
        require(Path::new("/usr/bin/chromium"));
        // The child outlives this test (it is shared); it exits when its stdin closes, that is
        // when the test binary exits.
        let mut child = Command::new("node")
            .arg(dir.join("chromium/sio.mjs"))
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node (interop/chromium/sio.mjs) does not start");
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        let routes: Arc<Mutex<HashMap<String, UnboundedSender<Value>>>> = Arc::default();
        let r1 = routes.clone();
        let r2 = routes.clone();
        read_json_lines(
            stdout,
            move |v| {
                let routes = r1.lock().unwrap();
                match v["page"].as_str() {
                    Some(page) => {
                        if let Some(tx) = routes.get(page) {
                            let _ = tx.send(v);
                        }
                    }
                    // Browser-wide: every test hears it.
                    None => routes.values().for_each(|tx| {
                        let _ = tx.send(v.clone());
                    }),
                }
            },
            move || r2.lock().unwrap().clear(),
        );
        Browser {
            stdin: Mutex::new(stdin),
            routes,
            _child: Mutex::new(Kill(child)),
        }
    })
}

enum Conn {
    Node(JsonChild),
    Chromium { page: String },
}

impl Conn {
    fn send(&mut self, cmd: &Value) {
        match self {
            Conn::Node(child) => child.send(cmd),
            Conn::Chromium { page } => {
                let mut cmd = cmd.clone();
                cmd["page"] = Value::String(page.clone());
                let mut line = cmd.to_string();
                line.push('\n');
                let mut stdin = browser().stdin.lock().unwrap();
                stdin
                    .write_all(line.as_bytes())
                    .expect("browser driver's stdin");
                stdin.flush().expect("browser driver's stdin");
            }
        }
    }
}

/// A `socket.io-client` driver process (Node) or page (Chromium), and its events.
pub struct Peer {
    pub kind: Kind,
    conn: Conn,
    pub inbox: Inbox,
    seq: u64,
}

impl Peer {
    /// Starts a driver; for Chromium, opens a page at `base` (a server from [`serve`]).
    pub async fn start(kind: Kind, base: &str) -> Peer {
        match kind {
            Kind::Node => Self::node().await,
            Kind::Chromium => Self::chromium(&format!("{base}/")).await,
        }
    }

    /// A driver in Node (`interop/node/sio_client.js`): sockets on managers of their own.
    pub async fn node() -> Peer {
        let dir = interop_dir();
        require(&dir.join("node_modules/socket.io-client/package.json"));
        let mut command = Command::new("node");
        command
            .arg(dir.join("node/sio_client.js"))
            .current_dir(&dir);
        let (child, inbox) = JsonChild::spawn("socket.io-client (node)", command);
        let mut peer = Peer {
            kind: Kind::Node,
            conn: Conn::Node(child),
            inbox,
            seq: 0,
        };
        let ready = peer
            .inbox
            .expect("the driver's ready line", |v| v["ev"] == "ready")
            .await;
        assert!(
            ready["version"].as_str().unwrap_or("").starts_with("4.8."),
            "{ready}"
        );
        peer
    }

    /// Opens a page at `url` in the shared browser.
    pub async fn chromium(url: &str) -> Peer {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let page = format!("p{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let b = browser();
        let (tx, rx) = unbounded_channel();
        b.routes.lock().unwrap().insert(page.clone(), tx);
        let mut peer = Peer {
            kind: Kind::Chromium,
            conn: Conn::Chromium { page: page.clone() },
            inbox: Inbox::new(format!("socket.io-client (chromium page {page})"), rx),
            seq: 0,
        };
        peer.send(json!({ "op": "open_page", "url": url }));
        let ready = peer
            .inbox
            .expect("the page to load", |v| v["ev"] == "page_ready")
            .await;
        assert!(
            ready["version"].as_str().unwrap_or("").starts_with("4.8."),
            "{ready}"
        );
        peer
    }

    /// Sends a command (without waiting).
    pub fn send(&mut self, cmd: Value) {
        self.conn.send(&cmd);
    }

    /// Sends a command and waits until the driver has run it.
    pub async fn call(&mut self, cmd: Value) -> Value {
        let conn = &mut self.conn;
        call(&mut self.inbox, &mut self.seq, cmd, |c| conn.send(c)).await
    }

    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.inbox.expect(what, pred).await
    }

    /// Connects socket `id` to `nsp` on a new manager (named `id`) for `url`.
    pub fn connect(&mut self, id: &str, url: &str, nsp: &str, opts: Value, auth: Value) {
        let mut cmd = json!({ "op": "connect", "id": id, "url": url, "nsp": nsp, "opts": opts });
        if !auth.is_null() {
            cmd["auth"] = auth;
        }
        self.send(cmd);
    }

    /// Connects socket `id` to `nsp` on the existing manager `manager`.
    pub fn connect_on(&mut self, manager: &str, id: &str, nsp: &str, auth: Value) {
        let mut cmd = json!({ "op": "connect", "id": id, "manager": manager, "nsp": nsp });
        if !auth.is_null() {
            cmd["auth"] = auth;
        }
        self.send(cmd);
    }

    /// Connects and waits for `connect`; returns that event (`sid` is the socket id).
    pub async fn connected(
        &mut self,
        id: &str,
        url: &str,
        nsp: &str,
        opts: Value,
        auth: Value,
    ) -> Value {
        self.connect(id, url, nsp, opts, auth);
        self.expect(&format!("{id} to connect"), is(id, "connect"))
            .await
    }

    pub fn emit(&mut self, id: &str, event: &str, args: Value) {
        self.send(json!({ "op": "emit", "id": id, "event": event, "args": args }));
    }

    /// Emits with an ack callback; the answer comes as an `ack` event tagged `tag`.
    pub fn emit_ack(&mut self, id: &str, event: &str, args: Value, tag: &str) {
        self.send(json!({ "op": "emit", "id": id, "event": event, "args": args, "ack": true, "tag": tag }));
    }

    /// Emits with an ack callback and waits for the answer's arguments.
    pub async fn emit_ack_wait(&mut self, id: &str, event: &str, args: Value) -> Value {
        self.seq += 1;
        let tag = format!("auto-{}", self.seq);
        self.emit_ack(id, event, args, &tag);
        let a = self
            .expect(&format!("the ack of {event}"), answer(&tag))
            .await;
        assert_eq!(a["ev"], "ack", "{a}");
        a["args"].clone()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Conn::Chromium { page } = &self.conn {
            let page = page.clone();
            if let Ok(mut stdin) = browser().stdin.lock() {
                let line = format!("{}\n", json!({ "op": "close_page", "page": page }));
                let _ = stdin.write_all(line.as_bytes());
                let _ = stdin.flush();
            }
            if let Ok(mut routes) = browser().routes.lock() {
                routes.remove(&page);
            }
        }
    }
}
