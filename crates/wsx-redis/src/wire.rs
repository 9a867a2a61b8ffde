//! The values that the three Socket.IO adapters' messages carry alike, as Node's adapters
//! write and read them: broadcast options (`{rooms, except, flags}`), an event's packet, a
//! server-side emit, a socket as a `fetchSockets` answer describes it, application data and
//! durations.

use std::time::Duration;

use rmpv::Value as Mp;
use serde_json::{Map, Value, json};
use wsx_socketio::Data;
use wsx_socketio::cluster::{BroadcastFlags, BroadcastOptions, SocketInfo};
use wsx_socketio::socketio::{Packet, PacketData, Payload};

use crate::codec::{self, map, s, strings};

/// The arguments of an event packet; `None` for any other packet (which no adapter sends to
/// other nodes).
pub(crate) fn event_payload(packet: &Packet) -> Option<&Payload> {
    match &packet.data {
        PacketData::Event { payload, .. } => Some(payload),
        _ => None,
    }
}

/// The arguments of a broadcast that other nodes are to deliver too: an event not flagged
/// local.
pub(crate) fn for_other_nodes<'a>(
    packet: &'a Packet,
    opts: &BroadcastOptions,
) -> Option<&'a Payload> {
    if opts.flags.local {
        return None;
    }
    event_payload(packet)
}

/// An event's packet, `{type: 2, data: [event, ...args]}`, with `nsp` when given (the classic
/// adapter's).
pub(crate) fn event_value(payload: &Payload, nsp: Option<&str>) -> Mp {
    let mut entries = vec![
        ("type", Mp::from(2)),
        ("data", codec::from_payload(payload)),
    ];
    entries.extend(nsp.map(|nsp| ("nsp", s(nsp))));
    map(entries)
}

/// A server-side emit's `[event, ...args]`.
pub(crate) fn emit_value(event: &str, args: &[Data]) -> Mp {
    let mut packet = vec![s(event)];
    packet.extend(args.iter().map(codec::from_data));
    Mp::Array(packet)
}

/// `{rooms, except, flags}` of a broadcast (or of a request that selects sockets, in the
/// sharded and streams adapters): the flags that other nodes heed, `compress` and `volatile`.
pub(crate) fn broadcast_opts(opts: &BroadcastOptions) -> Mp {
    let mut flags = Vec::new();
    if let Some(c) = opts.flags.compress {
        flags.push(("compress", Mp::Boolean(c)));
    }
    if opts.flags.volatile {
        flags.push(("volatile", Mp::Boolean(true)));
    }
    opts_value(opts, Some(map(flags)))
}

/// `{rooms, except, flags: {timeout}}` of a broadcast with acknowledgements: how long each
/// client's acknowledgement is waited for.
pub(crate) fn ack_broadcast_opts(opts: &BroadcastOptions, ack_timeout: Duration) -> Mp {
    opts_value(opts, Some(map(vec![("timeout", ms(ack_timeout))])))
}

/// `{rooms, except}`: the sockets a classic adapter's request selects.
pub(crate) fn request_opts(opts: &BroadcastOptions) -> Mp {
    opts_value(opts, None)
}

fn opts_value(opts: &BroadcastOptions, flags: Option<Mp>) -> Mp {
    let mut entries = vec![
        ("rooms", strings(&opts.rooms)),
        ("except", strings(&opts.except)),
    ];
    entries.extend(flags.map(|flags| ("flags", flags)));
    map(entries)
}

/// Another node's `opts` as the options of the local delivery it asks for (flagged local:
/// what a node delivers for another goes no further).
pub(crate) fn options(v: &Value) -> BroadcastOptions {
    let flags = &v["flags"];
    BroadcastOptions {
        rooms: string_list(&v["rooms"]),
        except: string_list(&v["except"]),
        flags: BroadcastFlags {
            volatile: flags["volatile"].as_bool().unwrap_or(false),
            compress: flags["compress"].as_bool(),
            local: true,
            ..BroadcastFlags::default()
        },
    }
}

/// The strings of a JSON array (anything else in it left out; not an array: none).
pub(crate) fn string_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A local socket as `fetchSockets` answers describe it (Node's `RemoteSocket` fields).
pub(crate) fn describe_socket(socket: &SocketInfo) -> Value {
    let req = socket.request.as_deref();
    let headers: Map<String, Value> = req
        .map(|req| {
            req.headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let issued = req
        .and_then(|req| req.issued.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    json!({
        "id": socket.id,
        "handshake": {
            "headers": headers,
            "time": "",
            "address": req.and_then(|r| r.remote_addr).map(|a| a.ip().to_string()).unwrap_or_default(),
            "xdomain": false,
            "secure": false,
            "issued": issued,
            "url": req.map(|r| r.uri.to_string()).unwrap_or_default(),
            "query": {},
            "auth": socket.auth,
        },
        "rooms": socket.rooms,
        "data": socket.data,
    })
}

/// Another node's socket, from its description in a `fetchSockets` answer.
pub(crate) fn socket_info(v: &Value) -> Option<SocketInfo> {
    Some(SocketInfo {
        id: v["id"].as_str()?.to_owned(),
        rooms: string_list(&v["rooms"]),
        data: v.get("data").cloned().unwrap_or(Value::Null),
        auth: v["handshake"]["auth"]
            .as_object()
            .cloned()
            .unwrap_or_default(),
        request: None,
    })
}

/// A msgpack value as one piece of application data (binary kept); null when absent.
pub(crate) fn value_data(v: Option<&Mp>) -> Data {
    match v {
        Some(v) => codec::to_payload(std::slice::from_ref(v))
            .to_data()
            .ok()
            .and_then(|mut d| d.pop())
            .unwrap_or(Data::Json(Value::Null)),
        None => Data::Json(Value::Null),
    }
}

/// A duration in whole milliseconds, as the adapters' `timeout` fields carry it.
pub(crate) fn ms(d: Duration) -> Mp {
    Mp::from(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
