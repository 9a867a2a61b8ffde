//! [`StreamsCluster`]: this node's membership of a streams cluster, which makes the
//! namespaces' adapters.

use std::sync::Arc;

use super::adapter::StreamsAdapter;
use super::node::StreamsShared;
use crate::lock::lock;
use crate::node::node_handle;

/// This node's membership of a streams cluster: makes a [`StreamsAdapter`] per namespace
/// (give [`adapter`](Self::adapter) to [`Config::adapter`](wsx_socketio::Config::adapter)).
/// Cheap to clone.
#[derive(Clone)]
pub struct StreamsCluster(pub(super) Arc<StreamsShared>);

impl StreamsCluster {
    /// How many nodes serve namespace `nsp` as far as this node knows (itself and those
    /// heard from within the heartbeat timeout; Node's `serverCount()`); 0 if this node has
    /// no adapter for it.
    pub fn nodes(&self, nsp: &str) -> usize {
        self.0
            .namespace(nsp)
            .map_or(0, |st| 1 + lock(&st.nodes).len())
    }
}

node_handle!(
    StreamsCluster makes StreamsAdapter,
    uid: "16 hex characters, as Node's `ClusterAdapter`",
    debug: stream
);
