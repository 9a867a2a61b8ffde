//! A receiver over the Engine.IO long-polling transport (`EIO=4&transport=polling`, never
//! upgraded), on a small keep-alive HTTP/1.1 client of its own: one TCP connection per
//! receiver, one request at a time on it. After the handshake (`GET` → `0{…}`, `POST 40`) a
//! receiver only sends `GET`s, and a `POST 3` when a response carried a ping; a browser would
//! use a second connection for its `POST`s, which a receiver that sends nothing does not need.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use wsx_socketio::{engineio, socketio};

use crate::conn::{Error, Opened};
use crate::rxstream::{RxClock, RxStream};
use crate::state::Shared;

/// The Engine.IO polling endpoint (the sid is appended after the handshake).
pub const PATH: &str = "/socket.io/?EIO=4&transport=polling";

/// Largest response head or body accepted: a bound on what a broken server can make us hold.
const MAX_RESPONSE: usize = 64 << 20;

static REOPENED: AtomicU64 = AtomicU64::new(0);

/// How many times a receiver's HTTP connection was reopened after the server closed it (0
/// when the server keeps every connection alive).
pub fn reopened() -> u64 {
    REOPENED.load(Ordering::Relaxed)
}

/// A keep-alive HTTP/1.1 connection from a fixed source address, reopened when the server
/// closes it between requests.
pub struct Http {
    server: SocketAddr,
    src: Option<IpAddr>,
    host: String,
    stream: Option<RxStream>,
    /// When the newest response bytes were received (kept across reconnections).
    pub clock: RxClock,
    buf: BytesMut,
}

/// One response: its status and body.
pub struct Response {
    pub status: u16,
    pub body: BytesMut,
}

async fn tcp(server: SocketAddr, src: Option<IpAddr>, clock: &RxClock) -> Result<RxStream, Error> {
    let sock = match server {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| format!("socket: {e}"))?;
    if let Some(ip) = src {
        sock.bind(SocketAddr::new(ip, 0))
            .map_err(|e| format!("bind {ip}: {e}"))?;
    }
    let stream = sock
        .connect(server)
        .await
        .map_err(|e| format!("connect {server}: {e}"))?;
    let _ = stream.set_nodelay(true);
    Ok(RxStream::new(stream, clock))
}

impl Http {
    pub async fn connect(
        server: SocketAddr,
        src: Option<IpAddr>,
        clock: RxClock,
    ) -> Result<Http, Error> {
        let stream = tcp(server, src, &clock).await?;
        Ok(Http {
            server,
            src,
            host: server.to_string(),
            stream: Some(stream),
            clock,
            buf: BytesMut::with_capacity(4096),
        })
    }

    /// Sends one request and reads its response. A request on a kept-alive connection that
    /// the server closed meanwhile (nothing of the response read) is sent once more on a new
    /// connection.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<Response, Error> {
        let mut req = Vec::with_capacity(160 + body.len());
        req.extend_from_slice(
            format!(
                "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\nConnection: keep-alive\r\n",
                self.host
            )
            .as_bytes(),
        );
        if method == "POST" {
            req.extend_from_slice(
                format!(
                    "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n",
                    body.len()
                )
                .as_bytes(),
            );
        }
        req.extend_from_slice(b"\r\n");
        req.extend_from_slice(body);
        for attempt in 0..2 {
            let reused = self.stream.is_some();
            if self.stream.is_none() {
                REOPENED.fetch_add(1, Ordering::Relaxed);
                self.stream = Some(tcp(self.server, self.src, &self.clock).await?);
                self.buf.clear();
            }
            match self.exchange(&req).await {
                Ok(r) => return Ok(r),
                Err(Fail::Closed) if reused && attempt == 0 => {
                    self.stream = None;
                }
                Err(Fail::Closed) => {
                    self.stream = None;
                    return Err(format!("{method}: the server closed the connection"));
                }
                Err(Fail::Other(e)) => {
                    self.stream = None;
                    return Err(format!("{method}: {e}"));
                }
            }
        }
        Err(format!("{method}: the server closed the connection"))
    }

    async fn exchange(&mut self, req: &[u8]) -> Result<Response, Fail> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(Fail::Closed);
        };
        if stream.write_all(req).await.is_err() {
            return Err(Fail::Closed);
        }
        // The head.
        let (status, head_len, framing, close) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let mut framing = Framing::UntilClose;
                    let mut close = resp.version == Some(0);
                    for h in resp.headers.iter() {
                        let v = std::str::from_utf8(h.value).unwrap_or("").trim();
                        if h.name.eq_ignore_ascii_case("content-length") {
                            let len = v
                                .parse::<usize>()
                                .map_err(|_| Fail::Other(format!("bad Content-Length {v:?}")))?;
                            framing = Framing::Length(len);
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding")
                            && v.to_ascii_lowercase().contains("chunked")
                        {
                            framing = Framing::Chunked;
                        } else if h.name.eq_ignore_ascii_case("connection") {
                            let v = v.to_ascii_lowercase();
                            if v.contains("close") {
                                close = true;
                            } else if v.contains("keep-alive") {
                                close = false;
                            }
                        }
                    }
                    break (resp.code.unwrap_or(0), n, framing, close);
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => return Err(Fail::Other(format!("bad response head: {e}"))),
            }
            if self.buf.len() > MAX_RESPONSE {
                return Err(Fail::Other("response head too large".into()));
            }
            let before = self.buf.len();
            match self.read_more().await {
                Ok(0) if before == 0 => return Err(Fail::Closed),
                Ok(0) => return Err(Fail::Other("closed in the response head".into())),
                Ok(_) => {}
                Err(_) if before == 0 => return Err(Fail::Closed),
                Err(e) => return Err(Fail::Other(e)),
            }
        };
        self.buf.advance(head_len);
        let body = match framing {
            Framing::Length(len) => {
                if len > MAX_RESPONSE {
                    return Err(Fail::Other(format!("body of {len} bytes")));
                }
                while self.buf.len() < len {
                    if self.read_more().await.map_err(Fail::Other)? == 0 {
                        return Err(Fail::Other("closed in the body".into()));
                    }
                }
                self.buf.split_to(len)
            }
            Framing::Chunked => self.read_chunked().await?,
            Framing::UntilClose => {
                while self.read_more().await.map_err(Fail::Other)? != 0 {
                    if self.buf.len() > MAX_RESPONSE {
                        return Err(Fail::Other("body too large".into()));
                    }
                }
                self.stream = None;
                self.buf.split()
            }
        };
        if close {
            self.stream = None;
            self.buf.clear();
        }
        Ok(Response { status, body })
    }

    async fn read_more(&mut self) -> Result<usize, Error> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(0);
        };
        if self.buf.capacity() - self.buf.len() < 2048 {
            self.buf.reserve(8192);
        }
        stream
            .read_buf(&mut self.buf)
            .await
            .map_err(|e| format!("read: {e}"))
    }

    /// A `Transfer-Encoding: chunked` body (trailers skipped).
    async fn read_chunked(&mut self) -> Result<BytesMut, Fail> {
        let mut body = BytesMut::new();
        loop {
            let line_end = loop {
                if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                if self.read_more().await.map_err(Fail::Other)? == 0 {
                    return Err(Fail::Other("closed in a chunk header".into()));
                }
            };
            let line = std::str::from_utf8(&self.buf[..line_end]).unwrap_or("");
            let hex = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(hex, 16)
                .map_err(|_| Fail::Other(format!("bad chunk size {hex:?}")))?;
            self.buf.advance(line_end + 2);
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                        self.buf.advance(i + 2);
                        if i == 0 {
                            return Ok(body);
                        }
                        continue;
                    }
                    if self.read_more().await.map_err(Fail::Other)? == 0 {
                        return Ok(body);
                    }
                }
            }
            if body.len() + size > MAX_RESPONSE {
                return Err(Fail::Other("chunked body too large".into()));
            }
            while self.buf.len() < size + 2 {
                if self.read_more().await.map_err(Fail::Other)? == 0 {
                    return Err(Fail::Other("closed in a chunk".into()));
                }
            }
            body.extend_from_slice(&self.buf[..size]);
            self.buf.advance(size + 2);
        }
    }
}

enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

enum Fail {
    /// The connection was closed before any of the response came (a stale keep-alive).
    Closed,
    Other(Error),
}

/// A connected polling receiver: its HTTP connection and session path.
pub struct Poll {
    http: Http,
    /// `PATH&sid=…`
    path: String,
    /// Packets that came with the CONNECT answer, not yet handled.
    pending: Option<BytesMut>,
}

/// Opens a polling session from `src` and connects it to `/`: `GET` → `0{…}`, `POST 40`,
/// `GET`s until `40{"sid":…}` (answering pings meanwhile).
pub async fn open(
    server: SocketAddr,
    src: Option<IpAddr>,
    clock: RxClock,
) -> Result<(Poll, Opened), Error> {
    let mut http = Http::connect(server, src, clock).await?;
    let r = http.request("GET", PATH, b"").await?;
    if r.status != 200 {
        return Err(format!("handshake GET: HTTP {}", r.status));
    }
    let body = std::str::from_utf8(&r.body).map_err(|_| "handshake: not UTF-8".to_owned())?;
    let mut packets =
        engineio::PayloadDecoder::new(body, usize::MAX).map_err(|e| format!("handshake: {e}"))?;
    let (sid, opened) = match packets.next() {
        Some(Ok(engineio::Packet::Open(h))) => (
            h.sid.clone(),
            Opened {
                ping_interval_ms: h.ping_interval,
            },
        ),
        other => return Err(format!("expected the Engine.IO open packet, got {other:?}")),
    };
    let path = format!("{PATH}&sid={sid}");
    let r = http.request("POST", &path, b"40").await?;
    if r.status != 200 {
        return Err(format!("POST 40: HTTP {}", r.status));
    }
    let mut decoder = socketio::Decoder::new();
    loop {
        let r = http.request("GET", &path, b"").await?;
        if r.status != 200 {
            return Err(format!("GET after CONNECT: HTTP {}", r.status));
        }
        let text = std::str::from_utf8(&r.body).map_err(|_| "GET: not UTF-8".to_owned())?;
        let mut ping = false;
        let mut connected = false;
        let mut records = text.split('\u{1e}');
        for record in records.by_ref() {
            match engineio::Packet::decode_text(record) {
                Ok(engineio::Packet::Ping(_)) => ping = true,
                Ok(engineio::Packet::Noop) => {}
                Ok(engineio::Packet::Message(m)) => match decoder.decode_text(&m) {
                    Ok(Some(p)) => match p.data {
                        socketio::PacketData::Connect(Some(map)) if map.contains_key("sid") => {
                            connected = true;
                            break;
                        }
                        socketio::PacketData::ConnectError(e) => {
                            return Err(format!("CONNECT_ERROR {e}"));
                        }
                        other => return Err(format!("expected CONNECT, got {other:?}")),
                    },
                    other => return Err(format!("bad Socket.IO packet {m:?}: {other:?}")),
                },
                other => return Err(format!("unexpected Engine.IO packet {other:?}")),
            }
        }
        // Whatever followed the CONNECT in the same response is the receiver's.
        let tail: Vec<&str> = records.collect();
        if ping {
            pong(&mut http, &path).await?;
        }
        if connected {
            let pending =
                (!tail.is_empty()).then(|| BytesMut::from(tail.join("\u{1e}").as_bytes()));
            return Ok((
                Poll {
                    http,
                    path,
                    pending,
                },
                opened,
            ));
        }
    }
}

async fn pong(http: &mut Http, path: &str) -> Result<(), Error> {
    let r = http.request("POST", path, b"3").await?;
    if r.status != 200 {
        return Err(format!("POST 3: HTTP {}", r.status));
    }
    Ok(())
}

/// A polling receiver: long-polls, answers pings, checks and records every `msg` (all the
/// packets of one response are stamped with the time it was read).
pub async fn receive(id: usize, mut poll: Poll, shared: &Shared) {
    let mut decoder = socketio::Decoder::new();
    loop {
        let (body, now) = match poll.pending.take() {
            Some(b) => (b, Instant::now()),
            None => match poll.http.request("GET", &poll.path, b"").await {
                Ok(r) if r.status == 200 => (r.body, poll.http.clock.instant()),
                Ok(_) | Err(_) => break,
            },
        };
        let Ok(text) = std::str::from_utf8(&body) else {
            shared.unexpected.set(shared.unexpected.get() + 1);
            break;
        };
        let mut ping = false;
        let mut closed = false;
        for record in text.split('\u{1e}') {
            if let Some(seq) = crate::fast_msg_seq(record) {
                shared.on_msg(id, seq, now);
                continue;
            }
            match engineio::Packet::decode_text(record) {
                Ok(engineio::Packet::Ping(_)) => ping = true,
                Ok(engineio::Packet::Noop) => {}
                Ok(engineio::Packet::Message(m)) => {
                    let seq = match decoder.decode_text(&m) {
                        Ok(Some(p)) if p.event_name() == Some("msg") => p
                            .payload()
                            .and_then(|pl| pl.args.get(1))
                            .and_then(|v| v.as_str())
                            .and_then(crate::parse_seq),
                        _ => None,
                    };
                    match seq {
                        Some(seq) => shared.on_msg(id, seq, now),
                        None => shared.unexpected.set(shared.unexpected.get() + 1),
                    }
                }
                Ok(engineio::Packet::Close) => closed = true,
                _ => shared.unexpected.set(shared.unexpected.get() + 1),
            }
        }
        if closed || (ping && pong(&mut poll.http, &poll.path).await.is_err()) {
            break;
        }
    }
}
