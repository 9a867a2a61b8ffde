//! Redis stream entry ids (`<ms>-<seq>`), ordered as Redis orders them.

use std::fmt;
use std::str::FromStr;

/// The id of a Redis stream entry: the milliseconds of the Redis clock when it was added and a
/// sequence number within that millisecond. Ids compare as Redis orders a stream's entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl EntryId {
    /// `0-0`, before every entry.
    pub const ZERO: EntryId = EntryId { ms: 0, seq: 0 };

    /// The id `text` spells (`<ms>-<seq>`, both decimal), if it is one.
    pub fn parse(text: &str) -> Option<EntryId> {
        let (ms, seq) = text.split_once('-')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
        if !digits(ms) || !digits(seq) {
            return None;
        }
        Some(EntryId {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// The text is not a stream entry id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a stream entry id (<ms>-<seq>)")]
pub struct BadEntryId;

impl FromStr for EntryId {
    type Err = BadEntryId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntryId::parse(s).ok_or(BadEntryId)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_read_write_and_compare_as_redis_orders_them() {
        let a: EntryId = "1700000000000-9".parse().unwrap();
        let b = EntryId::parse("1700000000000-10").unwrap();
        let c = EntryId::parse("1700000000001-0").unwrap();
        assert!(EntryId::ZERO < a && a < b && b < c);
        assert_eq!(b.to_string(), "1700000000000-10");
        for bad in [
            "",
            "1",
            "1-",
            "-1",
            "a-1",
            "1-b",
            "1-2-3",
            "+1-2",
            "18446744073709551616-0",
        ] {
            assert_eq!(EntryId::parse(bad), None, "{bad:?}");
        }
    }
}
