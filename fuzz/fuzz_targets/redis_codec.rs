//! The Redis adapters' wire forms (`wsx_redis::fuzzing`): msgpack as notepack.io writes it
//! (`codec.rs`), the JSON a classic adapter's requests and answers may be instead, the values
//! every adapter's messages carry (`wire.rs`: broadcast options, sockets, application data),
//! and a streams-adapter entry (`streams/entry.rs`).
//!
//! The input is read as one message another node published (raw bytes, msgpack or JSON), and
//! as an arbitrary msgpack value encoded first.
//!
//! Invariants:
//! - Nothing panics, whatever the bytes (rmpv bounds its nesting and its allocations).
//! - msgpack decode → encode → decode gives the same value (compared by their encodings, NaN
//!   being NaN), and an encoding read again is the same length.
//! - msgpack → JSON → msgpack → JSON is stable, numbers compared as JavaScript does.
//! - Arguments → payload (binary leaves become attachments) → arguments → payload is stable,
//!   and every placeholder of the payload refers to an attachment (no placeholder-like data).
//! - `json_or_msgpack` of a map is read back by the classic adapter as the same message.
//! - A socket described for a `fetchSockets` answer is read back as the same socket.
//! - A streams-adapter entry with map data (what every message carries) decodes to its node,
//!   namespace, type and data: exactly, when base64 msgpack; as JSON sees it, when JSON.
#![no_main]

use std::collections::HashMap;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use rmpv::Value as Mp;
use serde_json::Value;
use wsx_fuzz::json::{self, js_eq};
use wsx_redis::fuzzing as f;
use wsx_socketio::cluster::SocketInfo;
use wsx_socketio::socketio::{Packet, Payload};

fn has_placeholder_like(v: &Mp) -> bool {
    json::has_placeholder(&f::msgpack_to_json(v))
}

fn has_invalid_text(v: &Mp) -> bool {
    match v {
        Mp::String(s) => s.as_str().is_none(),
        Mp::Array(a) => a.iter().any(has_invalid_text),
        Mp::Map(m) => m
            .iter()
            .any(|(k, v)| has_invalid_text(k) || has_invalid_text(v)),
        _ => false,
    }
}

fn check_value(v: &Mp) {
    let bytes = f::msgpack_encode(v);
    let back = f::msgpack_decode(&bytes).expect("our own encoding decodes");
    assert_eq!(f::msgpack_encode(&back), bytes, "{v:?}");

    // msgpack -> JSON -> msgpack -> JSON.
    let j1 = f::msgpack_to_json(v);
    let j2 = f::msgpack_to_json(&f::json_to_msgpack(&j1));
    assert!(js_eq(&j1, &j2), "{j1} -> {j2}");
    assert!(!f::has_binary(&f::json_to_msgpack(&j1)));

    // As a packet's arguments.
    let args = match v {
        Mp::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let p1 = f::msgpack_to_payload(&args);
    if !has_placeholder_like(v) {
        let Mp::Array(again) = f::payload_to_msgpack(&p1) else {
            panic!("arguments are an array");
        };
        let p2 = f::msgpack_to_payload(&again);
        assert_eq!(p1.attachments, p2.attachments);
        assert_eq!(p1.args.len(), p2.args.len());
        for (a, b) in p1.args.iter().zip(&p2.args) {
            assert!(js_eq(a, b), "{a} -> {b}");
        }
        // A broadcast built from them is a valid packet: its placeholders all resolve.
        let packet = Packet::ack("/", 1, p1.clone());
        packet
            .validate()
            .unwrap_or_else(|e| panic!("{e:?}: {packet:?}"));
        assert_eq!(p1.to_data().map(|d| d.len()), Ok(args.len()));
    }
    let d = f::value_data(Some(v));
    let _ = d;

    // What the classic adapter publishes, read as the classic adapter reads it (a string that
    // is not UTF-8, which only another node's message holds, is written as bin by rmpv).
    if let (Mp::Map(_), false) = (v, has_invalid_text(v)) {
        let published = f::json_or_msgpack(v);
        let read = f::classic_parse(&published).expect("our own message parses");
        assert!(js_eq(&read, &j1), "{read} vs {j1}");
        check_entry(v);
    }
}

fn check_entry(data: &Mp) {
    for kind in [2u64, 3, 4, 8, 9, 12] {
        let fields: HashMap<String, String> =
            f::stream_entry_fields("node", "/nsp", kind, Some(data))
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
        let e = f::decode_stream_entry(&fields).expect("our own entry decodes");
        assert_eq!(
            (e.uid.as_str(), e.nsp.as_str(), e.kind),
            ("node", "/nsp", kind)
        );
        let got = e.data.expect("data");
        let binary = matches!(kind, 3 | 8 | 9 | 12) && f::has_binary(data);
        if binary {
            assert_eq!(f::msgpack_encode(&got), f::msgpack_encode(data));
        } else {
            assert!(js_eq(&f::msgpack_to_json(&got), &f::msgpack_to_json(data)));
        }
    }
}

fn check_json(v: &Value) {
    let opts = f::broadcast_options(v);
    assert!(opts.flags.local, "another node's broadcast goes no further");
    if let Some(info) = f::socket_info(v) {
        let described = f::describe_socket(&info);
        let back = f::socket_info(&described).expect("a described socket reads back");
        assert_eq!(back.id, info.id);
        assert_eq!(back.rooms, info.rooms);
        assert_eq!(back.data, info.data);
        assert_eq!(back.auth, info.auth);
    }
}

/// An arbitrary msgpack value of bounded depth.
fn mp(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Mp> {
    Ok(match u.choose_index(if depth == 0 { 9 } else { 11 })? {
        0 => Mp::Nil,
        1 => Mp::Boolean(u.arbitrary()?),
        2 => Mp::from(u.arbitrary::<u64>()?),
        3 => Mp::from(u.arbitrary::<i64>()?),
        4 => Mp::F32(u.arbitrary()?),
        5 => Mp::F64(u.arbitrary()?),
        6 => Mp::String(u.arbitrary::<String>()?.into()),
        7 => Mp::Binary(u.arbitrary()?),
        8 => Mp::Ext(u.arbitrary()?, u.arbitrary()?),
        9 => {
            let n = u.int_in_range(0..=5)?;
            Mp::Array((0..n).map(|_| mp(u, depth - 1)).collect::<Result<_, _>>()?)
        }
        _ => {
            let n = u.int_in_range(0..=5)?;
            Mp::Map(
                (0..n)
                    .map(|_| {
                        let k = if u.ratio(3, 4)? {
                            Mp::String(u.arbitrary::<String>()?.into())
                        } else {
                            mp(u, 0)?
                        };
                        Ok((k, mp(u, depth - 1)?))
                    })
                    .collect::<arbitrary::Result<_>>()?,
            )
        }
    })
}

#[derive(Arbitrary, Debug)]
struct Socket {
    id: String,
    rooms: Vec<String>,
}

fuzz_target!(|data: &[u8]| {
    // Raw bytes: another node's message.
    if let Some(v) = f::msgpack_decode(data) {
        // A prefix was read; reading its encoding again reads as much.
        let bytes = f::msgpack_encode(&v);
        assert_eq!(
            f::msgpack_decode(&bytes).map(|b| f::msgpack_encode(&b)),
            Some(bytes)
        );
        check_value(&v);
    }
    if let Some(v) = f::classic_parse(data) {
        check_json(&v);
    }
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        check_json(&v);
        check_value(&f::json_to_msgpack(&v));
    }
    // Structured: a msgpack value, and a socket.
    let mut u = Unstructured::new(data);
    if let Ok(v) = mp(&mut u, 3) {
        check_value(&v);
    }
    if let (Ok(s), Ok(d), Ok(auth)) = (
        Socket::arbitrary(&mut u),
        json::value(&mut u, 2),
        json::object(&mut u, 1),
    ) {
        let info = SocketInfo {
            id: s.id,
            rooms: s.rooms,
            data: d,
            auth,
            request: None,
        };
        check_json(&f::describe_socket(&info));
    }
    let _ = Payload::default();
});
