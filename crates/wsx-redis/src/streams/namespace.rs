//! One namespace's part of a streams cluster: the other nodes heard from, the requests
//! waiting for answers, the sockets being restored, and when it last published (its
//! heartbeats are due after a silence).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rmpv::Value as Mp;
use tokio::time::Instant;
use wsx_socketio::cluster::{DeliverWithOffset, LocalNamespace};

use super::publisher::Queue;
use crate::lock::lock;
use crate::request::Pending;

/// Something a pending request hears.
pub(crate) enum Heard {
    /// An answer, from node `uid`.
    Answer(String, Mp),
    /// Node `uid` left or went silent.
    Gone(String),
}

/// A socket being restored: the rooms it comes back to, and the reader's gate.
pub(super) type Restoring = (Vec<String>, tokio::sync::OwnedMutexGuard<()>);

/// One namespace's part of the cluster.
pub(super) struct NsStream {
    pub(super) nsp: String,
    pub(super) ns: OnceLock<Arc<dyn LocalNamespace>>,
    /// The other nodes heard from, and when.
    pub(super) nodes: Mutex<HashMap<String, Instant>>,
    /// Requests waiting for answers, by request id.
    pub(super) pending: Arc<Pending<Heard>>,
    /// Sockets being restored, by id: the rooms they come back to, and the reader's gate,
    /// held until they are in them.
    pub(super) restoring: Mutex<HashMap<String, Restoring>>,
    /// When this namespace last published (a heartbeat is due `heartbeatInterval` after).
    pub(super) last_publish: Mutex<Instant>,
    /// The node's queue of entries for the stream.
    pub(super) queue: Queue,
}

impl NsStream {
    /// Namespace `nsp`, publishing through `queue`.
    pub(super) fn new(nsp: &str, queue: Queue) -> NsStream {
        NsStream {
            nsp: nsp.to_owned(),
            ns: OnceLock::new(),
            nodes: Mutex::new(HashMap::new()),
            pending: Arc::default(),
            restoring: Mutex::new(HashMap::new()),
            last_publish: Mutex::new(Instant::now()),
            queue,
        }
    }

    /// Queues a message of this namespace for the stream (see [`Queue::push`]).
    pub(super) fn publish(&self, kind: u64, data: Option<Mp>, deliver: Option<DeliverWithOffset>) {
        *lock(&self.last_publish) = Instant::now();
        self.queue.push(&self.nsp, kind, data.as_ref(), deliver);
    }

    /// Forgets node `uid` and tells the pending requests.
    pub(super) fn remove_node(&self, uid: &str) {
        lock(&self.nodes).remove(uid);
        self.pending.deliver_all(|| Heard::Gone(uid.to_owned()));
    }
}
