//! The msgpack (notepack.io-compatible) and JSON forms of what the adapters publish.
//!
//! notepack.io 3.x, which Node's `@socket.io/redis-adapter` uses, writes integers in their
//! smallest form, every other number as float64, strings as str, binary as bin, and objects as
//! maps with string keys in insertion order; `rmpv`'s writer does the same for the values built
//! here (integral JSON floats are written as integers, as a JS number would be).

use std::collections::HashMap;

use bytes::Bytes;
use rmpv::Value as Mp;
use serde_json::{Map, Value};
use wsx_socketio::Data;
use wsx_socketio::socketio::Payload;

/// Encodes a msgpack value.
pub(crate) fn encode(v: &Mp) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, v);
    out
}

/// Decodes one msgpack value.
pub(crate) fn decode(bytes: &[u8]) -> Option<Mp> {
    rmpv::decode::read_value(&mut &bytes[..]).ok()
}

/// A msgpack string.
pub(crate) fn s(v: &str) -> Mp {
    Mp::String(v.into())
}

/// A msgpack map with string keys, in this order.
pub(crate) fn map(entries: Vec<(&str, Mp)>) -> Mp {
    Mp::Map(entries.into_iter().map(|(k, v)| (s(k), v)).collect())
}

/// A msgpack array of strings.
pub(crate) fn strings(v: &[String]) -> Mp {
    Mp::Array(v.iter().map(|x| s(x)).collect())
}

/// JSON to msgpack, as notepack would encode the same JS value.
pub(crate) fn from_json(v: &Value) -> Mp {
    match v {
        Value::Null => Mp::Nil,
        Value::Bool(b) => Mp::Boolean(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Mp::from(u)
            } else if let Some(i) = n.as_i64() {
                Mp::from(i)
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
                    // A JS number with no fraction: notepack writes it as an integer.
                    Mp::from(f as i64)
                } else {
                    Mp::F64(f)
                }
            }
        }
        Value::String(x) => s(x),
        Value::Array(a) => Mp::Array(a.iter().map(from_json).collect()),
        Value::Object(o) => Mp::Map(o.iter().map(|(k, v)| (s(k), from_json(v))).collect()),
    }
}

/// A packet's arguments (placeholders replaced by their attachments) to msgpack.
pub(crate) fn from_payload(p: &Payload) -> Mp {
    fn walk(v: &Value, p: &Payload) -> Mp {
        if let Some(bin) = p.attachment(v) {
            return Mp::Binary(bin.to_vec());
        }
        match v {
            Value::Array(a) => Mp::Array(a.iter().map(|x| walk(x, p)).collect()),
            Value::Object(o) => Mp::Map(o.iter().map(|(k, v)| (s(k), walk(v, p))).collect()),
            other => from_json(other),
        }
    }
    if p.attachments.is_empty() {
        return Mp::Array(p.args.iter().map(from_json).collect());
    }
    Mp::Array(p.args.iter().map(|v| walk(v, p)).collect())
}

/// Application data to msgpack.
pub(crate) fn from_data(d: &Data) -> Mp {
    match d {
        Data::Json(v) => from_json(v),
        Data::Binary(b) => Mp::Binary(b.to_vec()),
        Data::Array(a) => Mp::Array(a.iter().map(from_data).collect()),
        Data::Object(o) => Mp::Map(o.iter().map(|(k, v)| (s(k), from_data(v))).collect()),
    }
}

/// A message as Node's adapters write those that may hold binary: JSON, or msgpack when it
/// does hold binary (which JSON cannot carry). Also msgpack when it nests deeper than a JSON
/// reader here takes (serde_json stops at 128 levels; a reader tells the two forms apart by
/// the first byte, Node's as ours), so that what a node writes, every node reads.
pub(crate) fn json_or_msgpack(v: &Mp) -> Vec<u8> {
    if has_binary(v) || too_deep_for_json(v) {
        encode(v)
    } else {
        to_json(v).to_string().into_bytes()
    }
}

/// The nesting serde_json reads at most (its recursion limit), less one for safety.
const JSON_DEPTH: usize = 127;

/// Whether `v` nests deeper than a JSON reader here takes: such a value is written as msgpack
/// wherever a reader takes either form.
pub(crate) fn too_deep_for_json(v: &Mp) -> bool {
    deeper_than(v, JSON_DEPTH)
}

/// Whether arrays and maps nest more than `levels` deep in `v`.
fn deeper_than(v: &Mp, levels: usize) -> bool {
    let inner: Box<dyn Iterator<Item = &Mp>> = match v {
        Mp::Array(a) => Box::new(a.iter()),
        Mp::Map(m) => Box::new(m.iter().map(|(_, v)| v)),
        _ => return false,
    };
    levels == 0 || inner.into_iter().any(|x| deeper_than(x, levels - 1))
}

/// Whether a msgpack value holds binary anywhere.
pub(crate) fn has_binary(v: &Mp) -> bool {
    match v {
        Mp::Binary(_) => true,
        Mp::Array(a) => a.iter().any(has_binary),
        Mp::Map(m) => m.iter().any(|(_, v)| has_binary(v)),
        _ => false,
    }
}

fn key_string(k: &Mp) -> String {
    match k {
        Mp::String(x) => text(x),
        other => other.to_string(),
    }
}

/// A msgpack string as notepack reads it (`buffer.toString("utf8")`): bytes that are not
/// UTF-8 become U+FFFD, the rest of the string is kept.
fn text(x: &rmpv::Utf8String) -> String {
    match x.as_str() {
        Some(s) => s.to_owned(),
        None => String::from_utf8_lossy(x.as_bytes()).into_owned(),
    }
}

fn number(f: f64) -> Value {
    // JSON.stringify writes NaN and ±Infinity as null.
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// msgpack to JSON (binary, which JSON cannot hold, becomes `null`; see [`to_payload`]).
pub(crate) fn to_json(v: &Mp) -> Value {
    match v {
        Mp::Nil | Mp::Ext(..) | Mp::Binary(_) => Value::Null,
        Mp::Boolean(b) => Value::Bool(*b),
        Mp::Integer(i) => i
            .as_u64()
            .map(Value::from)
            .or_else(|| i.as_i64().map(Value::from))
            .unwrap_or(Value::Null),
        Mp::F32(f) => number(f64::from(*f)),
        Mp::F64(f) => number(*f),
        Mp::String(x) => Value::String(text(x)),
        Mp::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Mp::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (key_string(k), to_json(v)))
                .collect::<Map<String, Value>>(),
        ),
    }
}

/// msgpack arguments to a packet payload: binary leaves become attachments.
///
/// A map read as notepack reads it into a JS object: a repeated key keeps its first place and
/// takes its last value, so a value it replaces leaves no attachment behind, and attachments
/// are numbered in the object's key order, as socket.io-parser numbers them.
pub(crate) fn to_payload(args: &[Mp]) -> Payload {
    fn walk(v: &Mp, p: &mut Payload) -> Value {
        match v {
            Mp::Binary(b) => p.push_binary(Bytes::copy_from_slice(b)),
            Mp::Array(a) => Value::Array(a.iter().map(|x| walk(x, p)).collect()),
            Mp::Map(m) => {
                let mut entries: Vec<(String, &Mp)> = Vec::with_capacity(m.len());
                let mut at: HashMap<String, usize> = HashMap::new();
                for (k, v) in m {
                    let k = key_string(k);
                    match at.get(&k) {
                        Some(&i) => entries[i].1 = v,
                        None => {
                            at.insert(k.clone(), entries.len());
                            entries.push((k, v));
                        }
                    }
                }
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k, walk(v, p)))
                        .collect::<Map<String, Value>>(),
                )
            }
            other => to_json(other),
        }
    }
    let mut p = Payload::default();
    for a in args {
        let v = walk(a, &mut p);
        p.args.push(v);
    }
    p
}

/// Looks a key up in a msgpack map.
pub(crate) fn get<'a>(v: &'a Mp, key: &str) -> Option<&'a Mp> {
    match v {
        Mp::Map(m) => m
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// The arguments of the broadcasts captured from Node's adapters, which the tests hold the
/// wire format to: `io.emit("hello", 1, "two", {three: [true]})`.
#[cfg(test)]
pub(crate) fn captured_payload() -> Payload {
    Payload::new(vec![
        serde_json::json!("hello"),
        serde_json::json!(1),
        serde_json::json!("two"),
        serde_json::json!({"three": [true]}),
    ])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn a_broadcast_is_byte_identical_to_notepack() {
        // The captured broadcast of §7.2: ["KJOmzB", {type:2, data:[…], nsp:"/"}, opts].
        let payload = captured_payload();
        let msg = Mp::Array(vec![
            s("KJOmzB"),
            map(vec![
                ("type", Mp::from(2)),
                ("data", from_payload(&payload)),
                ("nsp", s("/")),
            ]),
            map(vec![
                ("rooms", Mp::Array(vec![])),
                ("except", Mp::Array(vec![])),
                ("flags", map(vec![])),
            ]),
        ]);
        let hex: String = encode(&msg).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "93a64b4a4f6d7a4283a47479706502a46461746194a568656c6c6f01a374776f81a57468726565\
             91c3a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380"
        );
    }

    #[test]
    fn numbers_take_the_smallest_form_and_floats_are_float64() {
        assert_eq!(encode(&from_json(&json!(1))), [0x01]);
        assert_eq!(encode(&from_json(&json!(-1))), [0xff]);
        assert_eq!(encode(&from_json(&json!(300))), [0xcd, 0x01, 0x2c]);
        assert_eq!(encode(&from_json(&json!(2.0))), [0x02]);
        assert_eq!(encode(&from_json(&json!(1.5)))[0], 0xcb);
    }

    #[test]
    fn binary_round_trips_through_attachments() {
        let mut p = Payload::new(vec![json!("bin")]);
        let ph = p.push_binary(Bytes::from_static(&[1, 2]));
        p.args.push(json!({ "a": ph }));
        let mp = from_payload(&p);
        assert_eq!(
            encode(&mp)[..],
            [
                0x92, 0xa3, b'b', b'i', b'n', 0x81, 0xa1, b'a', 0xc4, 0x02, 1, 2
            ]
        );
        let Mp::Array(args) = mp else { panic!() };
        assert_eq!(to_payload(&args), p);
    }

    /// fuzz/regressions/redis_codec/deep-nesting: a value nested 170 levels was written as
    /// JSON, which serde_json (128 levels at most) then refused on every node.
    #[test]
    fn a_value_nested_deeper_than_json_reads_is_written_as_msgpack() {
        let mut deep = Mp::Nil;
        for _ in 0..170 {
            deep = Mp::Array(vec![deep]);
        }
        let message = map(vec![("data", deep.clone())]);
        let written = json_or_msgpack(&message);
        assert_ne!(written.first(), Some(&b'{'), "msgpack, not JSON");
        assert_eq!(decode(&written), Some(message));
        let mut shallow = Mp::Nil;
        for _ in 0..JSON_DEPTH - 1 {
            shallow = Mp::Array(vec![shallow]);
        }
        let message = map(vec![("data", shallow)]);
        let written = json_or_msgpack(&message);
        assert_eq!(
            written.first(),
            Some(&b'{'),
            "JSON while serde_json reads it"
        );
        assert!(serde_json::from_slice::<serde_json::Value>(&written).is_ok());
    }

    /// fuzz/regressions/redis_codec/invalid-utf8-string: another node's string that is not
    /// UTF-8 became "" (Node reads it with U+FFFD for the bad bytes).
    #[test]
    fn a_string_that_is_not_utf8_reads_as_node_reads_it() {
        let v = decode(&[0x81, 0xa1, b'k', 0xa4, b'a', 0xae, 0xae, b'b']).unwrap();
        assert_eq!(to_json(&v), json!({"k": "a\u{fffd}\u{fffd}b"}));
        let k = decode(&[0x81, 0xa2, 0xff, b'k', 0x01]).unwrap();
        assert_eq!(to_json(&k), json!({"\u{fffd}k": 1}));
    }

    /// fuzz/regressions/redis_codec/repeated-key-drops-binary: a map whose key repeats kept the
    /// attachment of the value the repetition replaced (sent to clients, referred to by none).
    #[test]
    fn a_repeated_key_keeps_its_first_place_and_last_value_as_in_js() {
        let bin = |b: u8| Mp::Binary(vec![b]);
        let m = Mp::Map(vec![
            (s("a"), bin(1)),
            (s("b"), bin(2)),
            (s("a"), bin(3)),
            (s("c"), bin(4)),
            (s("c"), Mp::Nil),
        ]);
        let p = to_payload(&[m]);
        // JS: {a: <3>, b: <2>, c: null}, attachments numbered in key order.
        assert_eq!(
            p.args,
            [json!({
                "a": {"_placeholder": true, "num": 0},
                "b": {"_placeholder": true, "num": 1},
                "c": null,
            })]
        );
        assert_eq!(
            p.attachments,
            [Bytes::from_static(&[3]), Bytes::from_static(&[2])]
        );
        let keys: Vec<&String> = p.args[0].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["a", "b", "c"]);
    }
}
