//! The HTTP requests the Engine.IO server reads itself (`wsx_socketio::engine::Engine::handle`):
//! its path, method, query string (`EIO`, `transport`, `sid`), headers (`Origin`, the upgrade
//! headers, anything an `allow_request` hook reads) and polling POST bodies (a payload, in
//! chunks), in arbitrary sequences against one engine, some requests concurrent (a long-poll
//! waiting while a POST comes, as real clients do).
//!
//! The engine runs on a current-thread runtime with a paused clock: a long-poll with nothing
//! to send waits for the next heartbeat without costing real time. Its handler echoes every
//! message back to the session.
//!
//! Invariants:
//! - Nothing panics, and every request is answered before the session's heartbeat would have
//!   ended it (`ping_interval + ping_timeout`, plus slack): nothing hangs.
//! - Every answer is well formed with an expected status: 404 `Not Found` off the endpoint, 204
//!   for a CORS preflight, 400 with Node's `{"code":…,"message":…}` (the code the request
//!   deserves where the request alone decides it: protocol version, transport, handshake
//!   method, unknown sid), 403 when the hook refuses, 413 for a POST over `max_payload`, 101
//!   with the right `Sec-WebSocket-Accept` for an upgrade, and 200 with a polling payload
//!   (`text/plain`) or `ok` (a POST).
//! - A handshake is one `open` packet with the configured heartbeat and limit, and its session
//!   exists afterwards; a POST answered `ok` delivered exactly the messages of its payload;
//!   each long-poll returns the next of the messages echoed so far, in order.
//! - CORS headers are on every answer to an allowed `Origin`, and on no other.
//! - Whole vs piece by piece: the same requests with every POST body in one chunk get the same
//!   answers (session ids aside).
#![no_main]

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use arbitrary::Arbitrary;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Frame;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use wsx_socketio::engine::{
    Body, Cors, Engine, EngineConfig, MessageData, Session, SessionHandler,
};
use wsx_socketio::engineio::{Packet, decode_payload_bytes, encode_payload};

const PATH: &str = "/engine.io/";
const ALLOWED_ORIGIN: &str = "https://allowed.example";

#[derive(Arbitrary, Debug)]
struct Input {
    config: ConfigSpec,
    steps: Vec<Step>,
}

#[derive(Arbitrary, Debug)]
struct ConfigSpec {
    cors: CorsSpec,
    max_payload: u16,
    polling: bool,
    websocket: bool,
    /// Install an `allow_request` hook refusing requests with an `x-deny` header.
    hook: bool,
    ping_interval_s: u8,
    ping_timeout_s: u8,
}

#[derive(Arbitrary, Debug)]
enum CorsSpec {
    None,
    Any,
    Allowed,
}

impl ConfigSpec {
    fn get(&self) -> EngineConfig {
        let mut c = EngineConfig::default()
            .heartbeat(
                Duration::from_secs(u64::from(self.ping_interval_s % 60) + 1),
                Duration::from_secs(u64::from(self.ping_timeout_s % 60) + 1),
            )
            .max_payload(usize::from(self.max_payload % 4096))
            .transports(self.polling, self.websocket);
        c = match self.cors {
            CorsSpec::None => c,
            CorsSpec::Any => c.cors(Cors::any().credentials(true).max_age(60)),
            CorsSpec::Allowed => c.cors(Cors::origins([ALLOWED_ORIGIN])),
        };
        if self.hook {
            c = c.allow_request(|info| info.header("x-deny").is_none());
        }
        c
    }

    /// The most a request may take on the paused clock before it counts as hung.
    fn deadline(&self) -> Duration {
        Duration::from_secs(
            u64::from(self.ping_interval_s % 60) + u64::from(self.ping_timeout_s % 60) + 10,
        )
    }
}

#[derive(Arbitrary, Debug)]
enum Step {
    One(Req),
    /// Two requests at once (the first is polled first).
    Two(Req, Req),
}

/// A request as a client sends it (the rest of `Req` adds headers and a body), so that the
/// fuzzer reaches sessions at once instead of first finding a valid query string.
#[derive(Arbitrary, Debug)]
enum Canonical {
    Handshake,
    /// A long-poll of the n-th session.
    Get(u8),
    /// A POST to the n-th session.
    Post(u8),
    /// A WebSocket upgrade, of the n-th session or new.
    Upgrade(Option<u8>),
}

#[derive(Arbitrary, Debug)]
struct Req {
    canonical: Option<Canonical>,
    method: MethodSpec,
    path: PathSpec,
    query: Vec<QuerySpec>,
    headers: Vec<HeaderSpec>,
    body: BodySpec,
    /// Chunk sizes the body arrives in (the rest in one last chunk).
    chunks: Vec<u8>,
    /// The body fails after its chunks.
    body_error: bool,
}

#[derive(Arbitrary, Debug)]
enum MethodSpec {
    Get,
    Post,
    Options,
    Put,
    Head,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum PathSpec {
    Exact,
    NoSlash,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum QuerySpec {
    Eio4,
    Eio(String),
    Polling,
    Websocket,
    Transport(String),
    /// The sid of the n-th session opened so far.
    Sid(u8),
    SidRaw(String),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum HeaderSpec {
    Origin(bool),
    OriginRaw(String),
    Upgrade,
    ConnectionUpgrade,
    Key(Option<[u8; 16]>),
    Version13,
    Deny,
    Preflight(String),
    Other(String, Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum BodySpec {
    Packets(Vec<PacketSpec>),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum PacketSpec {
    Message(String),
    Binary(Vec<u8>),
    Ping,
    Pong,
    Close,
    Upgrade,
    Noop,
}

impl HeaderSpec {
    fn copy(&self) -> Self {
        match self {
            HeaderSpec::Origin(b) => HeaderSpec::Origin(*b),
            HeaderSpec::OriginRaw(o) => HeaderSpec::OriginRaw(o.clone()),
            HeaderSpec::Upgrade => HeaderSpec::Upgrade,
            HeaderSpec::ConnectionUpgrade => HeaderSpec::ConnectionUpgrade,
            HeaderSpec::Key(k) => HeaderSpec::Key(*k),
            HeaderSpec::Version13 => HeaderSpec::Version13,
            HeaderSpec::Deny => HeaderSpec::Deny,
            HeaderSpec::Preflight(h) => HeaderSpec::Preflight(h.clone()),
            HeaderSpec::Other(n, v) => HeaderSpec::Other(n.clone(), v.clone()),
        }
    }
}

impl BodySpec {
    fn copy(&self) -> Self {
        match self {
            BodySpec::Raw(b) => BodySpec::Raw(b.clone()),
            BodySpec::Packets(ps) => BodySpec::Packets(
                ps.iter()
                    .map(|p| match p {
                        PacketSpec::Message(m) => PacketSpec::Message(m.clone()),
                        PacketSpec::Binary(b) => PacketSpec::Binary(b.clone()),
                        PacketSpec::Ping => PacketSpec::Ping,
                        PacketSpec::Pong => PacketSpec::Pong,
                        PacketSpec::Close => PacketSpec::Close,
                        PacketSpec::Upgrade => PacketSpec::Upgrade,
                        PacketSpec::Noop => PacketSpec::Noop,
                    })
                    .collect(),
            ),
        }
    }

    fn bytes(&self) -> Bytes {
        match self {
            BodySpec::Raw(b) => Bytes::copy_from_slice(b),
            BodySpec::Packets(ps) => {
                let packets: Vec<Packet<'_>> = ps
                    .iter()
                    .map(|p| match p {
                        PacketSpec::Message(m) => Packet::Message(m.replace('\u{1e}', "").into()),
                        PacketSpec::Binary(b) => Packet::Binary(Bytes::copy_from_slice(b)),
                        PacketSpec::Ping => Packet::ping(),
                        PacketSpec::Pong => Packet::pong(),
                        PacketSpec::Close => Packet::Close,
                        PacketSpec::Upgrade => Packet::Upgrade,
                        PacketSpec::Noop => Packet::Noop,
                    })
                    .collect();
                let mut buf = BytesMut::new();
                encode_payload(&packets, &mut buf);
                buf.freeze()
            }
        }
    }
}

/// A request body arriving in chunks, possibly failing at the end.
struct Chunks {
    chunks: VecDeque<Bytes>,
    error: bool,
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(c) = self.chunks.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(c))));
        }
        if std::mem::take(&mut self.error) {
            return Poll::Ready(Some(Err(std::io::Error::other("the client went away"))));
        }
        Poll::Ready(None)
    }
}

/// Echoes every message; remembers what each session was delivered.
#[derive(Default, Clone)]
struct Echo {
    delivered: Arc<Mutex<HashMap<String, Vec<MessageData>>>>,
}

impl SessionHandler for Echo {
    fn on_message(&self, session: &Arc<Session>, message: MessageData) {
        self.delivered
            .lock()
            .expect("not poisoned")
            .entry(session.sid().to_owned())
            .or_default()
            .push(message.clone());
        session.send(message);
    }
}

/// What a request was, as far as the checks need it.
struct Sent {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    origin: Option<HeaderValue>,
    upgrade: bool,
    key: Option<HeaderValue>,
    deny: bool,
    sid: Option<String>,
    /// Whether the session `sid` names existed just before.
    known: bool,
    /// The body, empty when it fails (nothing of it is delivered then).
    body: Bytes,
    /// The length of the body's data, whether it fails or not.
    body_len: usize,
}

impl Sent {
    /// The engine's reading of the query: `&`-separated, the last of each name wins.
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct World {
    cors: CorsSpec,
    /// Sessions some concurrent requests went to: the order of their echoes is not checked.
    untracked: Vec<String>,
    engine: Engine,
    echo: Echo,
    config: EngineConfig,
    sids: Vec<String>,
    /// Per session: the echoed messages no long-poll returned yet.
    pending: HashMap<String, VecDeque<MessageData>>,
    /// The answers, session ids replaced by their number.
    trace: Vec<String>,
    whole: bool,
}

impl World {
    fn build(&self, r: &Req) -> Option<(Request<Chunks>, Sent)> {
        if let Some(c) = &r.canonical {
            let sid = |n: &u8| -> QuerySpec { QuerySpec::Sid(*n) };
            let (method, query, headers) = match c {
                Canonical::Handshake => (MethodSpec::Get, vec![QuerySpec::Polling], vec![]),
                Canonical::Get(n) => (MethodSpec::Get, vec![QuerySpec::Polling, sid(n)], vec![]),
                Canonical::Post(n) => (MethodSpec::Post, vec![QuerySpec::Polling, sid(n)], vec![]),
                Canonical::Upgrade(n) => (
                    MethodSpec::Get,
                    n.iter().map(sid).chain([QuerySpec::Websocket]).collect(),
                    vec![
                        HeaderSpec::Upgrade,
                        HeaderSpec::ConnectionUpgrade,
                        HeaderSpec::Key(Some([7; 16])),
                        HeaderSpec::Version13,
                    ],
                ),
            };
            let mut all_headers = headers;
            all_headers.extend(r.headers.iter().map(HeaderSpec::copy));
            let req = Req {
                canonical: None,
                method,
                path: PathSpec::Exact,
                query: [QuerySpec::Eio4].into_iter().chain(query).collect(),
                headers: all_headers,
                body: r.body.copy(),
                chunks: r.chunks.clone(),
                body_error: r.body_error,
            };
            return self.build(&req);
        }
        let method = match &r.method {
            MethodSpec::Get => Method::GET,
            MethodSpec::Post => Method::POST,
            MethodSpec::Options => Method::OPTIONS,
            MethodSpec::Put => Method::PUT,
            MethodSpec::Head => Method::HEAD,
            MethodSpec::Other(m) => Method::from_bytes(m.as_bytes()).ok()?,
        };
        let path = match &r.path {
            PathSpec::Exact => PATH.to_owned(),
            PathSpec::NoSlash => PATH.trim_end_matches('/').to_owned(),
            PathSpec::Other(p) => format!("/{p}"),
        };
        let mut pairs = Vec::new();
        for q in &r.query {
            let (k, v) = match q {
                QuerySpec::Eio4 => ("EIO".to_owned(), "4".to_owned()),
                QuerySpec::Eio(v) => ("EIO".to_owned(), v.clone()),
                QuerySpec::Polling => ("transport".to_owned(), "polling".to_owned()),
                QuerySpec::Websocket => ("transport".to_owned(), "websocket".to_owned()),
                QuerySpec::Transport(v) => ("transport".to_owned(), v.clone()),
                QuerySpec::Sid(n) if !self.sids.is_empty() => (
                    "sid".to_owned(),
                    self.sids[usize::from(*n) % self.sids.len()].clone(),
                ),
                QuerySpec::Sid(_) => continue,
                QuerySpec::SidRaw(v) => ("sid".to_owned(), v.clone()),
                QuerySpec::Raw(raw) => match raw.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => (raw.clone(), String::new()),
                },
            };
            pairs.push((k, v));
        }
        let qs: Vec<String> = pairs
            .iter()
            .map(|(k, v)| {
                if v.is_empty() && !k.is_empty() {
                    format!("{k}=")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        let uri = format!("{path}?{}", qs.join("&"));
        let mut b = Request::builder().method(method.clone()).uri(&uri);
        let mut origin = None;
        let mut key = None;
        let mut deny = false;
        for h in &r.headers {
            let (name, value): (&str, Vec<u8>) = match h {
                HeaderSpec::Origin(allowed) => (
                    "origin",
                    if *allowed {
                        ALLOWED_ORIGIN.into()
                    } else {
                        "https://other.example".into()
                    },
                ),
                HeaderSpec::OriginRaw(o) => ("origin", o.clone().into_bytes()),
                HeaderSpec::Upgrade => ("upgrade", b"websocket".to_vec()),
                HeaderSpec::ConnectionUpgrade => ("connection", b"Upgrade".to_vec()),
                HeaderSpec::Key(k) => (
                    "sec-websocket-key",
                    match k {
                        Some(k) => base64::engine::general_purpose::STANDARD
                            .encode(k)
                            .into_bytes(),
                        None => b"not a key".to_vec(),
                    },
                ),
                HeaderSpec::Version13 => ("sec-websocket-version", b"13".to_vec()),
                HeaderSpec::Deny => ("x-deny", b"1".to_vec()),
                HeaderSpec::Preflight(h) => {
                    ("access-control-request-headers", h.clone().into_bytes())
                }
                HeaderSpec::Other(n, v) => (n.as_str(), v.clone()),
            };
            let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(&value),
            ) else {
                continue;
            };
            if n == header::ORIGIN {
                origin.get_or_insert(v.clone());
            }
            if n == header::SEC_WEBSOCKET_KEY {
                key.get_or_insert(v.clone());
            }
            if n.as_str() == "x-deny" {
                deny = true;
            }
            b = b.header(n, v);
        }
        let body = r.body.bytes();
        let mut chunks = VecDeque::new();
        let mut rest = body.clone();
        if !self.whole {
            for &c in &r.chunks {
                let n = usize::from(c).min(rest.len());
                chunks.push_back(rest.split_to(n));
            }
        }
        if !rest.is_empty() || chunks.is_empty() {
            chunks.push_back(rest);
        }
        let req = b
            .body(Chunks {
                chunks,
                error: r.body_error,
            })
            .ok()?;
        let upgrade = wsx::hyper::is_upgrade_request(&req);
        // The URI as the engine sees it: its path, and its query read as the engine reads it
        // (`&`-separated pairs, no percent-decoding).
        let path = req.uri().path().to_owned();
        let query: Vec<(String, String)> = req
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect();
        let sid = query
            .iter()
            .rev()
            .find(|(k, _)| k == "sid")
            .map(|(_, v)| v.clone());
        let known = sid
            .as_deref()
            .is_some_and(|s| self.engine.session(s).is_some());
        let sent = Sent {
            method,
            path,
            query,
            origin,
            upgrade,
            key,
            deny,
            sid,
            known,
            body_len: body.len(),
            body: if r.body_error { Bytes::new() } else { body },
        };
        Some((req, sent))
    }

    fn normalize(&self, s: &str) -> String {
        let mut s = s.to_owned();
        for (i, sid) in self.sids.iter().enumerate() {
            if !sid.is_empty() {
                s = s.replace(sid.as_str(), &format!("<sid {i}>"));
            }
        }
        s
    }

    /// Checks one answer against its request.
    fn check(&mut self, sent: &Sent, resp: Response<Bytes>) {
        let status = resp.status();
        let body = resp.body().clone();
        let ctype = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().expect("our content types are ASCII").to_owned());
        let text = String::from_utf8_lossy(&body).into_owned();
        let error_code = || -> u8 {
            assert_eq!(ctype.as_deref(), Some("application/json"), "{sent:?}");
            let v: serde_json::Value = serde_json::from_str(&text).expect("an error is JSON");
            let code = v["code"].as_u64().expect("an error has a code");
            let message = v["message"].as_str().expect("an error has a message");
            let expected = [
                "Transport unknown",
                "Session ID unknown",
                "Bad handshake method",
                "Bad request",
                "Forbidden",
                "Unsupported protocol version",
            ];
            assert_eq!(expected.get(code as usize), Some(&message), "{text}");
            code as u8
        };

        // CORS headers on every answer to an allowed origin, on no other.
        let allowed_origin = match (&self.cors, &sent.origin) {
            (CorsSpec::Any, Some(_)) => true,
            (CorsSpec::Allowed, Some(o)) => o
                .to_str()
                .is_ok_and(|o| o.eq_ignore_ascii_case(ALLOWED_ORIGIN)),
            _ => false,
        };
        let acao = resp.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN);
        if allowed_origin {
            assert_eq!(acao, sent.origin.as_ref(), "{sent:?}");
        } else {
            assert!(acao.is_none(), "{sent:?}");
        }

        // What the request alone decides.
        let own = PATH.trim_end_matches('/');
        if sent.path != PATH && sent.path != own {
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert_eq!(text, "Not Found");
            return;
        }
        if sent.method == Method::OPTIONS && self.config.cors.is_some() {
            assert_eq!(status, StatusCode::NO_CONTENT);
            assert!(body.is_empty());
            return;
        }
        if sent.param("EIO") != Some("4") {
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(error_code(), 5);
            return;
        }
        let transport_ok = match sent.param("transport") {
            Some("polling") => self.config.polling && !sent.upgrade,
            Some("websocket") if self.config.websocket => {
                if !sent.upgrade {
                    assert_eq!(status, StatusCode::BAD_REQUEST);
                    assert_eq!(error_code(), 3);
                    return;
                }
                true
            }
            _ => false,
        };
        if !transport_ok {
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(error_code(), 0, "{sent:?}");
            return;
        }
        if self.config.allow_request.is_some() && sent.deny {
            assert_eq!(status, StatusCode::FORBIDDEN);
            assert_eq!(error_code(), 4);
            return;
        }
        if let Some(sid) = &sent.sid {
            if !sent.known {
                assert_eq!(status, StatusCode::BAD_REQUEST);
                assert_eq!(error_code(), 1, "{sent:?}");
                return;
            }
            let json = ctype.as_deref() == Some("application/json");
            if status == StatusCode::BAD_REQUEST && json && error_code() == 1 {
                // It missed its pong deadline just now: closed by this request.
                assert!(self.engine.session(sid).is_none(), "{sent:?}");
                return;
            }
        }
        if sent.upgrade {
            if status == StatusCode::SWITCHING_PROTOCOLS {
                let key = sent.key.as_ref().expect("accepted without a key");
                let accept = resp
                    .headers()
                    .get(header::SEC_WEBSOCKET_ACCEPT)
                    .expect("a 101 has Sec-WebSocket-Accept");
                assert_eq!(
                    accept.as_bytes(),
                    wsx_proto::handshake::accept_key(key.as_bytes()).as_bytes()
                );
            } else {
                assert!(
                    status.is_client_error(),
                    "an upgrade refused with {status}: {sent:?}"
                );
            }
            return;
        }
        match (&sent.sid, &sent.method) {
            (None, &Method::GET) => {
                assert_eq!(status, StatusCode::OK, "{text}");
                assert_eq!(ctype.as_deref(), Some("text/plain; charset=UTF-8"));
                let packets = decode_payload_bytes(&body, usize::MAX).expect("a payload");
                let [Packet::Open(h)] = packets.as_slice() else {
                    panic!("a handshake answered {text:?}");
                };
                assert_eq!(
                    h.upgrades,
                    if self.config.websocket {
                        vec!["websocket".to_owned()]
                    } else {
                        vec![]
                    }
                );
                assert_eq!(
                    Duration::from_millis(h.ping_interval),
                    self.config.ping_interval
                );
                assert_eq!(
                    Duration::from_millis(h.ping_timeout),
                    self.config.ping_timeout
                );
                assert_eq!(h.max_payload, self.config.max_payload as u64);
                assert!(self.engine.session(&h.sid).is_some());
                assert!(!self.sids.contains(&h.sid));
                self.sids.push(h.sid.clone());
            }
            (None, _) => {
                assert_eq!(status, StatusCode::BAD_REQUEST);
                assert_eq!(error_code(), 2);
            }
            (Some(sid), &Method::GET) => {
                if status == StatusCode::BAD_REQUEST {
                    assert_eq!(error_code(), 3);
                    return;
                }
                assert_eq!(status, StatusCode::OK, "{text}");
                assert_eq!(ctype.as_deref(), Some("text/plain; charset=UTF-8"));
                let packets = decode_payload_bytes(&body, usize::MAX)
                    .unwrap_or_else(|e| panic!("a long-poll answered {text:?}: {e:?}"));
                let tracked = !self.untracked.contains(sid);
                let pending = self.pending.entry(sid.clone()).or_default();
                for p in packets {
                    let got = match p {
                        Packet::Message(m) => MessageData::Text(m.as_ref().into()),
                        Packet::Binary(b) => MessageData::Binary(b),
                        Packet::Ping(d) => {
                            assert!(d.is_empty(), "{text}");
                            continue;
                        }
                        Packet::Noop | Packet::Close => continue,
                        other => panic!("a long-poll carried {other:?}: {text:?}"),
                    };
                    if tracked {
                        assert_eq!(
                            pending.pop_front().as_ref(),
                            Some(&got),
                            "not the next echo: {text:?}"
                        );
                    }
                }
            }
            (Some(sid), &Method::POST) => {
                let delivered = self
                    .echo
                    .delivered
                    .lock()
                    .expect("not poisoned")
                    .remove(sid)
                    .unwrap_or_default();
                match status {
                    StatusCode::OK => {
                        assert_eq!(text, "ok");
                        let packets = decode_payload_bytes(&sent.body, usize::MAX)
                            .expect("a payload answered ok decodes");
                        let messages: Vec<MessageData> = packets
                            .into_iter()
                            .filter_map(|p| match p {
                                Packet::Message(m) => Some(MessageData::Text(m.as_ref().into())),
                                Packet::Binary(b) => Some(MessageData::Binary(b)),
                                _ => None,
                            })
                            .collect();
                        assert_eq!(delivered, messages);
                        self.pending
                            .entry(sid.clone())
                            .or_default()
                            .extend(messages);
                    }
                    StatusCode::PAYLOAD_TOO_LARGE => {
                        assert!(sent.body_len > self.config.max_payload, "{sent:?}");
                        assert_eq!(text, "Payload Too Large");
                    }
                    StatusCode::BAD_REQUEST => {
                        assert_eq!(error_code(), 3);
                        assert!(
                            sent.body_len <= self.config.max_payload,
                            "an oversized POST is 413: {sent:?}"
                        );
                        // What a refused payload delivered before its bad record stays
                        // delivered (as in Node); it is echoed.
                        self.pending
                            .entry(sid.clone())
                            .or_default()
                            .extend(delivered);
                    }
                    s => panic!("a POST answered {s}: {sent:?}"),
                }
            }
            (Some(_), _) => {
                assert_eq!(status, StatusCode::BAD_REQUEST);
                assert_eq!(error_code(), 3);
            }
        }
    }
}

impl std::fmt::Debug for Sent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sent")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("upgrade", &self.upgrade)
            .field("sid", &self.sid)
            .field("known", &self.known)
            .field("body", &self.body)
            .finish()
    }
}

async fn answer(engine: &Engine, req: Request<Chunks>, deadline: Duration) -> Response<Bytes> {
    let resp: Response<Body> = tokio::time::timeout(deadline, engine.handle(req))
        .await
        .unwrap_or_else(|_| panic!("no answer within {deadline:?}: the request hangs"));
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("a full body").to_bytes();
    Response::from_parts(parts, body)
}

fn run(input: &Input, whole: bool) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let config = input.config.get();
    let deadline = input.config.deadline();
    let echo = Echo::default();
    let mut world = World {
        cors: match input.config.cors {
            CorsSpec::None => CorsSpec::None,
            CorsSpec::Any => CorsSpec::Any,
            CorsSpec::Allowed => CorsSpec::Allowed,
        },
        untracked: Vec::new(),
        engine: Engine::new(config.clone(), echo.clone()),
        echo,
        config,
        sids: Vec::new(),
        pending: HashMap::new(),
        trace: Vec::new(),
        whole,
    };
    rt.block_on(async {
        for step in input.steps.iter().take(16) {
            match step {
                Step::One(r) => {
                    let Some((req, sent)) = world.build(r) else {
                        continue;
                    };
                    let resp = answer(&world.engine, req, deadline).await;
                    world.record(&sent, resp);
                }
                Step::Two(a, b) => {
                    let (Some((ra, sa)), Some((rb, sb))) = (world.build(a), world.build(b)) else {
                        continue;
                    };
                    let engine = world.engine.clone();
                    let (x, y) =
                        tokio::join!(answer(&engine, ra, deadline), answer(&engine, rb, deadline));
                    // Concurrent: the order of delivery between the two is not checked, only
                    // each answer's form.
                    world.record_loose(&sa, x);
                    world.record_loose(&sb, y);
                }
            }
        }
        world.engine.close_all();
    });
    world.trace
}

impl World {
    fn record(&mut self, sent: &Sent, resp: Response<Bytes>) {
        self.trace.push(format!(
            "{} {}",
            resp.status(),
            String::from_utf8_lossy(resp.body())
        ));
        self.check(sent, resp);
        let last = self.trace.len() - 1;
        self.trace[last] = self.normalize(&self.trace[last]);
    }

    /// Checks an answer to one of two concurrent requests: its form, not what it carries
    /// relative to the other.
    fn record_loose(&mut self, sent: &Sent, resp: Response<Bytes>) {
        let status = resp.status();
        assert!(
            [
                StatusCode::OK,
                StatusCode::SWITCHING_PROTOCOLS,
                StatusCode::NO_CONTENT,
                StatusCode::BAD_REQUEST,
                StatusCode::FORBIDDEN,
                StatusCode::NOT_FOUND,
                StatusCode::PAYLOAD_TOO_LARGE,
            ]
            .contains(&status)
                || (sent.upgrade && status.is_client_error()),
            "{status} for {sent:?}"
        );
        if status == StatusCode::OK && sent.method == Method::GET {
            let packets = decode_payload_bytes(resp.body(), usize::MAX)
                .unwrap_or_else(|e| panic!("a long-poll answered {:?}: {e:?}", resp.body()));
            if let [Packet::Open(h)] = packets.as_slice() {
                self.sids.push(h.sid.clone());
            }
        }
        self.trace.push(self.normalize(&format!(
            "{} {}",
            status,
            String::from_utf8_lossy(resp.body())
        )));
        // Echo order across concurrent requests is not tracked: forget it for these sessions.
        if let Some(sid) = &sent.sid {
            self.pending.remove(sid);
            self.echo
                .delivered
                .lock()
                .expect("not poisoned")
                .remove(sid);
            self.untracked.push(sid.clone());
        }
    }
}

fuzz_target!(|input: Input| {
    let chunked = run(&input, false);
    let whole = run(&input, true);
    assert_eq!(chunked, whole, "chunked vs whole bodies");
});
