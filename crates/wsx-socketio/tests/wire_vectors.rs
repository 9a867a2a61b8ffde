//! Byte-exact wire vectors: what the official JS client and server put on the wire (Engine.IO
//! text form with its `4` prefix for Socket.IO packets), decoded and re-encoded through both
//! layers. The expectations of the official Socket.IO v5 test suite are among them.

#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use serde_json::{Value, json};
use wsx_socketio::engineio::{self, Handshake, WsFrame};
use wsx_socketio::socketio::{Data, Decoder, Packet, Payload};

/// Decodes one Engine.IO text message plus binary messages as a Socket.IO packet.
fn sio_decode(eio_text: &str, binaries: &[&[u8]]) -> Packet {
    let engineio::Packet::Message(text) = engineio::Packet::decode_text(eio_text).unwrap() else {
        panic!("{eio_text:?} is not an Engine.IO message");
    };
    let mut decoder = Decoder::new();
    let mut out = decoder.decode_text(&text).unwrap();
    for b in binaries {
        assert!(out.is_none());
        let engineio::Packet::Binary(data) =
            engineio::Packet::decode_binary(Bytes::copy_from_slice(b))
        else {
            unreachable!()
        };
        out = decoder.decode_binary(data).unwrap();
    }
    out.expect("complete packet")
}

/// Encodes a Socket.IO packet as the Engine.IO text message (`4…`).
fn sio_encode(packet: &Packet) -> String {
    let mut buf = BytesMut::new();
    packet.encode_eio_message(&mut buf).unwrap();
    String::from_utf8(buf.to_vec()).unwrap()
}

/// Both directions: decodes `wire`, checks it equals `packet`, re-encodes byte for byte.
fn check(wire: &str, attachments: &[&[u8]], packet: Packet) {
    assert_eq!(sio_encode(&packet), wire, "encoding");
    let decoded = sio_decode(wire, attachments);
    assert_eq!(decoded, packet, "decoding {wire}");
    let atts: Vec<&[u8]> = decoded.attachments().iter().map(|b| &b[..]).collect();
    assert_eq!(atts, attachments);
    assert_eq!(sio_encode(&decoded), wire, "re-encoding");
}

fn args(values: Value) -> Payload {
    Payload::new(values.as_array().unwrap().clone())
}

fn obj(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn handshake_open_packet() {
    let wire = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
    let packet = engineio::Packet::Open(Handshake {
        sid: "lv_VI97HAXpY6yYWAAAC".into(),
        upgrades: vec!["websocket".into()],
        ping_interval: 25000,
        ping_timeout: 20000,
        max_payload: 1_000_000,
    });
    let mut buf = BytesMut::new();
    packet.encode_text(&mut buf);
    assert_eq!(std::str::from_utf8(&buf).unwrap(), wire);
    assert_eq!(engineio::Packet::decode_text(wire).unwrap(), packet);
    // exactly the five keys the suite's `have.all.keys` expects
    let json: Value = serde_json::from_str(&wire[1..]).unwrap();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "sid",
            "upgrades",
            "pingInterval",
            "pingTimeout",
            "maxPayload"
        ]
    );

    let ws_opened = engineio::Packet::Open(Handshake {
        sid: "s".into(),
        upgrades: vec![],
        ping_interval: 300,
        ping_timeout: 200,
        max_payload: 1_000_000,
    });
    let mut buf = BytesMut::new();
    ws_opened.encode_text(&mut buf);
    assert_eq!(
        &buf[..],
        br#"0{"sid":"s","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#
    );
}

#[test]
fn heartbeat_and_upgrade_packets() {
    let cases = [
        ("1", engineio::Packet::Close),
        ("2", engineio::Packet::ping()),
        ("3", engineio::Packet::pong()),
        ("2probe", engineio::Packet::ping_probe()),
        ("3probe", engineio::Packet::pong_probe()),
        ("5", engineio::Packet::Upgrade),
        ("6", engineio::Packet::Noop),
        ("4hello", engineio::Packet::Message("hello".into())),
    ];
    let mut scratch = BytesMut::new();
    for (wire, packet) in cases {
        assert_eq!(engineio::Packet::decode_text(wire).unwrap(), packet);
        assert_eq!(
            packet.to_ws_frame(&mut scratch),
            WsFrame::Text(Bytes::from(wire))
        );
    }
}

#[test]
fn polling_payloads() {
    let hello_bin = [
        engineio::Packet::Message("hello".into()),
        engineio::Packet::Binary(vec![1, 2, 3, 4].into()),
    ];
    let mut buf = BytesMut::new();
    engineio::encode_payload(&hello_bin, &mut buf);
    assert_eq!(&buf[..], b"4hello\x1ebAQIDBA==");
    assert_eq!(
        engineio::decode_payload("4hello\x1ebAQIDBA==", 1_000_000).unwrap(),
        hello_bin
    );

    // the Engine.IO suite's three-packet POST, echoed as one GET body
    let three = engineio::decode_payload("4test1\x1e4test2\x1e4test3", 1_000_000).unwrap();
    assert_eq!(three.len(), 3);
    let mut buf = BytesMut::new();
    engineio::encode_payload(&three, &mut buf);
    assert_eq!(&buf[..], b"4test1\x1e4test2\x1e4test3");

    // a binary Socket.IO event over polling: the text packet, then its attachment as b64
    let mut payload = Payload::new(vec![json!("bin")]);
    let ph = payload.push_binary(Bytes::from_static(&[1, 2, 3, 4]));
    payload.args.push(ph);
    let packet = Packet::event("/", payload);
    let mut text = BytesMut::new();
    packet.encode(&mut text).unwrap(); // the Engine.IO message's text, without its `4`
    let text = String::from_utf8(text.to_vec()).unwrap();
    let mut eio_packets = vec![engineio::Packet::Message(text.into())];
    eio_packets.extend(
        packet
            .attachments()
            .iter()
            .cloned()
            .map(engineio::Packet::Binary),
    );
    let mut buf = BytesMut::new();
    engineio::encode_payload(&eio_packets, &mut buf);
    assert_eq!(
        &buf[..],
        b"451-[\"bin\",{\"_placeholder\":true,\"num\":0}]\x1ebAQIDBA=="
    );

    // and back
    let mut decoder = Decoder::new();
    let mut out = None;
    for p in engineio::decode_payload(std::str::from_utf8(&buf).unwrap(), 1_000_000).unwrap() {
        out = match p {
            engineio::Packet::Message(t) => decoder.decode_text(&t).unwrap(),
            engineio::Packet::Binary(b) => decoder.decode_binary(b).unwrap(),
            other => panic!("{other:?}"),
        };
    }
    assert_eq!(out.unwrap(), packet);
}

#[test]
fn connect_vectors() {
    check("40", &[], Packet::connect("/", None));
    check("40/admin,", &[], Packet::connect("/admin", None));
    check(
        r#"40/admin,{"token":"x"}"#,
        &[],
        Packet::connect("/admin", Some(obj(json!({"token": "x"})))),
    );
    check(
        r#"40{"token":"abc"}"#,
        &[],
        Packet::connect("/", Some(obj(json!({"token": "abc"})))),
    );
    check(
        r#"40{"sid":"oSO0OpakMV_3jnilAAAA"}"#,
        &[],
        Packet::connect_ack("/", "oSO0OpakMV_3jnilAAAA"),
    );
    check(
        r#"40/custom,{"sid":"x"}"#,
        &[],
        Packet::connect_ack("/custom", "x"),
    );
    // the suite sends both forms for a custom namespace
    assert_eq!(
        sio_decode("40/custom", &[]),
        Packet::connect("/custom", None)
    );
    assert_eq!(
        sio_decode("40/custom,", &[]),
        Packet::connect("/custom", None)
    );
}

#[test]
fn connect_error_and_disconnect_vectors() {
    check(
        r#"44/random,{"message":"Invalid namespace"}"#,
        &[],
        Packet::connect_error("/random", "Invalid namespace"),
    );
    check("41", &[], Packet::disconnect("/"));
    check("41/custom,", &[], Packet::disconnect("/custom"));
}

#[test]
fn event_and_ack_vectors() {
    check(
        r#"42["hello",1]"#,
        &[],
        Packet::event("/", args(json!(["hello", 1]))),
    );
    check(
        r#"421["ack me"]"#,
        &[],
        Packet::event("/", args(json!(["ack me"]))).with_ack_id(1),
    );
    check(
        r#"431[true]"#,
        &[],
        Packet::ack("/", 1, args(json!([true]))),
    );
    check(
        r#"42["auth",{}]"#,
        &[],
        Packet::event("/", args(json!(["auth", {}]))),
    );
    check(
        r#"42/custom,["auth",{"token":"abc"}]"#,
        &[],
        Packet::event("/custom", args(json!(["auth", {"token": "abc"}]))),
    );
    check(
        r#"42["message-back",1,"2",{"3":[true]}]"#,
        &[],
        Packet::event("/", args(json!(["message-back", 1, "2", {"3": [true]}]))),
    );
    check(
        r#"43456["a",null]"#,
        &[],
        Packet::ack("/", 456, args(json!(["a", null]))),
    );
}

#[test]
fn binary_vectors() {
    let mut payload = Payload::new(vec![json!("bin")]);
    let ph = payload.push_binary(Bytes::from_static(&[1, 2, 3, 4]));
    payload.args.push(ph);
    check(
        r#"451-["bin",{"_placeholder":true,"num":0}]"#,
        &[&[1, 2, 3, 4]],
        Packet::event("/", payload),
    );

    // the Socket.IO suite's binary echo, with and without ack
    let two = |name: Option<&str>| {
        let mut data: Vec<Data> = name.map(|n| Data::Json(json!(n))).into_iter().collect();
        data.push(Data::Binary(Bytes::from_static(&[1, 2, 3])));
        data.push(Data::Binary(Bytes::from_static(&[4, 5, 6])));
        Payload::from_data(data)
    };
    check(
        r#"452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        &[&[1, 2, 3], &[4, 5, 6]],
        Packet::event("/", two(Some("message-back"))),
    );
    check(
        r#"462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        &[&[1, 2, 3], &[4, 5, 6]],
        Packet::ack("/", 789, two(None)),
    );
    check(
        r#"452-/custom,12["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        &[&[1, 2, 3], &[4, 5, 6]],
        Packet::event("/custom", two(Some("message"))).with_ack_id(12),
    );

    // re-emitting a decoded binary event under another name keeps the attachments
    let incoming = sio_decode(
        r#"452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        &[&[1, 2, 3], &[4, 5, 6]],
    );
    let mut payload = incoming.payload().unwrap().clone();
    payload.args[0] = json!("message-back");
    let out = Packet::event("/", payload);
    assert_eq!(
        sio_encode(&out),
        r#"452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(
        out.attachments(),
        [
            Bytes::from_static(&[1, 2, 3]),
            Bytes::from_static(&[4, 5, 6])
        ]
    );
}

#[test]
fn invalid_packets_the_suite_sends() {
    // "should close the connection upon invalid format": each must fail to decode
    for wire in ["4abc", "42{}", r#"42abc["message"]"#] {
        let engineio::Packet::Message(text) = engineio::Packet::decode_text(wire).unwrap() else {
            panic!()
        };
        assert!(Decoder::new().decode_text(&text).is_err(), "{wire}");
    }
    assert!(engineio::Packet::decode_text("abc").is_err());
    assert!(engineio::decode_payload("abc", 1_000_000).is_err());
}
