//! What a namespace's adapter asks of the other nodes in `ClusterAdapter`: [`ClusterAdapter`]
//! provides the requests (joins, leaves, disconnects, fetches, server-side emits) on top of
//! what each adapter says of itself, and [`cluster_requests!`] makes them, and broadcasts with
//! acknowledgements, the adapter's [`Cluster`](wsx_socketio::cluster::Cluster) methods.

use std::time::Duration;

use rmpv::Value as Mp;
use wsx_socketio::Data;
use wsx_socketio::cluster::{BoxFuture, BroadcastOptions, ServerSideAcks, SocketInfo};

use super::message::{Request, fetched_sockets, kind, server_side_acks};
use crate::codec::{map, strings};
use crate::node::Node;
use crate::request::{AckReply, Waiter};
use crate::wire::{broadcast_opts, emit_value};

/// A namespace's adapter speaking `ClusterAdapter`, as Node's abstract class of that name: it
/// says how its messages reach the other nodes and how it counts them; the requests are
/// provided, each named after the [`Cluster`](wsx_socketio::cluster::Cluster) method it is.
pub(crate) trait ClusterAdapter {
    /// What a request waiting for answers is handed: the answers (`{type, data}`), and
    /// whatever else the adapter's requests heed.
    type Heard: Send + 'static;

    /// This node.
    fn node(&self) -> &Node;

    /// Sends `{type: kind, data}` to the namespace's other nodes.
    fn publish(&self, kind: u64, data: Mp);

    /// Sends `request` to the other nodes (its id registered first, so that no answer is
    /// missed): the request's end of the table and how many nodes are to answer; `None`, and
    /// nothing sent, when no other node is known.
    fn ask(&self, request: Request) -> BoxFuture<Option<(Waiter<Self::Heard>, usize)>>;

    /// Sends `request` and gathers an answer from each other node, for at most `timeout`: the
    /// answers, and how many nodes were asked.
    fn request(&self, request: Request, timeout: Duration) -> BoxFuture<(Vec<Mp>, usize)>;

    /// What an answer to a broadcast with acknowledgements says.
    fn ack_reply(heard: &Self::Heard) -> AckReply;

    /// Makes the local sockets of the other nodes that `opts` selects join `rooms`.
    fn sockets_join(&self, opts: &BroadcastOptions, rooms: &[String]) {
        let data = map(vec![
            ("opts", broadcast_opts(opts)),
            ("rooms", strings(rooms)),
        ]);
        self.publish(kind::SOCKETS_JOIN, data);
    }

    /// Makes the local sockets of the other nodes that `opts` selects leave `rooms`.
    fn sockets_leave(&self, opts: &BroadcastOptions, rooms: &[String]) {
        let data = map(vec![
            ("opts", broadcast_opts(opts)),
            ("rooms", strings(rooms)),
        ]);
        self.publish(kind::SOCKETS_LEAVE, data);
    }

    /// Disconnects the local sockets of the other nodes that `opts` selects.
    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool) {
        let data = map(vec![
            ("opts", broadcast_opts(opts)),
            ("close", Mp::Boolean(close)),
        ]);
        self.publish(kind::DISCONNECT_SOCKETS, data);
    }

    /// The other nodes' sockets that `opts` selects (waiting `opts.flags.timeout`, else the
    /// requests timeout).
    fn fetch_sockets(&self, opts: &BroadcastOptions) -> BoxFuture<Vec<SocketInfo>> {
        let timeout = opts.flags.timeout.unwrap_or(self.node().requests_timeout);
        let request = Request::new(kind::FETCH_SOCKETS, vec![("opts", broadcast_opts(opts))]);
        let answers = self.request(request, timeout);
        Box::pin(async move { fetched_sockets(&answers.await.0) })
    }

    /// Emits `event` to the other nodes' namespace handlers.
    fn server_side_emit(&self, event: &str, args: &[Data]) {
        let data = map(vec![("packet", emit_value(event, args))]);
        self.publish(kind::SERVER_SIDE_EMIT, data);
    }

    /// Emits `event` to the other nodes' namespace handlers, and gathers their
    /// acknowledgements.
    fn server_side_emit_with_ack(&self, event: &str, args: &[Data]) -> BoxFuture<ServerSideAcks> {
        let request = Request::new(
            kind::SERVER_SIDE_EMIT,
            vec![("packet", emit_value(event, args))],
        );
        let answers = self.request(request, self.node().requests_timeout);
        Box::pin(async move {
            let (answers, expected) = answers.await;
            server_side_acks(&answers, expected)
        })
    }
}

/// Writes, in the `impl Cluster` block of a [`ClusterAdapter`], the `Cluster` methods that
/// it provides.
macro_rules! cluster_requests {
    () => {
        fn sockets_join(&self, opts: &::wsx_socketio::cluster::BroadcastOptions, rooms: &[String]) {
            $crate::cluster_adapter::ClusterAdapter::sockets_join(self, opts, rooms)
        }

        fn sockets_leave(
            &self,
            opts: &::wsx_socketio::cluster::BroadcastOptions,
            rooms: &[String],
        ) {
            $crate::cluster_adapter::ClusterAdapter::sockets_leave(self, opts, rooms)
        }

        fn disconnect_sockets(
            &self,
            opts: &::wsx_socketio::cluster::BroadcastOptions,
            close: bool,
        ) {
            $crate::cluster_adapter::ClusterAdapter::disconnect_sockets(self, opts, close)
        }

        fn fetch_sockets(
            &self,
            opts: &::wsx_socketio::cluster::BroadcastOptions,
        ) -> ::wsx_socketio::cluster::BoxFuture<Vec<::wsx_socketio::cluster::SocketInfo>> {
            $crate::cluster_adapter::ClusterAdapter::fetch_sockets(self, opts)
        }

        fn broadcast_with_ack(
            &self,
            packet: &::wsx_socketio::socketio::Packet,
            opts: &::wsx_socketio::cluster::BroadcastOptions,
            on_ack: ::wsx_socketio::cluster::RemoteAck,
        ) -> ::wsx_socketio::cluster::BoxFuture<usize> {
            use $crate::cluster_adapter::{ClusterAdapter, Request};
            let ask = |payload: &::wsx_socketio::socketio::Payload, ack_timeout| {
                ClusterAdapter::ask(self, Request::ack_broadcast(payload, opts, ack_timeout))
            };
            let (node, read) = (
                ClusterAdapter::node(self),
                <Self as ClusterAdapter>::ack_reply,
            );
            $crate::request::broadcast_with_acks(node, packet, opts, ask, read, on_ack)
        }

        fn server_side_emit(&self, event: &str, args: &[::wsx_socketio::Data]) {
            $crate::cluster_adapter::ClusterAdapter::server_side_emit(self, event, args)
        }

        fn server_side_emit_with_ack(
            &self,
            event: &str,
            args: &[::wsx_socketio::Data],
        ) -> ::wsx_socketio::cluster::BoxFuture<::wsx_socketio::cluster::ServerSideAcks> {
            $crate::cluster_adapter::ClusterAdapter::server_side_emit_with_ack(self, event, args)
        }
    };
}
pub(crate) use cluster_requests;
