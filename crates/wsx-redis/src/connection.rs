//! Connections to Redis: the settings of the reconnecting publishing connection, the
//! connection of a blocking stream reader, and which failures mean Redis could not be reached.

use std::time::Duration;

/// The publishing connection's settings, shared by every adapter and the relay: it
/// reconnects by itself after Redis restarts, backing off from 50 ms to `max_delay`, gives up
/// a connection attempt after 2 s and a command after `response_timeout`.
pub(crate) fn reconnecting(
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
