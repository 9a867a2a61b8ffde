//! What every connection reports into, on one thread: connection counts, one record per
//! keystroke (sent, first and last receiver, the writer's echo), and each client's check of
//! the keystrokes it got.

use std::cell::{Cell, RefCell};
use std::ops::Range;
use std::time::Instant;

use tokio::sync::Notify;

use crate::proto::FrameCache;

/// One keystroke (index = the writer's clock).
#[derive(Debug, Clone, Copy, Default)]
pub struct Round {
    pub sent: Option<Instant>,
    pub first: Option<Instant>,
    /// When the `expected`-th receiver had it.
    pub last: Option<Instant>,
    /// When the writer had its own keystroke back.
    pub echo: Option<Instant>,
    pub count: u32,
}

/// One client's keystroke check. Updates arrive in order on a healthy connection, so the
/// common path is `clock == next`; a jump records the skipped clocks as missing until they
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
            // Bounded by the keystrokes sent, which are bounded by the options.
            self.missing.extend(self.next..seq);
            self.next = seq + 1;
        } else if let Some(i) = self.missing.iter().position(|&m| m == seq) {
            self.missing.swap_remove(i);
            self.reordered += 1;
        } else {
            self.duplicates += 1;
        }
    }

    /// Keystrokes `0..sent` this client never had.
    fn lost(&self, sent: u64) -> u64 {
        self.missing.len() as u64 + sent.saturating_sub(self.next)
    }
}

/// Check totals.
#[derive(Debug, Clone, Copy, Default)]
pub struct Check {
    pub lost: u64,
    pub reordered: u64,
    pub duplicates: u64,
}

/// The state shared by every task of the driver (a current-thread runtime: `Cell`s, no locks).
pub struct Shared {
    /// Clients that must connect (and sync) before the measurement starts.
    pub clients: usize,
    pub connected: Cell<usize>,
    /// Clients that have had the server's SyncStep2 (the initial sync is done).
    pub synced: Cell<usize>,
    pub failed: Cell<usize>,
    pub closed: Cell<usize>,
    pub first_error: RefCell<Option<String>>,
    /// Woken when `synced + failed` reaches `clients`.
    pub connect_done: Notify,
    /// The writer's client id: updates of other clients are not keystrokes.
    pub writer: Cell<u64>,
    /// Receivers that must have a keystroke for it to be complete (set before the first).
    pub expected: Cell<u32>,
    pub rounds: RefCell<Vec<Round>>,
    /// Keystrokes that reached every receiver.
    pub completed: Cell<u64>,
    /// Keystrokes the writer had back.
    pub echoes: Cell<u64>,
    /// Woken whenever a keystroke completes or is echoed (or a room client is done).
    pub progress: Notify,
    /// Keystrokes delivered to receivers (the writer's echoes are not counted).
    pub deliveries: Cell<u64>,
    /// Messages no server should send here (undecodable, unknown, keystrokes never sent).
    pub unexpected: Cell<u64>,
    /// Awareness messages (nobody sets an awareness state here, so there should be none).
    pub awareness: Cell<u64>,
    /// Updates of clients other than the writer (content already in the room).
    pub foreign: Cell<u64>,
    pub cache: FrameCache,
    /// Receivers `0..clients`, then the writer's echo check.
    seqs: RefCell<Vec<Seq>>,
}

impl Shared {
    pub fn new(clients: usize) -> Shared {
        Shared {
            clients,
            connected: Cell::new(0),
            synced: Cell::new(0),
            failed: Cell::new(0),
            closed: Cell::new(0),
            first_error: RefCell::new(None),
            connect_done: Notify::new(),
            writer: Cell::new(0),
            expected: Cell::new(u32::MAX),
            rounds: RefCell::new(Vec::new()),
            completed: Cell::new(0),
            echoes: Cell::new(0),
            progress: Notify::new(),
            deliveries: Cell::new(0),
            unexpected: Cell::new(0),
            awareness: Cell::new(0),
            foreign: Cell::new(0),
            cache: FrameCache::default(),
            seqs: RefCell::new((0..=clients).map(|_| Seq::default()).collect()),
        }
    }

    fn connect_settled(&self) {
        if self.synced.get() + self.failed.get() == self.clients {
            self.connect_done.notify_one();
        }
    }

    pub fn on_connected(&self) {
        self.connected.set(self.connected.get() + 1);
    }

    pub fn on_synced(&self) {
        self.synced.set(self.synced.get() + 1);
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

    pub fn bump_unexpected(&self) {
        self.unexpected.set(self.unexpected.get() + 1);
    }

    /// The writer's index among the checked clients.
    pub fn writer_index(&self) -> usize {
        self.clients
    }

    /// Client `id` (a receiver, or [`Shared::writer_index`]) got an update inserting `ins`.
    pub fn on_update(&self, id: usize, ins: &[(u64, Range<u32>)], now: Instant) {
        let writer = self.writer.get();
        let is_writer = id == self.writer_index();
        let mut rounds = self.rounds.borrow_mut();
        let mut seqs = self.seqs.borrow_mut();
        for (client, range) in ins {
            if *client != writer {
                self.foreign.set(self.foreign.get() + 1);
                continue;
            }
            for clock in range.clone() {
                let Some(round) = rounds.get_mut(clock as usize) else {
                    self.bump_unexpected();
                    continue;
                };
                if let Some(s) = seqs.get_mut(id) {
                    s.on(u64::from(clock));
                }
                if is_writer {
                    if round.echo.is_none() {
                        round.echo = Some(now);
                        self.echoes.set(self.echoes.get() + 1);
                        self.progress.notify_one();
                    }
                    continue;
                }
                self.deliveries.set(self.deliveries.get() + 1);
                round.count += 1;
                if round.first.is_none() {
                    round.first = Some(now);
                }
                if round.count == self.expected.get() {
                    round.last = Some(now);
                    self.completed.set(self.completed.get() + 1);
                    self.progress.notify_one();
                }
            }
        }
    }

    /// Keystroke `k` is about to be sent.
    pub fn mark_sent(&self, k: usize, now: Instant) {
        let mut rounds = self.rounds.borrow_mut();
        if rounds.len() <= k {
            rounds.resize(k + 1, Round::default());
        }
        rounds[k].sent = Some(now);
    }

    pub fn round(&self, k: usize) -> Round {
        self.rounds.borrow().get(k).copied().unwrap_or_default()
    }

    /// Delivered to every expected receiver.
    pub fn complete(&self, k: usize) -> bool {
        self.round(k).last.is_some()
    }

    /// Totals of the check for keystrokes `0..sent`: the receivers', and the writer's echoes.
    pub fn check(&self, sent: u64) -> (Check, Check) {
        let seqs = self.seqs.borrow();
        let mut c = Check::default();
        let (receivers, writer) = seqs.split_at(self.clients);
        for s in receivers {
            c.lost += s.lost(sent);
            c.reordered += s.reordered;
            c.duplicates += s.duplicates;
        }
        let w = &writer[0];
        let echo = Check {
            lost: w.lost(sent),
            reordered: w.reordered,
            duplicates: w.duplicates,
        };
        (c, echo)
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

    #[test]
    fn rounds_complete_with_every_receiver() {
        let sh = Shared::new(2);
        sh.writer.set(9);
        sh.expected.set(2);
        let t = Instant::now();
        sh.mark_sent(0, t);
        sh.on_update(0, &[(9, 0..1)], t);
        assert!(!sh.complete(0));
        sh.on_update(1, &[(9, 0..1), (3, 0..4)], t);
        assert!(sh.complete(0));
        sh.on_update(sh.writer_index(), &[(9, 0..1)], t);
        assert_eq!(
            (sh.deliveries.get(), sh.echoes.get(), sh.foreign.get()),
            (2, 1, 1)
        );
        let (c, e) = sh.check(1);
        assert_eq!((c.lost, e.lost), (0, 0));
        sh.on_update(0, &[(9, 5..6)], t);
        assert_eq!(sh.unexpected.get(), 1, "never sent");
    }
}
