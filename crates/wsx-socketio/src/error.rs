//! The crate's one error type: everything a peer can send wrong, and the few ways a packet
//! built by the application can be unencodable.

/// An error decoding or encoding an Engine.IO or Socket.IO packet.
///
/// Every variant is a clean rejection of peer input (or of an invalid packet handed to an
/// encoder); the official servers close the session on any of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An empty Engine.IO packet or Socket.IO packet string (also a polling payload with an
    /// empty record, e.g. a trailing `\x1e`).
    #[error("empty packet")]
    Empty,
    /// The first character is not an Engine.IO packet type (`0`–`6`, or `b` for base64 binary).
    #[error("unknown Engine.IO packet type {0:?}")]
    UnknownEngineIoType(char),
    /// A `b…` packet whose data is not valid standard base64.
    #[error("invalid base64 in a binary packet")]
    InvalidBase64,
    /// A polling payload larger than the configured `maxPayload`.
    #[error("payload of {len} bytes exceeds the limit of {max} bytes")]
    PayloadTooLarge {
        /// Size of the payload, in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A polling payload that is not valid UTF-8.
    #[error("payload is not valid UTF-8")]
    InvalidUtf8,
    /// An Engine.IO `open` packet without a valid handshake JSON object.
    #[error("invalid Engine.IO handshake: {0}")]
    InvalidHandshake(String),
    /// The first character is not a Socket.IO packet type (`0`–`6`).
    #[error("unknown Socket.IO packet type {0:?}")]
    UnknownSocketIoType(char),
    /// A `BINARY_EVENT`/`BINARY_ACK` whose attachment count is missing, not a decimal number,
    /// zero, not followed by `-`, or a placeholder that references no attachment.
    #[error("illegal attachments")]
    IllegalAttachments,
    /// More attachments announced than the decoder accepts.
    #[error("too many attachments: {count} (the limit is {max})")]
    TooManyAttachments {
        /// Announced attachment count (`usize::MAX` when the number written does not fit in a
        /// `usize`: then it is over the limit even when the limit is `usize::MAX`).
        count: usize,
        /// The decoder's limit.
        max: usize,
    },
    /// An ack id that does not fit in a `u64`, or an `ACK` without an id.
    #[error("invalid ack id")]
    InvalidAckId,
    /// The JSON data is missing, malformed or of the wrong shape for the packet type (for
    /// example an `EVENT` whose data is not an array starting with an event name).
    #[error("invalid payload for a {0} packet")]
    InvalidPayload(&'static str),
    /// A namespace that does not start with `/` or contains a `,` (it would not decode back).
    #[error("invalid namespace {0:?}")]
    InvalidNamespace(String),
    /// A text packet arrived while the decoder was still collecting binary attachments.
    #[error("got plaintext data when reconstructing a packet")]
    UnexpectedText,
    /// A binary message arrived while no binary packet was being reconstructed.
    #[error("got binary data when not reconstructing a packet")]
    UnexpectedBinary,
}

/// Shorthand for results of this crate.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// An error of the server API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SocketError {
    /// An event argument does not deserialize into the requested type.
    #[error("cannot deserialize the argument: {0}")]
    Deserialize(String),
}
