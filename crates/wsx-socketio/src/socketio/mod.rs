//! Socket.IO v5, the protocol over Engine.IO messages: packets, namespaces, acks and binary
//! attachments.

mod packet;

pub use packet::{
    DEFAULT_MAX_ATTACHMENTS, Data, Decoded, Decoder, Packet, PacketData, PacketType, PartialBinary,
    Payload, RESERVED_EVENTS, decode,
};

/// The Socket.IO protocol revision these codecs speak.
pub const PROTOCOL: u8 = 5;
