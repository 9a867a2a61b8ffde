//! What this node does with an entry of the stream that belongs to one of its namespaces:
//! its own entries are passed over, any other keeps its node known, an initial heartbeat is
//! answered, a node that closes is forgotten, and every other message goes to
//! `ClusterAdapter`'s handling, with the entry's id as the offset of a broadcast.

use std::collections::HashMap;

use rmpv::Value as Mp;
use tokio::time::Instant;

use super::entry::{Entry, decode_entry, kind};
use super::namespace::{Heard, NsStream};
use super::node::StreamsShared;
use crate::cluster_adapter::{self, Reply};
use crate::lock::lock;

/// The uid of `@socket.io/redis-streams-emitter`, which is not a node.
const EMITTER_UID: &str = "emitter";

/// Entry `id` of namespace `st`, whose fields are `fields`.
pub(super) fn on_entry(
    shared: &StreamsShared,
    st: &NsStream,
    id: &str,
    fields: &HashMap<String, String>,
) {
    let Some(entry) = decode_entry(fields) else {
        shared.node.metrics.malformed();
        tracing::warn!(
            id,
            "wsx-redis: streams: ignoring an entry that cannot be decoded"
        );
        return;
    };
    if entry.uid == shared.node.uid || entry.nsp != st.nsp {
        return;
    }
    if !entry.uid.is_empty() && entry.uid != EMITTER_UID {
        lock(&st.nodes).insert(entry.uid.clone(), Instant::now());
    }
    match entry.kind {
        kind::INITIAL_HEARTBEAT => st.publish(kind::HEARTBEAT, None, None),
        kind::HEARTBEAT => {}
        kind::ADAPTER_CLOSE => st.remove_node(&entry.uid),
        _ => on_message(shared, st, id, entry),
    }
}

/// Another node's message (Node's `ClusterAdapter.onMessage`).
fn on_message(shared: &StreamsShared, st: &NsStream, offset: &str, entry: Entry) {
    let Some(ns) = st.ns.get().filter(|l| l.is_open()) else {
        return;
    };
    let Some(data) = entry.data else {
        shared.node.metrics.malformed();
        tracing::warn!(
            kind = entry.kind,
            "wsx-redis: streams: ignoring a message without data"
        );
        return;
    };
    let reply = |kind: u64, data: Mp| st.publish(kind, Some(data), None);
    let (queue, nsp) = (st.queue.clone(), st.nsp.clone());
    let later = move |kind: u64, data: Mp| queue.push(&nsp, kind, Some(&data), None);
    let from = entry.uid;
    let answer = |id: &str, msg: Mp| st.pending.deliver(id, Heard::Answer(from, msg));
    let reply = Reply { now: &reply, later };
    let message = (entry.kind, &data);
    cluster_adapter::on_message(&shared.node, &**ns, message, Some(offset), answer, reply);
}
