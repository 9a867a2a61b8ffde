//! Socket.IO v5 packets: the typed form, the text form, and binary attachments.
//!
//! Wire grammar of the text form (what the official `socket.io-parser` reads and writes):
//!
//! ```text
//! <type digit> [<attachment count> "-"] ["/" <namespace> ","] [<ack id digits>] [<JSON data>]
//! ```
//!
//! - type: `0` CONNECT, `1` DISCONNECT, `2` EVENT, `3` ACK, `4` CONNECT_ERROR, `5` BINARY_EVENT,
//!   `6` BINARY_ACK. The attachment count appears for types 5 and 6 only (a decimal ≥ 1).
//! - The namespace `/` is omitted; any other is written followed by `,` (on decode the comma may
//!   be missing when nothing follows: `40/custom`).
//! - JSON data: CONNECT an optional object (the client's `auth`, or the server's
//!   `{"sid":…}`); DISCONNECT none; EVENT a non-empty array whose first element is the event
//!   name (a string not in [`RESERVED_EVENTS`], or a number); ACK an array; CONNECT_ERROR a
//!   string or an object (`{"message":…}`).
//! - A binary packet's JSON holds placeholders `{"_placeholder":true,"num":N}` and is followed by
//!   the N attachments, each one Engine.IO binary message.

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::json;

/// Event names a peer may not use: the official parser rejects an EVENT that carries one.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// How many attachments a packet may announce by default (the JS decoder's `maxAttachments`).
pub const DEFAULT_MAX_ATTACHMENTS: usize = 10;

/// The type of a Socket.IO packet, with its wire digit as discriminant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// `0`: connect to a namespace (client), or accept the connection (server).
    Connect = 0,
    /// `1`: leave a namespace.
    Disconnect = 1,
    /// `2`: an event.
    Event = 2,
    /// `3`: the answer to an event that asked for one.
    Ack = 3,
    /// `4`: the server refuses a connection to a namespace.
    ConnectError = 4,
    /// `5`: an event with binary attachments.
    BinaryEvent = 5,
    /// `6`: an ack with binary attachments.
    BinaryAck = 6,
}

impl PacketType {
    /// The type of an ASCII digit, if it is one.
    pub const fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            b'0' => Self::Connect,
            b'1' => Self::Disconnect,
            b'2' => Self::Event,
            b'3' => Self::Ack,
            b'4' => Self::ConnectError,
            b'5' => Self::BinaryEvent,
            b'6' => Self::BinaryAck,
            _ => return None,
        })
    }

    /// The name the protocol documents for this type (`"BINARY_EVENT"`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Connect => "CONNECT",
            Self::Disconnect => "DISCONNECT",
            Self::Event => "EVENT",
            Self::Ack => "ACK",
            Self::ConnectError => "CONNECT_ERROR",
            Self::BinaryEvent => "BINARY_EVENT",
            Self::BinaryAck => "BINARY_ACK",
        }
    }

    const fn is_binary(self) -> bool {
        matches!(self, Self::BinaryEvent | Self::BinaryAck)
    }
}

/// The arguments of an EVENT or ACK: a JSON array plus the binary attachments its placeholders
/// refer to.
///
/// `args` holds JSON as it travels: each binary part is a placeholder object
/// `{"_placeholder":true,"num":N}` standing for `attachments[N]`. A payload with attachments
/// is sent as a BINARY_EVENT/BINARY_ACK followed by one binary message per attachment. Build one
/// with [`Payload::new`] and [`Payload::push_binary`], or from a tree with binary leaves with
/// [`Payload::from_data`].
///
/// ```
/// use serde_json::json;
/// use wsx_socketio::socketio::Payload;
///
/// let mut payload = Payload::new(vec![json!("upload")]);
/// let placeholder = payload.push_binary(vec![1, 2, 3].into());
/// payload.args.push(json!({"name": "a.bin", "content": placeholder}));
/// assert_eq!(payload.attachments.len(), 1);
/// assert_eq!(payload.attachment(&payload.args[1]["content"]).map(|b| &b[..]), Some(&[1u8, 2, 3][..]));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    /// The JSON array, event name first for an EVENT.
    pub args: Vec<Value>,
    /// The binary parts, in placeholder order.
    pub attachments: Vec<Bytes>,
}

/// A JSON-like value that may hold binary leaves: what the application emits and receives.
///
/// [`Payload::from_data`] splits it into JSON with placeholders plus attachments (numbered
/// depth-first, in array and key order, as the JS encoder numbers them);
/// [`Payload::to_data`] puts the attachments back.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// JSON without binary parts.
    Json(Value),
    /// A binary part.
    Binary(Bytes),
    /// An array some of whose elements hold binary parts.
    Array(Vec<Data>),
    /// An object some of whose values hold binary parts, keys in order.
    Object(Vec<(String, Data)>),
}

impl From<Value> for Data {
    fn from(v: Value) -> Self {
        Data::Json(v)
    }
}

impl From<Map<String, Value>> for Data {
    fn from(map: Map<String, Value>) -> Self {
        Data::Json(Value::Object(map))
    }
}

impl From<&str> for Data {
    fn from(s: &str) -> Self {
        Data::Json(Value::String(s.to_owned()))
    }
}

impl From<String> for Data {
    fn from(s: String) -> Self {
        Data::Json(Value::String(s))
    }
}

macro_rules! data_from_number {
    ($($t:ty),*) => {$(
        impl From<$t> for Data {
            fn from(n: $t) -> Self {
                Data::Json(Value::from(n))
            }
        }
    )*};
}
data_from_number!(i32, i64, u32, u64, f64, bool);

impl Data {
    /// Any serializable value as JSON data (`null` if it does not serialize).
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Self {
        Data::Json(serde_json::to_value(value).unwrap_or(Value::Null))
    }
}

impl From<Bytes> for Data {
    fn from(b: Bytes) -> Self {
        Data::Binary(b)
    }
}

impl Payload {
    /// A payload of JSON arguments without attachments.
    pub fn new(args: Vec<Value>) -> Self {
        Payload {
            args,
            attachments: Vec::new(),
        }
    }

    /// The placeholder object for attachment `num`: `{"_placeholder":true,"num":num}`.
    pub fn placeholder(num: usize) -> Value {
        let mut map = Map::with_capacity(2);
        map.insert("_placeholder".into(), Value::Bool(true));
        map.insert("num".into(), Value::from(num));
        Value::Object(map)
    }

    /// Adds an attachment and returns the placeholder to put where it belongs in `args`.
    pub fn push_binary(&mut self, data: Bytes) -> Value {
        self.attachments.push(data);
        Self::placeholder(self.attachments.len() - 1)
    }

    /// The attachment a placeholder value refers to (`None` if `value` is not a placeholder or
    /// refers to no attachment).
    pub fn attachment(&self, value: &Value) -> Option<&Bytes> {
        placeholder_num(value)
            .ok()
            .flatten()
            .and_then(|n| self.attachments.get(n))
    }

    /// Whether the payload has attachments (it is then sent as a BINARY_* packet).
    pub fn is_binary(&self) -> bool {
        !self.attachments.is_empty()
    }

    /// Splits binary leaves out of `args` into attachments, replacing each with a placeholder.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use serde_json::json;
    /// use wsx_socketio::socketio::{Data, Payload};
    ///
    /// let payload = Payload::from_data(vec![
    ///     json!("bin").into(),
    ///     Data::Object(vec![("a".into(), Data::Binary(Bytes::from_static(&[1])))]),
    /// ]);
    /// assert_eq!(payload.args[1], json!({"a": {"_placeholder": true, "num": 0}}));
    /// assert_eq!(payload.attachments, [Bytes::from_static(&[1])]);
    /// assert_eq!(payload.to_data().unwrap()[1], Data::Object(vec![("a".into(), Data::Binary(Bytes::from_static(&[1])))]));
    /// ```
    pub fn from_data(args: Vec<Data>) -> Self {
        let mut attachments = Vec::new();
        let args = args
            .into_iter()
            .map(|d| deconstruct(d, &mut attachments))
            .collect();
        Payload { args, attachments }
    }

    /// Puts the attachments back where their placeholders are.
    ///
    /// Without attachments every argument is [`Data::Json`] (placeholder-like objects in a
    /// plain EVENT are data, as in the JS parser). Fails with [`Error::IllegalAttachments`] if a
    /// placeholder refers to no attachment.
    pub fn to_data(&self) -> Result<Vec<Data>> {
        if self.attachments.is_empty() {
            return Ok(self.args.iter().cloned().map(Data::Json).collect());
        }
        self.args
            .iter()
            .map(|v| reconstruct(v, &self.attachments))
            .collect()
    }

    /// Checks that every placeholder refers to an attachment (only when there are some).
    fn check_placeholders(&self) -> Result<()> {
        if self.attachments.is_empty() {
            return Ok(());
        }
        self.args
            .iter()
            .try_for_each(|v| check_placeholders(v, self.attachments.len()))
    }
}

/// `Ok(Some(n))` for a valid-looking placeholder, `Ok(None)` for a non-placeholder, `Err` for
/// an object with `"_placeholder": true` whose `num` is not an index.
fn placeholder_num(value: &Value) -> Result<Option<usize>> {
    let Value::Object(map) = value else {
        return Ok(None);
    };
    if map.get("_placeholder") != Some(&Value::Bool(true)) {
        return Ok(None);
    }
    map.get("num")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .map(Some)
        .ok_or(Error::IllegalAttachments)
}

fn check_placeholders(value: &Value, count: usize) -> Result<()> {
    if let Some(n) = placeholder_num(value)? {
        return if n < count {
            Ok(())
        } else {
            Err(Error::IllegalAttachments)
        };
    }
    match value {
        Value::Array(items) => items.iter().try_for_each(|v| check_placeholders(v, count)),
        Value::Object(map) => map.values().try_for_each(|v| check_placeholders(v, count)),
        _ => Ok(()),
    }
}

fn has_placeholder(value: &Value) -> bool {
    match value {
        Value::Object(map) if map.get("_placeholder") == Some(&Value::Bool(true)) => true,
        Value::Array(items) => items.iter().any(has_placeholder),
        Value::Object(map) => map.values().any(has_placeholder),
        _ => false,
    }
}

fn deconstruct(data: Data, attachments: &mut Vec<Bytes>) -> Value {
    match data {
        Data::Json(v) => v,
        Data::Binary(b) => {
            attachments.push(b);
            Payload::placeholder(attachments.len() - 1)
        }
        Data::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|d| deconstruct(d, attachments))
                .collect(),
        ),
        Data::Object(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(k, d)| (k, deconstruct(d, attachments)))
                .collect(),
        ),
    }
}

fn reconstruct(value: &Value, attachments: &[Bytes]) -> Result<Data> {
    if let Some(n) = placeholder_num(value)? {
        return attachments
            .get(n)
            .cloned()
            .map(Data::Binary)
            .ok_or(Error::IllegalAttachments);
    }
    if !has_placeholder(value) {
        return Ok(Data::Json(value.clone()));
    }
    Ok(match value {
        Value::Array(items) => Data::Array(
            items
                .iter()
                .map(|v| reconstruct(v, attachments))
                .collect::<Result<_>>()?,
        ),
        Value::Object(map) => Data::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), reconstruct(v, attachments)?)))
                .collect::<Result<_>>()?,
        ),
        other => Data::Json(other.clone()),
    })
}

/// What a Socket.IO packet carries, by type.
#[derive(Debug, Clone, PartialEq)]
pub enum PacketData {
    /// CONNECT: the client's `auth` object (`None` when absent), or the server's `{"sid":…}`.
    Connect(Option<Map<String, Value>>),
    /// DISCONNECT.
    Disconnect,
    /// EVENT (BINARY_EVENT when the payload has attachments), with an ack id if the sender
    /// wants an answer.
    Event {
        /// Event name first, then the arguments.
        payload: Payload,
        /// The ack id, if an ACK is expected.
        id: Option<u64>,
    },
    /// ACK (BINARY_ACK when the payload has attachments).
    Ack {
        /// The answer's arguments.
        payload: Payload,
        /// The id of the EVENT this answers.
        id: u64,
    },
    /// CONNECT_ERROR: a string or an object, `{"message":…}` from Node servers (plus `"data"`
    /// when the middleware error has some).
    ConnectError(Value),
}

/// A Socket.IO v5 packet: a namespace and what it carries.
///
/// ```
/// use serde_json::json;
/// use wsx_socketio::socketio::{Packet, Payload};
///
/// let packet = Packet::event("/admin", Payload::new(vec![json!("hello"), json!(1)])).with_ack_id(12);
/// assert_eq!(packet.encode_to_string()?, r#"2/admin,12["hello",1]"#);
/// assert_eq!(Packet::connect_ack("/", "abc").encode_to_string()?, r#"0{"sid":"abc"}"#);
/// # Ok::<(), wsx_socketio::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The namespace, `/` for the main one.
    pub nsp: String,
    /// The type and its data.
    pub data: PacketData,
}

impl Packet {
    /// A CONNECT, with the client's `auth` object if any.
    pub fn connect(nsp: impl Into<String>, auth: Option<Map<String, Value>>) -> Self {
        Packet {
            nsp: nsp.into(),
            data: PacketData::Connect(auth),
        }
    }

    /// The server's CONNECT answer: `{"sid":<sid>}`.
    pub fn connect_ack(nsp: impl Into<String>, sid: &str) -> Self {
        let mut map = Map::with_capacity(1);
        map.insert("sid".into(), Value::String(sid.into()));
        Self::connect(nsp, Some(map))
    }

    /// A DISCONNECT.
    pub fn disconnect(nsp: impl Into<String>) -> Self {
        Packet {
            nsp: nsp.into(),
            data: PacketData::Disconnect,
        }
    }

    /// An EVENT (binary if `payload` has attachments) without ack id; the event name is
    /// `payload.args[0]`.
    pub fn event(nsp: impl Into<String>, payload: Payload) -> Self {
        Packet {
            nsp: nsp.into(),
            data: PacketData::Event { payload, id: None },
        }
    }

    /// An ACK answering event `id`.
    pub fn ack(nsp: impl Into<String>, id: u64, payload: Payload) -> Self {
        Packet {
            nsp: nsp.into(),
            data: PacketData::Ack { payload, id },
        }
    }

    /// A CONNECT_ERROR as Node sends it: `{"message":<message>}`.
    pub fn connect_error(nsp: impl Into<String>, message: &str) -> Self {
        let mut map = Map::with_capacity(1);
        map.insert("message".into(), Value::String(message.into()));
        Packet {
            nsp: nsp.into(),
            data: PacketData::ConnectError(Value::Object(map)),
        }
    }

    /// Sets the ack id of an EVENT (does nothing to other packets).
    pub fn with_ack_id(mut self, ack_id: u64) -> Self {
        if let PacketData::Event { id, .. } = &mut self.data {
            *id = Some(ack_id);
        }
        self
    }

    /// The wire type: BINARY_EVENT/BINARY_ACK when the payload has attachments.
    pub fn packet_type(&self) -> PacketType {
        match &self.data {
            PacketData::Connect(_) => PacketType::Connect,
            PacketData::Disconnect => PacketType::Disconnect,
            PacketData::Event { payload, .. } if payload.is_binary() => PacketType::BinaryEvent,
            PacketData::Event { .. } => PacketType::Event,
            PacketData::Ack { payload, .. } if payload.is_binary() => PacketType::BinaryAck,
            PacketData::Ack { .. } => PacketType::Ack,
            PacketData::ConnectError(_) => PacketType::ConnectError,
        }
    }

    /// The ack id of an EVENT or ACK.
    pub fn id(&self) -> Option<u64> {
        match &self.data {
            PacketData::Event { id, .. } => *id,
            PacketData::Ack { id, .. } => Some(*id),
            _ => None,
        }
    }

    /// The payload of an EVENT or ACK.
    pub fn payload(&self) -> Option<&Payload> {
        match &self.data {
            PacketData::Event { payload, .. } | PacketData::Ack { payload, .. } => Some(payload),
            _ => None,
        }
    }

    /// The binary attachments to send after the text packet, one Engine.IO binary message each.
    pub fn attachments(&self) -> &[Bytes] {
        self.payload().map_or(&[], |p| &p.attachments)
    }

    /// The event name of an EVENT when it is a string (the JS parser also admits a number
    /// there, see [`event`](Packet::event_value)).
    pub fn event_name(&self) -> Option<&str> {
        self.event_value().and_then(Value::as_str)
    }

    /// The first element of an EVENT's array: the event name, a string or a number.
    pub fn event_value(&self) -> Option<&Value> {
        match &self.data {
            PacketData::Event { payload, .. } => payload.args.first(),
            _ => None,
        }
    }

    /// Checks the rules the JS parser enforces on what it decodes, so that what we send is
    /// what a JS peer accepts: the namespace starts with `/` and has no `,`; an EVENT's first
    /// argument is a non-reserved string or a number; CONNECT_ERROR data is a string or an
    /// object; every placeholder refers to an attachment.
    pub fn validate(&self) -> Result<()> {
        if !self.nsp.starts_with('/') || self.nsp.contains(',') {
            return Err(Error::InvalidNamespace(self.nsp.clone()));
        }
        match &self.data {
            PacketData::Connect(_) | PacketData::Disconnect => Ok(()),
            PacketData::Event { payload, .. } => {
                if !is_event_name(payload.args.first()) {
                    return Err(Error::InvalidPayload(PacketType::Event.name()));
                }
                payload.check_placeholders()
            }
            PacketData::Ack { payload, .. } => payload.check_placeholders(),
            PacketData::ConnectError(v) => match v {
                Value::String(_) | Value::Object(_) => Ok(()),
                _ => Err(Error::InvalidPayload(PacketType::ConnectError.name())),
            },
        }
    }

    /// Appends the text form of the packet (what follows the Engine.IO `4`), after
    /// [`validate`](Packet::validate). The attachments, if any, are
    /// [`attachments`](Packet::attachments), to be sent as binary messages after it.
    ///
    /// ```
    /// use bytes::{Bytes, BytesMut};
    /// use serde_json::json;
    /// use wsx_socketio::socketio::{Packet, Payload};
    ///
    /// let mut payload = Payload::new(vec![json!("bin")]);
    /// let placeholder = payload.push_binary(Bytes::from_static(&[1, 2, 3, 4]));
    /// payload.args.push(placeholder);
    /// let packet = Packet::event("/", payload);
    ///
    /// let mut buf = BytesMut::new();
    /// packet.encode(&mut buf)?;
    /// assert_eq!(&buf[..], br#"51-["bin",{"_placeholder":true,"num":0}]"#);
    /// assert_eq!(packet.attachments(), [Bytes::from_static(&[1, 2, 3, 4])]);
    /// # Ok::<(), wsx_socketio::Error>(())
    /// ```
    pub fn encode(&self, buf: &mut BytesMut) -> Result<()> {
        self.validate()?;
        let kind = self.packet_type();
        buf.put_u8(b'0' + kind as u8);
        if kind.is_binary() {
            let _ = write!(buf, "{}-", self.attachments().len());
        }
        if self.nsp != "/" {
            buf.put_slice(self.nsp.as_bytes());
            buf.put_u8(b',');
        }
        if let Some(id) = self.id() {
            let _ = write!(buf, "{id}");
        }
        match &self.data {
            PacketData::Connect(Some(map)) => json::write_object(buf, map),
            PacketData::Connect(None) | PacketData::Disconnect => {}
            PacketData::Event { payload, .. } | PacketData::Ack { payload, .. } => {
                json::write_array(buf, &payload.args)
            }
            PacketData::ConnectError(v) => json::write_value(buf, v),
        }
        Ok(())
    }

    /// Appends the packet as an Engine.IO message: `4` then [`encode`](Packet::encode)'s text
    /// (the content of a WebSocket text frame, or one record of a polling payload).
    pub fn encode_eio_message(&self, buf: &mut BytesMut) -> Result<()> {
        let start = buf.len();
        buf.put_u8(b'4');
        self.encode(buf).inspect_err(|_| buf.truncate(start))
    }

    /// [`encode`](Packet::encode) into a new `String`.
    pub fn encode_to_string(&self) -> Result<String> {
        let mut buf = BytesMut::new();
        self.encode(&mut buf)?;
        String::from_utf8(buf.to_vec()).map_err(|_| Error::InvalidUtf8)
    }
}

fn is_event_name(first: Option<&Value>) -> bool {
    match first {
        Some(Value::String(name)) => !RESERVED_EVENTS.contains(&name.as_str()),
        Some(Value::Number(_)) => true,
        _ => false,
    }
}

/// The result of decoding a text packet: complete, or waiting for binary attachments.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A complete packet.
    Packet(Packet),
    /// A BINARY_EVENT/BINARY_ACK whose attachments come next.
    Partial(PartialBinary),
}

/// A binary packet whose JSON part has arrived, collecting its attachments.
#[derive(Debug, Clone, PartialEq)]
pub struct PartialBinary {
    packet: Packet,
    expected: usize,
}

impl PartialBinary {
    /// How many attachments the packet announced.
    pub fn expected(&self) -> usize {
        self.expected
    }

    /// How many have arrived.
    pub fn received(&self) -> usize {
        self.packet.attachments().len()
    }

    /// Whether every attachment has arrived.
    pub fn is_complete(&self) -> bool {
        self.received() >= self.expected
    }

    /// The namespace of the packet being reconstructed.
    pub fn nsp(&self) -> &str {
        &self.packet.nsp
    }

    /// Adds the next attachment (one Engine.IO binary message); returns whether the packet is
    /// now complete. Fails with [`Error::UnexpectedBinary`] if it already was.
    pub fn push(&mut self, attachment: Bytes) -> Result<bool> {
        if self.is_complete() {
            return Err(Error::UnexpectedBinary);
        }
        if let PacketData::Event { payload, .. } | PacketData::Ack { payload, .. } =
            &mut self.packet.data
        {
            payload.attachments.push(attachment);
        }
        Ok(self.is_complete())
    }

    /// The complete packet, once every placeholder is checked against the attachments
    /// ([`Error::IllegalAttachments`] if one refers to none, or if attachments are missing).
    pub fn finish(self) -> Result<Packet> {
        if !self.is_complete() {
            return Err(Error::IllegalAttachments);
        }
        match &self.packet.data {
            PacketData::Event { payload, .. } | PacketData::Ack { payload, .. } => {
                payload.check_placeholders()?
            }
            _ => {}
        }
        Ok(self.packet)
    }
}

/// Decodes one Socket.IO text packet (the text after an Engine.IO `4`).
///
/// A BINARY_EVENT/BINARY_ACK comes back as [`Decoded::Partial`]: feed it the next
/// [`PartialBinary::expected`] binary messages. [`Decoder`] does this bookkeeping.
///
/// Beyond the JS parser's own checks, this rejects (instead of decoding into something the
/// Node server then ignores or mishandles): a type character that is not `0`–`6` (JS reads the
/// empty string as CONNECT), an attachment count that is not plain digits, an EVENT without
/// data, an ACK without id, an ack id on CONNECT/DISCONNECT/CONNECT_ERROR, and
/// CONNECT_ERROR without data. An ACK without data is read as an empty array, as Node does.
///
/// ```
/// use wsx_socketio::socketio::{decode, Decoded, DEFAULT_MAX_ATTACHMENTS};
///
/// let Decoded::Packet(packet) = decode(r#"0/admin,{"token":"x"}"#, DEFAULT_MAX_ATTACHMENTS)? else { panic!() };
/// assert_eq!(packet.nsp, "/admin");
///
/// let Decoded::Partial(mut partial) = decode(r#"51-["bin",{"_placeholder":true,"num":0}]"#, 10)? else { panic!() };
/// assert!(partial.push(vec![1, 2, 3].into())?);
/// let packet = partial.finish()?;
/// assert_eq!(packet.attachments().len(), 1);
/// # Ok::<(), wsx_socketio::Error>(())
/// ```
pub fn decode(text: &str, max_attachments: usize) -> Result<Decoded> {
    let bytes = text.as_bytes();
    let Some(&first) = bytes.first() else {
        return Err(Error::Empty);
    };
    let Some(kind) = PacketType::from_byte(first) else {
        return Err(Error::UnknownSocketIoType(
            text.chars().next().unwrap_or('\0'),
        ));
    };
    let mut i = 1;

    // attachment count, for binary types: digits then '-'
    let mut expected = 0;
    if kind.is_binary() {
        let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || bytes.get(i + digits) != Some(&b'-') {
            return Err(Error::IllegalAttachments);
        }
        expected = text[i..i + digits]
            .parse::<usize>()
            .map_err(|_| Error::TooManyAttachments {
                count: usize::MAX,
                max: max_attachments,
            })?;
        if expected == 0 {
            return Err(Error::IllegalAttachments);
        }
        if expected > max_attachments {
            return Err(Error::TooManyAttachments {
                count: expected,
                max: max_attachments,
            });
        }
        i += digits + 1;
    }

    // namespace: "/…" up to ',' or the end
    let nsp = if bytes.get(i) == Some(&b'/') {
        let end = bytes[i..]
            .iter()
            .position(|&b| b == b',')
            .map_or(bytes.len(), |p| i + p);
        let nsp = &text[i..end];
        i = (end + 1).min(bytes.len());
        nsp
    } else {
        "/"
    };

    // ack id: a run of digits
    let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    let id = if digits > 0 {
        let id = text[i..i + digits]
            .parse::<u64>()
            .map_err(|_| Error::InvalidAckId)?;
        i += digits;
        Some(id)
    } else {
        None
    };

    // JSON data: the rest
    let rest = &text[i..];
    let invalid = || Error::InvalidPayload(kind.name());
    let json = if rest.is_empty() {
        None
    } else {
        Some(serde_json::from_str::<Value>(rest).map_err(|_| invalid())?)
    };

    if id.is_some()
        && matches!(
            kind,
            PacketType::Connect | PacketType::Disconnect | PacketType::ConnectError
        )
    {
        return Err(Error::InvalidAckId);
    }
    let data = match kind {
        PacketType::Connect => match json {
            None => PacketData::Connect(None),
            Some(Value::Object(map)) => PacketData::Connect(Some(map)),
            Some(_) => return Err(invalid()),
        },
        PacketType::Disconnect => match json {
            None => PacketData::Disconnect,
            Some(_) => return Err(invalid()),
        },
        PacketType::Event | PacketType::BinaryEvent => match json {
            Some(Value::Array(args)) if is_event_name(args.first()) => PacketData::Event {
                payload: Payload::new(args),
                id,
            },
            _ => return Err(invalid()),
        },
        PacketType::Ack | PacketType::BinaryAck => {
            let args = match json {
                None => Vec::new(),
                Some(Value::Array(args)) => args,
                Some(_) => return Err(invalid()),
            };
            let id = id.ok_or(Error::InvalidAckId)?;
            PacketData::Ack {
                payload: Payload::new(args),
                id,
            }
        }
        PacketType::ConnectError => match json {
            Some(v @ (Value::String(_) | Value::Object(_))) => PacketData::ConnectError(v),
            _ => return Err(invalid()),
        },
    };
    let mut packet = Packet {
        nsp: nsp.to_owned(),
        data,
    };
    if !kind.is_binary() {
        return Ok(Decoded::Packet(packet));
    }
    if let PacketData::Event { payload, .. } | PacketData::Ack { payload, .. } = &mut packet.data {
        // Room for the attachments announced, but no more than a default packet may have: the
        // count is the peer's word, and with a raised limit (or `usize::MAX`, no limit) a
        // reservation of it would be an allocation of any size for a few bytes.
        payload
            .attachments
            .reserve_exact(expected.min(DEFAULT_MAX_ATTACHMENTS));
    }
    Ok(Decoded::Partial(PartialBinary { packet, expected }))
}

/// A stateful Socket.IO decoder for one connection: text packets and the binary attachments
/// that follow them, in arrival order.
///
/// ```
/// use bytes::Bytes;
/// use wsx_socketio::socketio::Decoder;
///
/// let mut decoder = Decoder::new();
/// assert!(decoder.decode_text(r#"51-1["bin",{"_placeholder":true,"num":0}]"#)?.is_none());
/// assert!(decoder.is_reconstructing());
/// let packet = decoder.decode_binary(Bytes::from_static(&[1, 2, 3, 4]))?.expect("complete");
/// assert_eq!(packet.id(), Some(1));
/// assert_eq!(packet.attachments(), [Bytes::from_static(&[1, 2, 3, 4])]);
/// # Ok::<(), wsx_socketio::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Decoder {
    max_attachments: usize,
    /// Boxed: a binary packet being reassembled is rare, and its state is over 100 bytes.
    partial: Option<Box<PartialBinary>>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder accepting up to [`DEFAULT_MAX_ATTACHMENTS`] attachments per packet.
    pub fn new() -> Self {
        Self::with_max_attachments(DEFAULT_MAX_ATTACHMENTS)
    }

    /// A decoder accepting up to `max_attachments` attachments per packet.
    pub fn with_max_attachments(max_attachments: usize) -> Self {
        Decoder {
            max_attachments,
            partial: None,
        }
    }

    /// Decodes a text packet: `Some` when complete, `None` when it announced attachments.
    ///
    /// Fails with [`Error::UnexpectedText`] while attachments are still expected.
    pub fn decode_text(&mut self, text: &str) -> Result<Option<Packet>> {
        if self.partial.is_some() {
            return Err(Error::UnexpectedText);
        }
        match decode(text, self.max_attachments)? {
            Decoded::Packet(packet) => Ok(Some(packet)),
            Decoded::Partial(partial) => {
                self.partial = Some(Box::new(partial));
                Ok(None)
            }
        }
    }

    /// Takes a binary message as the next attachment: `Some` when it completes the packet.
    ///
    /// Fails with [`Error::UnexpectedBinary`] when no binary packet is being reconstructed, or
    /// [`Error::IllegalAttachments`] when a placeholder refers to no attachment.
    pub fn decode_binary(&mut self, data: Bytes) -> Result<Option<Packet>> {
        let Some(partial) = self.partial.as_mut() else {
            return Err(Error::UnexpectedBinary);
        };
        if !partial.push(data)? {
            return Ok(None);
        }
        match self.partial.take() {
            Some(partial) => partial.finish().map(Some),
            None => Ok(None),
        }
    }

    /// Whether attachments are still expected.
    pub fn is_reconstructing(&self) -> bool {
        self.partial.is_some()
    }

    /// The binary packet being reconstructed, if any.
    pub fn partial(&self) -> Option<&PartialBinary> {
        self.partial.as_deref()
    }

    /// Drops a packet being reconstructed (the JS decoder's `destroy`).
    pub fn reset(&mut self) {
        self.partial = None;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn decode_full(text: &str, attachments: &[&[u8]]) -> Result<Packet> {
        let mut decoder = Decoder::new();
        let mut out = decoder.decode_text(text)?;
        for a in attachments {
            assert!(out.is_none(), "complete before all attachments");
            out = decoder.decode_binary(Bytes::copy_from_slice(a))?;
        }
        assert!(!decoder.is_reconstructing());
        Ok(out.expect("complete"))
    }

    fn round_trip(packet: Packet, wire: &str) {
        assert_eq!(packet.encode_to_string().unwrap(), wire);
        let atts: Vec<&[u8]> = packet.attachments().iter().map(|b| &b[..]).collect();
        assert_eq!(decode_full(wire, &atts).unwrap(), packet, "{wire}");
    }

    #[test]
    fn packet_types() {
        for (i, c) in "0123456".bytes().enumerate() {
            assert_eq!(PacketType::from_byte(c).unwrap() as usize, i);
        }
        assert_eq!(PacketType::from_byte(b'7'), None);
        assert_eq!(PacketType::BinaryAck.name(), "BINARY_ACK");
    }

    #[test]
    fn connect_round_trips() {
        round_trip(Packet::connect("/", None), "0");
        round_trip(Packet::connect("/admin", None), "0/admin,");
        round_trip(
            Packet::connect("/", Some(obj(json!({"token": "x"})))),
            r#"0{"token":"x"}"#,
        );
        round_trip(
            Packet::connect("/admin", Some(obj(json!({"token": "x"})))),
            r#"0/admin,{"token":"x"}"#,
        );
        round_trip(Packet::connect_ack("/", "abc"), r#"0{"sid":"abc"}"#);
        round_trip(
            Packet::connect_ack("/custom", "abc"),
            r#"0/custom,{"sid":"abc"}"#,
        );
        round_trip(Packet::connect("/", Some(Map::new())), "0{}");
    }

    #[test]
    fn connect_without_trailing_comma() {
        let p = decode_full("0/custom", &[]).unwrap();
        assert_eq!(p, Packet::connect("/custom", None));
        // The namespace runs to the end when there is no comma, whatever follows.
        let p = decode_full(r#"0/custom{"a":1}"#, &[]).unwrap();
        assert_eq!(p.nsp, r#"/custom{"a":1}"#);
    }

    #[test]
    fn disconnect_round_trips() {
        round_trip(Packet::disconnect("/"), "1");
        round_trip(Packet::disconnect("/custom"), "1/custom,");
    }

    #[test]
    fn event_round_trips() {
        round_trip(
            Packet::event("/", Payload::new(vec![json!("hello"), json!(1)])),
            r#"2["hello",1]"#,
        );
        round_trip(
            Packet::event("/", Payload::new(vec![json!("ack me")])).with_ack_id(1),
            r#"21["ack me"]"#,
        );
        round_trip(
            Packet::event(
                "/admin",
                Payload::new(vec![json!("a"), json!({"b": [null, 2.5]})]),
            )
            .with_ack_id(456),
            r#"2/admin,456["a",{"b":[null,2.5]}]"#,
        );
        round_trip(Packet::event("/", Payload::new(vec![json!(42)])), "2[42]");
        round_trip(
            Packet::event("/", Payload::new(vec![json!("x")])).with_ack_id(u64::MAX),
            r#"218446744073709551615["x"]"#,
        );
    }

    #[test]
    fn ack_round_trips() {
        round_trip(
            Packet::ack("/", 1, Payload::new(vec![json!(true)])),
            "31[true]",
        );
        round_trip(Packet::ack("/", 0, Payload::new(vec![])), "30[]");
        round_trip(
            Packet::ack("/custom", 789, Payload::new(vec![json!("a")])),
            r#"3/custom,789["a"]"#,
        );
    }

    #[test]
    fn ack_without_data_is_empty() {
        assert_eq!(
            decode_full("31", &[]).unwrap(),
            Packet::ack("/", 1, Payload::default())
        );
    }

    #[test]
    fn connect_error_round_trips() {
        round_trip(
            Packet::connect_error("/random", "Invalid namespace"),
            r#"4/random,{"message":"Invalid namespace"}"#,
        );
        round_trip(
            Packet {
                nsp: "/".into(),
                data: PacketData::ConnectError(json!("bad")),
            },
            r#"4"bad""#,
        );
        round_trip(
            Packet {
                nsp: "/".into(),
                data: PacketData::ConnectError(json!({"message": "no", "data": {"code": 1}})),
            },
            r#"4{"message":"no","data":{"code":1}}"#,
        );
    }

    #[test]
    fn binary_event_and_ack_round_trip() {
        let mut payload = Payload::new(vec![json!("bin")]);
        let ph = payload.push_binary(Bytes::from_static(&[1, 2, 3, 4]));
        payload.args.push(ph);
        round_trip(
            Packet::event("/", payload.clone()),
            r#"51-["bin",{"_placeholder":true,"num":0}]"#,
        );
        round_trip(
            Packet::event("/", payload.clone()).with_ack_id(1),
            r#"51-1["bin",{"_placeholder":true,"num":0}]"#,
        );
        round_trip(
            Packet::event("/custom", payload.clone()).with_ack_id(7),
            r#"51-/custom,7["bin",{"_placeholder":true,"num":0}]"#,
        );

        let two = Payload::from_data(vec![
            Data::Binary(Bytes::from_static(&[1, 2, 3])),
            Data::Binary(Bytes::from_static(&[4, 5, 6])),
        ]);
        round_trip(
            Packet::ack("/", 789, two.clone()),
            r#"62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        );
        round_trip(
            Packet::ack("/admin", 3, two),
            r#"62-/admin,3[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        );
    }

    #[test]
    fn attachments_may_be_referenced_in_any_order_or_not_at_all() {
        let p = decode_full(
            r#"52-["x",{"_placeholder":true,"num":1},{"_placeholder":true,"num":1}]"#,
            &[b"a", b"b"],
        )
        .unwrap();
        let payload = p.payload().unwrap();
        assert_eq!(
            payload.attachment(&payload.args[1]).unwrap(),
            &Bytes::from_static(b"b")
        );
        assert_eq!(payload.attachments.len(), 2);
        let data = payload.to_data().unwrap();
        assert_eq!(data[1], Data::Binary(Bytes::from_static(b"b")));
    }

    #[test]
    fn deconstruct_numbers_depth_first() {
        let b = |x: u8| Data::Binary(Bytes::from(vec![x]));
        let payload = Payload::from_data(vec![
            json!("ev").into(),
            Data::Object(vec![
                ("z".into(), b(0)),
                ("a".into(), Data::Array(vec![b(1), json!(5).into(), b(2)])),
            ]),
            b(3),
        ]);
        assert_eq!(
            Value::Array(payload.args.clone()),
            json!(["ev", {"z": {"_placeholder": true, "num": 0}, "a": [{"_placeholder": true, "num": 1}, 5, {"_placeholder": true, "num": 2}]}, {"_placeholder": true, "num": 3}])
        );
        assert_eq!(
            payload.attachments.iter().map(|a| a[0]).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        let back = payload.to_data().unwrap();
        assert_eq!(back[0], Data::Json(json!("ev")));
        assert_eq!(back[2], b(3));
        let Data::Object(entries) = &back[1] else {
            panic!()
        };
        assert_eq!(entries[0], ("z".to_string(), b(0)));
        assert_eq!(
            entries[1],
            (
                "a".to_string(),
                Data::Array(vec![b(1), Data::Json(json!(5)), b(2)])
            )
        );
        assert!(Payload::new(vec![json!(1)]).to_data().unwrap() == vec![Data::Json(json!(1))]);
        assert_eq!(Data::from(Bytes::new()), Data::Binary(Bytes::new()));
    }

    #[test]
    fn placeholder_like_objects_in_plain_events_are_data() {
        let p = decode_full(r#"2["x",{"_placeholder":true,"num":0}]"#, &[]).unwrap();
        assert_eq!(p.packet_type(), PacketType::Event);
        assert!(p.attachments().is_empty());
        let payload = p.payload().unwrap();
        assert_eq!(payload.attachment(&payload.args[1]), None);
        assert_eq!(
            payload.to_data().unwrap()[1],
            Data::Json(json!({"_placeholder": true, "num": 0}))
        );
        assert_eq!(
            p.encode_to_string().unwrap(),
            r#"2["x",{"_placeholder":true,"num":0}]"#
        );
        // "_placeholder": false is never a placeholder
        let p = decode_full(r#"51-["x",{"_placeholder":false,"num":9}]"#, &[b"a"]).unwrap();
        assert_eq!(
            p.payload().unwrap().to_data().unwrap()[1],
            Data::Json(json!({"_placeholder": false, "num": 9}))
        );
    }

    #[test]
    fn accessors() {
        let p = Packet::event("/", Payload::new(vec![json!("hello")])).with_ack_id(3);
        assert_eq!(p.event_name(), Some("hello"));
        assert_eq!(p.id(), Some(3));
        assert_eq!(p.packet_type(), PacketType::Event);
        let p = Packet::event("/", Payload::new(vec![json!(7)]));
        assert_eq!(p.event_name(), None);
        assert_eq!(p.event_value(), Some(&json!(7)));
        let p = Packet::ack("/", 2, Payload::default());
        assert_eq!(
            (p.id(), p.event_name(), p.packet_type()),
            (Some(2), None, PacketType::Ack)
        );
        let p = Packet::disconnect("/").with_ack_id(5);
        assert_eq!(
            (p.id(), p.payload(), p.attachments().len()),
            (None, None, 0)
        );
        assert_eq!(
            Packet::connect("/", None).packet_type(),
            PacketType::Connect
        );
        assert_eq!(
            Packet::connect_error("/", "x").packet_type(),
            PacketType::ConnectError
        );
    }

    #[test]
    fn encode_eio_message_prefixes_4() {
        let mut buf = BytesMut::from(&b"x"[..]);
        Packet::connect("/", None)
            .encode_eio_message(&mut buf)
            .unwrap();
        assert_eq!(&buf[..], b"x40");
        let bad = Packet::disconnect("nope");
        assert!(bad.encode_eio_message(&mut buf).is_err());
        assert_eq!(&buf[..], b"x40", "nothing left behind on error");
    }

    #[test]
    fn encode_validation() {
        let e = |p: Packet| p.encode_to_string().unwrap_err();
        assert_eq!(
            e(Packet::disconnect("")),
            Error::InvalidNamespace(String::new())
        );
        assert_eq!(
            e(Packet::disconnect("admin")),
            Error::InvalidNamespace("admin".into())
        );
        assert_eq!(
            e(Packet::disconnect("/a,b")),
            Error::InvalidNamespace("/a,b".into())
        );
        assert_eq!(
            e(Packet::event("/", Payload::default())),
            Error::InvalidPayload("EVENT")
        );
        assert_eq!(
            e(Packet::event("/", Payload::new(vec![json!(null)]))),
            Error::InvalidPayload("EVENT")
        );
        for reserved in RESERVED_EVENTS {
            assert_eq!(
                e(Packet::event("/", Payload::new(vec![json!(reserved)]))),
                Error::InvalidPayload("EVENT")
            );
        }
        assert_eq!(
            e(Packet {
                nsp: "/".into(),
                data: PacketData::ConnectError(json!(1))
            }),
            Error::InvalidPayload("CONNECT_ERROR")
        );
        let mut dangling = Payload::new(vec![json!("x"), Payload::placeholder(1)]);
        dangling.attachments.push(Bytes::new());
        assert_eq!(
            e(Packet::event("/", dangling.clone())),
            Error::IllegalAttachments
        );
        assert_eq!(e(Packet::ack("/", 1, dangling)), Error::IllegalAttachments);
        let mut bad_num = Payload::new(vec![json!("x"), json!({"_placeholder": true, "num": "0"})]);
        bad_num.attachments.push(Bytes::new());
        assert_eq!(e(Packet::event("/", bad_num)), Error::IllegalAttachments);
    }

    #[test]
    fn decode_errors() {
        let d = |s: &str| decode(s, DEFAULT_MAX_ATTACHMENTS).map(|_| ()).unwrap_err();
        assert_eq!(d(""), Error::Empty);
        assert_eq!(d("7"), Error::UnknownSocketIoType('7'));
        assert_eq!(d("abc"), Error::UnknownSocketIoType('a'));
        assert_eq!(d(" 0"), Error::UnknownSocketIoType(' '));
        // attachments
        assert_eq!(d("5"), Error::IllegalAttachments);
        assert_eq!(d(r#"5["a"]"#), Error::IllegalAttachments);
        assert_eq!(d(r#"5-["a"]"#), Error::IllegalAttachments);
        assert_eq!(d(r#"50-["a"]"#), Error::IllegalAttachments);
        assert_eq!(d(r#"5a-["a"]"#), Error::IllegalAttachments);
        assert_eq!(d(r#"51["a"]"#), Error::IllegalAttachments);
        assert_eq!(d(r#"61-[]"#), Error::InvalidAckId);
        assert_eq!(
            d(r#"511-["a"]"#),
            Error::TooManyAttachments { count: 11, max: 10 }
        );
        assert_eq!(
            d(r#"599999999999999999999999-["a"]"#),
            Error::TooManyAttachments {
                count: usize::MAX,
                max: 10
            }
        );
        // payloads
        assert_eq!(d("0[]"), Error::InvalidPayload("CONNECT"));
        assert_eq!(d("0null"), Error::InvalidPayload("CONNECT"));
        assert_eq!(d(r#"0"x""#), Error::InvalidPayload("CONNECT"));
        assert_eq!(d("0{"), Error::InvalidPayload("CONNECT"));
        assert_eq!(d("1{}"), Error::InvalidPayload("DISCONNECT"));
        assert_eq!(d("1/custom,{}"), Error::InvalidPayload("DISCONNECT"));
        assert_eq!(d("2"), Error::InvalidPayload("EVENT"));
        assert_eq!(d("2{}"), Error::InvalidPayload("EVENT"));
        assert_eq!(d("2[]"), Error::InvalidPayload("EVENT"));
        assert_eq!(d("2[null]"), Error::InvalidPayload("EVENT"));
        assert_eq!(d("2[[1]]"), Error::InvalidPayload("EVENT"));
        assert_eq!(d("2abc"), Error::InvalidPayload("EVENT"));
        assert_eq!(d(r#"2abc["a"]"#), Error::InvalidPayload("EVENT"));
        assert_eq!(d(r#"21a["a"]"#), Error::InvalidPayload("EVENT"));
        assert_eq!(d(r#"2["a"] x"#), Error::InvalidPayload("EVENT"));
        assert_eq!(
            d(r#"2/custom["a"]"#),
            Error::InvalidPayload("EVENT"),
            "no comma: no data, and EVENT needs data"
        );
        for reserved in RESERVED_EVENTS {
            assert_eq!(
                d(&format!(r#"2["{reserved}"]"#)),
                Error::InvalidPayload("EVENT")
            );
            assert_eq!(
                d(&format!(r#"51-["{reserved}"]"#)),
                Error::InvalidPayload("BINARY_EVENT")
            );
        }
        assert_eq!(d("3{}"), Error::InvalidPayload("ACK"));
        assert_eq!(d(r#"3"a""#), Error::InvalidPayload("ACK"));
        assert_eq!(d("3[1]"), Error::InvalidAckId);
        assert_eq!(d("61-{}"), Error::InvalidPayload("BINARY_ACK"));
        assert_eq!(d("4"), Error::InvalidPayload("CONNECT_ERROR"));
        assert_eq!(d("4[]"), Error::InvalidPayload("CONNECT_ERROR"));
        assert_eq!(d("41"), Error::InvalidAckId);
        assert_eq!(d("012{}"), Error::InvalidAckId);
        assert_eq!(d("11"), Error::InvalidAckId);
        assert_eq!(d(r#"299999999999999999999["a"]"#), Error::InvalidAckId);
        // JSON.parse takes lone surrogates; serde_json does not.
        assert_eq!(d(r#"2["a","\ud800"]"#), Error::InvalidPayload("EVENT"));
    }

    #[test]
    fn decode_accepts_what_js_accepts() {
        let ok = |s: &str| decode_full(s, &[]).unwrap();
        assert_eq!(ok(r#"2[1,"a"]"#).event_value(), Some(&json!(1)));
        assert_eq!(
            ok(r#"2[ "a" , 1 ]"#).payload().unwrap().args,
            [json!("a"), json!(1)]
        );
        assert_eq!(ok(r#"2/,["a"]"#).nsp, "/");
        assert_eq!(ok(r#"2/a/b c,["a"]"#).nsp, "/a/b c");
        assert_eq!(ok(r#"2007["a"]"#).id(), Some(7));
        assert_eq!(ok(r#"2["Connect"]"#).event_name(), Some("Connect"));
        assert_eq!(
            ok(r#"2["a","\ud83d\ude00"]"#).payload().unwrap().args[1],
            json!("😀")
        );
        let p = decode(r#"501-["a",{"_placeholder":true,"num":0}]"#, 10).unwrap();
        let Decoded::Partial(partial) = p else {
            panic!()
        };
        assert_eq!(partial.expected(), 1);
    }

    /// fuzz/regressions/socketio_packet/count-beyond-usize: a count too large for a usize is
    /// over any limit, `usize::MAX` ("no limit") included, and is reported as `usize::MAX`.
    #[test]
    fn an_attachment_count_beyond_usize_is_too_many_whatever_the_limit() {
        for max in [10, usize::MAX] {
            let err = decode(r#"5166666666666666666666666666-["a"]"#, max).unwrap_err();
            assert_eq!(
                err,
                Error::TooManyAttachments {
                    count: usize::MAX,
                    max
                }
            );
        }
    }

    /// fuzz/regressions/socketio_packet/attachment-count-reserved: an announced attachment
    /// count was reserved at once, 32 MB for `51000000-["big"]` under a limit of a million,
    /// and a capacity-overflow panic under no limit.
    #[test]
    fn an_announced_attachment_count_is_not_an_allocation() {
        for (count, max) in [(1_000_000, 1_000_000), (usize::MAX, usize::MAX)] {
            let text = format!(r#"5{count}-["big"]"#);
            let Decoded::Partial(mut partial) = decode(&text, max).unwrap() else {
                panic!("{text}")
            };
            assert_eq!(partial.expected(), count);
            assert!(!partial.push(Bytes::from_static(b"a")).unwrap());
            assert_eq!(partial.received(), 1);
            assert!(partial.packet.attachments().len() <= DEFAULT_MAX_ATTACHMENTS);
            let PacketData::Event { payload, .. } = &partial.packet.data else {
                panic!()
            };
            assert!(
                payload.attachments.capacity() <= DEFAULT_MAX_ATTACHMENTS,
                "{text}"
            );
        }
    }

    /// fuzz/regressions/socketio_packet/float-one-ulp-off: a number written as
    /// `JSON.stringify` writes it came back one unit in the last place off.
    #[test]
    fn numbers_decode_to_the_nearest_double_as_json_parse_does() {
        for n in [
            2.649_868_992_485_492_6e180,
            0.1,
            1e21,
            5e-324,
            1.797_693_134_862_315_7e308,
        ] {
            let mut buf = BytesMut::new();
            json::write_f64(&mut buf, n);
            let text = format!("2[\"n\",{}]", std::str::from_utf8(&buf).unwrap());
            let p = decode_full(&text, &[]).unwrap();
            assert_eq!(p.payload().unwrap().args[1].as_f64(), Some(n), "{text}");
        }
    }

    #[test]
    fn key_order_preserved() {
        let p = decode_full(r#"3/custom,1[{"b":1,"a":{"d":2,"c":3}}]"#, &[]).unwrap();
        assert_eq!(
            p.encode_to_string().unwrap(),
            r#"3/custom,1[{"b":1,"a":{"d":2,"c":3}}]"#
        );
    }

    #[test]
    fn decoder_state_machine() {
        let mut dec = Decoder::with_max_attachments(2);
        assert_eq!(
            dec.decode_binary(Bytes::new()),
            Err(Error::UnexpectedBinary)
        );
        assert_eq!(
            dec.decode_text(r#"53-["a"]"#),
            Err(Error::TooManyAttachments { count: 3, max: 2 })
        );
        assert!(!dec.is_reconstructing());
        assert_eq!(dec.decode_text(r#"52-["a"]"#).unwrap(), None);
        assert_eq!(
            dec.partial().map(|p| (p.expected(), p.received(), p.nsp())),
            Some((2, 0, "/"))
        );
        assert_eq!(dec.decode_text(r#"2["a"]"#), Err(Error::UnexpectedText));
        assert_eq!(dec.decode_binary(Bytes::from_static(b"1")).unwrap(), None);
        assert_eq!(dec.partial().map(PartialBinary::received), Some(1));
        let p = dec
            .decode_binary(Bytes::from_static(b"2"))
            .unwrap()
            .unwrap();
        assert_eq!(
            p.attachments(),
            [Bytes::from_static(b"1"), Bytes::from_static(b"2")]
        );
        assert_eq!(p.packet_type(), PacketType::BinaryEvent);
        assert!(!dec.is_reconstructing());
        // back to text
        assert!(dec.decode_text(r#"2["a"]"#).unwrap().is_some());
        // reset drops a partial packet
        assert_eq!(dec.decode_text(r#"51-["a"]"#).unwrap(), None);
        dec.reset();
        assert!(dec.decode_text("1").unwrap().is_some());
        assert_eq!(
            Decoder::default().decode_text("0").unwrap(),
            Some(Packet::connect("/", None))
        );
    }

    #[test]
    fn illegal_placeholder_fails_on_completion() {
        let mut dec = Decoder::new();
        assert_eq!(
            dec.decode_text(r#"51-["a",{"_placeholder":true,"num":1}]"#)
                .unwrap(),
            None
        );
        assert_eq!(
            dec.decode_binary(Bytes::new()),
            Err(Error::IllegalAttachments)
        );
        assert!(!dec.is_reconstructing());
        for bad in [r#"-1"#, r#"0.5"#, r#""0""#, "null", "true"] {
            let mut dec = Decoder::new();
            let text = format!(r#"51-["a",[{{"_placeholder":true,"num":{bad}}}]]"#);
            assert_eq!(dec.decode_text(&text).unwrap(), None);
            assert_eq!(
                dec.decode_binary(Bytes::new()),
                Err(Error::IllegalAttachments),
                "{text}"
            );
        }
        let mut dec = Decoder::new();
        dec.decode_text(r#"51-["a",{"_placeholder":true}]"#)
            .unwrap();
        assert_eq!(
            dec.decode_binary(Bytes::new()),
            Err(Error::IllegalAttachments)
        );
    }

    #[test]
    fn partial_binary_misuse() {
        let Decoded::Partial(mut partial) = decode(r#"61-1[]"#, 10).unwrap() else {
            panic!()
        };
        assert!(!partial.is_complete());
        assert_eq!(partial.clone().finish(), Err(Error::IllegalAttachments));
        assert!(partial.push(Bytes::new()).unwrap());
        assert_eq!(partial.push(Bytes::new()), Err(Error::UnexpectedBinary));
        let p = partial.finish().unwrap();
        assert_eq!(p.packet_type(), PacketType::BinaryAck);
        assert_eq!(p.encode_to_string().unwrap(), "61-1[]");
    }
}
