//! A namespace's local side as its cluster adapter sees it ([`LocalNamespace`]): where other
//! nodes' broadcasts, room operations, questions and server-side emits are carried out on
//! this node's sockets, without being forwarded to the cluster again.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::broadcast::BroadcastOperator;
use crate::cluster::{BoxFuture, LocalNamespace, RemoteAck, ServerSideAck, SocketInfo};
use crate::namespace::{Namespace, NsInner};
use crate::options::BroadcastOptions;
use crate::socket::Socket;
use crate::socketio::{Data, Packet};

/// The handle given to [`Cluster::init`](crate::cluster::Cluster::init): it holds the
/// namespace weakly, so an adapter does not keep its namespace alive.
pub(crate) struct Local {
    name: String,
    ns: Weak<NsInner>,
}

impl Local {
    pub(crate) fn of(ns: &Namespace) -> Arc<dyn LocalNamespace> {
        Arc::new(Local {
            name: ns.name().to_owned(),
            ns: ns.downgrade(),
        })
    }

    fn ns(&self) -> Option<Namespace> {
        self.ns.upgrade().map(Namespace)
    }

    /// The local sockets `opts` selects, never forwarded.
    fn op(&self, opts: &BroadcastOptions) -> Option<BroadcastOperator> {
        Some(BroadcastOperator::with_options(self.ns()?, opts.clone()).local())
    }
}

fn info(socket: &Socket) -> SocketInfo {
    let handshake = socket.handshake();
    SocketInfo {
        id: socket.id().to_owned(),
        rooms: socket.rooms(),
        data: socket.data(),
        auth: handshake.auth.clone(),
        request: Some(handshake.request.clone()),
    }
}

impl LocalNamespace for Local {
    fn name(&self) -> &str {
        &self.name
    }

    fn is_open(&self) -> bool {
        self.ns.strong_count() > 0
    }

    fn recovers(&self) -> bool {
        self.ns().is_some_and(|ns| ns.recovery().is_some())
    }

    fn broadcast(&self, packet: &Packet, opts: &BroadcastOptions) -> bool {
        self.op(opts).is_some_and(|op| op.emit_packet(packet))
    }

    fn broadcast_with_ack(
        &self,
        event: &str,
        args: Vec<Data>,
        opts: &BroadcastOptions,
        timeout: Duration,
        on_ack: RemoteAck,
    ) -> (usize, BoxFuture<()>) {
        let Some(op) = self.op(opts) else {
            return (0, Box::pin(async {}));
        };
        let op = op.timeout(timeout);
        let count = op.sockets().len();
        let event = event.to_owned();
        let send = async move {
            for answer in op.emit_with_ack(&event, args).await {
                if let Ok(args) = answer.result {
                    on_ack(args);
                }
            }
        };
        (count, Box::pin(send))
    }

    fn sockets(&self, opts: &BroadcastOptions) -> Vec<SocketInfo> {
        self.op(opts)
            .map(|op| op.sockets().iter().map(info).collect())
            .unwrap_or_default()
    }

    fn has_room(&self, room: &str) -> bool {
        self.ns().is_some_and(|ns| ns.rooms().has_room(room))
    }

    fn rooms(&self) -> Vec<String> {
        self.ns().map(|ns| ns.rooms().rooms()).unwrap_or_default()
    }

    fn socket_rooms(&self, id: &str) -> Vec<String> {
        self.ns()
            .map(|ns| ns.rooms().socket_rooms(id))
            .unwrap_or_default()
    }

    fn sockets_join(&self, opts: &BroadcastOptions, rooms: &[String]) {
        if let Some(op) = self.op(opts) {
            op.sockets_join(rooms.iter().cloned());
        }
    }

    fn sockets_leave(&self, opts: &BroadcastOptions, rooms: &[String]) {
        if let Some(op) = self.op(opts) {
            op.sockets_leave(rooms.iter().cloned());
        }
    }

    fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool) {
        if let Some(op) = self.op(opts) {
            op.disconnect_sockets(close);
        }
    }

    fn server_side_emit(&self, event: &str, args: Vec<Data>, ack: Option<ServerSideAck>) {
        if let Some(ns) = self.ns() {
            ns.dispatch_server_side_emit(event, args, ack);
        }
    }
}
