//! Stream entry ids, which are also the offsets of recoverable broadcasts: an id read as a
//! position, the least id after one, whether a client's offset is an id at all, and the id of
//! the stream's last entry.

use crate::entry_id::EntryId;
use crate::stream_reply;

/// Node's `nextOffset`: the smallest id after `offset` (exclusive ranges need Redis 6.2).
pub(super) fn next_offset(offset: &str) -> Option<String> {
    let (ms, seq) = offset.split_once('-')?;
    let seq: u64 = seq.parse().ok()?;
    Some(format!("{ms}-{}", seq + 1))
}

/// A stream entry id as (milliseconds, sequence).
pub(super) fn parse_id(id: &str) -> Option<(u64, u64)> {
    EntryId::parse(id).map(|e| (e.ms, e.seq))
}

/// Whether a client's offset is a stream entry id (`<ms>-<seq>`, both decimal).
pub(super) fn valid_offset(offset: &str) -> bool {
    EntryId::parse(offset).is_some()
}

/// The id of the stream's last entry, if any.
pub(super) async fn last_id(
    conn: &mut redis::aio::ConnectionManager,
    stream: &str,
) -> Result<Option<String>, redis::RedisError> {
    let v: redis::Value = redis::cmd("XREVRANGE")
        .arg(stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    Ok(stream_reply::entries(&v, |_| ())
        .into_iter()
        .next()
        .map(|(id, ())| id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert!(valid_offset("1795354590402-0"));
        assert!(!valid_offset("Q83UEhh") && !valid_offset("1-") && !valid_offset("-1"));
        assert_eq!(next_offset("17-9").as_deref(), Some("17-10"));
    }
}
