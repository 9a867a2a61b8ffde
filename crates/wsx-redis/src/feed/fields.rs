//! The fields of an entry the feed writes (`n` the process, `s` its sequence number, `d` the
//! data), and telling the first copy of an append from the copies a retry added.

use std::collections::HashMap;

use bytes::Bytes;

use crate::stream_reply;

/// The fields of an entry the feed wrote.
#[derive(Debug, Default)]
pub(super) struct Fields {
    pub(super) node: String,
    pub(super) seq: u64,
    pub(super) data: Option<Bytes>,
}

impl Fields {
    pub(super) fn read(kv: &stream_reply::Fields<'_>) -> Fields {
        let mut f = Fields::default();
        for &(k, v) in kv {
            let (Some(k), Some(v)) = (stream_reply::bytes(k), stream_reply::bytes(v)) else {
                continue;
            };
            match k {
                b"n" => f.node = String::from_utf8_lossy(v).into_owned(),
                b"s" => {
                    f.seq = std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0)
                }
                b"d" => f.data = Some(Bytes::copy_from_slice(v)),
                _ => {}
            }
        }
        f
    }

    /// Whether this entry is new to `seen` (and records it): a copy of a retried append has a
    /// sequence number its process already used.
    pub(super) fn first_copy(&self, seen: &mut HashMap<String, u64>) -> bool {
        match seen.get_mut(&self.node) {
            Some(last) if self.seq <= *last => false,
            Some(last) => {
                *last = self.seq;
                true
            }
            None => {
                seen.insert(self.node.clone(), self.seq);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn copies_of_a_retried_append_are_told_apart() {
        let f = |node: &str, seq| Fields {
            node: node.into(),
            seq,
            data: None,
        };
        let mut seen = HashMap::new();
        assert!(f("a", 1).first_copy(&mut seen));
        assert!(f("a", 2).first_copy(&mut seen));
        assert!(f("b", 1).first_copy(&mut seen));
        assert!(!f("a", 1).first_copy(&mut seen));
        assert!(!f("a", 2).first_copy(&mut seen));
        assert!(f("a", 3).first_copy(&mut seen));
    }
}
