//! The Socket.IO server's settings.

use std::sync::Arc;
use std::time::Duration;

use crate::cluster::{Cluster, SingleNode};
use crate::engine::EngineConfig;
use crate::recovery::RecoveryConfig;

type ClusterFactory = Arc<dyn Fn(&str) -> Arc<dyn Cluster> + Send + Sync>;

/// Socket.IO settings. The defaults are Node's.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// The Engine.IO settings; the path defaults to `/socket.io/`.
    pub engine: EngineConfig,
    /// How long a session may stay without connecting to any namespace (default 45 s).
    pub connect_timeout: Duration,
    /// The default wait for acknowledgements (default 5 s).
    pub ack_timeout: Duration,
    /// The most binary attachments a packet may have (default 10).
    pub max_attachments: usize,
    /// Connection state recovery (default off, as in Node).
    pub recovery: Option<RecoveryConfig>,
    cluster: ClusterFactory,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            engine: EngineConfig::default().path("/socket.io/"),
            connect_timeout: Duration::from_secs(45),
            ack_timeout: Duration::from_secs(5),
            max_attachments: crate::socketio::DEFAULT_MAX_ATTACHMENTS,
            recovery: None,
            cluster: Arc::new(|_| Arc::new(SingleNode)),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("engine", &self.engine)
            .field("connect_timeout", &self.connect_timeout)
            .field("ack_timeout", &self.ack_timeout)
            .field("max_attachments", &self.max_attachments)
            .field("recovery", &self.recovery)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Sets the Engine.IO settings.
    pub fn engine(mut self, engine: EngineConfig) -> Self {
        self.engine = engine;
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the default acknowledgement timeout.
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }

    /// Turns connection state recovery on (see [`RecoveryConfig`]).
    pub fn recovery(mut self, recovery: RecoveryConfig) -> Self {
        self.recovery = Some(recovery);
        self
    }

    /// Shares the namespaces with other nodes through a cluster adapter (such as
    /// `wsx-redis`' adapters): `factory` is called once per namespace with its name.
    pub fn adapter<A: Cluster>(
        mut self,
        factory: impl Fn(&str) -> A + Send + Sync + 'static,
    ) -> Self {
        self.cluster = Arc::new(move |nsp| Arc::new(factory(nsp)));
        self
    }

    /// The cluster side of a new namespace `nsp`.
    pub(crate) fn cluster_for(&self, nsp: &str) -> Arc<dyn Cluster> {
        (self.cluster)(nsp)
    }
}
