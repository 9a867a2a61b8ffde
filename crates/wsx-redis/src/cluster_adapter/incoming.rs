//! What a node does with another node's `ClusterAdapter` message (Node's
//! `ClusterAdapter.onMessage`): delivers a broadcast to its local sockets, hands an answer to
//! the request waiting for it, and acts on a request, answering it.

use rmpv::Value as Mp;
use serde_json::Value;
use wsx_socketio::Data;
use wsx_socketio::cluster::{LocalNamespace, ServerSideAck};
use wsx_socketio::socketio::Packet;

use super::message::kind;
use crate::codec::{self, map, s};
use crate::node::Node;
use crate::request::answer_broadcast_with_ack;
use crate::wire::{describe_socket, options, string_list};

/// How a node answers another node's request: `now`, `{type, data}` to the requester while
/// handling it, or `later`, the same from a task (the acknowledgements of clients).
pub(crate) struct Reply<'a, L> {
    pub(crate) now: &'a dyn Fn(u64, Mp),
    pub(crate) later: L,
}

/// Another node's message of type `kind` with `data`, for namespace `ns`: a broadcast is
/// delivered to the local sockets it selects (its stream entry id, `offset`, appended when
/// given and recovery wants it), an answer is handed to `answer` with the id of the request
/// it answers (as `{type, data}`), and a request is acted on and answered with `reply`.
pub(crate) fn on_message<L>(
    node: &Node,
    ns: &dyn LocalNamespace,
    (kind, data): (u64, &Mp),
    offset: Option<&str>,
    answer: impl FnOnce(&str, Mp),
    reply: Reply<'_, L>,
) where
    L: Fn(u64, Mp) + Send + Sync + 'static,
{
    let request_id = codec::get(data, "requestId").and_then(Mp::as_str);
    match kind {
        kind::BROADCAST if request_id.is_none() => deliver_broadcast(node, ns, data, offset),
        kind::FETCH_SOCKETS_RESPONSE
        | kind::SERVER_SIDE_EMIT_RESPONSE
        | kind::BROADCAST_CLIENT_COUNT
        | kind::BROADCAST_ACK => {
            if let Some(id) = request_id {
                answer(
                    id,
                    map(vec![("type", Mp::from(kind)), ("data", data.clone())]),
                );
            }
        }
        other => {
            if !on_request(node, ns, other, data, reply) {
                tracing::debug!(kind = other, "wsx-redis: ignoring an unknown message type");
            }
        }
    }
}

/// Another node's broadcast: delivered to the local sockets it selects. With recovery on, an
/// event without ack id that is not volatile gets `offset` as its last argument (Node's
/// `addOffsetIfNecessary`).
fn deliver_broadcast(node: &Node, ns: &dyn LocalNamespace, data: &Mp, offset: Option<&str>) {
    let packet = codec::get(data, "packet");
    let Some(Mp::Array(args)) = packet.and_then(|p| codec::get(p, "data")) else {
        node.metrics.malformed();
        tracing::warn!("wsx-redis: ignoring a broadcast without data");
        return;
    };
    let data_json = codec::to_json(data);
    let mut payload = codec::to_payload(args);
    if let Some(offset) = offset
        && ns.recovers()
    {
        let is_event = packet
            .and_then(|p| codec::get(p, "type"))
            .and_then(Mp::as_u64)
            .is_none_or(|t| t == 2);
        let no_ack = packet.and_then(|p| codec::get(p, "id")).is_none();
        let not_volatile = data_json["opts"]["flags"].get("volatile").is_none();
        if is_event && no_ack && not_volatile {
            payload.args.push(Value::String(offset.to_owned()));
        }
    }
    let packet = Packet::event(ns.name(), payload);
    if !ns.broadcast(&packet, &options(&data_json["opts"])) {
        tracing::warn!("wsx-redis: ignoring a broadcast that cannot be encoded");
    }
}

/// Another node's request `data` of type `kind`, if it is a broadcast with acknowledgements,
/// a sockets join or leave, a disconnect, a fetch or a server-side emit: acts on it and
/// answers. Returns whether the kind was one of those.
fn on_request<L>(
    node: &Node,
    ns: &dyn LocalNamespace,
    kind: u64,
    data: &Mp,
    reply: Reply<'_, L>,
) -> bool
where
    L: Fn(u64, Mp) + Send + Sync + 'static,
{
    let Reply {
        now: reply,
        later: reply_later,
    } = reply;
    let data_json = codec::to_json(data);
    let opts = options(&data_json["opts"]);
    let request_id = codec::get(data, "requestId").and_then(Mp::as_str);
    match kind {
        kind::BROADCAST => {
            let Some(request_id) = request_id else {
                return false;
            };
            let Some(Mp::Array(args)) =
                codec::get(data, "packet").and_then(|p| codec::get(p, "data"))
            else {
                node.metrics.malformed();
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
            answer_broadcast_with_ack(node, ns, &data_json["opts"], args, count, ack);
        }
        kind::SOCKETS_JOIN => ns.sockets_join(&opts, &string_list(&data_json["rooms"])),
        kind::SOCKETS_LEAVE => ns.sockets_leave(&opts, &string_list(&data_json["rooms"])),
        kind::DISCONNECT_SOCKETS => {
            ns.disconnect_sockets(&opts, data_json["close"].as_bool().unwrap_or(false))
        }
        kind::FETCH_SOCKETS => {
            let Some(request_id) = request_id else {
                return true;
            };
            let sockets: Vec<Mp> = ns
                .sockets(&opts)
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
                node.metrics.malformed();
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
                ns.server_side_emit(&event, args, None);
                return true;
            };
            let ack = ServerSideAck::new(move |answer| {
                let data = map(vec![
                    ("requestId", s(&request_id)),
                    ("packet", codec::from_data(&answer)),
                ]);
                reply_later(kind::SERVER_SIDE_EMIT_RESPONSE, data);
            });
            ns.server_side_emit(&event, args, Some(ack));
        }
        _ => return false,
    }
    true
}
