//! The chat's JSON messages, as `web/PROTOCOL.md` documents them: what a client sends, what
//! the server sends, and the chat lines and member entries inside them.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// What a client sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientMsg {
    /// Join a room (leaving the current one) under a nickname.
    Join { room: String, nick: String },
    /// Leave the current room.
    Leave,
    /// Say something in the current room (it also flies across the live-comment stage).
    Say { text: String },
}

/// A room member as others see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberInfo {
    pub id: u64,
    pub nick: String,
}

/// What the server sends.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerMsg<'a> {
    /// Sent once on connect.
    Welcome { id: u64 },
    /// The join succeeded: the room, who is there, and recent messages.
    Joined {
        room: &'a str,
        nick: &'a str,
        members: &'a [MemberInfo],
        history: Vec<&'a ChatLine>,
    },
    /// Who is in the room now (after any join or leave).
    Presence {
        room: &'a str,
        members: &'a [MemberInfo],
    },
    /// A message said in the room.
    Message(&'a ChatLine),
    /// Something the client sent was refused; the connection stays open.
    Error { message: &'a str },
}

/// One chat message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatLine {
    pub room: String,
    pub id: u64,
    pub nick: String,
    pub text: String,
    /// Milliseconds since the Unix epoch.
    pub ts: u64,
}

/// The JSON text of a server message.
pub fn encode(msg: &ServerMsg<'_>) -> String {
    serde_json::to_string(msg)
        .unwrap_or_else(|_| String::from("{\"type\":\"error\",\"message\":\"encoding failed\"}"))
}

/// An encoded message as a JSON value, for a Socket.IO `chat` event.
pub(super) fn json_value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

/// Now, for a [`ChatLine`]'s `ts`.
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
