//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, off by default; not part
//! of the API and not covered by semver).
//!
//! The decoders of what other nodes and Redis send stay `pub(crate)` in their modules; this
//! module wraps them one function each, so that the fuzz targets reach exactly these and the
//! crate's visibility stays as it is.

use std::collections::HashMap;

use rmpv::Value as Mp;
use serde_json::Value;
use wsx_socketio::Data;
use wsx_socketio::cluster::{BroadcastOptions, SocketInfo};
use wsx_socketio::socketio::Payload;

use crate::{classic, codec, stream_reply, streams, wire, yjs};

/// `codec::decode`: one msgpack value, as the adapters read another node's message.
pub fn msgpack_decode(bytes: &[u8]) -> Option<Mp> {
    codec::decode(bytes)
}

/// `codec::encode`.
pub fn msgpack_encode(v: &Mp) -> Vec<u8> {
    codec::encode(v)
}

/// `codec::to_json`: msgpack as the JSON the application sees (binary as null).
pub fn msgpack_to_json(v: &Mp) -> Value {
    codec::to_json(v)
}

/// `codec::from_json`: JSON as notepack would encode the same JS value.
pub fn json_to_msgpack(v: &Value) -> Mp {
    codec::from_json(v)
}

/// `codec::to_payload`: msgpack arguments to a packet payload (binary leaves as attachments).
pub fn msgpack_to_payload(args: &[Mp]) -> Payload {
    codec::to_payload(args)
}

/// `codec::from_payload`: a payload's arguments to msgpack (attachments put back).
pub fn payload_to_msgpack(p: &Payload) -> Mp {
    codec::from_payload(p)
}

/// `codec::json_or_msgpack`: the JSON text, or msgpack when the value holds binary.
pub fn json_or_msgpack(v: &Mp) -> Vec<u8> {
    codec::json_or_msgpack(v)
}

/// `codec::has_binary`.
pub fn has_binary(v: &Mp) -> bool {
    codec::has_binary(v)
}

/// The classic adapter's reading of a request or response (JSON or msgpack).
pub fn classic_parse(payload: &[u8]) -> Option<Value> {
    classic::parse(payload)
}

/// `wire::options`: another node's `opts` as local broadcast options.
pub fn broadcast_options(v: &Value) -> BroadcastOptions {
    wire::options(v)
}

/// `wire::socket_info`: another node's socket from a `fetchSockets` answer.
pub fn socket_info(v: &Value) -> Option<SocketInfo> {
    wire::socket_info(v)
}

/// `wire::describe_socket`: a local socket as a `fetchSockets` answer describes it.
pub fn describe_socket(socket: &SocketInfo) -> Value {
    wire::describe_socket(socket)
}

/// `wire::value_data`: a msgpack value as one piece of application data.
pub fn value_data(v: Option<&Mp>) -> Data {
    wire::value_data(v)
}

/// A streams-adapter entry, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEntry {
    /// The node that added it.
    pub uid: String,
    /// Its namespace.
    pub nsp: String,
    /// The message type.
    pub kind: u64,
    /// The message's data.
    pub data: Option<Mp>,
}

/// `streams::entry::entry_fields`: the fields of a streams-adapter entry.
pub fn stream_entry_fields(
    uid: &str,
    nsp: &str,
    kind: u64,
    data: Option<&Mp>,
) -> Vec<(&'static str, String)> {
    streams::entry::entry_fields(uid, nsp, kind, data)
}

/// `streams::entry::decode_entry`: a streams-adapter entry from its text fields.
pub fn decode_stream_entry(fields: &HashMap<String, String>) -> Option<StreamEntry> {
    streams::entry::decode_entry(fields).map(|e| StreamEntry {
        uid: e.uid,
        nsp: e.nsp,
        kind: e.kind,
        data: e.data,
    })
}

/// `streams::entry::xread_entries`: the entries of an `XREAD` reply, fields as text.
pub fn stream_xread_entries(v: &redis::Value) -> Vec<(String, HashMap<String, String>)> {
    streams::entry::xread_entries(v)
}

/// The entries of an `XRANGE` reply as the streams adapter's recovery reads them.
pub fn stream_xrange_entries(v: &redis::Value) -> Vec<(String, HashMap<String, String>)> {
    stream_reply::entries(v, streams::entry::text_fields)
}

/// A Yjs room's stream entry, as `YjsRedis` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YjsEntry {
    /// `n`: the process that added it.
    pub node: Option<String>,
    /// `k`: `u` (update) or `a` (awareness).
    pub kind: Option<String>,
    /// `d`: the data.
    pub data: Vec<u8>,
}

fn yjs_entry(f: yjs::Fields) -> YjsEntry {
    YjsEntry {
        node: f.node,
        kind: f.kind,
        data: f.data,
    }
}

/// The streams of an `XREAD` reply as `YjsRedis`'s reader reads them: key, then entries.
pub fn yjs_xread(v: &redis::Value) -> Vec<(String, Vec<(String, YjsEntry)>)> {
    stream_reply::xread(v, yjs::Fields::read)
        .into_iter()
        .map(|(key, entries)| {
            let entries = entries
                .into_iter()
                .map(|(id, f)| (id, yjs_entry(f)))
                .collect();
            (key, entries)
        })
        .collect()
}

/// The entries of an `XRANGE` reply as `YjsRedis` reads a room's stream when it catches up.
pub fn yjs_xrange(v: &redis::Value) -> Vec<(String, YjsEntry)> {
    stream_reply::entries(v, yjs::Fields::read)
        .into_iter()
        .map(|(id, f)| (id, yjs_entry(f)))
        .collect()
}

/// A Yjs room's stream key.
pub fn yjs_stream_key(prefix: &str, room: &str) -> String {
    yjs::stream_key(prefix, room)
}

/// The room of a Yjs stream key, as the reader finds it.
pub fn yjs_room_of_stream_key<'k>(prefix: &str, key: &'k str) -> Option<&'k str> {
    yjs::room_of_stream_key(prefix, key)
}

/// The milliseconds of a stream entry id, as `YjsRedis` reads it.
pub fn entry_ms(id: &str) -> Option<u64> {
    yjs::entry_ms(id)
}
