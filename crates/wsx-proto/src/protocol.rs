//! The connection state machine: bytes in, messages out; messages in, bytes out. It owns
//! auto-pong, the closing handshake, failing the connection with the right close code, and
//! every limit. It does no I/O and keeps no clock.

use bytes::{BufMut, Bytes, BytesMut};

use crate::close::{CloseCode, CloseFrame, MAX_REASON_LEN};
use crate::deflate::{DeflateParams, Deflater, Inflater};
use crate::error::{Error, ProtocolError};
use crate::frame::{FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, OpCode};
use crate::mask::apply_mask;
use crate::message::{Message, Utf8Bytes};
use crate::output::Output;
use crate::utf8::Utf8Validator;

/// Which end of the connection this is. Clients mask what they send; servers must not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The end that opened the connection.
    Client,
    /// The end that accepted it.
    Server,
}

/// Limits and behaviour of a connection. Every limit has a safe default.
///
/// ```
/// use wsx_proto::Config;
/// let c = Config::default().max_message_size(1 << 20).max_fragments(1000);
/// assert_eq!(c.max_message_size, 1 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest frame payload accepted (default 64 MiB, as large as a message may be: a peer
    /// may send a whole message, compressed or not, in one frame). Larger → close 1009.
    pub max_frame_size: usize,
    /// Largest message accepted, counted after inflating (default 64 MiB, `ws`'s
    /// `maxPayload`). Larger → close 1009.
    pub max_message_size: usize,
    /// Most frames one message may span (default 131,072). More → close 1009.
    pub max_fragments: usize,
    /// Largest HTTP head accepted during the handshake (default 16 KiB). Larger → 431.
    pub max_header_bytes: usize,
    /// Answer pings automatically (default true).
    pub auto_pong: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_frame_size: 64 << 20,
            max_message_size: 64 << 20,
            max_fragments: 131_072,
            max_header_bytes: crate::handshake::DEFAULT_MAX_HEADER_BYTES,
            auto_pong: true,
        }
    }
}

impl Config {
    /// Sets [`Config::max_frame_size`].
    pub fn max_frame_size(mut self, v: usize) -> Self {
        self.max_frame_size = v;
        self
    }
    /// Sets [`Config::max_message_size`] (also lowers the frame limit to it when smaller).
    pub fn max_message_size(mut self, v: usize) -> Self {
        self.max_message_size = v;
        self.max_frame_size = self.max_frame_size.min(v);
        self
    }

    /// Sets both the message and the frame limit to `v` (`ws`'s `maxPayload`).
    pub fn max_payload(mut self, v: usize) -> Self {
        self.max_message_size = v;
        self.max_frame_size = v;
        self
    }
    /// Sets [`Config::max_fragments`].
    pub fn max_fragments(mut self, v: usize) -> Self {
        self.max_fragments = v.max(1);
        self
    }
    /// Sets [`Config::max_header_bytes`].
    pub fn max_header_bytes(mut self, v: usize) -> Self {
        self.max_header_bytes = v;
        self
    }
    /// Sets [`Config::auto_pong`].
    pub fn auto_pong(mut self, v: bool) -> Self {
        self.auto_pong = v;
        self
    }
}

/// The browser API's `readyState`, minus `Connecting` (a `Connection` exists only after the
/// handshake).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyState {
    /// The handshake is in progress (used by the I/O layer).
    Connecting,
    /// Messages flow both ways.
    Open,
    /// A close frame was sent or received; the handshake is not finished.
    Closing,
    /// The closing handshake is done or the connection failed: close the transport.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Binary,
}

/// A message being assembled from fragments.
#[derive(Debug)]
struct Partial {
    kind: Kind,
    compressed: bool,
    fragments: usize,
    /// Wire bytes received so far (compressed size when compressed).
    wire_len: usize,
    /// Uncompressed fragments.
    buf: BytesMut,
    /// The first fragment, kept by reference until a second one arrives.
    first: Option<Bytes>,
    /// Inflated bytes of a compressed message.
    inflated: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
struct InFrame {
    /// Its payload length is at most `max_frame_size` (checked), so it fits a `usize`.
    header: FrameHeader,
    /// Payload bytes already unmasked (and UTF-8-checked when inline validation applies).
    processed: usize,
}

impl InFrame {
    fn len(&self) -> usize {
        self.header.payload_len as usize
    }
}

/// A WebSocket connection after the handshake, without I/O.
///
/// Feed received bytes to [`Connection::decode`] and write out what [`Connection::output`]
/// holds. A symmetric client/server example:
///
/// ```
/// use bytes::BytesMut;
/// use wsx_proto::{Config, Connection, Message, Role};
///
/// let mut client = Connection::new(Role::Client, Config::default(), None);
/// let mut server = Connection::new(Role::Server, Config::default(), None);
///
/// client.send(Message::text("hello")).unwrap();
/// let mut wire = BytesMut::from(&client.output_mut().take_all()[..]);
/// assert_eq!(server.decode(&mut wire).unwrap(), Some(Message::text("hello")));
///
/// // A ping is surfaced and answered automatically.
/// client.send(Message::Ping("p".into())).unwrap();
/// let mut wire = BytesMut::from(&client.output_mut().take_all()[..]);
/// assert_eq!(server.decode(&mut wire).unwrap(), Some(Message::Ping("p".into())));
/// let mut wire = BytesMut::from(&server.output_mut().take_all()[..]);
/// assert_eq!(client.decode(&mut wire).unwrap(), Some(Message::Pong("p".into())));
/// ```
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: Config,
    current: Option<InFrame>,
    /// Boxed, like the deflate state: most connections never see a fragmented message, and
    /// an idle connection's size is a goal (these three would add 420 bytes inline).
    partial: Option<Box<Partial>>,
    utf8: Utf8Validator,
    deflater: Option<Box<Deflater>>,
    inflater: Option<Box<Inflater>>,
    out: Output,
    close_sent: bool,
    close_received: bool,
    failed: bool,
    /// A message sent with `send_fragment` is still open.
    sending_fragments: bool,
    /// The most bytes a new frame, fragment or inflated growth may add now
    /// ([`set_memory_room`](Self::set_memory_room)), saturated at `u32::MAX`, which means no
    /// limit (the default; 4 bytes, so that it fits beside the flags).
    room: u32,
}

impl Connection {
    /// A connection in the open state. `deflate` is what the handshake negotiated.
    pub fn new(role: Role, config: Config, deflate: Option<DeflateParams>) -> Self {
        let (deflater, inflater) = match deflate {
            None => (None, None),
            // Never negotiated without the feature (nothing offers or accepts it).
            #[cfg(not(feature = "deflate"))]
            Some(_) => (None, None),
            #[cfg(feature = "deflate")]
            Some(p) => {
                let (own_nct, own_bits, peer_nct, peer_bits) = match role {
                    Role::Server => (
                        p.server_no_context_takeover,
                        p.server_max_window_bits,
                        p.client_no_context_takeover,
                        p.client_max_window_bits,
                    ),
                    Role::Client => (
                        p.client_no_context_takeover,
                        p.client_max_window_bits,
                        p.server_no_context_takeover,
                        p.server_max_window_bits,
                    ),
                };
                (
                    Some(Box::new(Deflater::new(
                        own_nct,
                        own_bits,
                        p.level,
                        p.threshold,
                    ))),
                    Some(Box::new(Inflater::new(peer_nct, peer_bits))),
                )
            }
        };
        Self {
            role,
            config,
            current: None,
            partial: None,
            utf8: Utf8Validator::new(),
            deflater,
            inflater,
            out: Output::default(),
            close_sent: false,
            close_received: false,
            failed: false,
            sending_fragments: false,
            room: u32::MAX,
        }
    }

    /// Sets how many more bytes the message being received may take now: the I/O layer's
    /// share of a server-wide memory budget, set before each [`decode`](Self::decode). A
    /// frame, fragment or inflated growth within the configured limits but past this room
    /// fails the connection with [`ProtocolError::OverBudget`] (close code 1013, try again
    /// later) before anything is allocated for it.
    pub fn set_memory_room(&mut self, room: usize) {
        self.room = u32::try_from(room).unwrap_or(u32::MAX);
    }

    fn room(&self) -> usize {
        match self.room {
            u32::MAX => usize::MAX,
            r => r as usize,
        }
    }

    /// Bytes held for the message being received: fragments kept for reassembly and inflated
    /// output (not the read buffer, which the I/O layer owns).
    pub fn assembly_bytes(&self) -> usize {
        self.partial.as_ref().map_or(0, |p| {
            p.buf.capacity() + p.inflated.capacity() + p.first.as_ref().map_or(0, Bytes::len)
        })
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether permessage-deflate is in use.
    pub fn is_compressing(&self) -> bool {
        self.deflater.is_some()
    }

    /// The state of the closing handshake.
    pub fn ready_state(&self) -> ReadyState {
        if self.failed || (self.close_sent && self.close_received) {
            ReadyState::Closed
        } else if self.close_sent || self.close_received {
            ReadyState::Closing
        } else {
            ReadyState::Open
        }
    }

    /// Whether a close frame has been sent.
    pub fn close_sent(&self) -> bool {
        self.close_sent
    }

    /// Whether a close frame has been received.
    pub fn close_received(&self) -> bool {
        self.close_received
    }

    /// Whether the connection was failed because of a protocol error.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Bytes waiting to be written.
    pub fn output(&self) -> &Output {
        &self.out
    }

    /// Bytes waiting to be written, to advance after writing.
    pub fn output_mut(&mut self) -> &mut Output {
        &mut self.out
    }

    /// How many more payload bytes the frame being received needs (a hint for read sizes).
    pub fn pending_frame_bytes(&self, buffered: usize) -> usize {
        self.current.map_or(0, |f| f.len().saturating_sub(buffered))
    }

    /// Decodes as much of `buf` as forms the next message or control frame, consuming those
    /// bytes. `Ok(None)` means more bytes are needed. On a protocol error the connection is
    /// failed: a close frame with the error's code is queued and the error returned; later
    /// calls return `Ok(None)`. After the closing handshake input is discarded.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, ProtocolError> {
        if self.failed || self.close_received {
            buf.clear();
            return Ok(None);
        }
        match self.decode_inner(buf) {
            Err(e) => {
                self.fail(&e);
                buf.clear();
                Err(e)
            }
            ok => ok,
        }
    }

    fn decode_inner(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, ProtocolError> {
        loop {
            let mut f = match self.current {
                Some(f) => f,
                None => {
                    let Some((header, hlen)) = FrameHeader::parse(buf)? else {
                        return Ok(None);
                    };
                    self.check_header(&header)?;
                    let _ = buf.split_to(hlen);
                    InFrame {
                        header,
                        processed: 0,
                    }
                }
            };
            let avail = buf.len().min(f.len());
            if avail > f.processed {
                let fresh = &mut buf[f.processed..avail];
                if let Some(key) = f.header.mask {
                    apply_mask(fresh, key, f.processed);
                }
                if self.validates_inline(&f.header) && self.utf8.feed(fresh).is_err() {
                    return Err(ProtocolError::InvalidUtf8);
                }
                f.processed = avail;
            }
            if avail < f.len() {
                self.current = Some(f);
                return Ok(None);
            }
            self.current = None;
            let payload = buf.split_to(f.len()).freeze();
            if let Some(m) = self.on_frame(&f.header, payload)? {
                return Ok(Some(m));
            }
        }
    }

    /// Text payload is validated as it arrives unless it is compressed (then it is validated
    /// as it is inflated).
    fn validates_inline(&self, h: &FrameHeader) -> bool {
        !h.opcode.is_control()
            && matches!(&self.partial, Some(p) if p.kind == Kind::Text && !p.compressed)
    }

    fn check_header(&mut self, h: &FrameHeader) -> Result<(), ProtocolError> {
        if h.rsv2 || h.rsv3 {
            return Err(ProtocolError::ReservedBits);
        }
        if h.rsv1 {
            if self.inflater.is_none() {
                return Err(ProtocolError::ReservedBits);
            }
            if h.opcode.is_control() || h.opcode == OpCode::Continuation {
                return Err(ProtocolError::CompressedControlOrContinuation);
            }
        }
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        let max = self.config.max_frame_size;
        if h.payload_len > max as u64 {
            return Err(ProtocolError::FrameTooBig {
                size: h.payload_len,
                max,
            });
        }
        let len = h.payload_len as usize;
        let max_msg = self.config.max_message_size;
        match h.opcode {
            OpCode::Text | OpCode::Binary => {
                if self.partial.is_some() {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                if len > max_msg {
                    return Err(ProtocolError::MessageTooBig {
                        size: len as u64,
                        max: max_msg,
                    });
                }
                if len > self.room() {
                    return Err(ProtocolError::OverBudget { size: len as u64 });
                }
                let kind = if h.opcode == OpCode::Text {
                    Kind::Text
                } else {
                    Kind::Binary
                };
                self.utf8.reset();
                self.partial = Some(Box::new(Partial {
                    kind,
                    compressed: h.rsv1,
                    fragments: 1,
                    wire_len: len,
                    buf: BytesMut::new(),
                    first: None,
                    inflated: Vec::new(),
                }));
            }
            OpCode::Continuation => {
                let Some(p) = self.partial.as_mut() else {
                    return Err(ProtocolError::UnexpectedContinuation);
                };
                p.fragments += 1;
                if p.fragments > self.config.max_fragments {
                    return Err(ProtocolError::TooManyFragments {
                        max: self.config.max_fragments,
                    });
                }
                p.wire_len += len;
                if p.wire_len > max_msg {
                    return Err(ProtocolError::MessageTooBig {
                        size: p.wire_len as u64,
                        max: max_msg,
                    });
                }
                // Reassembly copies the fragment: its bytes twice, in the read buffer and
                // in the message.
                if len.saturating_mul(2) > self.room() {
                    return Err(ProtocolError::OverBudget { size: len as u64 });
                }
            }
            OpCode::Close | OpCode::Ping | OpCode::Pong => {}
        }
        Ok(())
    }

    fn on_frame(
        &mut self,
        h: &FrameHeader,
        payload: Bytes,
    ) -> Result<Option<Message>, ProtocolError> {
        match h.opcode {
            OpCode::Ping => {
                if self.config.auto_pong && !self.close_sent {
                    self.write_frame(OpCode::Pong, false, true, &payload);
                }
                Ok(Some(Message::Ping(payload)))
            }
            OpCode::Pong => Ok(Some(Message::Pong(payload))),
            OpCode::Close => {
                let frame = CloseFrame::parse(&payload)?;
                self.close_received = true;
                if !self.close_sent {
                    // Echo the status code, as RFC 6455 §5.5.1 suggests.
                    let mut body = BytesMut::new();
                    if let Some(f) = &frame {
                        body.put_u16(f.code.0);
                    }
                    self.write_frame(OpCode::Close, false, true, &body);
                    self.close_sent = true;
                }
                self.partial = None;
                Ok(Some(Message::Close(frame)))
            }
            OpCode::Text | OpCode::Binary | OpCode::Continuation => self.on_data(h.fin, payload),
        }
    }

    fn on_data(&mut self, fin: bool, payload: Bytes) -> Result<Option<Message>, ProtocolError> {
        let max = self.config.max_message_size;
        let room = self.room();
        let Some(p) = self.partial.as_mut() else {
            return Err(ProtocolError::UnexpectedContinuation);
        };
        if p.compressed {
            let inflater = self.inflater.as_mut().ok_or(ProtocolError::ReservedBits)?;
            let before = p.inflated.len();
            let room = before.saturating_add(room);
            if let Err(e) = inflater.decompress(&payload, fin, &mut p.inflated, max.min(room)) {
                return Err(match e {
                    ProtocolError::MessageTooBig { size, .. } if room < max => {
                        ProtocolError::OverBudget { size }
                    }
                    e => e,
                });
            }
            if p.kind == Kind::Text && self.utf8.feed(&p.inflated[before..]).is_err() {
                return Err(ProtocolError::InvalidUtf8);
            }
        } else if fin && p.first.is_none() && p.buf.is_empty() {
            // A whole message in one frame: hand the payload out without copying.
            p.first = Some(payload);
        } else {
            if let Some(first) = p.first.take() {
                p.buf.reserve(first.len() + payload.len());
                p.buf.extend_from_slice(&first);
            }
            if p.buf.is_empty() && !fin {
                p.first = Some(payload);
            } else {
                p.buf.extend_from_slice(&payload);
            }
        }
        if !fin {
            return Ok(None);
        }
        let Some(p) = self.partial.take() else {
            return Ok(None);
        };
        let data = if p.compressed {
            Bytes::from(p.inflated)
        } else if let Some(first) = p.first {
            first
        } else {
            p.buf.freeze()
        };
        Ok(Some(match p.kind {
            Kind::Binary => Message::Binary(data),
            Kind::Text => {
                if self.utf8.finish().is_err() {
                    return Err(ProtocolError::InvalidUtf8);
                }
                Message::Text(Utf8Bytes::from_validated(data))
            }
        }))
    }

    /// Fails the connection: queues a close frame with the error's code (unless one was sent)
    /// and stops decoding.
    pub fn fail(&mut self, e: &ProtocolError) {
        if !self.close_sent {
            let mut body = BytesMut::with_capacity(2 + MAX_REASON_LEN);
            body.put_u16(e.close_code().0);
            let reason = e.to_string();
            let mut cut = reason.len().min(MAX_REASON_LEN);
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            body.extend_from_slice(&reason.as_bytes()[..cut]);
            self.write_frame(OpCode::Close, false, true, &body);
            self.close_sent = true;
        }
        self.failed = true;
        self.partial = None;
        self.current = None;
    }

    /// Queues a message, compressed when permessage-deflate is on and the message is at least
    /// the threshold long.
    pub fn send(&mut self, msg: Message) -> Result<(), Error> {
        self.send_with(msg, true)
    }

    /// Queues a message; `compress: false` opts this message out of compression.
    pub fn send_with(&mut self, msg: Message, compress: bool) -> Result<(), Error> {
        if self.close_sent {
            return Err(Error::Closed);
        }
        if msg.is_data() && self.sending_fragments {
            return Err(ProtocolError::ExpectedContinuation.into());
        }
        match msg {
            Message::Text(t) => self.send_data(OpCode::Text, t.into_bytes(), compress),
            Message::Binary(b) => self.send_data(OpCode::Binary, b, compress),
            Message::Ping(p) => self.send_control(OpCode::Ping, &p),
            Message::Pong(p) => self.send_control(OpCode::Pong, &p),
            Message::Close(None) => {
                self.write_frame(OpCode::Close, false, true, &[]);
                self.close_sent = true;
                Ok(())
            }
            Message::Close(Some(f)) => self.close(f.code, f.reason.as_str()),
        }
    }

    /// Starts the closing handshake with `code` and `reason` (validated: a code allowed on the
    /// wire, a reason of at most 123 bytes).
    pub fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        if self.close_sent {
            return Err(Error::Closed);
        }
        let frame = CloseFrame::new(code, reason)?;
        let mut body = BytesMut::with_capacity(2 + reason.len());
        frame.encode(&mut body);
        self.write_frame(OpCode::Close, false, true, &body);
        self.close_sent = true;
        Ok(())
    }

    fn send_control(&mut self, op: OpCode, payload: &[u8]) -> Result<(), Error> {
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(ProtocolError::ControlFrameTooLong.into());
        }
        self.write_frame(op, false, true, payload);
        Ok(())
    }

    fn send_data(&mut self, op: OpCode, payload: Bytes, compress: bool) -> Result<(), Error> {
        if let Some(d) = self
            .deflater
            .as_mut()
            .filter(|d| compress && payload.len() >= d.threshold())
        {
            let mut c = Vec::with_capacity(payload.len() / 2 + 16);
            d.compress(&payload, &mut c)?;
            self.write_frame_bytes(op, true, true, Bytes::from(c));
        } else {
            self.write_frame_bytes(op, false, true, payload);
        }
        Ok(())
    }

    /// Queues one frame of a message sent in fragments: the first call gives `Text` or `Binary`,
    /// later ones `Continuation`; `fin` ends the message. Fragments are never compressed.
    pub fn send_fragment(
        &mut self,
        opcode: OpCode,
        payload: Bytes,
        fin: bool,
    ) -> Result<(), Error> {
        if self.close_sent {
            return Err(Error::Closed);
        }
        match opcode {
            OpCode::Continuation if !self.sending_fragments => {
                return Err(ProtocolError::UnexpectedContinuation.into());
            }
            OpCode::Text | OpCode::Binary if self.sending_fragments => {
                return Err(ProtocolError::ExpectedContinuation.into());
            }
            op if op.is_control() => return Err(ProtocolError::FragmentedControlFrame.into()),
            _ => {}
        }
        self.write_frame_bytes(opcode, false, fin, payload);
        self.sending_fragments = !fin;
        Ok(())
    }

    fn header(&self, op: OpCode, rsv1: bool, fin: bool, len: usize) -> FrameHeader {
        FrameHeader {
            fin,
            rsv1,
            rsv2: false,
            rsv3: false,
            opcode: op,
            mask: match self.role {
                Role::Client => Some(rand::random()),
                Role::Server => None,
            },
            payload_len: len as u64,
        }
    }

    fn write_frame(&mut self, op: OpCode, rsv1: bool, fin: bool, payload: &[u8]) {
        let h = self.header(op, rsv1, fin, payload.len());
        let mut hb = [0u8; MAX_HEADER_LEN];
        let n = h.encode(&mut hb);
        self.out.push_slice(&hb[..n]);
        match h.mask {
            None => self.out.push_slice(payload),
            Some(key) => self.push_masked(payload, key),
        }
    }

    fn write_frame_bytes(&mut self, op: OpCode, rsv1: bool, fin: bool, payload: Bytes) {
        let h = self.header(op, rsv1, fin, payload.len());
        let mut hb = [0u8; MAX_HEADER_LEN];
        let n = h.encode(&mut hb);
        self.out.push_slice(&hb[..n]);
        match h.mask {
            None => self.out.push_bytes(payload),
            Some(key) => self.push_masked(&payload, key),
        }
    }

    fn push_masked(&mut self, payload: &[u8], key: [u8; 4]) {
        let tail = self.out.tail_mut();
        let start = tail.len();
        tail.extend_from_slice(payload);
        apply_mask(&mut tail[start..], key, 0);
        self.out.commit(payload.len());
    }

    /// Queues an already encoded server frame (see [`PreparedFrame`]), shared by reference.
    pub fn send_prepared(&mut self, frame: &PreparedFrame) -> Result<(), Error> {
        if self.close_sent {
            return Err(Error::Closed);
        }
        debug_assert_eq!(
            self.role,
            Role::Server,
            "prepared frames are unmasked server frames"
        );
        self.out.push_shared(&frame.bytes);
        Ok(())
    }
}

/// A message encoded once as a complete unmasked server frame, to send to many connections
/// without encoding again (µWebSockets' `PreparedMessage`). Uncompressed, so valid for every
/// receiver whatever it negotiated.
#[derive(Debug, Clone)]
pub struct PreparedFrame {
    bytes: Bytes,
}

/// Frames prepared in this process, for [`PreparedFrame::encoded_total`].
static PREPARED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl PreparedFrame {
    /// Encodes `msg` (text or binary).
    pub fn new(msg: &Message) -> Self {
        let (op, payload) = match msg {
            Message::Text(t) => (OpCode::Text, t.as_bytes()),
            Message::Binary(b) => (OpCode::Binary, &b[..]),
            Message::Ping(p) => (OpCode::Ping, &p[..p.len().min(MAX_CONTROL_PAYLOAD)]),
            Message::Pong(p) => (OpCode::Pong, &p[..p.len().min(MAX_CONTROL_PAYLOAD)]),
            Message::Close(_) => (OpCode::Close, &[][..]),
        };
        let h = FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode: op,
            mask: None,
            payload_len: payload.len() as u64,
        };
        let mut hb = [0u8; MAX_HEADER_LEN];
        let n = h.encode(&mut hb);
        let mut b = BytesMut::with_capacity(n + payload.len());
        b.extend_from_slice(&hb[..n]);
        b.extend_from_slice(payload);
        PREPARED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self { bytes: b.freeze() }
    }

    /// How many frames [`PreparedFrame::new`] has encoded in this process so far: a counter
    /// for metrics, and for tests that a broadcast encodes once however many receive it.
    ///
    /// ```
    /// use wsx_proto::{Message, PreparedFrame};
    /// let before = PreparedFrame::encoded_total();
    /// let _f = PreparedFrame::new(&Message::text("hi"));
    /// assert!(PreparedFrame::encoded_total() > before);
    /// ```
    pub fn encoded_total() -> u64 {
        PREPARED.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The encoded frame.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }
}

#[cfg(test)]
mod size_tests {
    /// Every connection carries a `Connection`; what only some need is boxed.
    #[test]
    fn connection_stays_small() {
        let size = std::mem::size_of::<super::Connection>();
        assert!(size <= 200, "Connection grew to {size} bytes");
    }
}
