//! The chat's JSON messages, as `web/PROTOCOL.md` documents them: what a client sends, what
//! the server sends, and the chat lines and member entries inside them; and every reading of
//! untrusted JSON text the chat does (a client's message, a cluster's member entry and history
//! line in Redis).
//!
//! This file is also compiled into the fuzz target `chat_json` (`fuzz/`, by `#[path]`), so it
//! depends on nothing but std, serde and serde_json: no other module of this crate.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Longest nickname, room name and message text (characters).
pub const MAX_NICK: usize = 32;
pub const MAX_ROOM: usize = 64;
pub const MAX_TEXT: usize = 2000;

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatLine {
    pub room: String,
    pub id: u64,
    pub nick: String,
    pub text: String,
    /// Milliseconds since the Unix epoch.
    pub ts: u64,
}

/// A client's message, or the text of the error it gets back.
pub fn parse_client(text: &str) -> Result<ClientMsg, String> {
    serde_json::from_str(text).map_err(|e| format!("invalid message: {e}"))
}

/// A nickname, room name or message text as the chat keeps it: without control characters and
/// surrounding whitespace; `None` if that leaves nothing or more than `max` characters.
pub fn clean(s: &str, max: usize) -> Option<String> {
    let t: String = s.trim().chars().filter(|c| !c.is_control()).collect();
    (!t.is_empty() && t.chars().count() <= max).then_some(t)
}

/// A member's entry in a clustered room's Redis hash (field: its id): its process and nick.
pub fn member_entry(node: &str, nick: &str) -> String {
    serde_json::json!({ "node": node, "nick": nick }).to_string()
}

/// A member from its Redis hash field and entry: id, process, nick; `None` if malformed.
pub fn parse_member_entry(field: &str, value: &str) -> Option<(u64, String, String)> {
    let v: serde_json::Value = serde_json::from_str(value).ok()?;
    Some((
        field.parse().ok()?,
        v["node"].as_str()?.to_owned(),
        v["nick"].as_str()?.to_owned(),
    ))
}

/// A chat line of a clustered room's history in Redis; `None` if malformed.
pub fn parse_history_line(line: &str) -> Option<ChatLine> {
    serde_json::from_str(line).ok()
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
