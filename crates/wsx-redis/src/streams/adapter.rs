//! A namespace's adapter in a streams cluster: the namespace's traffic
//! through the stream (`ClusterAdapter`'s requests, broadcasts with their offsets), its
//! heartbeats while it lives, and its sessions' recovery.

use std::sync::Arc;
use std::time::Duration;

use rmpv::Value as Mp;
use wsx_socketio::cluster::{
    BoxFuture, BroadcastOptions, Cluster, DeliverWithOffset, LocalNamespace, RestoredSession,
    SessionState,
};
use wsx_socketio::socketio::Packet;

use super::entry::kind;
use super::heartbeat::heartbeat;
use super::namespace::{Heard, NsStream};
use super::node::StreamsShared;
use super::{recovery, requests};
use crate::cluster_adapter::{ClusterAdapter, Request, broadcast_data, cluster_requests};
use crate::lock::lock;
use crate::node::Node;
use crate::request::{AckReply, Waiter};
use crate::wire::{event_payload, for_other_nodes};

/// A namespace's adapter in a cluster of Socket.IO nodes sharing one Redis stream: what goes
/// to and comes from the other nodes, through the stream with the entries of Node's
/// `@socket.io/redis-streams-adapter`, and connection state recovery across nodes (the
/// namespace keeps its own sockets' rooms). Made by
/// [`StreamsCluster::adapter`](crate::StreamsCluster::adapter).
pub struct StreamsAdapter {
    shared: Arc<StreamsShared>,
    st: Arc<NsStream>,
}

impl std::fmt::Debug for StreamsAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsAdapter")
            .field("nsp", &self.st.nsp)
            .field("uid", &self.shared.node.uid)
            .finish_non_exhaustive()
    }
}

impl Drop for StreamsAdapter {
    fn drop(&mut self) {
        let mut namespaces = lock(&self.shared.namespaces);
        if namespaces
            .get(&self.st.nsp)
            .is_some_and(|w| w.as_ptr() == Arc::as_ptr(&self.st))
        {
            namespaces.remove(&self.st.nsp);
        }
        drop(namespaces);
        if self.st.ns.get().is_some() {
            self.st.publish(kind::ADAPTER_CLOSE, None, None);
        }
    }
}

impl StreamsAdapter {
    pub(super) fn new(shared: Arc<StreamsShared>, nsp: &str) -> Self {
        let st = Arc::new(NsStream::new(nsp, shared.queue.clone()));
        StreamsAdapter { shared, st }
    }
}

impl ClusterAdapter for StreamsAdapter {
    type Heard = Heard;

    fn node(&self) -> &Node {
        &self.shared.node
    }

    fn publish(&self, kind: u64, data: Mp) {
        self.st.publish(kind, Some(data), None);
    }

    fn ask(&self, request: Request) -> BoxFuture<Option<(Waiter<Heard>, usize)>> {
        requests::ask(self.st.clone(), request)
    }

    fn request(&self, request: Request, timeout: Duration) -> BoxFuture<(Vec<Mp>, usize)> {
        requests::request(self.st.clone(), request, timeout)
    }

    fn ack_reply(heard: &Heard) -> AckReply {
        requests::ack_reply(heard)
    }
}

impl Cluster for StreamsAdapter {
    fn init(&self, local: Arc<dyn LocalNamespace>) {
        let _ = self.st.ns.set(local);
        lock(&self.shared.namespaces).insert(self.st.nsp.clone(), Arc::downgrade(&self.st));
        self.st.publish(kind::INITIAL_HEARTBEAT, None, None);
        self.shared.node.handle.spawn(heartbeat(
            Arc::downgrade(&self.shared),
            Arc::downgrade(&self.st),
        ));
    }

    fn joined(&self, id: &str, _rooms: &[String]) {
        if let Some(local) = self.st.ns.get() {
            recovery::joined(&self.st, id, || local.socket_rooms(id));
        }
    }

    fn broadcast(&self, packet: &Packet, opts: &BroadcastOptions) {
        if let Some(payload) = for_other_nodes(packet, opts) {
            self.st
                .publish(kind::BROADCAST, Some(broadcast_data(payload, opts)), None);
        }
    }

    cluster_requests!();

    fn recovers_sessions(&self) -> bool {
        true
    }

    fn broadcast_with_offset(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
        deliver: DeliverWithOffset,
    ) {
        match event_payload(packet) {
            Some(payload) => {
                let data = broadcast_data(payload, opts);
                self.st.publish(kind::BROADCAST, Some(data), Some(deliver));
            }
            None => deliver(None),
        }
    }

    fn persist_session(&self, session: SessionState, ttl: Duration) {
        recovery::persist(&self.shared, session, ttl);
    }

    fn restore_session(&self, pid: &str, offset: &str) -> BoxFuture<Option<RestoredSession>> {
        recovery::restore_session(&self.shared, &self.st, pid, offset)
    }
}
