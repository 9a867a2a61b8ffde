//! Shared helpers for the behaviour tests: hand-built frames (any opcode, FIN/RSV bits, mask,
//! length encoding), feeding exact bytes to a `Connection` of either role, and reading back
//! what a connection queued, in the style of python-websockets' symmetric protocol tests.
//!
//! The frame encoder and decoder here are written independently of `wsx_proto::frame`, so the
//! tests do not check the library against itself.

#![allow(dead_code, clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use wsx_proto::{Config, Connection, DeflateParams, Message, ProtocolError, ReadyState, Role};

/// Both roles, for tests that must hold for client and server alike.
pub const ROLES: [Role; 2] = [Role::Client, Role::Server];

/// The masking key of RFC 6455 §5.7's examples; used for every hand-built client frame.
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Wire opcodes.
pub mod op {
    pub const CONT: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xa;
}

/// The role of the other end: the one that sends what `role` receives.
pub fn peer_of(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

/// How the payload length is written in a hand-built header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Len {
    /// The shortest form (7, 16 or 64 bits), as RFC 6455 asks.
    Minimal,
    /// Always the 16-bit form (126 + two bytes), even for short payloads.
    U16,
    /// Always the 64-bit form (127 + eight bytes), even for short payloads.
    U64,
}

/// A frame built by hand, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    /// Any four-bit value, reserved ones included.
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub len: Len,
    /// When set, the header announces this length instead of the payload's real one (the
    /// payload bytes given are still appended as they are).
    pub declared_len: Option<u64>,
    pub payload: Vec<u8>,
}

impl Frame {
    /// A final, unmasked frame with no RSV bits and a minimal length.
    pub fn new(opcode: u8, payload: impl AsRef<[u8]>) -> Self {
        Self {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask: None,
            len: Len::Minimal,
            declared_len: None,
            payload: payload.as_ref().to_vec(),
        }
    }

    pub fn text(payload: impl AsRef<[u8]>) -> Self {
        Self::new(op::TEXT, payload)
    }
    pub fn binary(payload: impl AsRef<[u8]>) -> Self {
        Self::new(op::BINARY, payload)
    }
    pub fn cont(payload: impl AsRef<[u8]>) -> Self {
        Self::new(op::CONT, payload)
    }
    pub fn ping(payload: impl AsRef<[u8]>) -> Self {
        Self::new(op::PING, payload)
    }
    pub fn pong(payload: impl AsRef<[u8]>) -> Self {
        Self::new(op::PONG, payload)
    }
    /// A close frame with a status code and a reason.
    pub fn close(code: u16, reason: impl AsRef<[u8]>) -> Self {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(reason.as_ref());
        Self::new(op::CLOSE, p)
    }
    /// A close frame without a payload.
    pub fn close_empty() -> Self {
        Self::new(op::CLOSE, [])
    }

    pub fn fin(mut self, fin: bool) -> Self {
        self.fin = fin;
        self
    }
    /// Clears FIN: a non-final fragment.
    pub fn more(self) -> Self {
        self.fin(false)
    }
    pub fn rsv1(mut self) -> Self {
        self.rsv1 = true;
        self
    }
    pub fn rsv2(mut self) -> Self {
        self.rsv2 = true;
        self
    }
    pub fn rsv3(mut self) -> Self {
        self.rsv3 = true;
        self
    }
    pub fn masked(mut self, key: [u8; 4]) -> Self {
        self.mask = Some(key);
        self
    }
    pub fn unmasked(mut self) -> Self {
        self.mask = None;
        self
    }
    pub fn len(mut self, len: Len) -> Self {
        self.len = len;
        self
    }
    pub fn declared_len(mut self, n: u64) -> Self {
        self.declared_len = Some(n);
        self
    }

    /// Masks the frame (with [`KEY`]) exactly when a connection of role `receiver` expects it:
    /// a server receives masked frames, a client unmasked ones.
    pub fn to(self, receiver: Role) -> Self {
        match receiver {
            Role::Server => self.masked(KEY),
            Role::Client => self.unmasked(),
        }
    }

    /// The frame as `receiver` would correctly receive it, encoded.
    pub fn bytes_for(&self, receiver: Role) -> Vec<u8> {
        self.clone().to(receiver).encode()
    }

    /// Encodes the frame exactly as described.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(14 + self.payload.len());
        out.push(
            (self.fin as u8) << 7
                | (self.rsv1 as u8) << 6
                | (self.rsv2 as u8) << 5
                | (self.rsv3 as u8) << 4
                | (self.opcode & 0x0f),
        );
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let n = self.declared_len.unwrap_or(self.payload.len() as u64);
        let form = match self.len {
            Len::Minimal if n < 126 => Len::Minimal,
            Len::Minimal if n <= u16::MAX as u64 => Len::U16,
            Len::Minimal => Len::U64,
            other => other,
        };
        match form {
            Len::Minimal => out.push(mask_bit | n as u8),
            Len::U16 => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            Len::U64 => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        let start = out.len() + if self.mask.is_some() { 4 } else { 0 };
        if let Some(key) = self.mask {
            out.extend_from_slice(&key);
        }
        out.extend_from_slice(&self.payload);
        if let Some(key) = self.mask {
            for (i, b) in out[start..].iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        out
    }
}

/// Concatenates the encodings of `frames` as `receiver` would receive them.
pub fn stream_for(receiver: Role, frames: &[Frame]) -> Vec<u8> {
    frames.iter().flat_map(|f| f.bytes_for(receiver)).collect()
}

/// A frame decoded from what a connection queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    pub opcode: u8,
    pub masked: bool,
    /// Unmasked payload.
    pub payload: Vec<u8>,
}

impl Sent {
    /// The status code of a close frame (`None` for an empty close payload).
    pub fn close_code(&self) -> Option<u16> {
        assert_eq!(self.opcode, op::CLOSE, "not a close frame: {self:?}");
        match self.payload.len() {
            0 => None,
            1 => panic!("one-byte close payload sent"),
            _ => Some(u16::from_be_bytes([self.payload[0], self.payload[1]])),
        }
    }

    /// The reason of a close frame.
    pub fn close_reason(&self) -> &str {
        assert_eq!(self.opcode, op::CLOSE, "not a close frame: {self:?}");
        std::str::from_utf8(self.payload.get(2..).unwrap_or(&[])).expect("close reason is UTF-8")
    }
}

/// Decodes a complete sequence of frames (panics on anything truncated).
pub fn parse_frames(mut b: &[u8]) -> Vec<Sent> {
    let mut out = Vec::new();
    while !b.is_empty() {
        assert!(b.len() >= 2, "truncated frame header");
        let (b0, b1) = (b[0], b[1]);
        let mut pos = 2;
        let mut len = (b1 & 0x7f) as u64;
        if len == 126 {
            len = u16::from_be_bytes([b[2], b[3]]) as u64;
            pos = 4;
        } else if len == 127 {
            len = u64::from_be_bytes(b[2..10].try_into().unwrap());
            pos = 10;
        }
        let masked = b1 & 0x80 != 0;
        let key = if masked {
            let k: [u8; 4] = b[pos..pos + 4].try_into().unwrap();
            pos += 4;
            Some(k)
        } else {
            None
        };
        let end = pos + len as usize;
        assert!(b.len() >= end, "truncated frame payload");
        let mut payload = b[pos..end].to_vec();
        if let Some(k) = key {
            for (i, x) in payload.iter_mut().enumerate() {
                *x ^= k[i % 4];
            }
        }
        out.push(Sent {
            fin: b0 & 0x80 != 0,
            rsv1: b0 & 0x40 != 0,
            rsv2: b0 & 0x20 != 0,
            rsv3: b0 & 0x10 != 0,
            opcode: b0 & 0x0f,
            masked,
            payload,
        });
        b = &b[end..];
    }
    out
}

/// Takes everything `conn` queued and decodes it into frames, checking on the way that a
/// client masked every frame and a server none, and that no reserved bits other than RSV1
/// were used.
pub fn sent_frames(conn: &mut Connection) -> Vec<Sent> {
    let bytes = conn.output_mut().take_all();
    let frames = parse_frames(&bytes);
    for f in &frames {
        assert_eq!(
            f.masked,
            conn.role() == Role::Client,
            "{:?} sent a frame with the wrong masking: {f:?}",
            conn.role()
        );
        assert!(!f.rsv2 && !f.rsv3, "RSV2/RSV3 sent: {f:?}");
        if f.opcode >= 0x8 {
            assert!(f.fin, "fragmented control frame sent: {f:?}");
            assert!(f.payload.len() <= 125, "control frame over 125 bytes sent");
        }
    }
    frames
}

/// Asserts that `conn` queued exactly one frame, with this opcode and payload.
#[track_caller]
pub fn assert_frame_sent(conn: &mut Connection, opcode: u8, payload: &[u8]) -> Sent {
    let frames = sent_frames(conn);
    assert_eq!(frames.len(), 1, "expected one frame, got {frames:?}");
    let f = frames.into_iter().next().unwrap();
    assert_eq!(f.opcode, opcode, "opcode of {f:?}");
    assert_eq!(f.payload, payload, "payload of opcode {opcode:#x}");
    assert!(f.fin);
    f
}

/// Asserts that `conn` queued exactly one frame, a close with this status code (`None`: an
/// empty close payload). Returns the frame so callers can check the reason.
#[track_caller]
pub fn assert_close_sent(conn: &mut Connection, code: Option<u16>) -> Sent {
    let frames = sent_frames(conn);
    assert_eq!(frames.len(), 1, "expected one close frame, got {frames:?}");
    let f = frames.into_iter().next().unwrap();
    assert_eq!(f.opcode, op::CLOSE, "expected a close frame, got {f:?}");
    assert_eq!(f.close_code(), code, "close code of {f:?}");
    assert!(f.payload.len() <= 125);
    let _ = f.close_reason();
    f
}

/// Asserts that `conn` queued nothing.
#[track_caller]
pub fn assert_nothing_sent(conn: &mut Connection) {
    let frames = sent_frames(conn);
    assert!(frames.is_empty(), "expected nothing sent, got {frames:?}");
}

pub fn conn(role: Role) -> Connection {
    Connection::new(role, Config::default(), None)
}

pub fn conn_with(role: Role, config: Config) -> Connection {
    Connection::new(role, config, None)
}

/// What a connection made of some input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Messages decoded, in order.
    pub messages: Vec<Message>,
    /// The error decoding stopped with, if any.
    pub error: Option<ProtocolError>,
    /// How many input bytes had been fed when the error was returned.
    pub error_after: Option<usize>,
}

/// Calls `decode` until it needs more bytes or fails.
pub fn drain(conn: &mut Connection, buf: &mut BytesMut, out: &mut Outcome, fed: usize) {
    loop {
        match conn.decode(buf) {
            Ok(Some(m)) => out.messages.push(m),
            Ok(None) => return,
            Err(e) => {
                if out.error.is_none() {
                    out.error = Some(e);
                    out.error_after = Some(fed);
                }
                return;
            }
        }
    }
}

/// Feeds `chunks` one after the other into one receive buffer (as a transport would), decoding
/// after each.
pub fn feed_chunks<'a>(
    conn: &mut Connection,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Outcome {
    let mut out = Outcome {
        messages: Vec::new(),
        error: None,
        error_after: None,
    };
    let mut buf = BytesMut::new();
    let mut fed = 0;
    for c in chunks {
        buf.extend_from_slice(c);
        fed += c.len();
        drain(conn, &mut buf, &mut out, fed);
    }
    out
}

/// Feeds `bytes` at once.
pub fn feed(conn: &mut Connection, bytes: &[u8]) -> Outcome {
    feed_chunks(conn, [bytes])
}

/// Feeds `bytes` one byte at a time.
pub fn feed_bytewise(conn: &mut Connection, bytes: &[u8]) -> Outcome {
    feed_chunks(conn, bytes.chunks(1))
}

/// Feeds `bytes` and expects only messages, no error.
#[track_caller]
pub fn receive(conn: &mut Connection, bytes: &[u8]) -> Vec<Message> {
    let o = feed(conn, bytes);
    assert_eq!(
        o.error, None,
        "unexpected error; messages so far {:?}",
        o.messages
    );
    o.messages
}

/// Feeds `bytes` and expects exactly one message.
#[track_caller]
pub fn receive_one(conn: &mut Connection, bytes: &[u8]) -> Message {
    let mut m = receive(conn, bytes);
    assert_eq!(m.len(), 1, "expected one message, got {m:?}");
    m.pop().unwrap()
}

/// Feeds `bytes` to `conn` and asserts the connection is failed with `close_code`: `decode`
/// returned an error mapping to it, a close frame with that code (and a short UTF-8 reason)
/// was queued, the state is `Closed`, and further input is ignored. Returns the error.
#[track_caller]
pub fn assert_fails(conn: &mut Connection, bytes: &[u8], close_code: u16) -> ProtocolError {
    let o = feed(conn, bytes);
    let e = o
        .error
        .unwrap_or_else(|| panic!("expected close {close_code}, got messages {:?}", o.messages));
    assert_failed_with(conn, &e, close_code);
    e
}

/// The checks of [`assert_fails`] on a connection that already returned `e`.
#[track_caller]
pub fn assert_failed_with(conn: &mut Connection, e: &ProtocolError, close_code: u16) {
    assert_eq!(e.close_code().0, close_code, "close code of {e:?}");
    // Messages surfaced before the error may have queued frames (pongs, ...): look at the last.
    let frames = sent_frames(conn);
    let last = frames
        .last()
        .unwrap_or_else(|| panic!("no close frame sent for {e:?}"));
    assert_eq!(
        last.opcode,
        op::CLOSE,
        "last frame sent for {e:?}: {last:?}"
    );
    assert_eq!(last.close_code(), Some(close_code));
    assert!(last.payload.len() <= 125);
    let _ = last.close_reason();
    assert!(conn.is_failed());
    assert!(conn.close_sent());
    assert_eq!(conn.ready_state(), ReadyState::Closed);
    // A failed connection ignores whatever comes next and sends nothing more.
    let mut more = BytesMut::from(&Frame::text("late").bytes_for(conn.role())[..]);
    assert_eq!(conn.decode(&mut more), Ok(None));
    assert!(more.is_empty(), "input after failure is discarded");
    assert_nothing_sent(conn);
}

/// A fresh connection of `role` with `config`, fed `bytes`, must fail with `close_code`.
#[track_caller]
pub fn assert_role_fails(
    role: Role,
    config: Config,
    bytes: &[u8],
    close_code: u16,
) -> ProtocolError {
    let mut c = conn_with(role, config);
    assert_fails(&mut c, bytes, close_code)
}

/// A connected client and server (in that order).
pub fn pair(config: Config, deflate: Option<DeflateParams>) -> (Connection, Connection) {
    (
        Connection::new(Role::Client, config.clone(), deflate),
        Connection::new(Role::Server, config, deflate),
    )
}

/// Moves what `from` queued to `to` and decodes it.
#[track_caller]
pub fn transfer(from: &mut Connection, to: &mut Connection) -> Vec<Message> {
    let bytes = from.output_mut().take_all();
    receive(to, &bytes)
}

pub fn text(s: &str) -> Message {
    Message::text(s)
}

pub fn binary(b: impl AsRef<[u8]>) -> Message {
    Message::Binary(Bytes::copy_from_slice(b.as_ref()))
}

pub fn ping(b: impl AsRef<[u8]>) -> Message {
    Message::Ping(Bytes::copy_from_slice(b.as_ref()))
}

pub fn pong(b: impl AsRef<[u8]>) -> Message {
    Message::Pong(Bytes::copy_from_slice(b.as_ref()))
}

/// Deterministic pseudo-random bytes (an LCG), incompressible enough for deflate tests.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) as u8
        })
        .collect()
}
