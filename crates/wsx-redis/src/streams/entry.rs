//! A message as a stream entry, as Node's `RedisStreamsAdapter` writes and reads it: fields
//! `uid`, `nsp`, `type` and, when it has data, `data`; and the entries of the stream's
//! replies, their fields as text.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rmpv::Value as Mp;

use crate::codec;
use crate::stream_reply::{self, Fields};

/// Message types of socket.io-adapter's `ClusterAdapterWithHeartbeat`.
pub(super) mod kind {
    pub use crate::cluster_adapter::kind::*;
    pub const INITIAL_HEARTBEAT: u64 = 1;
    pub const HEARTBEAT: u64 = 2;
    pub const ADAPTER_CLOSE: u64 = 13;
}

/// The fields of a stream entry, as Node's `RedisStreamsAdapter.encode`: `uid`, `nsp`,
/// `type` (a decimal string) and, when there is data, `data`: JSON text, or base64 of
/// msgpack when a message type that may carry binary does, or when it nests deeper than
/// JSON is read here.
pub(crate) fn entry_fields(
    uid: &str,
    nsp: &str,
    kind: u64,
    data: Option<&Mp>,
) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("uid", uid.to_owned()),
        ("nsp", nsp.to_owned()),
        ("type", kind.to_string()),
    ];
    if let Some(data) = data {
        let may_contain_binary = matches!(
            kind,
            kind::BROADCAST
                | kind::FETCH_SOCKETS_RESPONSE
                | kind::SERVER_SIDE_EMIT
                | kind::SERVER_SIDE_EMIT_RESPONSE
                | kind::BROADCAST_ACK
        );
        // Node's reader takes base64 msgpack for any type (it tells the forms apart by a
        // leading `{`), so a message nested deeper than serde_json reads goes as msgpack too.
        let text =
            if (may_contain_binary && codec::has_binary(data)) || codec::too_deep_for_json(data) {
                B64.encode(codec::encode(data))
            } else {
                codec::to_json(data).to_string()
            };
        fields.push(("data", text));
    }
    fields
}

/// A stream entry decoded (Node's `RedisStreamsAdapter.decode`).
pub(crate) struct Entry {
    pub(crate) uid: String,
    pub(crate) nsp: String,
    pub(crate) kind: u64,
    pub(crate) data: Option<Mp>,
}

/// The message of an entry, from its fields; `None` if they hold none.
pub(crate) fn decode_entry(fields: &HashMap<String, String>) -> Option<Entry> {
    let kind = fields.get("type")?.parse().ok()?;
    let data = match fields.get("data") {
        None => None,
        Some(d) if d.is_empty() => None,
        Some(d) if d.starts_with('{') => Some(codec::from_json(&serde_json::from_str(d).ok()?)),
        Some(d) => Some(codec::decode(&B64.decode(d).ok()?)?),
    };
    Some(Entry {
        uid: fields.get("uid").cloned().unwrap_or_default(),
        nsp: fields.get("nsp").cloned().unwrap_or_default(),
        kind,
        data,
    })
}

/// An entry's fields as text (those that are not text are left out).
pub(crate) fn text_fields(fields: &Fields<'_>) -> HashMap<String, String> {
    fields
        .iter()
        .filter_map(|&(k, v)| Some((stream_reply::text(k)?, stream_reply::text(v)?)))
        .collect()
}

/// The entries of an `XREAD` reply of the stream, fields as text.
pub(crate) fn xread_entries(v: &redis::Value) -> Vec<(String, HashMap<String, String>)> {
    let streams = stream_reply::xread(v, text_fields);
    streams
        .into_iter()
        .flat_map(|(_, entries)| entries)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::codec::{map, s};
    use serde_json::json;

    #[test]
    fn entries_are_encoded_as_nodes() {
        let data = codec::from_json(&json!({
            "packet": {"type": 2, "data": ["tick", 1]},
            "opts": {"rooms": ["news"], "except": [], "flags": {}},
        }));
        let f = entry_fields("8dd0", "/", kind::BROADCAST, Some(&data));
        assert_eq!(
            f,
            vec![
                ("uid", "8dd0".to_owned()),
                ("nsp", "/".to_owned()),
                ("type", "3".to_owned()),
                (
                    "data",
                    r#"{"packet":{"type":2,"data":["tick",1]},"opts":{"rooms":["news"],"except":[],"flags":{}}}"#
                        .to_owned()
                ),
            ]
        );
        assert_eq!(entry_fields("u", "/", kind::HEARTBEAT, None).len(), 3);
    }

    #[test]
    fn binary_data_is_base64_msgpack_and_decodes_back() {
        let data = map(vec![(
            "packet",
            Mp::Array(vec![s("e"), Mp::Binary(vec![1, 2])]),
        )]);
        let f = entry_fields("u", "/", kind::SERVER_SIDE_EMIT, Some(&data));
        assert!(!f[3].1.starts_with('{'));
        let fields: HashMap<String, String> =
            f.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let e = decode_entry(&fields).unwrap();
        assert_eq!(e.kind, kind::SERVER_SIDE_EMIT);
        assert_eq!(e.data, Some(data));
        // Binary in a join request is not expected: JSON (binary as null), as Node.
        let join = map(vec![("rooms", Mp::Array(vec![Mp::Binary(vec![1])]))]);
        let f = entry_fields("u", "/", kind::SOCKETS_JOIN, Some(&join));
        assert_eq!(f[3].1, r#"{"rooms":[null]}"#);
    }

    #[test]
    fn data_nested_deeper_than_json_reads_is_base64_msgpack_for_any_type() {
        // The fuzz finding (redis_codec/deep-nesting): 170 levels written as JSON were refused
        // by serde_json's reader, so the other nodes lost the message.
        let mut deep = Mp::Array(vec![]);
        for _ in 0..170 {
            deep = Mp::Array(vec![deep]);
        }
        let data = map(vec![("rooms", deep)]);
        for k in [kind::SOCKETS_JOIN, kind::BROADCAST] {
            let f = entry_fields("u", "/", k, Some(&data));
            assert!(!f[3].1.starts_with('{'));
            let fields: HashMap<String, String> =
                f.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            assert_eq!(decode_entry(&fields).unwrap().data, Some(data.clone()));
        }
        // Shallow data stays JSON, as Node writes it.
        let shallow = map(vec![("rooms", Mp::Array(vec![s("a")]))]);
        let f = entry_fields("u", "/", kind::SOCKETS_JOIN, Some(&shallow));
        assert_eq!(f[3].1, r#"{"rooms":["a"]}"#);
    }

    #[test]
    fn replies_are_parsed() {
        use redis::Value as V;
        let b = |s: &str| V::BulkString(s.as_bytes().to_vec());
        let entry = V::Array(vec![
            b("1-0"),
            V::Array(vec![b("uid"), b("x"), b("type"), b("2")]),
        ]);
        let xread = V::Array(vec![V::Array(vec![
            b("socket.io"),
            V::Array(vec![entry.clone()]),
        ])]);
        let e = xread_entries(&xread);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "1-0");
        assert_eq!(e[0].1["type"], "2");
        assert!(xread_entries(&V::Nil).is_empty());
        assert_eq!(
            stream_reply::entries(&V::Array(vec![entry]), text_fields).len(),
            1
        );
    }
}
