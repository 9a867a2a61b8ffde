//! The document server's settings and their defaults.

use std::time::Duration;

/// Settings of a [`crate::YjsServer`].
#[derive(Debug, Clone)]
pub struct Config {
    /// How long a document stays in memory after its last connection left (default 10 s), so a
    /// reconnecting client does not reload it.
    pub grace: Duration,
    /// Awareness states not renewed for this long are dropped and announced as removed
    /// (default 30 s, y-protocols' `outdatedTimeout`; clients renew every 15 s).
    pub awareness_timeout: Duration,
    /// The largest message a client may send, in bytes (default 16 MiB); larger ones close the
    /// connection with 1009.
    pub max_message_size: usize,
    /// Compact a document's stored updates into one state after this many updates
    /// (default 1,000)...
    pub compact_after_updates: u64,
    /// ...or this many bytes of updates (default 4 MiB), whichever comes first.
    pub compact_after_bytes: u64,
    /// A document without updates for this long is held encoded (its state's bytes) instead
    /// of as a yrs document, until the next update (default 10 s): an idle document costs
    /// the size of its state, not a few KiB.
    pub encode_idle_after: Duration,
    /// A document whose state encodes in fewer bytes than this (default 1 KiB) is held
    /// encoded even while it is edited: each update is applied to a yrs document decoded for
    /// it alone. A small document's bytes are a fraction of a decoded one's memory, and
    /// decoding it costs microseconds. 0 turns this off.
    pub keep_encoded_below: usize,
    /// Document updates of one connection that may wait for the store at once (default 64);
    /// past that the connection is not read until the store catches up (TCP backpressure).
    pub in_flight_per_connection: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(10),
            awareness_timeout: Duration::from_secs(30),
            max_message_size: 16 << 20,
            compact_after_updates: 1000,
            compact_after_bytes: 4 << 20,
            encode_idle_after: Duration::from_secs(10),
            keep_encoded_below: 1024,
            in_flight_per_connection: 64,
        }
    }
}
