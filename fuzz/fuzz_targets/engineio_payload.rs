//! Engine.IO long-polling payloads (`decode_payload`, `decode_payload_bytes`,
//! `PayloadDecoder`, `encode_payload`): the body of a polling POST, and of a GET's answer.
//!
//! The input is read twice: as a payload (raw bytes, the limit taken from the first byte), and
//! as a list of arbitrary packets to encode into one.
//!
//! Invariants:
//! - Decoding never panics; a payload over the limit is `PayloadTooLarge` (checked before
//!   anything else), a body that is not UTF-8 `InvalidUtf8`.
//! - Whole vs piece by piece: decoding the payload at once, iterating `PayloadDecoder` and
//!   decoding each `\x1e`-separated record on its own give the same packets and the same first
//!   error, at the same place (the iterator stops after it).
//! - decode → encode → decode gives the same packets.
//! - Packets whose text data holds no `\x1e` survive `encode_payload` → `decode_payload`; the
//!   payload has exactly one separator between two packets.
#![no_main]

use std::borrow::Cow;

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use wsx_socketio::Error;
use wsx_socketio::engineio::{
    Packet, PayloadDecoder, RECORD_SEPARATOR, decode_payload, decode_payload_bytes, encode_payload,
};

fn check_payload(body: &[u8], max: usize) {
    let result = decode_payload_bytes(body, max);
    if body.len() > max {
        assert_eq!(
            result,
            Err(Error::PayloadTooLarge {
                len: body.len(),
                max
            })
        );
        return;
    }
    let Ok(text) = std::str::from_utf8(body) else {
        assert_eq!(result, Err(Error::InvalidUtf8));
        return;
    };
    assert_eq!(decode_payload(text, max), result);

    // Record by record: the same packets, and the same first error.
    let mut by_record = Vec::new();
    let mut first_error = None;
    for record in text.split(char::from(RECORD_SEPARATOR)) {
        match Packet::decode_text(record) {
            Ok(p) => by_record.push(p),
            Err(e) => {
                first_error = Some(e);
                break;
            }
        }
    }
    // The iterator: the packets up to the first error, the error, then nothing.
    let mut it = PayloadDecoder::new(text, max).expect("within the limit");
    let mut iterated = Vec::new();
    let mut iter_error = None;
    for r in it.by_ref() {
        match r {
            Ok(p) => iterated.push(p),
            Err(e) => {
                iter_error = Some(e);
                break;
            }
        }
    }
    assert!(
        it.next().is_none(),
        "the decoder goes on after its end or error"
    );
    assert_eq!(iterated, by_record);
    assert_eq!(iter_error, first_error);
    match (&result, first_error) {
        (Ok(packets), None) => {
            assert_eq!(packets, &by_record);
            assert_eq!(
                packets.len(),
                text.bytes().filter(|&b| b == RECORD_SEPARATOR).count() + 1
            );
            // decode -> encode -> decode.
            let mut again = BytesMut::new();
            encode_payload(packets, &mut again);
            let back = decode_payload_bytes(&again, usize::MAX)
                .unwrap_or_else(|e| panic!("{again:?}, the encoding of {packets:?}: {e:?}"));
            assert_eq!(&back, packets);
        }
        (Err(e), Some(first)) => assert_eq!(e, &first),
        (r, first) => panic!("whole: {r:?}, by record: {first:?}"),
    }
}

#[derive(Arbitrary, Debug)]
enum Spec {
    Close,
    Ping(String),
    Pong(String),
    Message(String),
    Binary(Vec<u8>),
    Upgrade,
    Noop,
}

impl Spec {
    /// The packet; text data loses its record separators (which a payload cannot carry, as in
    /// engine.io-parser: Socket.IO's JSON never holds a raw one).
    fn packet(&self) -> Packet<'static> {
        let clean = |s: &String| Cow::Owned(s.replace('\u{1e}', ""));
        match self {
            Spec::Close => Packet::Close,
            Spec::Ping(d) => Packet::Ping(clean(d)),
            Spec::Pong(d) => Packet::Pong(clean(d)),
            Spec::Message(d) => Packet::Message(clean(d)),
            Spec::Binary(b) => Packet::Binary(Bytes::copy_from_slice(b)),
            Spec::Upgrade => Packet::Upgrade,
            Spec::Noop => Packet::Noop,
        }
    }
}

fn check_packets(specs: &[Spec]) {
    let packets: Vec<Packet<'static>> = specs.iter().map(Spec::packet).collect();
    let mut buf = BytesMut::new();
    encode_payload(&packets, &mut buf);
    if packets.is_empty() {
        assert!(buf.is_empty());
        return;
    }
    assert_eq!(
        buf.iter().filter(|&&b| b == RECORD_SEPARATOR).count(),
        packets.len() - 1
    );
    let back = decode_payload_bytes(&buf, buf.len())
        .unwrap_or_else(|e| panic!("{buf:?}, the encoding of {packets:?}: {e:?}"));
    assert_eq!(back, packets);
    if !buf.is_empty() {
        assert!(matches!(
            decode_payload_bytes(&buf, buf.len() - 1),
            Err(Error::PayloadTooLarge { .. })
        ));
    }
}

fuzz_target!(|data: &[u8]| {
    // The limit: none, or a small one from the first byte (0 included).
    let max = match data.first() {
        Some(&b) if b & 0x80 != 0 => usize::from(b & 0x7f) * 4,
        _ => usize::MAX,
    };
    check_payload(data.get(1..).unwrap_or_default(), max);
    if let Ok(specs) = Vec::<Spec>::arbitrary_take_rest(Unstructured::new(data)) {
        check_packets(&specs);
    }
});
