//! The chat's JSON messages, as `web/PROTOCOL.md` documents them: what a client sends, what
//! the server sends, and the chat lines and member entries inside them; and every reading of
//! untrusted JSON text the chat does (a client's message, a cluster's member entry and history
//! line in Redis).
//!
//! This file is also compiled into the fuzz target `chat_json` (`fuzz/`, by `#[path]`), so it
//! depends on nothing but std, serde and serde_json: no other module of this crate.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Longest nickname (characters).
pub const MAX_NICK: usize = 32;
/// Longest room name (characters).
pub const MAX_ROOM: usize = 64;
/// Longest message text (characters).
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
    // Control characters out first: trimmed before, they would shield whitespace from the trim.
    let t: String = s.chars().filter(|c| !c.is_control()).collect();
    let t = t.trim();
    (!t.is_empty() && t.chars().count() <= max).then(|| t.to_owned())
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// fuzz/regressions/chat_json/control-before-space: a control character in front of a
    /// space kept the space in the nick (and `"\u{1} \u{1}"` made a blank one).
    #[test]
    fn clean_names_have_no_surrounding_whitespace() {
        assert_eq!(clean("\u{1} ada \u{7}", MAX_NICK).as_deref(), Some("ada"));
        assert_eq!(
            clean("\u{0}\u{1}\u{0}\u{0} \u{0}1", MAX_NICK).as_deref(),
            Some("1")
        );
        assert_eq!(clean("\u{1} \u{1}", MAX_NICK), None);
        assert_eq!(clean(" a\u{1}b ", MAX_NICK).as_deref(), Some("ab"));
        assert_eq!(clean(&"x".repeat(33), MAX_NICK), None);
        assert_eq!(
            clean(&"é".repeat(32), MAX_NICK).map(|s| s.chars().count()),
            Some(32)
        );
    }

    #[test]
    fn stored_entries_read_back() {
        let entry = member_entry("k3j2", "ada \"the\" first");
        assert_eq!(
            parse_member_entry("42", &entry),
            Some((42, "k3j2".to_owned(), "ada \"the\" first".to_owned()))
        );
        assert_eq!(parse_member_entry("x", &entry), None);
        assert_eq!(parse_member_entry("1", "{\"node\":1,\"nick\":\"a\"}"), None);
        let line = ChatLine {
            room: "r".into(),
            id: 1,
            nick: "n".into(),
            text: "t".into(),
            ts: 2,
        };
        let stored = serde_json::to_string(&line).unwrap();
        assert_eq!(parse_history_line(&stored), Some(line));
        assert!(
            parse_client("{\"type\":\"shout\"}")
                .unwrap_err()
                .starts_with("invalid message: ")
        );
        assert_eq!(parse_client("{\"type\":\"leave\"}"), Ok(ClientMsg::Leave));
    }
}
