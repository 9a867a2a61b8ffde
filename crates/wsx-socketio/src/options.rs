//! Who a broadcast or a room operation is for: rooms, exceptions and modifiers, as the
//! broadcast operators build them and as cluster adapters carry them to other nodes.

use std::time::Duration;

/// Who a broadcast or a room operation is for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastOptions {
    /// Sockets in any of these rooms; every socket of the namespace when empty.
    pub rooms: Vec<String>,
    /// Minus sockets in any of these rooms (a socket id is a room).
    pub except: Vec<String>,
    /// Modifiers.
    pub flags: BroadcastFlags,
}

impl BroadcastOptions {
    /// The sockets of one room (a socket id is a room).
    pub fn room(room: impl Into<String>) -> Self {
        BroadcastOptions {
            rooms: vec![room.into()],
            ..Default::default()
        }
    }
}

/// Broadcast modifiers, as in Node's `BroadcastFlags`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastFlags {
    /// Only this node's sockets (no cluster forwarding).
    pub local: bool,
    /// Skip receivers that could not send at once.
    pub volatile: bool,
    /// Whether to compress (WebSocket permessage-deflate, when negotiated).
    pub compress: Option<bool>,
    /// For broadcasts with acknowledgements: how long to wait for them.
    pub timeout: Option<Duration>,
}
