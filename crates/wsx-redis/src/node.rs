//! This node, as each of the three Socket.IO adapters has it: its id in the cluster, the
//! runtime its tasks run on, how long its requests to other nodes wait, and its Redis traffic
//! counters.

use std::sync::Arc;
use std::time::Duration;

use crate::metrics::MetricsInner;

/// This node of a cluster.
pub(crate) struct Node {
    /// Its id in the cluster, in every message it sends.
    pub(crate) uid: String,
    /// The runtime its tasks run on: the one it connected in.
    pub(crate) handle: tokio::runtime::Handle,
    /// How long a request to other nodes waits for their answers.
    pub(crate) requests_timeout: Duration,
    /// Its Redis traffic counters.
    pub(crate) metrics: Arc<MetricsInner>,
}

impl Node {
    /// Node `uid`, connecting now on the current runtime (so, connected).
    pub(crate) fn new(uid: String, requests_timeout: Duration) -> Node {
        Node {
            uid,
            handle: tokio::runtime::Handle::current(),
            requests_timeout,
            metrics: Arc::new(MetricsInner::new_connected()),
        }
    }
}
