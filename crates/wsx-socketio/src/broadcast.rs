//! Broadcasts and operations on groups of sockets, narrowed with `to`/`except`/`local`/…
//! like Node's `BroadcastOperator`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::ack::{AckError, AckFuture};
use crate::args::IntoArgs;
use crate::cluster::{RemoteAck, SocketInfo};
use crate::encoded::Encoded;
use crate::namespace::Namespace;
use crate::options::BroadcastOptions;
use crate::socket::{Socket, event_packet};
use crate::socketio::{Data, Packet};
use crate::targets::Target;
use wsx::SendStatus;

/// A set of sockets chosen by rooms and flags, and what can be done to them.
///
/// ```no_run
/// # fn f(io: wsx_socketio::SocketIo) {
/// io.to(["room1", "room2"]).except(["muted"]).emit("news", "hello");
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a broadcast operator does nothing until emit or another action is called"]
pub struct BroadcastOperator {
    ns: Namespace,
    opts: BroadcastOptions,
}

/// A socket returned by [`BroadcastOperator::fetch_sockets`]: what it was when fetched, and
/// operations sent to it by id.
#[derive(Debug, Clone)]
pub struct RemoteSocket {
    /// The socket id.
    pub id: String,
    /// Its rooms.
    pub rooms: Vec<String>,
    /// Its application data.
    pub data: serde_json::Value,
    /// Its CONNECT payload.
    pub auth: serde_json::Map<String, serde_json::Value>,
    ns: Namespace,
}

impl RemoteSocket {
    fn new(info: SocketInfo, ns: &Namespace) -> Self {
        RemoteSocket {
            id: info.id,
            rooms: info.rooms,
            data: info.data,
            auth: info.auth,
            ns: ns.clone(),
        }
    }

    fn only(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.ns.clone()).to([self.id.as_str()])
    }

    /// Emits to this socket.
    pub fn emit(&self, event: &str, args: impl IntoArgs) -> bool {
        self.only().emit(event, args)
    }

    /// Makes it join rooms.
    pub fn join<I: IntoIterator<Item = impl Into<String>>>(&self, rooms: I) {
        self.only().sockets_join(rooms)
    }

    /// Makes it leave rooms.
    pub fn leave<I: IntoIterator<Item = impl Into<String>>>(&self, rooms: I) {
        self.only().sockets_leave(rooms)
    }

    /// Disconnects it (and with `close`, its whole session).
    pub fn disconnect(&self, close: bool) {
        self.only().disconnect_sockets(close)
    }
}

/// One receiver's answer to a broadcast with acknowledgements.
#[derive(Debug)]
pub struct AckResponse {
    /// The socket that answered (or did not); `None` for a client of another node.
    pub socket: Option<String>,
    /// Its acknowledgement's arguments, or why there is none.
    pub result: Result<Vec<Data>, AckError>,
}

impl Namespace {
    /// Emits to every socket of the namespace.
    pub fn emit(&self, event: &str, args: impl IntoArgs) -> bool {
        self.broadcast().emit(event, args)
    }

    /// A broadcast to every socket, to narrow with the operators.
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.clone())
    }

    /// A broadcast to the sockets in `rooms`.
    pub fn to<I: IntoIterator<Item = impl Into<String>>>(&self, rooms: I) -> BroadcastOperator {
        self.broadcast().to(rooms)
    }

    /// A broadcast to every socket not in `rooms`.
    pub fn except<I: IntoIterator<Item = impl Into<String>>>(&self, rooms: I) -> BroadcastOperator {
        self.broadcast().except(rooms)
    }
}

impl Socket {
    /// Broadcasts to room(s), this socket excluded (`socket.to(room).emit(…)`).
    pub fn to<I: IntoIterator<Item = impl Into<String>>>(&self, rooms: I) -> BroadcastOperator {
        self.broadcast().to(rooms)
    }

    /// Broadcasts to every socket of the namespace but this one.
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.ns()).except([self.id()])
    }
}

impl BroadcastOperator {
    pub(crate) fn new(ns: Namespace) -> Self {
        Self::with_options(ns, BroadcastOptions::default())
    }

    pub(crate) fn with_options(ns: Namespace, opts: BroadcastOptions) -> Self {
        BroadcastOperator { ns, opts }
    }

    /// Narrows to sockets in these rooms (adds to rooms already chosen).
    pub fn to<I: IntoIterator<Item = impl Into<String>>>(mut self, rooms: I) -> Self {
        for room in rooms {
            let room = room.into();
            if !self.opts.rooms.contains(&room) {
                self.opts.rooms.push(room);
            }
        }
        self
    }

    /// The same as [`to`](Self::to) (`in` in Node).
    pub fn within<I: IntoIterator<Item = impl Into<String>>>(self, rooms: I) -> Self {
        self.to(rooms)
    }

    /// Excludes sockets in these rooms (a socket id is a room).
    pub fn except<I: IntoIterator<Item = impl Into<String>>>(mut self, rooms: I) -> Self {
        self.opts.except.extend(rooms.into_iter().map(Into::into));
        self
    }

    /// Only this node's sockets.
    pub fn local(mut self) -> Self {
        self.opts.flags.local = true;
        self
    }

    /// Skips receivers that cannot send at once instead of queueing for them.
    pub fn volatile(mut self) -> Self {
        self.opts.flags.volatile = true;
        self
    }

    /// Whether to compress (with permessage-deflate on the WebSocket transport).
    pub fn compress(mut self, on: bool) -> Self {
        self.opts.flags.compress = Some(on);
        self
    }

    /// How long [`emit_with_ack`](Self::emit_with_ack) waits for the acknowledgements.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.opts.flags.timeout = Some(timeout);
        self
    }

    /// The options this operator stands for.
    pub fn options(&self) -> &BroadcastOptions {
        &self.opts
    }

    fn targets(&self) -> Vec<Socket> {
        let ids = self.ns.rooms().sockets(&self.opts);
        self.ns.with_sockets(|map| {
            ids.iter()
                .filter_map(|id| map.get(id))
                .filter(|s| !self.opts.flags.volatile || s.writable())
                .cloned()
                .collect()
        })
    }

    /// Emits to the chosen sockets; the packet is encoded once and its bytes shared.
    /// Returns `false` if it cannot be encoded (a reserved event name).
    pub fn emit(&self, event: &str, args: impl IntoArgs) -> bool {
        let Some(mut packet) = event_packet(self.ns.name(), event, args) else {
            return false;
        };
        if let Some(recovery) = self.ns.recovery() {
            if !self.opts.flags.volatile {
                if Encoded::new(&packet).is_err() {
                    return false;
                }
                let local = self.clone().local();
                match recovery.stamp(packet, &self.opts, move |p| {
                    local.emit_packet(p);
                }) {
                    Some(stamped) => packet = stamped,
                    None => return true,
                }
            }
        }
        self.emit_packet(&packet)
    }

    /// Delivers an already built packet (an EVENT of this namespace, such as one another
    /// node of a cluster broadcast) to the chosen sockets, encoded once, and forwards it to
    /// the cluster unless [`local`](Self::local). Unlike [`emit`](Self::emit) it records
    /// nothing for connection-state recovery. Returns `false` if it cannot be encoded.
    pub(crate) fn emit_packet(&self, packet: &Packet) -> bool {
        let Ok(encoded) = Encoded::new(packet) else {
            return false;
        };
        let volatile = self.opts.flags.volatile;
        let compress = self.opts.flags.compress.unwrap_or(true);
        match self
            .ns
            .cached_targets(&self.opts.rooms)
            .filter(|_| !volatile)
        {
            Some(targets) => self.deliver(&targets, &encoded, compress),
            None => {
                let ids = self.ns.rooms().sockets(&self.opts);
                self.ns.with_sockets(|map| {
                    for id in &ids {
                        if let Some(socket) = map.get(id) {
                            if !volatile || socket.writable() {
                                socket.send_broadcast(&encoded, compress);
                            }
                        }
                    }
                });
            }
        }
        if !self.opts.flags.local {
            self.ns.cluster().broadcast(packet, &self.opts);
        }
        true
    }

    /// Delivers to a kept list of receivers (see [`crate::targets`]): one that has a WebSocket
    /// gets the frame straight on it, encoded once for all (unless it is to be compressed),
    /// the others through their session.
    fn deliver(&self, targets: &[Target], encoded: &Encoded, compress: bool) {
        let except = self.except_sockets();
        let message = encoded.single_ws();
        let prepared = message.as_ref().map(wsx::PreparedFrame::new);
        for t in targets {
            if !except.is_empty() && except.contains(&t.socket.addr()) {
                continue;
            }
            let status = match (&t.ws, &message, &prepared) {
                (Some(ws), Some(msg), _) if t.deflate && compress => {
                    ws.send_batched(msg.clone(), true)
                }
                (Some(ws), _, Some(frame)) => ws.send_prepared_batched(frame),
                _ => {
                    t.socket.send_broadcast(encoded, compress);
                    continue;
                }
            };
            if matches!(status, SendStatus::Dropped | SendStatus::Closed) {
                t.socket.0.session.slow_consumer();
            }
        }
    }

    /// The local sockets in the `except` rooms, by address.
    fn except_sockets(&self) -> HashSet<usize> {
        if self.opts.except.is_empty() {
            return HashSet::new();
        }
        let ids = self.ns.rooms().sockets(&BroadcastOptions {
            rooms: self.opts.except.clone(),
            ..Default::default()
        });
        self.ns.with_sockets(|map| {
            ids.iter()
                .filter_map(|id| map.get(id))
                .map(Socket::addr)
                .collect()
        })
    }

    /// Emits with an acknowledgement requested from every receiver, and gathers the answers
    /// (each within the [`timeout`](Self::timeout), 5 s by default). The packet is encoded
    /// once: every receiver gets the same ack id, as with Node.
    pub async fn emit_with_ack(&self, event: &str, args: impl IntoArgs) -> Vec<AckResponse> {
        let Some(packet) = event_packet(self.ns.name(), event, args) else {
            return Vec::new();
        };
        let timeout = self.opts.flags.timeout.unwrap_or(self.ns.ack_timeout());
        let packet = packet.with_ack_id(self.ns.next_ack_id());
        let Ok(encoded) = Encoded::new(&packet) else {
            return Vec::new();
        };
        let id = packet.id().unwrap_or_default();
        let waits: Vec<(String, AckFuture)> = self
            .targets()
            .into_iter()
            .map(|s| (s.id().to_owned(), s.expect_ack(id, &encoded, timeout)))
            .collect();
        // Answers of other nodes' clients come through the adapter.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let remote = if self.opts.flags.local {
            0
        } else {
            let on_ack: RemoteAck = Arc::new(move |args| {
                let _ = tx.send(args);
            });
            self.ns
                .cluster()
                .broadcast_with_ack(&packet, &self.opts, on_ack)
                .await
        };
        let mut out = Vec::with_capacity(waits.len() + remote);
        for (socket, fut) in waits {
            out.push(AckResponse {
                socket: Some(socket),
                result: fut.await,
            });
        }
        let deadline = tokio::time::Instant::now() + timeout;
        for _ in 0..remote {
            let result = match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(args)) => Ok(args),
                _ => Err(AckError::Timeout),
            };
            out.push(AckResponse {
                socket: None,
                result,
            });
        }
        out
    }

    /// The chosen sockets on this node.
    pub fn sockets(&self) -> Vec<Socket> {
        self.targets()
    }

    /// The chosen sockets, as descriptions whose operations are addressed by socket id (so
    /// they keep working whichever node the socket is on).
    pub async fn fetch_sockets(&self) -> Vec<RemoteSocket> {
        let mut found: Vec<RemoteSocket> = self
            .targets()
            .into_iter()
            .map(|s| RemoteSocket {
                id: s.id().to_owned(),
                rooms: s.rooms(),
                data: s.data(),
                auth: s.handshake().auth.clone(),
                ns: self.ns.clone(),
            })
            .collect();
        if !self.opts.flags.local {
            let remote = self.ns.cluster().fetch_sockets(&self.opts).await;
            found.extend(
                remote
                    .into_iter()
                    .map(|info| RemoteSocket::new(info, &self.ns)),
            );
        }
        found
    }

    /// Makes the chosen sockets join `rooms`.
    pub fn sockets_join<I: IntoIterator<Item = impl Into<String>>>(&self, rooms: I) {
        let rooms: Vec<String> = rooms.into_iter().map(Into::into).collect();
        for s in self.targets() {
            s.join(rooms.iter().cloned());
        }
        if !self.opts.flags.local {
            self.ns.cluster().sockets_join(&self.opts, &rooms);
        }
    }

    /// Makes the chosen sockets leave `rooms`.
    pub fn sockets_leave<I: IntoIterator<Item = impl Into<String>>>(&self, rooms: I) {
        let rooms: Vec<String> = rooms.into_iter().map(Into::into).collect();
        for s in self.targets() {
            for room in &rooms {
                s.leave(room);
            }
        }
        if !self.opts.flags.local {
            self.ns.cluster().sockets_leave(&self.opts, &rooms);
        }
    }

    /// Disconnects the chosen sockets (and with `close`, their whole sessions).
    pub fn disconnect_sockets(&self, close: bool) {
        for s in self.targets() {
            s.disconnect(close);
        }
        if !self.opts.flags.local {
            self.ns.cluster().disconnect_sockets(&self.opts, close);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::Bytes;
    use http::Request;
    use http_body_util::{BodyExt, Full};

    use crate::{Data, SocketIo};

    async fn call(io: &SocketIo, method: &str, uri: &str, body: &str) -> String {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
            .unwrap();
        let resp = io.handle(req).await;
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// Opens a polling session and connects it to `/`; returns the sid.
    async fn polling_client(io: &SocketIo) -> String {
        let open = call(io, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
        let sid = open.split('"').nth(3).unwrap().to_owned();
        let uri = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
        assert_eq!(call(io, "POST", &uri, "40").await, "ok");
        let ack = call(io, "GET", &uri, "").await;
        assert!(ack.starts_with("40{\"sid\":"), "{ack}");
        sid
    }

    #[tokio::test]
    async fn a_broadcast_is_encoded_once_and_its_bytes_shared() {
        let io = SocketIo::new(Default::default());
        io.ns("/", |socket| async move { socket.join(["room"]) });
        let mut sids = Vec::new();
        for _ in 0..3 {
            sids.push(polling_client(&io).await);
        }
        let bin = Bytes::from_static(&[1, 2, 3]);
        io.to(["room"])
            .emit("news", vec![Data::from("hi"), Data::Binary(bin.clone())]);

        let ptrs: Vec<Vec<*const u8>> = sids
            .iter()
            .map(|sid| io.engine().session(sid).unwrap().queued_frame_ptrs())
            .collect();
        assert_eq!(ptrs[0].len(), 2, "a text frame and one attachment");
        assert!(
            ptrs.iter().all(|p| *p == ptrs[0]),
            "every receiver queues the same bytes: {ptrs:?}"
        );
        assert_eq!(
            ptrs[0][1],
            bin.as_ptr(),
            "the attachment itself is not copied"
        );

        let uri = format!("/socket.io/?EIO=4&transport=polling&sid={}", sids[0]);
        assert_eq!(
            call(&io, "GET", &uri, "").await,
            "451-[\"news\",\"hi\",{\"_placeholder\":true,\"num\":0}]\u{1e}bAQID"
        );
    }
}
