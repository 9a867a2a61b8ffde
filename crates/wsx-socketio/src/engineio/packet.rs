//! Engine.IO v4 packets: the typed form, the text form (`<type digit><data>`, binary as
//! `b<base64>`), the WebSocket frame form and the long-polling payload form.
//!
//! Wire rules, as the official `engine.io-parser` applies them:
//! - Text packet: one type digit (`0` open … `6` noop) followed by its data, if any.
//!   `2probe`/`3probe` are the ping/pong of the transport upgrade.
//! - Over WebSocket, every packet is one frame; a binary message is a raw binary frame (no
//!   type byte), everything else a text frame.
//! - Over HTTP long-polling, a payload is packets joined by the record separator `\x1e`,
//!   binary messages written `b<base64>`.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::json;

/// The separator between packets of a long-polling payload (ASCII record separator).
pub const RECORD_SEPARATOR: u8 = 0x1e;

/// Decodes base64 with or without padding (JS encoders pad; some ports do not), strict on
/// the alphabet.
const BASE64_DECODE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The type of an Engine.IO packet, with its wire digit as discriminant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// `0`: the server's handshake.
    Open = 0,
    /// `1`: closes the session.
    Close = 1,
    /// `2`: heartbeat request (server to client), or the upgrade probe `2probe`.
    Ping = 2,
    /// `3`: heartbeat answer, or the upgrade probe answer `3probe`.
    Pong = 3,
    /// `4`: application data (a Socket.IO packet), text or binary.
    Message = 4,
    /// `5`: completes the upgrade to WebSocket.
    Upgrade = 5,
    /// `6`: does nothing; ends a pending long-poll during an upgrade.
    Noop = 6,
}

impl PacketType {
    /// The ASCII digit of this type on the wire.
    pub const fn as_char(self) -> char {
        (b'0' + self as u8) as char
    }

    /// The type of an ASCII digit, if it is one.
    pub const fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            b'0' => Self::Open,
            b'1' => Self::Close,
            b'2' => Self::Ping,
            b'3' => Self::Pong,
            b'4' => Self::Message,
            b'5' => Self::Upgrade,
            b'6' => Self::Noop,
            _ => return None,
        })
    }
}

/// The data of the `open` packet: `0{"sid":…,"upgrades":[…],"pingInterval":…,"pingTimeout":…,"maxPayload":…}`.
///
/// Encoded with exactly these five keys, in this order, as the Node server writes them (the
/// official test suite rejects any extra key).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    /// The session id.
    pub sid: String,
    /// Transports the client may upgrade to: `["websocket"]` on a polling session, `[]` on a
    /// session opened over WebSocket.
    pub upgrades: Vec<String>,
    /// Milliseconds between the server's pings.
    pub ping_interval: u64,
    /// Milliseconds the server waits for a pong before closing the session.
    pub ping_timeout: u64,
    /// The largest payload, in bytes, the server accepts (`maxHttpBufferSize` in Node).
    pub max_payload: u64,
}

impl Handshake {
    fn write_json(&self, buf: &mut BytesMut) {
        buf.put_slice(b"{\"sid\":");
        json::write_str(buf, &self.sid);
        buf.put_slice(b",\"upgrades\":[");
        for (i, upgrade) in self.upgrades.iter().enumerate() {
            if i > 0 {
                buf.put_u8(b',');
            }
            json::write_str(buf, upgrade);
        }
        use std::fmt::Write as _;
        let _ = write!(
            buf,
            "],\"pingInterval\":{},\"pingTimeout\":{},\"maxPayload\":{}}}",
            self.ping_interval, self.ping_timeout, self.max_payload
        );
    }
}

/// An Engine.IO v4 packet.
///
/// Text data borrows from the decoded input (`Cow::Borrowed`); call
/// [`into_owned`](Packet::into_owned) to keep a packet beyond its input.
///
/// ```
/// use bytes::BytesMut;
/// use wsx_socketio::engineio::Packet;
///
/// let packet = Packet::decode_text("2probe")?;
/// assert!(packet.is_probe());
///
/// let mut buf = BytesMut::new();
/// Packet::pong_probe().encode_text(&mut buf);
/// assert_eq!(&buf[..], b"3probe");
/// # Ok::<(), wsx_socketio::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// `0{…}`: the handshake, sent by the server.
    Open(Handshake),
    /// `1`: close the session.
    Close,
    /// `2` or `2<data>` (`2probe` during an upgrade).
    Ping(Cow<'a, str>),
    /// `3` or `3<data>` (`3probe` during an upgrade).
    Pong(Cow<'a, str>),
    /// `4<text>`: a text message (a Socket.IO packet, or anything on a bare Engine.IO server).
    Message(Cow<'a, str>),
    /// A binary message: a raw binary frame over WebSocket, `b<base64>` over polling.
    Binary(Bytes),
    /// `5`: the client completes the upgrade.
    Upgrade,
    /// `6`: nothing.
    Noop,
}

/// A packet laid out as one WebSocket frame: see [`Packet::to_ws_frame`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsFrame {
    /// A text frame's payload (valid UTF-8).
    Text(Bytes),
    /// A binary frame's payload.
    Binary(Bytes),
}

impl<'a> Packet<'a> {
    /// `2probe`, sent by the client on the new WebSocket during an upgrade.
    pub fn ping_probe() -> Packet<'static> {
        Packet::Ping(Cow::Borrowed("probe"))
    }

    /// `3probe`, the server's answer to [`ping_probe`](Packet::ping_probe).
    pub fn pong_probe() -> Packet<'static> {
        Packet::Pong(Cow::Borrowed("probe"))
    }

    /// A plain `2` heartbeat ping.
    pub fn ping() -> Packet<'static> {
        Packet::Ping(Cow::Borrowed(""))
    }

    /// A plain `3` heartbeat pong.
    pub fn pong() -> Packet<'static> {
        Packet::Pong(Cow::Borrowed(""))
    }

    /// The packet's type (`Message` for binary messages too).
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Open(_) => PacketType::Open,
            Packet::Close => PacketType::Close,
            Packet::Ping(_) => PacketType::Ping,
            Packet::Pong(_) => PacketType::Pong,
            Packet::Message(_) | Packet::Binary(_) => PacketType::Message,
            Packet::Upgrade => PacketType::Upgrade,
            Packet::Noop => PacketType::Noop,
        }
    }

    /// Whether this is `2probe` or `3probe`.
    pub fn is_probe(&self) -> bool {
        matches!(self, Packet::Ping(d) | Packet::Pong(d) if d == "probe")
    }

    /// Whether this is a binary message.
    pub fn is_binary(&self) -> bool {
        matches!(self, Packet::Binary(_))
    }

    /// Copies borrowed text so the packet outlives its input.
    pub fn into_owned(self) -> Packet<'static> {
        match self {
            Packet::Open(h) => Packet::Open(h),
            Packet::Close => Packet::Close,
            Packet::Ping(d) => Packet::Ping(Cow::Owned(d.into_owned())),
            Packet::Pong(d) => Packet::Pong(Cow::Owned(d.into_owned())),
            Packet::Message(d) => Packet::Message(Cow::Owned(d.into_owned())),
            Packet::Binary(b) => Packet::Binary(b),
            Packet::Upgrade => Packet::Upgrade,
            Packet::Noop => Packet::Noop,
        }
    }

    /// Decodes one text packet: a WebSocket text frame, or one record of a polling payload.
    ///
    /// `b<base64>` decodes to [`Packet::Binary`] (as the JS parser does on either transport).
    /// Data after `1`, `5` and `6` is ignored, as the JS server ignores it.
    ///
    /// ```
    /// use wsx_socketio::engineio::Packet;
    ///
    /// assert_eq!(Packet::decode_text("4hello")?, Packet::Message("hello".into()));
    /// assert_eq!(Packet::decode_text("bAQIDBA==")?, Packet::Binary(vec![1, 2, 3, 4].into()));
    /// assert!(Packet::decode_text("7").is_err());
    /// # Ok::<(), wsx_socketio::Error>(())
    /// ```
    pub fn decode_text(text: &'a str) -> Result<Packet<'a>> {
        let Some(&first) = text.as_bytes().first() else {
            return Err(Error::Empty);
        };
        // `first` is ASCII whenever it is a valid type, so slicing at 1 is on a char boundary.
        if first == b'b' {
            let data = BASE64_DECODE
                .decode(&text[1..])
                .map_err(|_| Error::InvalidBase64)?;
            return Ok(Packet::Binary(Bytes::from(data)));
        }
        let Some(kind) = PacketType::from_byte(first) else {
            let c = text.chars().next().unwrap_or('\0');
            return Err(Error::UnknownEngineIoType(c));
        };
        let data = &text[1..];
        Ok(match kind {
            PacketType::Open => {
                let handshake = serde_json::from_str(data)
                    .map_err(|e| Error::InvalidHandshake(e.to_string()))?;
                Packet::Open(handshake)
            }
            PacketType::Close => Packet::Close,
            PacketType::Ping => Packet::Ping(Cow::Borrowed(data)),
            PacketType::Pong => Packet::Pong(Cow::Borrowed(data)),
            PacketType::Message => Packet::Message(Cow::Borrowed(data)),
            PacketType::Upgrade => Packet::Upgrade,
            PacketType::Noop => Packet::Noop,
        })
    }

    /// Decodes a WebSocket binary frame: always a binary message, the frame's bytes as they are.
    pub fn decode_binary(frame: Bytes) -> Packet<'static> {
        Packet::Binary(frame)
    }

    /// Decodes a WebSocket frame.
    pub fn decode_ws(frame: &'a WsFrame) -> Result<Packet<'a>> {
        match frame {
            WsFrame::Text(bytes) => {
                let text = std::str::from_utf8(bytes).map_err(|_| Error::InvalidUtf8)?;
                Packet::decode_text(text)
            }
            WsFrame::Binary(bytes) => Ok(Packet::Binary(bytes.clone())),
        }
    }

    /// Appends the text form: the type digit and the data, or `b<base64>` for a binary
    /// message (the polling form; over WebSocket use [`to_ws_frame`](Packet::to_ws_frame)).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use wsx_socketio::engineio::Packet;
    ///
    /// let mut buf = BytesMut::new();
    /// Packet::Binary(vec![1, 2, 3, 4].into()).encode_text(&mut buf);
    /// assert_eq!(&buf[..], b"bAQIDBA==");
    /// ```
    pub fn encode_text(&self, buf: &mut BytesMut) {
        match self {
            Packet::Binary(data) => {
                buf.put_u8(b'b');
                write_base64(buf, data);
            }
            _ => {
                buf.reserve(1 + self.text_data_len());
                buf.put_u8(self.packet_type() as u8 + b'0');
                match self {
                    Packet::Open(handshake) => handshake.write_json(buf),
                    Packet::Ping(d) | Packet::Pong(d) | Packet::Message(d) => {
                        buf.put_slice(d.as_bytes())
                    }
                    _ => {}
                }
            }
        }
    }

    fn text_data_len(&self) -> usize {
        match self {
            Packet::Open(h) => 96 + h.sid.len(),
            Packet::Ping(d) | Packet::Pong(d) | Packet::Message(d) => d.len(),
            _ => 0,
        }
    }

    /// Lays the packet out as one WebSocket frame.
    ///
    /// A binary message is its bytes, shared (no copy, nothing written to `scratch`); any other
    /// packet is encoded at the end of `scratch` and split off from it, so the returned
    /// `Bytes` is exactly this packet and `scratch` can be reused for the next one.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use wsx_socketio::engineio::{Packet, WsFrame};
    ///
    /// let mut scratch = BytesMut::new();
    /// assert_eq!(Packet::Message("hi".into()).to_ws_frame(&mut scratch), WsFrame::Text("4hi".into()));
    /// assert_eq!(
    ///     Packet::Binary(vec![1, 2].into()).to_ws_frame(&mut scratch),
    ///     WsFrame::Binary(vec![1, 2].into())
    /// );
    /// ```
    pub fn to_ws_frame(&self, scratch: &mut BytesMut) -> WsFrame {
        match self {
            Packet::Binary(data) => WsFrame::Binary(data.clone()),
            _ => {
                let start = scratch.len();
                self.encode_text(scratch);
                WsFrame::Text(scratch.split_off(start).freeze())
            }
        }
    }
}

fn write_base64(buf: &mut BytesMut, data: &[u8]) {
    let start = buf.len();
    let len = base64::encoded_len(data.len(), true).unwrap_or(0);
    buf.resize(start + len, 0);
    // The slice is exactly the encoded length, so this cannot fail.
    let written = STANDARD.encode_slice(data, &mut buf[start..]).unwrap_or(0);
    buf.truncate(start + written);
}

/// Appends a long-polling payload: the packets' text forms joined by `\x1e`, binary messages
/// as `b<base64>`.
///
/// ```
/// use bytes::BytesMut;
/// use wsx_socketio::engineio::{Packet, encode_payload};
///
/// let mut buf = BytesMut::new();
/// encode_payload([Packet::Message("hello".into()), Packet::Binary(vec![1, 2, 3, 4].into())].iter(), &mut buf);
/// assert_eq!(&buf[..], b"4hello\x1ebAQIDBA==");
/// ```
pub fn encode_payload<'p, 'a: 'p>(
    packets: impl IntoIterator<Item = &'p Packet<'a>>,
    buf: &mut BytesMut,
) {
    for (i, packet) in packets.into_iter().enumerate() {
        if i > 0 {
            buf.put_u8(RECORD_SEPARATOR);
        }
        packet.encode_text(buf);
    }
}

/// Decodes a long-polling payload (a POST body) into its packets.
///
/// Fails if the payload is longer than `max_payload` bytes (checked first; Node answers HTTP
/// 413), empty, or holds any invalid packet (the JS parser stops at the first error and the
/// server closes the session).
///
/// ```
/// use wsx_socketio::engineio::{Packet, decode_payload};
///
/// let packets = decode_payload("4hello\x1ebAQIDBA==", 1_000_000)?;
/// assert_eq!(packets, [Packet::Message("hello".into()), Packet::Binary(vec![1, 2, 3, 4].into())]);
/// assert!(decode_payload("4hello", 3).is_err());
/// # Ok::<(), wsx_socketio::Error>(())
/// ```
pub fn decode_payload(payload: &str, max_payload: usize) -> Result<Vec<Packet<'_>>> {
    PayloadDecoder::new(payload, max_payload)?.collect()
}

/// [`decode_payload`] from raw body bytes, which must be UTF-8.
pub fn decode_payload_bytes(payload: &[u8], max_payload: usize) -> Result<Vec<Packet<'_>>> {
    if payload.len() > max_payload {
        return Err(Error::PayloadTooLarge {
            len: payload.len(),
            max: max_payload,
        });
    }
    let text = std::str::from_utf8(payload).map_err(|_| Error::InvalidUtf8)?;
    decode_payload(text, max_payload)
}

/// An iterator over the packets of a long-polling payload, decoding one record at a time.
///
/// It yields an error for the first invalid record and then stops.
#[derive(Debug, Clone)]
pub struct PayloadDecoder<'a> {
    rest: Option<&'a str>,
}

impl<'a> PayloadDecoder<'a> {
    /// Starts decoding `payload`; fails at once if it exceeds `max_payload` bytes.
    pub fn new(payload: &'a str, max_payload: usize) -> Result<Self> {
        if payload.len() > max_payload {
            return Err(Error::PayloadTooLarge {
                len: payload.len(),
                max: max_payload,
            });
        }
        Ok(PayloadDecoder {
            rest: Some(payload),
        })
    }
}

impl<'a> Iterator for PayloadDecoder<'a> {
    type Item = Result<Packet<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest.take()?;
        let record = match rest.split_once(char::from(RECORD_SEPARATOR)) {
            Some((record, tail)) => {
                self.rest = Some(tail);
                record
            }
            None => rest,
        };
        let packet = Packet::decode_text(record);
        if packet.is_err() {
            self.rest = None;
        }
        Some(packet)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn handshake(upgrades: &[&str]) -> Handshake {
        Handshake {
            sid: "lv_VI97HAXpY6yYWAAAC".into(),
            upgrades: upgrades.iter().map(|s| s.to_string()).collect(),
            ping_interval: 25000,
            ping_timeout: 20000,
            max_payload: 1_000_000,
        }
    }

    fn text(packet: &Packet<'_>) -> String {
        let mut buf = BytesMut::new();
        packet.encode_text(&mut buf);
        String::from_utf8(buf.to_vec()).unwrap()
    }

    #[test]
    fn every_type_round_trips_through_text() {
        let cases: Vec<(Packet<'static>, &str)> = vec![
            (
                Packet::Open(handshake(&["websocket"])),
                r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
            ),
            (
                Packet::Open(handshake(&[])),
                r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
            ),
            (Packet::Close, "1"),
            (Packet::ping(), "2"),
            (Packet::pong(), "3"),
            (Packet::ping_probe(), "2probe"),
            (Packet::pong_probe(), "3probe"),
            (Packet::Message("hello".into()), "4hello"),
            (Packet::Message("".into()), "4"),
            (Packet::Message("é😀\u{1e}".into()), "4é😀\u{1e}"),
            (Packet::Upgrade, "5"),
            (Packet::Noop, "6"),
            (Packet::Binary(vec![1, 2, 3, 4].into()), "bAQIDBA=="),
            (Packet::Binary(Bytes::new()), "b"),
            (Packet::Binary(vec![0xff; 5].into()), "b//////8="),
        ];
        for (packet, wire) in cases {
            assert_eq!(text(&packet), wire);
            assert_eq!(Packet::decode_text(wire).unwrap(), packet, "{wire:?}");
        }
    }

    #[test]
    fn packet_types() {
        for (i, c) in "0123456".chars().enumerate() {
            let t = PacketType::from_byte(c as u8).unwrap();
            assert_eq!(t as usize, i);
            assert_eq!(t.as_char(), c);
        }
        assert_eq!(PacketType::from_byte(b'7'), None);
        assert_eq!(
            Packet::Binary(Bytes::new()).packet_type(),
            PacketType::Message
        );
        assert_eq!(Packet::Open(handshake(&[])).packet_type(), PacketType::Open);
        assert!(Packet::Binary(Bytes::new()).is_binary());
        assert!(!Packet::ping().is_probe());
        assert!(Packet::pong_probe().is_probe());
        assert!(!Packet::Message("probe".into()).is_probe());
    }

    #[test]
    fn trailing_data_after_close_upgrade_noop_is_ignored() {
        assert_eq!(Packet::decode_text("1x").unwrap(), Packet::Close);
        assert_eq!(Packet::decode_text("5probe").unwrap(), Packet::Upgrade);
        assert_eq!(Packet::decode_text("6abc").unwrap(), Packet::Noop);
        assert_eq!(
            Packet::decode_text("2abc").unwrap(),
            Packet::Ping("abc".into())
        );
    }

    #[test]
    fn decode_errors() {
        assert_eq!(Packet::decode_text(""), Err(Error::Empty));
        assert_eq!(
            Packet::decode_text("7"),
            Err(Error::UnknownEngineIoType('7'))
        );
        assert_eq!(
            Packet::decode_text("abc"),
            Err(Error::UnknownEngineIoType('a'))
        );
        assert_eq!(
            Packet::decode_text("é"),
            Err(Error::UnknownEngineIoType('é'))
        );
        assert_eq!(
            Packet::decode_text("B"),
            Err(Error::UnknownEngineIoType('B'))
        );
        assert_eq!(Packet::decode_text("b!!!!"), Err(Error::InvalidBase64));
        assert_eq!(Packet::decode_text("bA"), Err(Error::InvalidBase64));
        assert_eq!(Packet::decode_text("bAQIDBA=x"), Err(Error::InvalidBase64));
        assert!(matches!(
            Packet::decode_text("0"),
            Err(Error::InvalidHandshake(_))
        ));
        assert!(matches!(
            Packet::decode_text("0{}"),
            Err(Error::InvalidHandshake(_))
        ));
        assert!(matches!(
            Packet::decode_text("0[1]"),
            Err(Error::InvalidHandshake(_))
        ));
    }

    #[test]
    fn base64_padding_is_optional_on_decode() {
        assert_eq!(
            Packet::decode_text("bAQIDBA").unwrap(),
            Packet::Binary(vec![1, 2, 3, 4].into())
        );
    }

    #[test]
    fn open_ignores_unknown_handshake_keys() {
        let wire = r#"0{"sid":"s","upgrades":[],"pingInterval":1,"pingTimeout":2,"maxPayload":3,"extra":true}"#;
        let Packet::Open(h) = Packet::decode_text(wire).unwrap() else {
            panic!()
        };
        assert_eq!(
            (
                h.sid.as_str(),
                h.ping_interval,
                h.ping_timeout,
                h.max_payload
            ),
            ("s", 1, 2, 3)
        );
    }

    #[test]
    fn handshake_escapes_sid() {
        let mut h = handshake(&["websocket"]);
        h.sid = "a\"b".into();
        let wire = text(&Packet::Open(h.clone()));
        assert!(wire.starts_with(r#"0{"sid":"a\"b","#));
        assert_eq!(Packet::decode_text(&wire).unwrap(), Packet::Open(h));
    }

    #[test]
    fn ws_frames() {
        let mut scratch = BytesMut::from(&b"previous"[..]);
        let frame = Packet::Message("hello".into()).to_ws_frame(&mut scratch);
        assert_eq!(frame, WsFrame::Text(Bytes::from_static(b"4hello")));
        assert_eq!(&scratch[..], b"previous");
        assert_eq!(
            Packet::decode_ws(&frame).unwrap(),
            Packet::Message("hello".into())
        );

        let bin = Bytes::from_static(&[1, 2, 3, 4]);
        let frame = Packet::Binary(bin.clone()).to_ws_frame(&mut scratch);
        assert_eq!(frame, WsFrame::Binary(bin.clone()));
        assert_eq!(
            Packet::decode_ws(&frame).unwrap(),
            Packet::Binary(bin.clone())
        );
        assert_eq!(Packet::decode_binary(bin.clone()), Packet::Binary(bin));

        let frame = Packet::pong_probe().to_ws_frame(&mut scratch);
        assert_eq!(frame, WsFrame::Text(Bytes::from_static(b"3probe")));
        let bad = WsFrame::Text(Bytes::from_static(&[b'4', 0xff]));
        assert_eq!(Packet::decode_ws(&bad), Err(Error::InvalidUtf8));
        // A binary frame is never parsed, even if it looks like a text packet.
        let looks_textual = WsFrame::Binary(Bytes::from_static(b"4hello"));
        assert_eq!(
            Packet::decode_ws(&looks_textual).unwrap(),
            Packet::Binary(Bytes::from_static(b"4hello"))
        );
    }

    #[test]
    fn into_owned_keeps_content() {
        let owned = {
            let s = String::from("4hello");
            Packet::decode_text(&s).unwrap().into_owned()
        };
        assert_eq!(owned, Packet::Message("hello".into()));
        for p in [
            Packet::Close,
            Packet::Upgrade,
            Packet::Noop,
            Packet::ping_probe(),
            Packet::pong(),
            Packet::Binary(Bytes::new()),
            Packet::Open(handshake(&[])),
        ] {
            assert_eq!(p.clone().into_owned(), p);
        }
    }

    #[test]
    fn payload_round_trip() {
        let packets = vec![
            Packet::Message("test1".into()),
            Packet::Message("test2".into()),
            Packet::Binary(vec![1, 2, 3, 4].into()),
            Packet::ping(),
            Packet::Noop,
        ];
        let mut buf = BytesMut::new();
        encode_payload(&packets, &mut buf);
        assert_eq!(&buf[..], b"4test1\x1e4test2\x1ebAQIDBA==\x1e2\x1e6");
        let text = std::str::from_utf8(&buf).unwrap();
        assert_eq!(decode_payload(text, 1000).unwrap(), packets);
        assert_eq!(decode_payload_bytes(&buf, 1000).unwrap(), packets);
    }

    #[test]
    fn payload_single_and_empty_list() {
        let mut buf = BytesMut::new();
        encode_payload(&[Packet::Noop], &mut buf);
        assert_eq!(&buf[..], b"6");
        let mut buf = BytesMut::new();
        encode_payload(&[] as &[Packet<'_>], &mut buf);
        assert!(buf.is_empty());
    }

    #[test]
    fn payload_errors() {
        assert_eq!(decode_payload("", 10), Err(Error::Empty));
        assert_eq!(decode_payload("4a\x1e", 10), Err(Error::Empty));
        assert_eq!(decode_payload("\x1e4a", 10), Err(Error::Empty));
        assert_eq!(decode_payload("4a\x1e\x1e4b", 10), Err(Error::Empty));
        assert_eq!(
            decode_payload("4a\x1ex", 10),
            Err(Error::UnknownEngineIoType('x'))
        );
        assert_eq!(decode_payload("4a\x1eb!", 10), Err(Error::InvalidBase64));
        assert_eq!(
            decode_payload("4hello", 5),
            Err(Error::PayloadTooLarge { len: 6, max: 5 })
        );
        assert_eq!(
            decode_payload("4hello", 6).unwrap(),
            [Packet::Message("hello".into())]
        );
        assert_eq!(decode_payload_bytes(b"4\xff", 10), Err(Error::InvalidUtf8));
        assert_eq!(
            decode_payload_bytes(b"4hello", 2),
            Err(Error::PayloadTooLarge { len: 6, max: 2 })
        );
    }

    #[test]
    fn payload_decoder_stops_after_first_error() {
        let mut it = PayloadDecoder::new("4a\x1ex\x1e4b", 100).unwrap();
        assert_eq!(it.next(), Some(Ok(Packet::Message("a".into()))));
        assert!(matches!(
            it.next(),
            Some(Err(Error::UnknownEngineIoType('x')))
        ));
        assert_eq!(it.next(), None);
        assert!(PayloadDecoder::new("4abc", 1).is_err());
    }

    #[test]
    fn large_binary_base64() {
        let data: Vec<u8> = (0..=255u8).cycle().take(100_003).collect();
        let packet = Packet::Binary(data.clone().into());
        let wire = text(&packet);
        assert_eq!(
            wire.len(),
            1 + base64::encoded_len(data.len(), true).unwrap()
        );
        assert_eq!(Packet::decode_text(&wire).unwrap(), packet);
    }
}
