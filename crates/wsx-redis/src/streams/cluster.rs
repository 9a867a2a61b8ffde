//! [`StreamsCluster`]: this node's membership of a streams cluster, which makes the
//! namespaces' adapters.

use std::sync::Arc;

use super::adapter::StreamsAdapter;
use super::node::StreamsShared;
use crate::lock::lock;
use crate::metrics::Metrics;

/// This node's membership of a streams cluster: makes a [`StreamsAdapter`] per namespace
/// (give [`adapter`](Self::adapter) to [`Config::adapter`](wsx_socketio::Config::adapter)).
/// Cheap to clone.
#[derive(Clone)]
pub struct StreamsCluster(pub(super) Arc<StreamsShared>);

impl std::fmt::Debug for StreamsCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsCluster")
            .field("stream", &self.0.stream)
            .field("uid", &self.0.node.uid)
            .finish_non_exhaustive()
    }
}

impl StreamsCluster {
    /// The adapter of namespace `nsp`.
    pub fn adapter(&self, nsp: &str) -> StreamsAdapter {
        StreamsAdapter::new(self.0.clone(), nsp)
    }

    /// This node's id in the cluster (16 hex characters, as Node's `ClusterAdapter`).
    pub fn uid(&self) -> &str {
        &self.0.node.uid
    }

    /// How many nodes serve namespace `nsp` as far as this node knows (itself and those
    /// heard from within the heartbeat timeout; Node's `serverCount()`); 0 if this node has
    /// no adapter for it.
    pub fn nodes(&self, nsp: &str) -> usize {
        self.0
            .namespace(nsp)
            .map_or(0, |st| 1 + lock(&st.nodes).len())
    }

    /// Counters of this node's Redis traffic (see [`Metrics`]).
    pub fn metrics(&self) -> Metrics {
        self.0.node.metrics.snapshot()
    }
}
