//! Connections to Redis: a client with its reconnecting publishing connection, the
//! connection of a blocking stream reader, and which failures mean Redis could not be reached.

use std::time::Duration;

/// A client of the Redis at `url`, and its publishing connection, as every adapter, the relay
/// and the Yjs cluster open them: the connection reconnects by itself after Redis restarts,
/// backing off from 50 ms to `max_delay`, gives up a connection attempt after 2 s and a
/// command after `response_timeout`.
pub(crate) async fn connect(
    url: &str,
    max_delay: Duration,
    response_timeout: Duration,
) -> redis::RedisResult<(redis::Client, redis::aio::ConnectionManager)> {
    let client = redis::Client::open(url)?;
    let config = reconnecting(max_delay, response_timeout);
    let conn = client.get_connection_manager_with_config(config).await?;
    Ok((client, conn))
}

/// The publishing connection's settings (see [`connect`]).
fn reconnecting(
    max_delay: Duration,
    response_timeout: Duration,
) -> redis::aio::ConnectionManagerConfig {
    redis::aio::ConnectionManagerConfig::new()
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(max_delay)
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(response_timeout))
}

/// A connection of its own for a reader that blocks up to `block` on `XREAD`: its response
/// timeout leaves room for the block.
pub(crate) async fn blocking_reader(
    client: &redis::Client,
    block: Duration,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(block + Duration::from_secs(3)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// Whether a command failed because Redis could not be reached (the connection broke, was
/// refused or timed out), rather than because Redis refused the command.
pub(crate) fn unreachable(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout()
}
