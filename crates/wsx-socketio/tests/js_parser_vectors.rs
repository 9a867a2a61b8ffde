//! Cross-check with the official JS parsers: `interop/node/sio_vectors.js` prints what
//! `engine.io-parser` and `socket.io-parser` (versions pinned in interop/package.json) encode
//! and decode; our codecs must decode every vector as they do and encode the same bytes.
//!
//! Needs Node and `bash interop/setup.sh` (npm ci); fails, never skips, without them.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};
use serde_json::{Map, Value, json};
use wsx_socketio::engineio::{self, Handshake, WsFrame};
use wsx_socketio::socketio::{self, Data, Packet, PacketData, PacketType, Payload};

/// Inputs the JS Socket.IO decoder accepts and we reject on purpose (see `socketio::decode`).
const SIO_DEVIATIONS: &[&str] = &[
    "",                                               // JS: Number("") is 0, a CONNECT
    " 0",                                             // JS: Number(" ") is 0 too
    "2",                                              // EVENT without data (no event name)
    "3[1]",                                           // ACK without id: Node drops it
    "41",                                             // CONNECT_ERROR with an id and no data
    "012{}",                                          // CONNECT with an ack id
    "2/custom[\"a\"]", // no comma: namespace swallows the data, EVENT without data
    "4",               // CONNECT_ERROR without data
    "2[\"a\",\"\\ud800\"]", // lone surrogate: JSON.parse takes it, serde_json does not
    "51-[\"a\",{\"_placeholder\":true,\"num\":0.5}]", // JS resolves buffers[0.5] to undefined
    "5 1-[\"a\",{\"_placeholder\":true,\"num\":0}]", // JS: Number(" 1") is 1
];

/// Inputs the JS Engine.IO decoder accepts and we reject: Node's base64 skips invalid characters.
const EIO_DEVIATIONS: &[&str] = &["b!!!!", "bAQIDBA=x"];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn vectors() -> &'static Value {
    static VECTORS: OnceLock<Value> = OnceLock::new();
    VECTORS.get_or_init(|| {
        let interop = repo_root().join("interop");
        for package in ["socket.io-parser", "engine.io-parser"] {
            let manifest = interop.join("node_modules").join(package).join("package.json");
            assert!(
                manifest.exists(),
                "{} is missing: the JS parser cross-check needs interop/node_modules; run `bash interop/setup.sh` first (it runs npm ci)",
                manifest.display()
            );
        }
        let node = std::env::var("NODE").unwrap_or_else(|_| "node".into());
        let script = interop.join("node").join("sio_vectors.js");
        let out = Command::new(&node).arg(&script).output().unwrap_or_else(|e| {
            panic!("cannot run `{node} {}` ({e}): install Node >= 18 and run `bash interop/setup.sh`", script.display())
        });
        assert!(
            out.status.success(),
            "`node {}` failed ({}):\n{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("sio_vectors.js printed invalid JSON")
    })
}

fn list(key: &str) -> &'static [Value] {
    let items = vectors()[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in the vectors"));
    assert!(!items.is_empty(), "{key} is empty");
    items
}

fn unhex(h: &str) -> Bytes {
    assert!(h.len() % 2 == 0, "odd hex {h}");
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect::<Vec<u8>>()
        .into()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn as_hex(v: &Value) -> Option<&str> {
    match v {
        Value::Object(m) if m.len() == 1 => m.get("$hex").and_then(Value::as_str),
        _ => None,
    }
}

// ---- Engine.IO ---------------------------------------------------------------------------

fn eio_from_desc(desc: &Value) -> engineio::Packet<'static> {
    use engineio::Packet as P;
    let data = &desc["data"];
    let text = || data.as_str().unwrap_or("").to_owned().into();
    match desc["type"].as_str().unwrap() {
        "open" => P::Open(serde_json::from_str::<Handshake>(data.as_str().unwrap()).unwrap()),
        "close" => P::Close,
        "ping" => P::Ping(text()),
        "pong" => P::Pong(text()),
        "message" => match as_hex(data) {
            Some(h) => P::Binary(unhex(h)),
            None => P::Message(text()),
        },
        "upgrade" => P::Upgrade,
        "noop" => P::Noop,
        other => panic!("unknown Engine.IO type {other}"),
    }
}

#[test]
fn versions_are_the_pinned_ones() {
    let versions = &vectors()["versions"];
    let package: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("interop/package.json")).unwrap(),
    )
    .unwrap();
    for name in ["engine.io-parser", "socket.io-parser"] {
        assert_eq!(
            versions[name], package["dependencies"][name],
            "{name}: installed vs pinned (run bash interop/setup.sh)"
        );
    }
}

#[test]
fn engineio_packets_encode_and_decode_like_js() {
    let mut scratch = BytesMut::new();
    for v in list("eio_packets") {
        let packet = eio_from_desc(&v["packet"]);
        let text = v["text"].as_str().unwrap();

        let mut buf = BytesMut::new();
        packet.encode_text(&mut buf);
        assert_eq!(
            std::str::from_utf8(&buf).unwrap(),
            text,
            "text form of {}",
            v["packet"]
        );
        assert_eq!(
            engineio::Packet::decode_text(text).unwrap(),
            packet,
            "decoding {text:?}"
        );

        let frame = packet.to_ws_frame(&mut scratch);
        let expected = match (&v["ws"]["text"], &v["ws"]["binary"]) {
            (Value::String(t), _) => WsFrame::Text(Bytes::from(t.clone())),
            (_, Value::String(h)) => WsFrame::Binary(unhex(h)),
            _ => panic!("bad ws vector {}", v["ws"]),
        };
        assert_eq!(frame, expected, "WebSocket form of {}", v["packet"]);
        assert_eq!(engineio::Packet::decode_ws(&expected).unwrap(), packet);
    }
}

#[test]
fn engineio_payloads_encode_and_decode_like_js() {
    for v in list("eio_payloads") {
        let packets: Vec<_> = v["packets"]
            .as_array()
            .unwrap()
            .iter()
            .map(eio_from_desc)
            .collect();
        let payload = v["payload"].as_str().unwrap();
        let mut buf = BytesMut::new();
        engineio::encode_payload(&packets, &mut buf);
        assert_eq!(std::str::from_utf8(&buf).unwrap(), payload);
        assert_eq!(
            engineio::decode_payload(payload, 1_000_000).unwrap(),
            packets,
            "{payload:?}"
        );
    }
}

#[test]
fn engineio_decoder_agrees_with_js() {
    let mut deviations_seen = 0;
    for v in list("eio_decode") {
        let input = v["input"].as_str().unwrap();
        let js_ok = v["ok"].as_bool().unwrap();
        let ours = engineio::decode_payload(input, 1_000_000);
        if EIO_DEVIATIONS.contains(&input) {
            assert!(
                js_ok && ours.is_err(),
                "deviation {input:?} no longer differs: JS ok={js_ok}, ours={ours:?}"
            );
            deviations_seen += 1;
            continue;
        }
        assert_eq!(
            ours.is_ok(),
            js_ok,
            "{input:?}: JS ok={js_ok}, ours={ours:?}"
        );
        if let Ok(packets) = ours {
            let expected: Vec<_> = v["packets"]
                .as_array()
                .unwrap()
                .iter()
                .map(eio_from_desc)
                .collect();
            assert_eq!(packets, expected, "{input:?}");
        }
    }
    assert_eq!(deviations_seen, EIO_DEVIATIONS.len());
}

// ---- Socket.IO ---------------------------------------------------------------------------

fn data_from_desc(v: &Value) -> Data {
    if let Some(h) = as_hex(v) {
        return Data::Binary(unhex(h));
    }
    match v {
        Value::Array(items) => Data::Array(items.iter().map(data_from_desc).collect()),
        Value::Object(map) => Data::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), data_from_desc(v)))
                .collect(),
        ),
        other => Data::Json(other.clone()),
    }
}

fn desc_from_data(d: Data) -> Value {
    match d {
        Data::Json(v) => v,
        Data::Binary(b) => json!({ "$hex": hex(&b) }),
        Data::Array(items) => Value::Array(items.into_iter().map(desc_from_data).collect()),
        Data::Object(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(k, d)| (k, desc_from_data(d)))
                .collect(),
        ),
    }
}

fn payload_from_desc(data: &Value) -> Payload {
    Payload::from_data(
        data.as_array()
            .expect("data array")
            .iter()
            .map(data_from_desc)
            .collect(),
    )
}

fn sio_from_desc(desc: &Value) -> Packet {
    let nsp = desc["nsp"].as_str().unwrap().to_owned();
    let id = desc.get("id").and_then(Value::as_u64);
    let data = desc.get("data");
    let data = match desc["type"].as_u64().unwrap() {
        0 => PacketData::Connect(data.map(|d| d.as_object().unwrap().clone())),
        1 => PacketData::Disconnect,
        2 => PacketData::Event {
            payload: payload_from_desc(data.unwrap()),
            id,
        },
        3 => PacketData::Ack {
            payload: payload_from_desc(data.unwrap()),
            id: id.unwrap(),
        },
        4 => PacketData::ConnectError(data.unwrap().clone()),
        t => panic!("unexpected type {t} in {desc}"),
    };
    Packet { nsp, data }
}

/// Our packet described as the JS decoder's output (`BINARY_*` reported as EVENT/ACK).
fn describe(p: &Packet) -> Value {
    let kind = match p.packet_type() {
        PacketType::BinaryEvent => PacketType::Event,
        PacketType::BinaryAck => PacketType::Ack,
        t => t,
    };
    let mut m = Map::new();
    m.insert("type".into(), json!(kind as u8));
    m.insert("nsp".into(), json!(p.nsp));
    if let Some(id) = p.id() {
        m.insert("id".into(), json!(id));
    }
    match &p.data {
        PacketData::Connect(Some(map)) => {
            m.insert("data".into(), Value::Object(map.clone()));
        }
        PacketData::Connect(None) | PacketData::Disconnect => {}
        PacketData::Event { payload, .. } | PacketData::Ack { payload, .. } => {
            let data = payload
                .to_data()
                .unwrap()
                .into_iter()
                .map(desc_from_data)
                .collect();
            m.insert("data".into(), Value::Array(data));
        }
        PacketData::ConnectError(v) => {
            m.insert("data".into(), v.clone());
        }
    }
    Value::Object(m)
}

fn decode_all(parts: &[Value]) -> Result<Packet, wsx_socketio::Error> {
    let mut decoder = socketio::Decoder::new();
    let mut out = decoder.decode_text(parts[0].as_str().unwrap())?;
    for part in &parts[1..] {
        let bytes = match part {
            Value::String(h) => unhex(h),
            other => unhex(as_hex(other).unwrap()),
        };
        out = decoder.decode_binary(bytes)?;
    }
    Ok(out.expect("packet incomplete after all parts"))
}

#[test]
fn socketio_encoder_matches_js_byte_for_byte() {
    for v in list("sio_encode") {
        let packet = sio_from_desc(&v["packet"]);
        let encoded = v["encoded"].as_array().unwrap();
        assert_eq!(
            packet.encode_to_string().unwrap(),
            encoded[0].as_str().unwrap(),
            "encoding {}",
            v["packet"]
        );
        let attachments: Vec<String> = packet.attachments().iter().map(|b| hex(b)).collect();
        let expected: Vec<String> = encoded[1..]
            .iter()
            .map(|e| as_hex(e).unwrap().to_owned())
            .collect();
        assert_eq!(attachments, expected, "attachments of {}", v["packet"]);

        // and what JS encoded, we decode back to the same packet
        let decoded = decode_all(encoded).unwrap_or_else(|e| panic!("decoding {encoded:?}: {e}"));
        assert_eq!(describe(&decoded), describe(&packet), "{encoded:?}");
        let mut js_desc = v["packet"].clone();
        if js_desc.get("data").is_none() {
            js_desc.as_object_mut().unwrap().remove("data");
        }
        assert_eq!(describe(&decoded), js_desc, "{encoded:?}");
    }
}

#[test]
fn socketio_decoder_agrees_with_js() {
    let mut deviations_seen = 0;
    for v in list("sio_decode") {
        let input = v["input"].as_array().unwrap();
        let text = input[0].as_str().unwrap();
        let js_ok = v["ok"].as_bool().unwrap();
        let ours = decode_all(input);
        if SIO_DEVIATIONS.contains(&text) {
            assert!(
                js_ok && ours.is_err(),
                "deviation {text:?} no longer differs: JS ok={js_ok}, ours={ours:?}"
            );
            deviations_seen += 1;
            continue;
        }
        assert_eq!(
            ours.is_ok(),
            js_ok,
            "{input:?}: JS {}, ours {ours:?}",
            v["error"]
        );
        if let Ok(packet) = ours {
            let mut expected = v["packet"].clone();
            // An ACK without data: Node acks with no arguments; we read it as an empty array.
            if expected["type"] == json!(3) && expected.get("data").is_none() {
                expected["data"] = json!([]);
            }
            assert_eq!(describe(&packet), expected, "{input:?}");
        }
    }
    assert_eq!(
        deviations_seen,
        SIO_DEVIATIONS.len(),
        "every known deviation is exercised"
    );
}
