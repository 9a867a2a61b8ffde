//! This node, as each of the three Socket.IO adapters has it: its id in the cluster, the
//! runtime its tasks run on, how long its requests to other nodes wait, and its Redis traffic
//! counters; and what the public handle of its membership of a cluster (`RedisCluster`,
//! `ShardedCluster`, `StreamsCluster`) and its adapters show of it.

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
    /// Node `uid` of a `kind` of adapter (the `part` label of its metrics), connecting now on
    /// the current runtime (so, connected).
    pub(crate) fn new(uid: String, requests_timeout: Duration, kind: &str) -> Node {
        Node {
            uid,
            handle: tokio::runtime::Handle::current(),
            requests_timeout,
            metrics: Arc::new(MetricsInner::new_connected(kind)),
        }
    }
}

impl Node {
    /// The `Debug` of a namespace's adapter on this node: `name { nsp, uid, .. }`.
    pub(crate) fn debug_adapter(
        &self,
        f: &mut std::fmt::Formatter<'_>,
        name: &str,
        nsp: &str,
    ) -> std::fmt::Result {
        f.debug_struct(name)
            .field("nsp", &nsp)
            .field("uid", &self.uid)
            .finish_non_exhaustive()
    }
}

/// Writes what each public handle of this node's membership of a cluster has alike, for
/// `$handle`, a tuple struct around the adapter's shared state (which holds this node as
/// `node`): its `Debug` (the shared state's field `$first`, the uid, then the fields
/// `$more`), and its `adapter` (a `$adapter` per namespace), `uid` (`$uid` says what it looks
/// like) and `metrics`.
macro_rules! node_handle {
    (
        $handle:ident makes $adapter:ident,
        uid: $uid:literal,
        debug: $first:ident $(, $more:ident)*
    ) => {
        impl ::std::fmt::Debug for $handle {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($handle))
                    .field(stringify!($first), &self.0.$first)
                    .field("uid", &self.0.node.uid)
                    $(.field(stringify!($more), &self.0.$more))*
                    .finish_non_exhaustive()
            }
        }

        impl $handle {
            /// The adapter of namespace `nsp`.
            pub fn adapter(&self, nsp: &str) -> $adapter {
                $adapter::new(self.0.clone(), nsp)
            }

            #[doc = concat!("This node's id in the cluster (", $uid, ").")]
            pub fn uid(&self) -> &str {
                &self.0.node.uid
            }

            /// Counters of this node's Redis traffic: whether Redis is reachable, how many
            /// times it came back, messages in and out, malformed messages ignored, failed
            /// commands (see [`Metrics`](crate::Metrics)).
            pub fn metrics(&self) -> $crate::Metrics {
                self.0.node.metrics.snapshot()
            }
        }
    };
}
pub(crate) use node_handle;
