//! From the classic adapter's builder to the others': one URL, key and requests timeout,
//! given once, serve whichever adapter the application then picks.

use crate::classic::RedisAdapterBuilder;
use crate::sharded::ShardedAdapterBuilder;
use crate::streams::StreamsAdapterBuilder;

impl RedisAdapterBuilder {
    /// The sharded adapter instead (Node's `createShardedAdapter`), with this builder's URL as
    /// the Redis Cluster's seed node, its key as the channel prefix and its requests timeout.
    pub fn sharded(self) -> ShardedAdapterBuilder {
        ShardedAdapterBuilder::new([self.url])
            .channel_prefix(self.key)
            .requests_timeout(self.requests_timeout)
    }

    /// The streams adapter instead (`@socket.io/redis-streams-adapter`), with this builder's
    /// URL, its key as the stream name and its requests timeout.
    pub fn streams(self) -> StreamsAdapterBuilder {
        StreamsAdapterBuilder::new(self.url)
            .stream_name(self.key)
            .requests_timeout(self.requests_timeout)
    }
}
