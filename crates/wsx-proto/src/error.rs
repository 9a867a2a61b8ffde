//! Errors of the protocol core, each mapped to the close code it sends and a stable machine code.

use crate::close_code::CloseCode;
use crate::handshake_error::HandshakeError;

/// A violation of RFC 6455 / RFC 7692 by the peer, or a limit it exceeded.
///
/// Every variant knows the close code to fail the connection with ([`close_code`]) and a
/// stable machine-readable name ([`code`]) for logs and metrics.
///
/// [`close_code`]: ProtocolError::close_code
/// [`code`]: ProtocolError::code
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// An opcode RFC 6455 reserves (0x3–0x7, 0xB–0xF).
    #[error("reserved opcode {0:#x}")]
    ReservedOpCode(u8),
    /// A control frame without FIN.
    #[error("fragmented control frame")]
    FragmentedControlFrame,
    /// A control frame with more than 125 bytes of payload.
    #[error("control frame payload longer than 125 bytes")]
    ControlFrameTooLong,
    /// A 64-bit payload length with its most significant bit set.
    #[error("invalid payload length")]
    InvalidLength,
    /// RSV bits set without an extension that defines them.
    #[error("reserved bits set without a negotiated extension")]
    ReservedBits,
    /// A server received an unmasked frame.
    #[error("client frame is not masked")]
    UnmaskedFrame,
    /// A client received a masked frame.
    #[error("server frame is masked")]
    MaskedFrame,
    /// A continuation frame with no message in progress.
    #[error("continuation frame without a message to continue")]
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is in progress.
    #[error("new data frame inside a fragmented message")]
    ExpectedContinuation,
    /// Invalid UTF-8 in a text message or a close reason.
    #[error("invalid UTF-8 in text message or close reason")]
    InvalidUtf8,
    /// A close code that is not allowed on the wire.
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A close payload of exactly one byte.
    #[error("close payload of one byte")]
    InvalidClosePayload,
    /// A close reason over 123 bytes (sending side).
    #[error("close reason of {0} bytes is longer than 123")]
    CloseReasonTooLong(usize),
    /// A frame over the configured maximum frame size.
    #[error("frame of {size} bytes exceeds the limit of {max}")]
    FrameTooBig {
        /// Announced frame payload length.
        size: u64,
        /// The limit.
        max: usize,
    },
    /// A message (after inflating, if compressed) over the configured maximum message size.
    #[error("message of {size} bytes exceeds the limit of {max}")]
    MessageTooBig {
        /// Size reached when the limit was crossed.
        size: u64,
        /// The limit.
        max: usize,
    },
    /// A frame or message within the configured limits that the server's memory budget has
    /// no room for now (see [`Connection::set_memory_room`](crate::Connection::set_memory_room)):
    /// the peer may try again later.
    #[error("no memory for {size} more bytes now (server memory budget)")]
    OverBudget {
        /// The bytes asked for.
        size: u64,
    },
    /// More fragments in one message than the configured maximum.
    #[error("message has more than {max} fragments")]
    TooManyFragments {
        /// The limit.
        max: usize,
    },
    /// RSV1 on a control frame or on a continuation frame.
    #[error("RSV1 set on a control or continuation frame")]
    CompressedControlOrContinuation,
    /// The compressed payload could not be inflated.
    #[error("invalid compressed data: {0}")]
    Inflate(String),
    /// Compressing an outgoing message failed (an internal error).
    #[error("compression failed: {0}")]
    Deflate(String),
}

impl ProtocolError {
    /// The close code to fail the connection with.
    pub fn close_code(&self) -> CloseCode {
        use ProtocolError::*;
        match self {
            InvalidUtf8 | Inflate(_) => CloseCode::INVALID_PAYLOAD,
            FrameTooBig { .. } | MessageTooBig { .. } | TooManyFragments { .. } => {
                CloseCode::TOO_BIG
            }
            Deflate(_) => CloseCode::INTERNAL,
            OverBudget { .. } => CloseCode::TRY_AGAIN_LATER,
            _ => CloseCode::PROTOCOL,
        }
    }

    /// A stable machine-readable name, in the style of Node `ws`'s error codes.
    pub fn code(&self) -> &'static str {
        use ProtocolError::*;
        match self {
            ReservedOpCode(_) => "WSX_ERR_INVALID_OPCODE",
            FragmentedControlFrame => "WSX_ERR_FRAGMENTED_CONTROL",
            ControlFrameTooLong => "WSX_ERR_CONTROL_TOO_LONG",
            InvalidLength => "WSX_ERR_UNSUPPORTED_MESSAGE_LENGTH",
            ReservedBits => "WSX_ERR_UNEXPECTED_RSV",
            UnmaskedFrame => "WSX_ERR_EXPECTED_MASK",
            MaskedFrame => "WSX_ERR_UNEXPECTED_MASK",
            UnexpectedContinuation => "WSX_ERR_UNEXPECTED_CONTINUATION",
            ExpectedContinuation => "WSX_ERR_EXPECTED_CONTINUATION",
            InvalidUtf8 => "WSX_ERR_INVALID_UTF8",
            InvalidCloseCode(_) => "WSX_ERR_INVALID_CLOSE_CODE",
            InvalidClosePayload => "WSX_ERR_INVALID_CONTROL_PAYLOAD_LENGTH",
            CloseReasonTooLong(_) => "WSX_ERR_CLOSE_REASON_TOO_LONG",
            FrameTooBig { .. } => "WSX_ERR_FRAME_TOO_BIG",
            MessageTooBig { .. } => "WSX_ERR_MESSAGE_TOO_BIG",
            OverBudget { .. } => "WSX_ERR_MEMORY_BUDGET",
            TooManyFragments { .. } => "WSX_ERR_TOO_MANY_FRAGMENTS",
            CompressedControlOrContinuation => "WSX_ERR_UNEXPECTED_RSV_1",
            Inflate(_) => "WSX_ERR_INFLATE",
            Deflate(_) => "WSX_ERR_DEFLATE",
        }
    }
}

/// Every error of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke the protocol or a limit; the connection has been failed.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The opening handshake failed.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// A message was sent after the connection began closing.
    #[error("the connection is closing or closed")]
    Closed,
}
