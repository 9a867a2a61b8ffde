//! This node of a streams cluster: what its reader, its queue for the stream, its heartbeats,
//! its recoveries and its namespaces' adapters share.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::namespace::NsStream;
use super::publisher::Queue;
use crate::lock::lock;
use crate::node::Node;

pub(super) struct StreamsShared {
    pub(super) conn: redis::aio::ConnectionManager,
    /// The stream's key.
    pub(super) stream: String,
    pub(super) session_key_prefix: String,
    pub(super) heartbeat_interval: Duration,
    pub(super) heartbeat_timeout: Duration,
    pub(super) node: Node,
    pub(super) queue: Queue,
    /// The namespaces' states, by name, to route entries.
    pub(super) namespaces: Mutex<HashMap<String, Weak<NsStream>>>,
    /// The id of the last entry the reader handed to the namespaces.
    pub(super) read_up_to: tokio::sync::watch::Sender<(u64, u64)>,
    /// Held by the reader while it hands out a batch, and by a restoration from the end of
    /// its replay until the socket is back in its rooms, so that no entry falls between.
    pub(super) gate: Arc<tokio::sync::Mutex<()>>,
}

impl StreamsShared {
    /// The state of namespace `nsp`, while its adapter lives.
    pub(super) fn namespace(&self, nsp: &str) -> Option<Arc<NsStream>> {
        lock(&self.namespaces).get(nsp).and_then(Weak::upgrade)
    }
}
