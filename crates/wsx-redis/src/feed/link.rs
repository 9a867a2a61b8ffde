//! The feed's connections to Redis: to one Redis, or to a Redis Cluster (where every stream
//! of a feed lives in one slot, so one `XREAD` reads them all).

use std::time::Duration;

use redis::FromRedisValue;

use crate::connection::{blocking_reader, connect};

/// Where the feed's streams live.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub(super) url: String,
    pub(super) cluster: bool,
}

/// A connection for appends and reads that do not block (it reconnects by itself).
#[derive(Clone)]
pub(super) enum Link {
    Single(redis::aio::ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
    /// The blocking reader's own connection to one Redis.
    Reader(redis::aio::MultiplexedConnection),
}

impl Target {
    /// The shared connection, and a client for the blocking reader (one Redis).
    pub(super) async fn connect(&self) -> redis::RedisResult<(Link, Option<redis::Client>)> {
        if self.cluster {
            let conn = cluster_client(&self.url, Duration::from_secs(5))?
                .get_async_connection()
                .await?;
            return Ok((Link::Cluster(conn), None));
        }
        let (client, conn) =
            connect(&self.url, Duration::from_secs(1), Duration::from_secs(5)).await?;
        Ok((Link::Single(conn), Some(client)))
    }

    /// A connection of the reader's own, which may block up to `block` on `XREAD`.
    pub(super) async fn reader(
        &self,
        client: Option<&redis::Client>,
        block: Duration,
    ) -> redis::RedisResult<Link> {
        match client {
            Some(client) if !self.cluster => {
                Ok(Link::Reader(blocking_reader(client, block).await?))
            }
            _ => Ok(Link::Cluster(
                cluster_client(&self.url, block + Duration::from_secs(3))?
                    .get_async_connection()
                    .await?,
            )),
        }
    }
}

fn cluster_client(
    url: &str,
    response_timeout: Duration,
) -> redis::RedisResult<redis::cluster::ClusterClient> {
    redis::cluster::ClusterClientBuilder::new(vec![url.to_owned()])
        .connection_timeout(Duration::from_secs(2))
        .response_timeout(response_timeout)
        .build()
}

impl Link {
    pub(super) async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        match self {
            Link::Single(c) => cmd.query_async(&mut c.clone()).await,
            Link::Cluster(c) => cmd.query_async(&mut c.clone()).await,
            Link::Reader(c) => cmd.query_async(&mut c.clone()).await,
        }
    }

    pub(super) async fn pipe<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> redis::RedisResult<T> {
        match self {
            Link::Single(c) => pipe.query_async(&mut c.clone()).await,
            Link::Cluster(c) => pipe.query_async(&mut c.clone()).await,
            Link::Reader(c) => pipe.query_async(&mut c.clone()).await,
        }
    }
}
