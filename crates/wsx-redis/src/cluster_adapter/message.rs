//! The messages of `ClusterAdapter`: their types, the requests and broadcasts that an adapter
//! sends (and their `data`), and what the answers to its requests say.

use std::time::Duration;

use rmpv::Value as Mp;
use serde_json::Value;
use wsx_socketio::Data;
use wsx_socketio::cluster::{BroadcastOptions, ServerSideAcks, SocketInfo};
use wsx_socketio::socketio::Payload;

use crate::codec::{self, map, s};
use crate::ids::random_hex;
use crate::request::AckReply;
use crate::wire::{ack_broadcast_opts, broadcast_opts, event_value, socket_info, value_data};

/// Message types of `ClusterAdapter` (the streams adapter adds its heartbeats).
pub(crate) mod kind {
    pub const BROADCAST: u64 = 3;
    pub const SOCKETS_JOIN: u64 = 4;
    pub const SOCKETS_LEAVE: u64 = 5;
    pub const DISCONNECT_SOCKETS: u64 = 6;
    pub const FETCH_SOCKETS: u64 = 7;
    pub const FETCH_SOCKETS_RESPONSE: u64 = 8;
    pub const SERVER_SIDE_EMIT: u64 = 9;
    pub const SERVER_SIDE_EMIT_RESPONSE: u64 = 10;
    pub const BROADCAST_CLIENT_COUNT: u64 = 11;
    pub const BROADCAST_ACK: u64 = 12;
}

/// A request to the other nodes: its type, its id, and its `data`, which carries the id as
/// `requestId`.
pub(crate) struct Request {
    pub(crate) kind: u64,
    pub(crate) id: String,
    pub(crate) data: Mp,
}

impl Request {
    /// A request of `kind` with a new id, its `data` being `entries` and the id.
    pub(crate) fn new(kind: u64, mut entries: Vec<(&str, Mp)>) -> Request {
        let id = random_hex();
        entries.push(("requestId", s(&id)));
        Request {
            kind,
            id,
            data: map(entries),
        }
    }

    /// A broadcast with acknowledgements of `payload` to the sockets `opts` selects, each
    /// node to wait `ack_timeout` for its clients' acknowledgements.
    pub(crate) fn ack_broadcast(
        payload: &Payload,
        opts: &BroadcastOptions,
        ack_timeout: Duration,
    ) -> Request {
        let id = random_hex();
        let data = map(vec![
            ("packet", event_value(payload, None)),
            ("requestId", s(&id)),
            ("opts", ack_broadcast_opts(opts, ack_timeout)),
        ]);
        Request {
            kind: kind::BROADCAST,
            id,
            data,
        }
    }
}

/// The `data` of a broadcast: its packet and options.
pub(crate) fn broadcast_data(payload: &Payload, opts: &BroadcastOptions) -> Mp {
    map(vec![
        ("packet", event_value(payload, None)),
        ("opts", broadcast_opts(opts)),
    ])
}

/// `data.<key>` of a message as application data (binary kept).
fn field_data(msg: &Mp, key: &str) -> Data {
    value_data(codec::get(msg, "data").and_then(|d| codec::get(d, key)))
}

/// What a `{type, data}` answer to a broadcast with acknowledgements says.
pub(crate) fn read_ack_reply(r: &Mp) -> AckReply {
    match codec::get(r, "type").and_then(Mp::as_u64) {
        Some(kind::BROADCAST_CLIENT_COUNT) => AckReply::Count(
            codec::get(r, "data")
                .and_then(|d| codec::get(d, "clientCount"))
                .and_then(Mp::as_u64)
                .unwrap_or(0) as usize,
        ),
        Some(kind::BROADCAST_ACK) => AckReply::Ack(field_data(r, "packet")),
        _ => AckReply::Other,
    }
}

/// The sockets in the answers to a fetch (`{type, data: {sockets}}` each).
pub(crate) fn fetched_sockets(answers: &[Mp]) -> Vec<SocketInfo> {
    answers
        .iter()
        .filter_map(|r| codec::get(r, "data").and_then(|d| codec::get(d, "sockets")))
        .flat_map(|list| match codec::to_json(list) {
            Value::Array(a) => a,
            _ => Vec::new(),
        })
        .filter_map(|v| socket_info(&v))
        .collect()
}

/// The answers to a server-side emit with acknowledgement (`{type, data: {packet}}` each).
pub(crate) fn server_side_acks(answers: &[Mp], expected: usize) -> ServerSideAcks {
    ServerSideAcks {
        answers: answers.iter().map(|r| field_data(r, "packet")).collect(),
        expected,
    }
}
