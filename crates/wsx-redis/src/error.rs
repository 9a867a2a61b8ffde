//! What can go wrong when an adapter, the relay or the Yjs cluster connects to Redis.

/// What can go wrong when joining a cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Redis refused or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}
