//! What a namespace's adapter asks of the other nodes in `ClusterAdapter`: [`ClusterAdapter`]
//! provides the requests (joins, leaves, disconnects, fetches, server-side emits, broadcasts
//! with acknowledgements) on top of what each adapter says of itself, and
//! [`cluster_requests!`] makes them the adapter's [`Adapter`](wsx_socketio::adapter::Adapter)
//! methods.

use std::time::Duration;

use rmpv::Value as Mp;
use wsx_socketio::Data;
use wsx_socketio::adapter::{BoxFuture, BroadcastOptions, RemoteAck, ServerSideAcks, SocketInfo};
use wsx_socketio::socketio::Packet;

use super::message::{ack_broadcast_data, fetched_sockets, kind, request_data, server_side_acks};
use crate::codec::{map, strings};
use crate::ids::random_hex;
use crate::node::Node;
use crate::request::{AckReply, Waiter, broadcast_acks};
use crate::wire::{broadcast_opts, emit_value, event_payload};

/// A namespace's adapter speaking `ClusterAdapter`, as Node's abstract class of that name: it
/// says how its messages reach the other nodes and how it counts them; the requests are
/// provided, each named after the [`Adapter`](wsx_socketio::adapter::Adapter) method it is.
pub(crate) trait ClusterAdapter {
    /// What a request waiting for answers is handed: the answers (`{type, data}`), and
    /// whatever else the adapter's requests heed.
    type Heard: Send + 'static;

    /// This node.
    fn node(&self) -> &Node;

    /// Sends `{type: kind, data}` to the namespace's other nodes.
    fn publish(&self, kind: u64, data: Mp);

    /// Sends request `data` of `kind`, whose `requestId` is `id`, to the other nodes (`id`
    /// registered first, so that no answer is missed): the request's end of the table and how
    /// many nodes are to answer; `None`, and nothing sent, when no other node is known.
    fn ask(
        &self,
        kind: u64,
        id: String,
        data: Mp,
    ) -> BoxFuture<Option<(Waiter<Self::Heard>, usize)>>;

    /// Sends request `data` of `kind` (whose `requestId` is `id`) and gathers an answer from
    /// each other node, for at most `timeout`: the answers, and how many nodes were asked.
    fn request(
        &self,
        kind: u64,
        id: String,
        data: Mp,
        timeout: Duration,
    ) -> BoxFuture<(Vec<Mp>, usize)>;

    /// What an answer to a broadcast with acknowledgements says.
    fn ack_reply(heard: &Self::Heard) -> AckReply;

    /// Makes the local sockets of the other nodes that `opts` selects join `rooms`.
    fn sockets_join_remote(&self, opts: &BroadcastOptions, rooms: &[String]) {
        let data = map(vec![
            ("opts", broadcast_opts(opts)),
            ("rooms", strings(rooms)),
        ]);
        self.publish(kind::SOCKETS_JOIN, data);
    }

    /// Makes the local sockets of the other nodes that `opts` selects leave `rooms`.
    fn sockets_leave_remote(&self, opts: &BroadcastOptions, rooms: &[String]) {
        let data = map(vec![
            ("opts", broadcast_opts(opts)),
            ("rooms", strings(rooms)),
        ]);
        self.publish(kind::SOCKETS_LEAVE, data);
    }

    /// Disconnects the local sockets of the other nodes that `opts` selects.
    fn disconnect_sockets_remote(&self, opts: &BroadcastOptions, close: bool) {
        let data = map(vec![
            ("opts", broadcast_opts(opts)),
            ("close", Mp::Boolean(close)),
        ]);
        self.publish(kind::DISCONNECT_SOCKETS, data);
    }

    /// The other nodes' sockets that `opts` selects (waiting `opts.flags.timeout`, else the
    /// requests timeout).
    fn fetch_sockets_remote(&self, opts: &BroadcastOptions) -> BoxFuture<Vec<SocketInfo>> {
        let timeout = opts.flags.timeout.unwrap_or(self.node().requests_timeout);
        let (id, data) = request_data(vec![("opts", broadcast_opts(opts))]);
        let request = self.request(kind::FETCH_SOCKETS, id, data, timeout);
        Box::pin(async move { fetched_sockets(&request.await.0) })
    }

    /// Broadcasts `packet` to the other nodes' sockets that `opts` selects, handing each
    /// acknowledgement to `on_ack`: how many remote clients were sent it.
    fn broadcast_with_ack_remote(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
        on_ack: RemoteAck,
    ) -> BoxFuture<usize> {
        let Some(payload) = event_payload(packet) else {
            return Box::pin(async { 0 });
        };
        let node = self.node();
        let ack_timeout = opts.flags.timeout.unwrap_or(node.requests_timeout);
        let id = random_hex();
        let data = ack_broadcast_data(payload, opts, &id, ack_timeout);
        let asked = self.ask(kind::BROADCAST, id, data);
        let timeouts = (node.requests_timeout, ack_timeout);
        let handle = node.handle.clone();
        let read: fn(&Self::Heard) -> AckReply = Self::ack_reply;
        Box::pin(async move {
            let Some((waiter, expected)) = asked.await else {
                return 0;
            };
            broadcast_acks(waiter, expected, timeouts, &handle, read, on_ack).await
        })
    }

    /// Emits `event` to the other nodes' namespace handlers.
    fn server_side_emit(&self, event: &str, args: &[Data]) {
        let data = map(vec![("packet", emit_value(event, args))]);
        self.publish(kind::SERVER_SIDE_EMIT, data);
    }

    /// Emits `event` to the other nodes' namespace handlers, and gathers their
    /// acknowledgements.
    fn server_side_emit_with_ack(&self, event: &str, args: &[Data]) -> BoxFuture<ServerSideAcks> {
        let (id, data) = request_data(vec![("packet", emit_value(event, args))]);
        let timeout = self.node().requests_timeout;
        let request = self.request(kind::SERVER_SIDE_EMIT, id, data, timeout);
        Box::pin(async move {
            let (answers, expected) = request.await;
            server_side_acks(&answers, expected)
        })
    }
}

/// Writes, in the `impl Adapter` block of a [`ClusterAdapter`], the `Adapter` methods that
/// it provides.
macro_rules! cluster_requests {
    () => {
        fn sockets_join_remote(
            &self,
            opts: &::wsx_socketio::adapter::BroadcastOptions,
            rooms: &[String],
        ) {
            $crate::cluster_adapter::ClusterAdapter::sockets_join_remote(self, opts, rooms)
        }

        fn sockets_leave_remote(
            &self,
            opts: &::wsx_socketio::adapter::BroadcastOptions,
            rooms: &[String],
        ) {
            $crate::cluster_adapter::ClusterAdapter::sockets_leave_remote(self, opts, rooms)
        }

        fn disconnect_sockets_remote(
            &self,
            opts: &::wsx_socketio::adapter::BroadcastOptions,
            close: bool,
        ) {
            $crate::cluster_adapter::ClusterAdapter::disconnect_sockets_remote(self, opts, close)
        }

        fn fetch_sockets_remote(
            &self,
            opts: &::wsx_socketio::adapter::BroadcastOptions,
        ) -> ::wsx_socketio::adapter::BoxFuture<Vec<::wsx_socketio::adapter::SocketInfo>> {
            $crate::cluster_adapter::ClusterAdapter::fetch_sockets_remote(self, opts)
        }

        fn broadcast_with_ack_remote(
            &self,
            packet: &::wsx_socketio::socketio::Packet,
            opts: &::wsx_socketio::adapter::BroadcastOptions,
            on_ack: ::wsx_socketio::adapter::RemoteAck,
        ) -> ::wsx_socketio::adapter::BoxFuture<usize> {
            $crate::cluster_adapter::ClusterAdapter::broadcast_with_ack_remote(
                self, packet, opts, on_ack,
            )
        }

        fn server_side_emit(&self, event: &str, args: &[::wsx_socketio::Data]) {
            $crate::cluster_adapter::ClusterAdapter::server_side_emit(self, event, args)
        }

        fn server_side_emit_with_ack(
            &self,
            event: &str,
            args: &[::wsx_socketio::Data],
        ) -> ::wsx_socketio::adapter::BoxFuture<::wsx_socketio::adapter::ServerSideAcks> {
            $crate::cluster_adapter::ClusterAdapter::server_side_emit_with_ack(self, event, args)
        }
    };
}
pub(crate) use cluster_requests;
