//! Redis Pub/Sub as the classic adapter, the sharded adapter and the relay use it: publishing
//! a message (`PUBLISH`, or `SPUBLISH` on a Redis Cluster) and counting it, and counting a
//! channel's subscribers, which is how they count the nodes listening (`PUBSUB NUMSUB` on a
//! plain Redis, `PUBSUB SHARDNUMSUB` summed over a Redis Cluster's nodes).

use crate::metrics::MetricsInner;

/// Publishes `payload` on `channel` with `command` (`PUBLISH` or `SPUBLISH`), counted in
/// `metrics`; a failure is logged.
pub(crate) async fn publish(
    conn: &mut impl redis::aio::ConnectionLike,
    command: &str,
    channel: &str,
    payload: Vec<u8>,
    metrics: &MetricsInner,
) {
    let res: Result<redis::Value, _> = redis::cmd(command)
        .arg(channel)
        .arg(payload)
        .query_async(conn)
        .await;
    match res {
        Ok(_) => {
            metrics.connected();
            metrics.published();
        }
        Err(e) => {
            metrics.failed(&e);
            tracing::warn!(error = %e, channel, "wsx-redis: {command} failed");
        }
    }
}

/// The subscribers of `channel` (`PUBSUB NUMSUB`).
pub(crate) async fn numsub(
    conn: &redis::aio::ConnectionManager,
    channel: &str,
) -> redis::RedisResult<usize> {
    let mut conn = conn.clone();
    let (_, n): (String, usize) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(&mut conn)
        .await?;
    Ok(n)
}

/// The sharded subscribers of `channel` (`PUBSUB SHARDNUMSUB`, which the cluster connection
/// sends to every node and sums per channel).
pub(crate) async fn shardnumsub(
    conn: &redis::cluster_async::ClusterConnection,
    channel: &str,
) -> redis::RedisResult<usize> {
    let mut conn = conn.clone();
    let v: redis::Value = redis::cmd("PUBSUB")
        .arg("SHARDNUMSUB")
        .arg(channel)
        .query_async(&mut conn)
        .await?;
    Ok(count_of(&v))
}

/// The count in a `PUBSUB SHARDNUMSUB <channel>` reply (`[channel, n]`, or a map).
fn count_of(v: &redis::Value) -> usize {
    use redis::Value as V;
    match v {
        V::Int(n) => usize::try_from(*n).unwrap_or(0),
        V::Array(items) => items.get(1).map_or(0, count_of),
        V::Map(entries) => entries.first().map_or(0, |(_, n)| count_of(n)),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shardnumsub_counts_are_read_from_arrays_and_maps() {
        use redis::Value as V;
        let arr = V::Array(vec![V::BulkString(b"c".to_vec()), V::Int(3)]);
        assert_eq!(count_of(&arr), 3);
        let m = V::Map(vec![(V::BulkString(b"c".to_vec()), V::Int(2))]);
        assert_eq!(count_of(&m), 2);
    }
}
