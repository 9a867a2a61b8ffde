//! What one receiver got of one sender's numbered messages (numbers from 0): the next number
//! it waits for and the gaps below it (numbers skipped by a later arrival), so a late arrival
//! is told from a repeat, and what is missing at the end is the gaps and everything past the
//! last arrival. Memory is the number of gaps, not of messages.

use std::collections::BTreeSet;

/// How a message arrived.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Arrival {
    /// The next one, or later (a gap opened before it).
    InOrder { gaps_opened: u64 },
    /// One that a later message had overtaken: it fills a gap.
    Late,
    /// Had already arrived.
    Repeat,
}

#[derive(Default, Debug)]
pub struct Seq {
    next: u64,
    gaps: BTreeSet<u64>,
}

impl Seq {
    pub fn arrive(&mut self, n: u64) -> Arrival {
        if n >= self.next {
            let opened = n - self.next;
            self.gaps.extend(self.next..n);
            self.next = n + 1;
            Arrival::InOrder {
                gaps_opened: opened,
            }
        } else if self.gaps.remove(&n) {
            Arrival::Late
        } else {
            Arrival::Repeat
        }
    }

    /// The numbers below `end` that have not arrived, in order.
    pub fn missing(&self, end: u64) -> impl Iterator<Item = u64> + '_ {
        self.gaps
            .iter()
            .copied()
            .take_while(move |&n| n < end)
            .chain(self.next..end.max(self.next))
    }

    /// Whether every number below `end` has arrived.
    pub fn has_all(&self, end: u64) -> bool {
        self.next >= end && self.gaps.range(..end).next().is_none()
    }

    /// Open gaps (numbers skipped by a later arrival).
    pub fn gaps(&self) -> usize {
        self.gaps.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_late_repeats_and_the_missing_tail() {
        let mut s = Seq::default();
        assert_eq!(s.arrive(0), Arrival::InOrder { gaps_opened: 0 });
        assert_eq!(s.arrive(3), Arrival::InOrder { gaps_opened: 2 });
        assert_eq!(s.arrive(2), Arrival::Late);
        assert_eq!(s.arrive(2), Arrival::Repeat);
        assert_eq!(s.arrive(0), Arrival::Repeat);
        assert!(!s.has_all(2) && !s.has_all(4));
        assert!(Seq::default().has_all(0));
        assert_eq!(s.missing(6).collect::<Vec<_>>(), vec![1, 4, 5]);
        assert_eq!(s.missing(2).collect::<Vec<_>>(), vec![1]);
        assert_eq!(s.gaps(), 1);
    }
}
