//! Reading the stream: `XREAD BLOCK` from the last entry read, on a connection of its own,
//! each entry handed to its namespace while the gate is held; after a failure the reader
//! reconnects and resumes from the same entry.

use std::sync::Weak;
use std::time::Duration;

use super::entry::xread_entries;
use super::incoming::on_entry;
use super::node::StreamsShared;
use super::offset::parse_id;
use crate::connection::blocking_reader;

/// Reads the stream from the last entry seen, on a connection of its own, and hands each
/// entry to its namespace; reconnects (and resumes from the same entry) after a failure.
pub(super) async fn reader(
    client: redis::Client,
    shared: Weak<StreamsShared>,
    start: String,
    read_count: usize,
    block: Duration,
) {
    let mut last = start;
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut backoff = Duration::from_millis(50);
    let block_ms = u64::try_from(block.as_millis()).unwrap_or(u64::MAX);
    loop {
        let Some(stream) = shared.upgrade().map(|s| s.stream.clone()) else {
            return;
        };
        let c = match &mut conn {
            Some(c) => c,
            None => match blocking_reader(&client, block).await {
                Ok(c) => {
                    if let Some(shared) = shared.upgrade() {
                        shared.node.metrics.connected();
                    }
                    backoff = Duration::from_millis(50);
                    conn.insert(c)
                }
                Err(e) => {
                    if let Some(shared) = shared.upgrade() {
                        shared.node.metrics.failed(&e);
                    }
                    tracing::debug!(error = %e, "wsx-redis: streams: cannot connect the reader; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
        };
        let res: Result<redis::Value, _> = redis::cmd("XREAD")
            .arg("BLOCK")
            .arg(block_ms)
            .arg("COUNT")
            .arg(read_count)
            .arg("STREAMS")
            .arg(&stream)
            .arg(&last)
            .query_async(c)
            .await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match res {
            Ok(v) => {
                let gate = shared.gate.clone();
                let _handing_out = gate.lock().await;
                for (id, fields) in xread_entries(&v) {
                    shared.node.metrics.received();
                    let nsp = fields.get("nsp").map_or("", String::as_str);
                    if let Some(st) = shared.namespace(nsp) {
                        on_entry(&shared, &st, &id, &fields);
                    }
                    last = id;
                }
                if let Some(pos) = parse_id(&last) {
                    shared.read_up_to.send_replace(pos);
                }
            }
            Err(e) => {
                shared.node.metrics.failed(&e);
                tracing::warn!(error = %e, last, "wsx-redis: streams: XREAD failed; reconnecting");
                conn = None;
                drop(shared);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}
