//! The demo chat's JSON (`wsx serve`, `crates/wsx-cli/src/serve/messages.rs`): a client's
//! message, a clustered room's member entries and history lines read back from Redis, and the
//! cleaning of nicknames, room names and texts.
//!
//! wsx-cli is a binary crate; its messages live in one file that depends only on std, serde
//! and serde_json, and this target compiles that very file (`#[path]`), so the fuzz crate does
//! not build the CLI (Redis client, TLS, terminal) to reach it.
//!
//! Invariants:
//! - Nothing panics. A client's text either parses to a message or gets an error text, which
//!   the server's `error` message carries as valid JSON.
//! - decode → encode → decode: a parsed message serializes to JSON that parses to the same
//!   message, and so does any message; so do chat lines (the history kept in Redis) and member
//!   entries.
//! - `clean` keeps what the protocol promises (`web/PROTOCOL.md`): 1 to `max` characters, no
//!   control character, no surrounding whitespace; cleaning again changes nothing.
//! - Every server message encodes to a JSON object whose `type` is its kind.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/wsx-cli/src/serve/messages.rs"]
mod messages;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use messages::{
    ChatLine, ClientMsg, MAX_NICK, MAX_ROOM, MAX_TEXT, MemberInfo, ServerMsg, clean, encode,
    member_entry, parse_client, parse_history_line, parse_member_entry,
};
use serde_json::Value;

fn check_clean(s: &str) {
    for max in [MAX_NICK, MAX_ROOM, MAX_TEXT, 1] {
        let Some(t) = clean(s, max) else {
            continue;
        };
        let n = t.chars().count();
        assert!(n >= 1 && n <= max, "{s:?} cleaned to {t:?}");
        assert!(!t.chars().any(char::is_control), "{s:?} cleaned to {t:?}");
        assert_eq!(t.trim(), t, "{s:?} cleaned to {t:?}");
        assert_eq!(
            clean(&t, max).as_deref(),
            Some(t.as_str()),
            "not idempotent"
        );
    }
}

fn object_of(text: &str) -> serde_json::Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => m,
        other => panic!("{text:?} is not a JSON object: {other:?}"),
    }
}

fn check_client_text(text: &str) {
    match parse_client(text) {
        Ok(msg) => {
            let again = serde_json::to_string(&msg).expect("serializes");
            assert_eq!(
                parse_client(&again).as_ref(),
                Ok(&msg),
                "{text:?} -> {again:?}"
            );
            if let ClientMsg::Join { room, nick } = &msg {
                check_clean(room);
                check_clean(nick);
            }
            if let ClientMsg::Say { text } = &msg {
                check_clean(text);
            }
        }
        Err(message) => {
            let reply = encode(&ServerMsg::Error { message: &message });
            let m = object_of(&reply);
            assert_eq!(m["type"], "error");
            assert_eq!(m["message"], message.as_str());
        }
    }
    // The same text as Redis would hand it back.
    if let Some(line) = parse_history_line(text) {
        let again = serde_json::to_string(&line).expect("serializes");
        assert_eq!(parse_history_line(&again).as_ref(), Some(&line));
    }
    if let Some((id, node, nick)) = parse_member_entry("7", text) {
        assert_eq!(id, 7);
        let again = member_entry(&node, &nick);
        assert_eq!(
            parse_member_entry("7", &again),
            Some((7, node.clone(), nick.clone()))
        );
    }
}

#[derive(Arbitrary, Debug)]
enum AnyClientMsg {
    Join { room: String, nick: String },
    Leave,
    Say { text: String },
}

#[derive(Arbitrary, Debug)]
struct Structured {
    client: AnyClientMsg,
    line: (String, u64, String, String, u64),
    member: (u64, String, String),
    members: Vec<(u64, String)>,
}

fn check_structured(s: &Structured) {
    let msg = match &s.client {
        AnyClientMsg::Join { room, nick } => ClientMsg::Join {
            room: room.clone(),
            nick: nick.clone(),
        },
        AnyClientMsg::Leave => ClientMsg::Leave,
        AnyClientMsg::Say { text } => ClientMsg::Say { text: text.clone() },
    };
    let text = serde_json::to_string(&msg).expect("serializes");
    assert_eq!(parse_client(&text).as_ref(), Ok(&msg), "{text}");

    let (room, id, nick, text, ts) = &s.line;
    let line = ChatLine {
        room: room.clone(),
        id: *id,
        nick: nick.clone(),
        text: text.clone(),
        ts: *ts,
    };
    let stored = serde_json::to_string(&line).expect("serializes");
    assert_eq!(parse_history_line(&stored).as_ref(), Some(&line));

    let (id, node, nick) = &s.member;
    let entry = member_entry(node, nick);
    assert_eq!(
        parse_member_entry(&id.to_string(), &entry),
        Some((*id, node.clone(), nick.clone()))
    );

    // Server messages are JSON objects tagged with their kind.
    let members: Vec<MemberInfo> = s
        .members
        .iter()
        .map(|(id, nick)| MemberInfo {
            id: *id,
            nick: nick.clone(),
        })
        .collect();
    let kinds: [(&str, ServerMsg<'_>); 5] = [
        ("welcome", ServerMsg::Welcome { id: *id }),
        (
            "joined",
            ServerMsg::Joined {
                room,
                nick,
                members: &members,
                history: vec![&line],
            },
        ),
        (
            "presence",
            ServerMsg::Presence {
                room,
                members: &members,
            },
        ),
        ("message", ServerMsg::Message(&line)),
        ("error", ServerMsg::Error { message: text }),
    ];
    for (kind, msg) in kinds {
        let m = object_of(&encode(&msg));
        assert_eq!(m["type"], kind);
        if let Some(Value::Array(ms)) = m.get("members") {
            let back: Vec<MemberInfo> = ms
                .iter()
                .map(|v| serde_json::from_value(v.clone()).expect("a member"))
                .collect();
            assert_eq!(back, members);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check_clean(&text);
    check_client_text(&text);
    if let Ok(s) = Structured::arbitrary(&mut Unstructured::new(data)) {
        check_structured(&s);
    }
});
