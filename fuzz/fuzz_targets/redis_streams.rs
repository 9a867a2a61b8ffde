//! Redis stream replies as the adapters read them (`wsx_redis::fuzzing`): `XREAD` and `XRANGE`
//! replies in RESP2 and RESP3 shapes (`stream_reply.rs`), their entries as the streams adapter
//! reads them (text fields, `streams/entry.rs`) and as `YjsRedis` reads them (`n`, `k`, `d`,
//! binary, `yjs.rs`), the room a stream key names, and what a Yjs entry carries applied as
//! `YjsRedis` applies it (a document update, an awareness update: `wsx_yjs::fuzzing`).
//!
//! The input is read as an arbitrary reply (any tree of Redis values), and as well-formed
//! replies built from arbitrary streams and entries.
//!
//! Invariants:
//! - Nothing panics, whatever the reply's shape; a reply that is not a stream reply has no
//!   entries.
//! - A well-formed reply is read entry for entry, in order, with its fields (text fields: the
//!   UTF-8 ones, the last of a name winning; Yjs fields: `n`/`k`/`d`, the last winning), the
//!   same in RESP2 (arrays) and RESP3 (maps).
//! - `room_of_stream_key(stream_key(room)) == room` for any prefix and room, and an entry id's
//!   milliseconds read back.
//! - A Yjs entry's update or awareness update, whatever its bytes, is refused as an error or
//!   applied: the document's state then decodes again. (yrs panics on some malformed input in
//!   debug builds; wsx-yjs turns those into errors, and this target lets them unwind to it.)
#![no_main]

use std::collections::HashMap;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use redis::Value as V;
use wsx_redis::fuzzing as f;
use wsx_yjs::fuzzing::{Document, Presence, decode_awareness, decode_update};
use yrs::Update;
use yrs::updates::decoder::Decode;

fn value(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<V> {
    let list = |u: &mut Unstructured<'_>| -> arbitrary::Result<Vec<V>> {
        let n = u.int_in_range(0..=4)?;
        (0..n).map(|_| value(u, depth - 1)).collect()
    };
    Ok(match u.choose_index(if depth == 0 { 7 } else { 10 })? {
        0 => V::Nil,
        1 => V::Int(u.arbitrary()?),
        2 => V::BulkString(u.arbitrary()?),
        3 => V::SimpleString(u.arbitrary()?),
        4 => V::Okay,
        5 => V::Double(u.arbitrary()?),
        6 => V::VerbatimString {
            format: redis::VerbatimFormat::Text,
            text: u.arbitrary()?,
        },
        7 => V::Array(list(u)?),
        8 => V::Set(list(u)?),
        _ => {
            let n = u.int_in_range(0..=4)?;
            V::Map(
                (0..n)
                    .map(|_| Ok((value(u, depth - 1)?, value(u, depth - 1)?)))
                    .collect::<arbitrary::Result<_>>()?,
            )
        }
    })
}

/// Any reply: read by every reader, checked only for what holds of any reply.
fn check_any(v: &V) {
    for (_, fields) in f::stream_xread_entries(v)
        .iter()
        .chain(f::stream_xrange_entries(v).iter())
    {
        let _ = f::decode_stream_entry(fields);
    }
    for (key, entries) in f::yjs_xread(v) {
        let _ = f::yjs_room_of_stream_key("wsx-yjs", &key);
        for (id, e) in entries {
            let _ = f::entry_ms(&id);
            apply(&e);
        }
    }
    for (_, e) in f::yjs_xrange(v) {
        apply(&e);
    }
    if !matches!(v, V::Array(_) | V::Map(_)) {
        assert!(f::stream_xread_entries(v).is_empty());
        assert!(f::yjs_xread(v).is_empty());
        assert!(f::yjs_xrange(v).is_empty());
    }
}

/// A Yjs entry applied as `YjsRedis` does: an update to the room's document, an awareness
/// update to its presence.
fn apply(e: &f::YjsEntry) {
    match e.kind.as_deref() {
        Some("u") => {
            if decode_update(&e.data).is_err() {
                return;
            }
            for small in [0, 1 << 20] {
                let mut doc = Document::load(None, Vec::new(), small).expect("an empty document");
                let update = decode_update(&e.data).expect("decoded once already");
                let _ = doc.apply(update, small);
                let state = doc.snapshot();
                Update::decode_v1(&state).expect("the document's own state decodes");
                doc.state_vector().expect("a state vector");
            }
        }
        Some("a") => {
            if let Ok(update) = decode_awareness(&e.data) {
                let mut p = Presence::default();
                let (set, removed) = p.apply(update, 1_000);
                assert!(set.iter().all(|c| !removed.contains(c)));
            }
        }
        _ => {}
    }
}

/// An entry: its id and its fields' names and values.
type Entry = (String, Vec<(Vec<u8>, Vec<u8>)>);

#[derive(Arbitrary, Debug)]
struct Streams {
    resp3: bool,
    /// Fields as a RESP3 map instead of a flat array.
    map_fields: bool,
    prefix: String,
    streams: Vec<(String, Vec<Entry>)>,
    ms: u64,
    seq: u64,
}

fn bulk(b: &[u8]) -> V {
    V::BulkString(b.to_vec())
}

fn entries_value(s: &Streams, entries: &[Entry]) -> V {
    V::Array(
        entries
            .iter()
            .map(|(id, fields)| {
                let fields = if s.map_fields {
                    V::Map(fields.iter().map(|(k, v)| (bulk(k), bulk(v))).collect())
                } else {
                    V::Array(
                        fields
                            .iter()
                            .flat_map(|(k, v)| [bulk(k), bulk(v)])
                            .collect(),
                    )
                };
                V::Array(vec![bulk(id.as_bytes()), fields])
            })
            .collect(),
    )
}

fn text_model(fields: &[(Vec<u8>, Vec<u8>)]) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for (k, v) in fields {
        if let (Ok(k), Ok(v)) = (std::str::from_utf8(k), std::str::from_utf8(v)) {
            m.insert(k.to_owned(), v.to_owned());
        }
    }
    m
}

fn yjs_model(fields: &[(Vec<u8>, Vec<u8>)]) -> f::YjsEntry {
    let mut e = f::YjsEntry {
        node: None,
        kind: None,
        data: Vec::new(),
    };
    for (k, v) in fields {
        let text = || Some(String::from_utf8_lossy(v).into_owned());
        match k.as_slice() {
            b"n" => e.node = text(),
            b"k" => e.kind = text(),
            b"d" => e.data = v.clone(),
            _ => {}
        }
    }
    e
}

fn check_streams(s: &Streams) {
    // RESP3 gives the streams as a map, and the fields of an entry maybe as one: a map's keys
    // are distinct in a real reply, so the streams are made distinct here.
    let mut streams = s.streams.clone();
    if s.resp3 || s.map_fields {
        let mut seen = std::collections::HashSet::new();
        streams.retain(|(k, _)| seen.insert(k.clone()));
    }
    let reply = if s.resp3 {
        V::Map(
            streams
                .iter()
                .map(|(k, e)| (bulk(k.as_bytes()), entries_value(s, e)))
                .collect(),
        )
    } else {
        V::Array(
            streams
                .iter()
                .map(|(k, e)| V::Array(vec![bulk(k.as_bytes()), entries_value(s, e)]))
                .collect(),
        )
    };
    let want_text: Vec<(String, HashMap<String, String>)> = streams
        .iter()
        .flat_map(|(_, entries)| entries.iter())
        .map(|(id, fields)| (id.clone(), text_model(fields)))
        .collect();
    assert_eq!(f::stream_xread_entries(&reply), want_text);
    let want_yjs: Vec<(String, Vec<(String, f::YjsEntry)>)> = streams
        .iter()
        .map(|(k, entries)| {
            (
                k.clone(),
                entries
                    .iter()
                    .map(|(id, fields)| (id.clone(), yjs_model(fields)))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(f::yjs_xread(&reply), want_yjs);
    for (k, entries) in &streams {
        let one = entries_value(s, entries);
        let yjs: Vec<_> = entries
            .iter()
            .map(|(id, fields)| (id.clone(), yjs_model(fields)))
            .collect();
        assert_eq!(f::yjs_xrange(&one), yjs);
        let text: Vec<_> = entries
            .iter()
            .map(|(id, fields)| (id.clone(), text_model(fields)))
            .collect();
        assert_eq!(f::stream_xrange_entries(&one), text);
        // The stream key of a room names that room.
        let key = f::yjs_stream_key(&s.prefix, k);
        assert_eq!(f::yjs_room_of_stream_key(&s.prefix, &key), Some(k.as_str()));
    }
    check_any(&reply);
    let id = format!("{}-{}", s.ms, s.seq);
    assert_eq!(f::entry_ms(&id), Some(s.ms));
}

fuzz_target!(|data: &[u8]| {
    wsx_fuzz::let_yrs_panics_unwind();
    let mut u = Unstructured::new(data);
    if let Ok(v) = value(&mut u, 5) {
        check_any(&v);
    }
    if let Ok(s) = Streams::arbitrary(&mut Unstructured::new(data)) {
        check_streams(&s);
    }
});
