//! What every connection reports into, on one thread: connection counts, one record per
//! broadcast (sent, acked, first and last delivery), and each receiver's sequence check.

use std::cell::{Cell, RefCell};
use std::time::Instant;

use tokio::sync::Notify;

/// One broadcast.
#[derive(Debug, Clone, Copy, Default)]
pub struct Round {
    pub sent: Option<Instant>,
    pub acked: Option<Instant>,
    pub first: Option<Instant>,
    /// When the `expected`-th receiver had it.
    pub last: Option<Instant>,
    pub count: u32,
}

/// One receiver's sequence check. Messages arrive in order on a healthy connection, so the
/// common path is `seq == next`; a jump records the skipped numbers as missing until they
/// show up late (reordered) or never (lost).
#[derive(Debug, Default)]
pub struct Seq {
    next: u64,
    missing: Vec<u64>,
    reordered: u64,
    duplicates: u64,
}

impl Seq {
    fn on(&mut self, seq: u64) {
        if seq == self.next {
            self.next += 1;
        } else if seq > self.next {
            // Bounded by the number of broadcasts, which is bounded by the options.
            self.missing.extend(self.next..seq);
            self.next = seq + 1;
        } else if let Some(i) = self.missing.iter().position(|&m| m == seq) {
            self.missing.swap_remove(i);
            self.reordered += 1;
        } else {
            self.duplicates += 1;
        }
    }

    /// Broadcasts `0..sent` this receiver never had.
    fn lost(&self, sent: u64) -> u64 {
        self.missing.len() as u64 + sent.saturating_sub(self.next)
    }
}

/// Sequence-check totals over every receiver.
#[derive(Debug, Clone, Copy, Default)]
pub struct Check {
    pub lost: u64,
    pub reordered: u64,
    pub duplicates: u64,
}

/// The state shared by every task of the driver (a current-thread runtime: `Cell`s, no locks).
pub struct Shared {
    pub receivers: usize,
    pub connected: Cell<usize>,
    pub failed: Cell<usize>,
    pub closed: Cell<usize>,
    pub first_error: RefCell<Option<String>>,
    /// Woken when `connected + failed` reaches `receivers`.
    pub connect_done: Notify,
    /// Receivers that must have a broadcast for it to be complete (set before the first).
    pub expected: Cell<u32>,
    pub rounds: RefCell<Vec<Round>>,
    /// Woken whenever a broadcast completes or is acked.
    pub progress: Notify,
    pub acks: Cell<u64>,
    pub deliveries: Cell<u64>,
    /// Frames that were not what the spec says (unknown events, bad sequence numbers).
    pub unexpected: Cell<u64>,
    /// The payload the `echo` ack carried.
    pub echo: RefCell<Option<String>>,
    seqs: RefCell<Vec<Seq>>,
}

impl Shared {
    pub fn new(receivers: usize, broadcasts: usize) -> Shared {
        Shared {
            receivers,
            connected: Cell::new(0),
            failed: Cell::new(0),
            closed: Cell::new(0),
            first_error: RefCell::new(None),
            connect_done: Notify::new(),
            expected: Cell::new(u32::MAX),
            rounds: RefCell::new(vec![Round::default(); broadcasts]),
            progress: Notify::new(),
            acks: Cell::new(0),
            deliveries: Cell::new(0),
            unexpected: Cell::new(0),
            echo: RefCell::new(None),
            seqs: RefCell::new((0..receivers).map(|_| Seq::default()).collect()),
        }
    }

    fn connect_settled(&self) {
        if self.connected.get() + self.failed.get() == self.receivers {
            self.connect_done.notify_one();
        }
    }

    pub fn on_connected(&self) {
        self.connected.set(self.connected.get() + 1);
        self.connect_settled();
    }

    pub fn on_failed(&self, error: String) {
        self.failed.set(self.failed.get() + 1);
        self.first_error.borrow_mut().get_or_insert(error);
        self.connect_settled();
    }

    pub fn on_closed(&self) {
        self.closed.set(self.closed.get() + 1);
    }

    /// Receiver `id` has broadcast `seq`.
    pub fn on_msg(&self, id: usize, seq: u64, now: Instant) {
        let mut rounds = self.rounds.borrow_mut();
        let Some(round) = usize::try_from(seq).ok().and_then(|s| rounds.get_mut(s)) else {
            self.unexpected.set(self.unexpected.get() + 1);
            return;
        };
        if let Some(s) = self.seqs.borrow_mut().get_mut(id) {
            s.on(seq);
        }
        self.deliveries.set(self.deliveries.get() + 1);
        round.count += 1;
        if round.first.is_none() {
            round.first = Some(now);
        }
        if round.count == self.expected.get() {
            round.last = Some(now);
            self.progress.notify_one();
        }
    }

    /// The publisher's ack for broadcast `seq`.
    pub fn on_ack(&self, seq: u64, now: Instant) {
        let mut rounds = self.rounds.borrow_mut();
        match usize::try_from(seq).ok().and_then(|s| rounds.get_mut(s)) {
            Some(r) if r.acked.is_none() => {
                r.acked = Some(now);
                self.acks.set(self.acks.get() + 1);
                self.progress.notify_one();
            }
            _ => self.unexpected.set(self.unexpected.get() + 1),
        }
    }

    pub fn round(&self, seq: usize) -> Round {
        self.rounds.borrow().get(seq).copied().unwrap_or_default()
    }

    pub fn mark_sent(&self, seq: usize, now: Instant) {
        if let Some(r) = self.rounds.borrow_mut().get_mut(seq) {
            r.sent = Some(now);
        }
    }

    /// Delivered to every expected receiver and acked.
    pub fn complete(&self, seq: usize) -> bool {
        let r = self.round(seq);
        r.last.is_some() && r.acked.is_some()
    }

    /// Totals of the sequence check for broadcasts `0..sent`.
    pub fn check(&self, sent: u64) -> Check {
        let seqs = self.seqs.borrow();
        let mut c = Check::default();
        for s in seqs.iter() {
            c.lost += s.lost(sent);
            c.reordered += s.reordered;
            c.duplicates += s.duplicates;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_check() {
        let mut s = Seq::default();
        for x in [0, 1, 2] {
            s.on(x);
        }
        assert_eq!((s.lost(3), s.reordered, s.duplicates), (0, 0, 0));
        s.on(5); // 3, 4 missing
        assert_eq!(s.lost(6), 2);
        s.on(3); // late
        s.on(3); // duplicate
        assert_eq!((s.lost(6), s.reordered, s.duplicates), (1, 1, 1));
        assert_eq!(s.lost(8), 3, "6 and 7 never came");
    }
}
