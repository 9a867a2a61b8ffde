//! The messages of socket.io-adapter's `ClusterAdapter` (`{type, data, uid, nsp}`), which the
//! sharded and the streams adapters both carry: what a node does with another node's request of
//! the kinds both handle alike (everything but a plain broadcast and the answers).

use std::time::Duration;

use rmpv::Value as Mp;
use serde_json::Value;
use wsx_socketio::adapter::{BroadcastOptions, ServerSideAck, ServerSideAcks, SocketInfo};
use wsx_socketio::socketio::Payload;
use wsx_socketio::{Data, Namespace};

use crate::codec::{self, map, s};
use crate::metrics::MetricsInner;
use crate::request::{AckReply, answer_broadcast_with_ack};
use crate::wire::{
    ack_broadcast_opts, broadcast_opts, describe_socket, event_value, options, socket_info,
    string_list, value_data,
};

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

/// Where a request is handled: the local namespace and the node's means.
pub(crate) struct Local<'a> {
    pub ns: &'a Namespace,
    pub metrics: &'a MetricsInner,
    pub handle: &'a tokio::runtime::Handle,
    pub requests_timeout: Duration,
}

/// Another node's request `data` of type `kind`, if it is a broadcast with acknowledgements,
/// a sockets join or leave, a disconnect, a fetch or a server-side emit: acts on it and answers
/// with `reply` (`{type, data}` to the requester, at once) or, for acknowledgements that come
/// later, `reply_later`. Returns whether the kind was one of those.
pub(crate) fn on_request(
    local: &Local<'_>,
    kind: u64,
    data: &Mp,
    reply: &dyn Fn(u64, Mp),
    reply_later: impl Fn(u64, Mp) + Clone + Send + Sync + 'static,
) -> bool {
    let ns = local.ns;
    let data_json = codec::to_json(data);
    let local_op = || ns.broadcast_with(options(&data_json["opts"]));
    let request_id = codec::get(data, "requestId").and_then(Mp::as_str);
    match kind {
        kind::BROADCAST => {
            let Some(request_id) = request_id else {
                return false;
            };
            let Some(Mp::Array(args)) =
                codec::get(data, "packet").and_then(|p| codec::get(p, "data"))
            else {
                local.metrics.malformed();
                tracing::warn!("wsx-redis: ignoring a broadcast without data");
                return true;
            };
            let args = codec::to_payload(args).to_data().unwrap_or_default();
            let count = |n: usize| {
                reply(
                    kind::BROADCAST_CLIENT_COUNT,
                    map(vec![
                        ("requestId", s(request_id)),
                        ("clientCount", Mp::from(n as u64)),
                    ]),
                )
            };
            let request_id = request_id.to_owned();
            let ack = move |first: Mp| {
                let data = map(vec![("requestId", s(&request_id)), ("packet", first)]);
                reply_later(kind::BROADCAST_ACK, data);
            };
            answer_broadcast_with_ack(
                local.handle,
                local_op(),
                &data_json["opts"],
                local.requests_timeout,
                args,
                count,
                ack,
            );
        }
        kind::SOCKETS_JOIN => local_op().sockets_join(string_list(&data_json["rooms"])),
        kind::SOCKETS_LEAVE => local_op().sockets_leave(string_list(&data_json["rooms"])),
        kind::DISCONNECT_SOCKETS => {
            local_op().disconnect_sockets(data_json["close"].as_bool().unwrap_or(false))
        }
        kind::FETCH_SOCKETS => {
            let Some(request_id) = request_id else {
                return true;
            };
            let sockets: Vec<Mp> = local_op()
                .sockets()
                .iter()
                .map(|socket| codec::from_json(&describe_socket(socket)))
                .collect();
            reply(
                kind::FETCH_SOCKETS_RESPONSE,
                map(vec![
                    ("requestId", s(request_id)),
                    ("sockets", Mp::Array(sockets)),
                ]),
            );
        }
        kind::SERVER_SIDE_EMIT => {
            let Some(Mp::Array(packet)) = codec::get(data, "packet") else {
                local.metrics.malformed();
                return true;
            };
            let mut args = codec::to_payload(packet).to_data().unwrap_or_default();
            if args.is_empty() {
                return true;
            }
            let Data::Json(Value::String(event)) = args.remove(0) else {
                return true;
            };
            let Some(request_id) = request_id.map(str::to_owned) else {
                ns.dispatch_server_side_emit(&event, args);
                return true;
            };
            let ack = ServerSideAck::new(move |answer| {
                let data = map(vec![
                    ("requestId", s(&request_id)),
                    ("packet", codec::from_data(&answer)),
                ]);
                reply_later(kind::SERVER_SIDE_EMIT_RESPONSE, data);
            });
            ns.dispatch_server_side_emit_with_ack(&event, args, ack);
        }
        _ => return false,
    }
    true
}

/// `data.<key>` of a message as application data (binary kept).
pub(crate) fn field_data(msg: &Mp, key: &str) -> Data {
    value_data(codec::get(msg, "data").and_then(|d| codec::get(d, key)))
}

/// The `data` of a broadcast: its packet and options.
pub(crate) fn broadcast_data(payload: &Payload, opts: &BroadcastOptions) -> Mp {
    map(vec![
        ("packet", event_value(payload, None)),
        ("opts", broadcast_opts(opts)),
    ])
}

/// The `data` of a broadcast with acknowledgements.
pub(crate) fn ack_broadcast_data(
    payload: &Payload,
    opts: &BroadcastOptions,
    request_id: &str,
    ack_timeout: Duration,
) -> Mp {
    map(vec![
        ("packet", event_value(payload, None)),
        ("requestId", s(request_id)),
        ("opts", ack_broadcast_opts(opts, ack_timeout)),
    ])
}

/// What a `{type, data}` answer to a broadcast with acknowledgements says (the sharded and
/// streams adapters' messages).
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

/// `[event, ...args]`: a server-side emit's `packet`.
pub(crate) fn event_packet(event: &str, args: &[Data]) -> Mp {
    let mut packet = vec![s(event)];
    packet.extend(args.iter().map(codec::from_data));
    Mp::Array(packet)
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
