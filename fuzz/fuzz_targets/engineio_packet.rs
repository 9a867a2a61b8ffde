//! Engine.IO v4 packets (`wsx_socketio::engineio::Packet`): the text form a WebSocket text
//! frame or a polling record carries, and the WebSocket frame form.
//!
//! The input is read twice: as the text of one packet (any bytes, lossily UTF-8), and as an
//! arbitrary packet built with `arbitrary`.
//!
//! Invariants:
//! - `decode_text` never panics; it fails exactly on the empty text (`Empty`), an unknown type
//!   character (`UnknownEngineIoType` with that character), base64 that does not decode
//!   (`InvalidBase64`) and an `open` whose JSON is not a handshake (`InvalidHandshake`).
//! - decode → encode → decode gives the same packet; the data of `2`/`3`/`4` is kept byte for
//!   byte, so their text encodes back to exactly the input.
//! - A text WebSocket frame decodes as its text does; a binary frame is a binary message as is.
//! - Any packet survives `encode_text` → `decode_text` and `to_ws_frame` → `decode_ws`, and
//!   `into_owned` keeps it.
#![no_main]

use std::borrow::Cow;

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use wsx_socketio::Error;
use wsx_socketio::engineio::{Handshake, Packet, WsFrame};

fn encode(p: &Packet<'_>) -> String {
    let mut buf = BytesMut::new();
    p.encode_text(&mut buf);
    String::from_utf8(buf.to_vec()).expect("the text form is UTF-8")
}

fn check_text(text: &str) {
    let decoded = Packet::decode_text(text);
    let first = text.chars().next();
    match &decoded {
        Err(Error::Empty) => assert!(text.is_empty()),
        Err(Error::UnknownEngineIoType(c)) => {
            assert_eq!(Some(*c), first);
            assert!(!matches!(c, '0'..='6' | 'b'));
        }
        Err(Error::InvalidBase64) => assert_eq!(first, Some('b')),
        Err(Error::InvalidHandshake(_)) => assert_eq!(first, Some('0')),
        Err(e) => panic!("unexpected error {e:?} for {text:?}"),
        Ok(p) => {
            let again = encode(p);
            let back = Packet::decode_text(&again)
                .unwrap_or_else(|e| panic!("{again:?}, the encoding of {p:?}, fails: {e:?}"));
            assert_eq!(&back, p, "{text:?} -> {again:?}");
            match p {
                Packet::Ping(_) | Packet::Pong(_) | Packet::Message(_) => assert_eq!(again, text),
                Packet::Close | Packet::Upgrade | Packet::Noop => {
                    assert_eq!(again.len(), 1);
                    assert_eq!(again.chars().next(), first);
                }
                Packet::Binary(_) | Packet::Open(_) => assert_eq!(again.chars().next(), first),
            }
        }
    }
    // The same text as a WebSocket text frame.
    let frame = WsFrame::Text(Bytes::copy_from_slice(text.as_bytes()));
    assert_eq!(Packet::decode_ws(&frame), decoded);
    // A binary frame is never parsed.
    let bin = Bytes::copy_from_slice(text.as_bytes());
    let frame = WsFrame::Binary(bin.clone());
    assert_eq!(Packet::decode_ws(&frame), Ok(Packet::Binary(bin)));
}

/// An arbitrary packet (`Packet` itself has no `Arbitrary`).
#[derive(Arbitrary, Debug)]
enum Spec {
    Open {
        sid: String,
        upgrades: Vec<String>,
        ping_interval: u64,
        ping_timeout: u64,
        max_payload: u64,
    },
    Close,
    Ping(String),
    Pong(String),
    Message(String),
    Binary(Vec<u8>),
    Upgrade,
    Noop,
}

impl Spec {
    fn packet(&self) -> Packet<'_> {
        match self {
            Spec::Open {
                sid,
                upgrades,
                ping_interval,
                ping_timeout,
                max_payload,
            } => Packet::Open(Handshake {
                sid: sid.clone(),
                upgrades: upgrades.clone(),
                ping_interval: *ping_interval,
                ping_timeout: *ping_timeout,
                max_payload: *max_payload,
            }),
            Spec::Close => Packet::Close,
            Spec::Ping(d) => Packet::Ping(Cow::Borrowed(d)),
            Spec::Pong(d) => Packet::Pong(Cow::Borrowed(d)),
            Spec::Message(d) => Packet::Message(Cow::Borrowed(d)),
            Spec::Binary(b) => Packet::Binary(Bytes::copy_from_slice(b)),
            Spec::Upgrade => Packet::Upgrade,
            Spec::Noop => Packet::Noop,
        }
    }
}

fn check_packet(p: &Packet<'_>) {
    let text = encode(p);
    assert_eq!(
        Packet::decode_text(&text).as_ref(),
        Ok(p),
        "{p:?} encoded as {text:?}"
    );
    let mut scratch = BytesMut::from(&b"left alone"[..]);
    let frame = p.to_ws_frame(&mut scratch);
    assert_eq!(&scratch[..], b"left alone");
    assert_eq!(Packet::decode_ws(&frame).as_ref(), Ok(p), "{frame:?}");
    match (&frame, p) {
        (WsFrame::Binary(b), Packet::Binary(d)) => assert_eq!(b, d),
        (WsFrame::Text(t), _) => assert_eq!(&t[..], text.as_bytes()),
        _ => panic!("{p:?} laid out as {frame:?}"),
    }
    assert_eq!(&p.clone().into_owned(), p);
}

fuzz_target!(|data: &[u8]| {
    check_text(&String::from_utf8_lossy(data));
    if let Ok(spec) = Spec::arbitrary_take_rest(Unstructured::new(data)) {
        check_packet(&spec.packet());
    }
});
