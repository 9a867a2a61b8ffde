//! Server- and client-role `Connection`s decoding byte streams delivered in arbitrary chunks,
//! with and without negotiated permessage-deflate.
//!
//! The stream is one of: raw bytes; frames built from arbitrary specs (any opcode, RSV bits,
//! length form, masked or not, payload optionally compressed); or messages sent by a peer
//! `Connection` of the opposite role with the same parameters.
//!
//! Invariants:
//! - `decode` never panics.
//! - After an `Err` (or after a close frame was received) every further `decode` returns
//!   `Ok(None)`, discards its input and queues nothing; the connection is closed.
//! - `Ok(None)` is stable: decoding again without new bytes is `Ok(None)` and queues nothing.
//! - Each `decode` call grows the output queue by at most one control frame (header plus 125
//!   bytes).
//! - Decoded messages respect the limits and RFC 6455 (text is UTF-8, control payloads at
//!   most 125 bytes, close reasons at most 123 bytes).
//! - Chunking does not matter: one-shot decoding and chunked decoding of the same bytes give
//!   the same messages, the same error, the same state and (server role, whose output is
//!   unmasked) the same output bytes.
//! - Messages sent by a peer `Connection` decode to exactly what was sent, unless a limit of
//!   the receiver was exceeded.
#![no_main]

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use wsx_fuzz::{Params, huge_limit};
use wsx_proto::deflate::Deflater;
use wsx_proto::frame::{MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, OpCode};
use wsx_proto::mask::apply_mask_reference;
use wsx_proto::{
    CloseFrame, Config, Connection, DeflateParams, Message, ProtocolError, ReadyState, Role,
};

/// Most one `decode` call may add to the output queue: one control frame.
const MAX_OUTPUT_PER_DECODE: usize = MAX_HEADER_LEN + MAX_CONTROL_PAYLOAD;

#[derive(Arbitrary, Debug)]
struct Input {
    deflate: Option<Params>,
    limits: Limits,
    /// Chunk sizes, used in turn (0 means "call decode without new bytes"); none: one chunk.
    chunks: Vec<u16>,
    source: Source,
}

#[derive(Arbitrary, Debug)]
struct Limits {
    frame: u32,
    message: u32,
    huge_message: bool,
    fragments: u16,
    auto_pong: bool,
}

impl Limits {
    fn config(&self) -> Config {
        let mut c = Config::default()
            .max_fragments(self.fragments as usize % 64 + 1)
            .auto_pong(self.auto_pong);
        c = if self.huge_message {
            c.max_message_size(huge_limit(self.message as u16))
        } else {
            // Up to 256 KiB, so an inflate bomb stays cheap.
            c.max_message_size(self.message as usize % (256 << 10))
        };
        c.max_frame_size(self.frame as usize % (128 << 10))
    }
}

#[derive(Arbitrary, Debug)]
enum Source {
    Raw(Vec<u8>),
    Frames(Vec<FrameSpec>),
    Messages(Vec<Send>),
}

#[derive(Arbitrary, Debug)]
struct FrameSpec {
    fin: bool,
    /// RSV1..RSV3 in the low three bits.
    rsv: u8,
    /// Mostly a legal opcode; `0xf0..` picks the raw low nibble (reserved opcodes).
    opcode: u8,
    /// 0: shortest length form, 1: 16-bit, 2: 64-bit.
    length_form: u8,
    /// Send the frame masked when the receiver wants it unmasked and vice versa.
    wrong_mask: bool,
    key: [u8; 4],
    /// Compress the payload with the sender's deflater (and set RSV1).
    compress: bool,
    payload: Payload,
}

#[derive(Arbitrary, Debug)]
enum Payload {
    Bytes(Vec<u8>),
    Text(String),
    Close(u16, String),
}

impl Payload {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Payload::Bytes(b) => b.clone(),
            Payload::Text(s) => s.as_bytes().to_vec(),
            Payload::Close(code, reason) => {
                let mut v = code.to_be_bytes().to_vec();
                v.extend_from_slice(reason.as_bytes());
                v
            }
        }
    }
}

/// What the peer sends through its own `Connection`.
#[derive(Arbitrary, Debug)]
enum Send {
    Text(String),
    Binary(Vec<u8>),
    Uncompressed(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(u16, String),
    CloseEmpty,
    /// A message in fragments: text or binary, the content and its cut points.
    Fragments(bool, String, Vec<u16>),
}

const OPCODES: [u8; 6] = [0x0, 0x1, 0x2, 0x8, 0x9, 0xa];

fn sender_deflater(receiver: Role, p: &DeflateParams) -> Deflater {
    match receiver {
        // The server receives what the client compresses.
        Role::Server => Deflater::new(
            p.client_no_context_takeover,
            p.client_max_window_bits,
            p.level,
            0,
        ),
        Role::Client => Deflater::new(
            p.server_no_context_takeover,
            p.server_max_window_bits,
            p.level,
            0,
        ),
    }
}

/// Encodes frame specs as the peer of `receiver` would put them on the wire.
fn encode_frames(specs: &[FrameSpec], receiver: Role, deflate: Option<&DeflateParams>) -> Vec<u8> {
    let mut deflater = deflate.map(|p| sender_deflater(receiver, p));
    let mut wire = Vec::new();
    for s in specs {
        let opcode = if s.opcode >= 0xf0 {
            s.opcode & 0x0f
        } else {
            OPCODES[s.opcode as usize % OPCODES.len()]
        };
        let mut rsv = s.rsv & 0x7;
        let mut payload = s.payload.bytes();
        if let Some(d) = deflater.as_mut().filter(|_| s.compress) {
            let mut c = Vec::new();
            d.compress(&payload, &mut c).expect("compress");
            payload = c;
            rsv |= 0x4;
        }
        let masked = (receiver == Role::Server) != s.wrong_mask;
        wire.push((s.fin as u8) << 7 | rsv << 4 | opcode);
        let mask_bit = if masked { 0x80 } else { 0 };
        let len = payload.len() as u64;
        match s.length_form % 3 {
            0 if len < 126 => wire.push(mask_bit | len as u8),
            0 | 1 if len <= u16::MAX as u64 => {
                wire.push(mask_bit | 126);
                wire.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                wire.push(mask_bit | 127);
                wire.extend_from_slice(&len.to_be_bytes());
            }
        }
        if masked {
            wire.extend_from_slice(&s.key);
            apply_mask_reference(&mut payload, s.key, 0);
        }
        wire.extend_from_slice(&payload);
    }
    wire
}

/// Sends `sends` through a peer `Connection` of `receiver`; returns the wire bytes and the
/// messages the receiver must decode.
fn encode_messages(
    sends: &[Send],
    receiver: Role,
    deflate: Option<DeflateParams>,
) -> (Vec<u8>, Vec<Message>) {
    let peer_role = match receiver {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    };
    let mut peer = Connection::new(peer_role, Config::default(), deflate);
    let mut expected = Vec::new();
    for s in sends {
        let (r, m) = match s {
            Send::Text(t) => (
                peer.send(Message::text(t.as_str())),
                Message::text(t.as_str()),
            ),
            Send::Binary(b) => (
                peer.send(Message::binary(b.clone())),
                Message::binary(b.clone()),
            ),
            Send::Uncompressed(b) => (
                peer.send_with(Message::binary(b.clone()), false),
                Message::binary(b.clone()),
            ),
            Send::Ping(p) => (
                peer.send(Message::Ping(Bytes::from(p.clone()))),
                Message::Ping(Bytes::from(p.clone())),
            ),
            Send::Pong(p) => (
                peer.send(Message::Pong(Bytes::from(p.clone()))),
                Message::Pong(Bytes::from(p.clone())),
            ),
            Send::Close(code, reason) => match CloseFrame::new(*code, reason) {
                Ok(f) => (
                    peer.send(Message::Close(Some(f.clone()))),
                    Message::Close(Some(f)),
                ),
                Err(_) => continue,
            },
            Send::CloseEmpty => (peer.send(Message::Close(None)), Message::Close(None)),
            Send::Fragments(text, content, cuts) => {
                let bytes = content.as_bytes();
                let mut points: Vec<usize> = cuts
                    .iter()
                    .map(|&c| c as usize)
                    .filter(|&c| c < bytes.len())
                    .collect();
                points.sort_unstable();
                points.push(bytes.len());
                let mut r = Ok(());
                let mut start = 0;
                for (i, &end) in points.iter().enumerate() {
                    let op = match (i, *text) {
                        (0, true) => OpCode::Text,
                        (0, false) => OpCode::Binary,
                        _ => OpCode::Continuation,
                    };
                    let fin = i + 1 == points.len();
                    let piece = Bytes::copy_from_slice(&bytes[start..end.max(start)]);
                    start = end.max(start);
                    r = r.and_then(|()| peer.send_fragment(op, piece, fin));
                }
                let m = if *text {
                    Message::text(content.as_str())
                } else {
                    Message::binary(bytes.to_vec())
                };
                (r, m)
            }
        };
        if r.is_ok() {
            expected.push(m);
        }
    }
    (peer.output_mut().take_all(), expected)
}

#[derive(Debug, PartialEq)]
struct Outcome {
    messages: Vec<Message>,
    error: Option<ProtocolError>,
    state: ReadyState,
    output: Vec<u8>,
}

fn check_message(m: &Message, config: &Config) {
    match m {
        Message::Text(t) => {
            assert!(std::str::from_utf8(t.as_bytes()).is_ok(), "text is UTF-8");
            assert!(t.len() <= config.max_message_size);
        }
        Message::Binary(b) => assert!(b.len() <= config.max_message_size),
        Message::Ping(p) | Message::Pong(p) => assert!(p.len() <= MAX_CONTROL_PAYLOAD),
        Message::Close(Some(f)) => {
            assert!(f.code.is_valid_on_wire(), "close code {}", f.code.0);
            assert!(f.reason.len() <= MAX_CONTROL_PAYLOAD - 2);
            assert!(std::str::from_utf8(f.reason.as_bytes()).is_ok());
        }
        Message::Close(None) => {}
    }
}

/// Decodes `data` fed in chunks of `sizes` (used in turn; empty: everything at once).
fn run(
    role: Role,
    config: &Config,
    deflate: Option<DeflateParams>,
    data: &[u8],
    sizes: &[usize],
) -> Outcome {
    let mut conn = Connection::new(role, config.clone(), deflate);
    let mut buf = BytesMut::new();
    let mut messages = Vec::new();
    let mut error = None;
    let mut pos = 0;
    let mut turn = 0;
    let mut done = false;
    while !done {
        let n = if sizes.is_empty() {
            data.len()
        } else {
            sizes[turn % sizes.len()]
        };
        turn += 1;
        let end = (pos + n).min(data.len());
        buf.extend_from_slice(&data[pos..end]);
        pos = end;
        done = pos == data.len();
        let finished = error.is_some() || conn.close_received();
        loop {
            let before = conn.output().len();
            let r = conn.decode(&mut buf);
            let after = conn.output().len();
            assert!(after >= before, "decode never takes from the output");
            assert!(
                after - before <= MAX_OUTPUT_PER_DECODE,
                "one decode queued {} bytes",
                after - before
            );
            if finished {
                assert_eq!(r, Ok(None), "decode after an error or a close");
                assert!(
                    buf.is_empty(),
                    "input is discarded after an error or a close"
                );
                assert_eq!(after, before, "nothing is queued after an error or a close");
                break;
            }
            match r {
                Ok(Some(m)) => {
                    check_message(&m, config);
                    messages.push(m);
                }
                Ok(None) => {
                    // Stable: nothing more without more bytes.
                    assert_eq!(conn.decode(&mut buf), Ok(None));
                    assert_eq!(conn.output().len(), after);
                    break;
                }
                Err(e) => {
                    assert!(conn.is_failed());
                    assert_eq!(conn.ready_state(), ReadyState::Closed);
                    assert!(conn.close_sent());
                    assert!(buf.is_empty());
                    error = Some(e);
                    break;
                }
            }
        }
    }
    // One more call after the end of the stream, with junk when the connection is finished.
    if error.is_some() || conn.close_received() {
        let before = conn.output().len();
        let mut junk = BytesMut::from(&[0x81u8, 0x85, 1, 2, 3, 4][..]);
        assert_eq!(conn.decode(&mut junk), Ok(None));
        assert!(junk.is_empty());
        assert_eq!(conn.output().len(), before);
    }
    if conn.close_received() && error.is_none() {
        assert!(matches!(messages.last(), Some(Message::Close(_))));
    }
    let mut output = conn.output_mut().take_all();
    if role == Role::Client {
        // Client frames carry random masking keys: compare lengths only.
        output = vec![0; output.len()];
    }
    Outcome {
        messages,
        error,
        state: conn.ready_state(),
        output,
    }
}

fn check_stream(
    role: Role,
    config: &Config,
    deflate: Option<DeflateParams>,
    data: &[u8],
    sizes: &[usize],
) -> Outcome {
    let whole = run(role, config, deflate, data, &[]);
    let chunked = run(role, config, deflate, data, sizes);
    assert_eq!(whole, chunked, "one-shot and chunked decoding differ");
    whole
}

fuzz_target!(|input: Input| {
    let config = input.limits.config();
    let deflate = input.deflate.map(|p| p.get());
    let mut sizes: Vec<usize> = input.chunks.iter().map(|&c| c as usize % 1024).collect();
    if sizes.iter().all(|&s| s == 0) {
        sizes.clear();
    }
    for role in [Role::Server, Role::Client] {
        match &input.source {
            Source::Raw(data) => {
                check_stream(role, &config, deflate, data, &sizes);
            }
            Source::Frames(specs) => {
                let data = encode_frames(specs, role, deflate.as_ref());
                check_stream(role, &config, deflate, &data, &sizes);
            }
            Source::Messages(sends) => {
                let (data, expected) = encode_messages(sends, role, deflate);
                let got = check_stream(role, &config, deflate, &data, &sizes);
                match &got.error {
                    None => assert_eq!(got.messages, expected),
                    Some(
                        ProtocolError::FrameTooBig { .. }
                        | ProtocolError::MessageTooBig { .. }
                        | ProtocolError::TooManyFragments { .. },
                    ) => assert_eq!(got.messages[..], expected[..got.messages.len()]),
                    Some(e) => panic!("a well-behaved peer's messages failed with {e:?}"),
                }
            }
        }
    }
});
