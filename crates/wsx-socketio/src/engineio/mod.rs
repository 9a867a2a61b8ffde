//! Engine.IO v4, the transport protocol under Socket.IO: its packets and their two wire forms
//! (WebSocket frames, HTTP long-polling payloads).

mod packet;

pub use packet::{
    Handshake, Packet, PacketType, PayloadDecoder, RECORD_SEPARATOR, WsFrame, decode_payload,
    decode_payload_bytes, encode_payload,
};

/// The Engine.IO protocol revision these codecs speak (the `EIO=4` query parameter).
pub const PROTOCOL: u8 = 4;
