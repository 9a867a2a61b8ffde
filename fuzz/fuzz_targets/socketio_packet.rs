//! Socket.IO v5 packets with binary attachments (`wsx_socketio::socketio`): `decode`,
//! `PartialBinary` and the per-connection `Decoder`, and `Packet::encode`.
//!
//! The input is read twice: as a stream of Engine.IO messages (text packets and binary
//! attachments, in any order) under an arbitrary attachment limit, and as an arbitrary packet
//! (namespace, type, ack id, JSON with binary leaves) to encode.
//!
//! Invariants:
//! - Nothing panics and no allocation grows with a number the peer wrote: whatever the limit
//!   (`usize::MAX` included, someone configuring "no limit"), an announced attachment count is
//!   only trusted as far as attachments really arrive.
//! - A packet announcing more attachments than the limit is `TooManyAttachments`; a complete
//!   packet has exactly the attachments it announced, and all its placeholders resolve.
//! - Whole vs piece by piece: one `Decoder` fed the stream message by message agrees with each
//!   binary packet decoded whole (`decode`, then every attachment pushed into the
//!   `PartialBinary`, then `finish`), packet for packet and error for error, and its
//!   `is_reconstructing` says whether attachments are pending.
//! - decode → encode → decode gives the same packet (JSON compared as JavaScript compares it:
//!   `1.0` is `1`), and encoding it again gives the same text.
//! - An arbitrary valid packet survives encode → decode; an invalid one (reserved event
//!   name, CONNECT_ERROR data that is neither string nor object) is refused by `encode`.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use wsx_fuzz::alloc::largest_during;
use wsx_fuzz::json::{self, js_eq};
use wsx_socketio::Error;
use wsx_socketio::socketio::{
    DEFAULT_MAX_ATTACHMENTS, Data, Decoded, Decoder, Packet, PacketData, PartialBinary, Payload,
    RESERVED_EVENTS, decode,
};

#[derive(Arbitrary, Debug)]
enum Limit {
    Default,
    Small(u8),
    Large,
    /// "No limit": `usize::MAX` and just below.
    Huge(u8),
}

impl Limit {
    fn get(&self) -> usize {
        match self {
            Limit::Default => DEFAULT_MAX_ATTACHMENTS,
            Limit::Small(n) => usize::from(*n % 4),
            Limit::Large => 1_000_000,
            Limit::Huge(k) => usize::MAX - usize::from(*k % 4),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Msg {
    Text(String),
    Binary(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Stream {
    limit: Limit,
    messages: Vec<Msg>,
}

/// The reference: each binary packet decoded whole once its attachments are all there.
#[derive(Default)]
struct Whole {
    text: Option<(PartialBinary, Vec<Bytes>)>,
}

impl Whole {
    fn text(&mut self, text: &str, max: usize) -> Result<Option<Packet>, Error> {
        if self.text.is_some() {
            return Err(Error::UnexpectedText);
        }
        match decode(text, max)? {
            Decoded::Packet(p) => Ok(Some(p)),
            Decoded::Partial(partial) => {
                assert!(partial.expected() >= 1 && partial.expected() <= max);
                assert_eq!(partial.received(), 0);
                self.text = Some((partial, Vec::new()));
                Ok(None)
            }
        }
    }

    fn binary(&mut self, data: Bytes) -> Result<Option<Packet>, Error> {
        let Some((partial, attachments)) = self.text.as_mut() else {
            return Err(Error::UnexpectedBinary);
        };
        attachments.push(data);
        if attachments.len() < partial.expected() {
            return Ok(None);
        }
        let (mut partial, attachments) = self.text.take().expect("pending");
        for a in attachments {
            partial.push(a)?;
        }
        assert!(partial.is_complete());
        assert!(matches!(
            partial.clone().push(Bytes::new()),
            Err(Error::UnexpectedBinary)
        ));
        partial.finish().map(Some)
    }
}

fn check_stream(stream: &Stream) {
    let max = stream.limit.get();
    let mut decoder = Decoder::with_max_attachments(max);
    let mut whole = Whole::default();
    for m in &stream.messages {
        let (got, want) = match m {
            Msg::Text(t) => (decoder.decode_text(t), whole.text(t, max)),
            Msg::Binary(b) => {
                let b = Bytes::copy_from_slice(b);
                (decoder.decode_binary(b.clone()), whole.binary(b))
            }
        };
        assert_eq!(got, want, "{m:?}");
        assert_eq!(decoder.is_reconstructing(), whole.text.is_some());
        if let Some(partial) = decoder.partial() {
            assert!(partial.received() < partial.expected());
            assert!(partial.expected() <= max);
        }
        match got {
            Err(Error::TooManyAttachments { count, max: m }) => {
                assert_eq!(m, max);
                // A count too large for a usize is reported as usize::MAX (regression
                // `count-beyond-usize`: under the limit usize::MAX it cannot be above it).
                assert!(count > max || count == usize::MAX);
            }
            Ok(Some(packet)) => check_decoded(&packet),
            _ => {}
        }
    }
}

/// Decodes `text` and its attachments on a fresh decoder.
fn decode_full(text: &str, attachments: &[Bytes]) -> Packet {
    let mut decoder = Decoder::with_max_attachments(attachments.len().max(1));
    let mut out = decoder
        .decode_text(text)
        .unwrap_or_else(|e| panic!("our own {text:?} does not decode: {e:?}"));
    for a in attachments {
        assert!(out.is_none(), "complete before its attachments: {text:?}");
        out = decoder
            .decode_binary(a.clone())
            .unwrap_or_else(|e| panic!("our own {text:?} does not decode: {e:?}"));
    }
    assert!(!decoder.is_reconstructing());
    out.unwrap_or_else(|| panic!("{text:?} incomplete"))
}

fn same_packet(a: &Packet, b: &Packet) -> bool {
    let same_args = |x: &Payload, y: &Payload| {
        x.attachments == y.attachments
            && x.args.len() == y.args.len()
            && x.args.iter().zip(&y.args).all(|(a, b)| js_eq(a, b))
    };
    a.nsp == b.nsp
        && match (&a.data, &b.data) {
            (PacketData::Connect(x), PacketData::Connect(y)) => match (x, y) {
                (Some(x), Some(y)) => js_eq(&Value::Object(x.clone()), &Value::Object(y.clone())),
                (x, y) => x == y,
            },
            (PacketData::Disconnect, PacketData::Disconnect) => true,
            (PacketData::Event { payload: x, id: i }, PacketData::Event { payload: y, id: j }) => {
                i == j && same_args(x, y)
            }
            (PacketData::Ack { payload: x, id: i }, PacketData::Ack { payload: y, id: j }) => {
                i == j && same_args(x, y)
            }
            (PacketData::ConnectError(x), PacketData::ConnectError(y)) => js_eq(x, y),
            _ => false,
        }
}

/// A packet the decoder produced: valid, and decode -> encode -> decode is the identity.
fn check_decoded(packet: &Packet) {
    packet
        .validate()
        .unwrap_or_else(|e| panic!("a decoded packet is invalid: {e:?}: {packet:?}"));
    if let Some(payload) = packet.payload() {
        // Every placeholder resolves, and rebuilding the payload from its data is stable.
        let data = payload
            .to_data()
            .unwrap_or_else(|e| panic!("{e:?}: {payload:?}"));
        let rebuilt = Payload::from_data(data.clone());
        assert_eq!(rebuilt.to_data().as_ref(), Ok(&data));
    }
    let text = packet
        .encode_to_string()
        .unwrap_or_else(|e| panic!("a decoded packet does not encode: {e:?}: {packet:?}"));
    let back = decode_full(&text, packet.attachments());
    assert!(
        same_packet(&back, packet),
        "{packet:?} -> {text:?} -> {back:?}"
    );
    assert_eq!(back.encode_to_string().as_deref(), Ok(text.as_str()));
    // As an Engine.IO message: `4` and the same text.
    let mut buf = BytesMut::new();
    packet.encode_eio_message(&mut buf).expect("valid");
    assert_eq!(&buf[1..], text.as_bytes());
    assert_eq!(buf[0], b'4');
}

/// Arbitrary data with binary leaves.
fn data(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Data> {
    Ok(match u.choose_index(if depth == 0 { 2 } else { 4 })? {
        0 => Data::Json(json::value(u, depth.min(2))?),
        1 => Data::Binary(Bytes::from(u.arbitrary::<Vec<u8>>()?)),
        2 => {
            let n = u.int_in_range(0..=4)?;
            Data::Array(
                (0..n)
                    .map(|_| data(u, depth - 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => {
            let n = u.int_in_range(0..=4)?;
            Data::Object(
                (0..n)
                    .map(|_| Ok((u.arbitrary::<String>()?, data(u, depth - 1)?)))
                    .collect::<arbitrary::Result<_>>()?,
            )
        }
    })
}

fn args(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<Data>> {
    let n = u.int_in_range(0..=5)?;
    (0..n).map(|_| data(u, 3)).collect()
}

/// Whether JSON in `d` reads as a placeholder: with real attachments beside it, such data is
/// ambiguous on the wire (in every implementation of the protocol).
fn ambiguous(d: &Data) -> bool {
    match d {
        Data::Json(v) => json::has_placeholder(v),
        Data::Binary(_) => false,
        Data::Array(a) => a.iter().any(ambiguous),
        // An object of data is placeholder-like itself when one of its fields is
        // `"_placeholder": true` (its other fields may hold binary).
        Data::Object(o) => o.iter().any(|(k, d)| {
            (k == "_placeholder" && matches!(d, Data::Json(Value::Bool(true)))) || ambiguous(d)
        }),
    }
}

fn payload(all: Vec<Data>, is_ambiguous: &mut bool) -> Payload {
    let p = Payload::from_data(all.clone());
    *is_ambiguous = p.is_binary() && all.iter().any(ambiguous);
    p
}

/// An arbitrary packet, whether it is valid by construction, and whether it is ambiguous.
fn arbitrary_packet(u: &mut Unstructured<'_>) -> arbitrary::Result<(Packet, bool, bool)> {
    let nsp = if u.arbitrary()? {
        "/".to_owned()
    } else {
        format!("/{}", u.arbitrary::<String>()?.replace(',', ""))
    };
    let mut valid = true;
    let mut is_ambiguous = false;
    let data = match u.choose_index(5)? {
        0 => PacketData::Connect(if u.arbitrary()? {
            Some(json::object(u, 2)?)
        } else {
            None
        }),
        1 => PacketData::Disconnect,
        2 => {
            let name = match u.choose_index(3)? {
                0 => Value::String(u.arbitrary()?),
                1 => Value::String((*u.choose(&RESERVED_EVENTS)?).to_owned()),
                _ => json::value(u, 1)?,
            };
            valid = match &name {
                Value::String(s) => !RESERVED_EVENTS.contains(&s.as_str()),
                Value::Number(_) => true,
                _ => false,
            };
            let mut all = vec![Data::Json(name)];
            all.extend(args(u)?);
            PacketData::Event {
                payload: payload(all, &mut is_ambiguous),
                id: u.arbitrary()?,
            }
        }
        3 => PacketData::Ack {
            payload: payload(args(u)?, &mut is_ambiguous),
            id: u.arbitrary()?,
        },
        _ => {
            let v = json::value(u, 2)?;
            valid = matches!(v, Value::String(_) | Value::Object(_));
            PacketData::ConnectError(v)
        }
    };
    Ok((Packet { nsp, data }, valid, is_ambiguous))
}

fn check_arbitrary(packet: &Packet, valid: bool, is_ambiguous: bool) {
    let encoded = packet.encode_to_string();
    if !valid {
        assert!(encoded.is_err(), "{packet:?} encoded as {encoded:?}");
        return;
    }
    let text = match encoded {
        Ok(text) => text,
        // A placeholder-like object that refers to no attachment.
        Err(Error::IllegalAttachments) if is_ambiguous => return,
        Err(e) => panic!("{packet:?} does not encode: {e:?}"),
    };
    let back = decode_full(&text, packet.attachments());
    if !is_ambiguous {
        assert!(
            same_packet(&back, packet),
            "{packet:?} -> {text:?} -> {back:?}"
        );
    }
    check_decoded(&back);
}

/// One text packet under a limit: decoded with allocations bounded by its length, whatever
/// number of attachments it announces.
fn check_text(text: &str, max: usize) {
    let (r, largest) = largest_during(|| Decoder::with_max_attachments(max).decode_text(text));
    assert!(
        largest <= 4096 + 64 * text.len(),
        "{largest} bytes allocated at once for {} bytes of {text:?}",
        text.len()
    );
    match r {
        Ok(Some(packet)) => check_decoded(&packet),
        Ok(None) => {}
        // A count too large for a usize is reported as usize::MAX (see check_stream).
        Err(Error::TooManyAttachments { count, max: m }) => {
            assert!(m == max && (count > m || count == usize::MAX))
        }
        Err(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    // One text packet, lossily UTF-8, under a limit chosen by the first byte.
    if let Some((&first, rest)) = data.split_first() {
        let max = match first % 4 {
            0 => DEFAULT_MAX_ATTACHMENTS,
            1 => 1_000_000,
            2 => usize::MAX,
            _ => usize::from(first >> 2),
        };
        check_text(&String::from_utf8_lossy(rest), max);
    }
    if let Ok(stream) = Stream::arbitrary(&mut Unstructured::new(data)) {
        check_stream(&stream);
    }
    if let Ok((packet, valid, is_ambiguous)) = arbitrary_packet(&mut Unstructured::new(data)) {
        check_arbitrary(&packet, valid, is_ambiguous);
    }
});
