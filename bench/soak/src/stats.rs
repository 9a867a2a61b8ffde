//! What each kind of load counts: messages sent and accepted, deliveries expected and
//! received, lost, reordered and duplicated ones, its latency histogram, where and when each
//! loss happened, and notes (a connection dropped, a round that diverged). Counters are
//! atomics: the kind's tasks add to them, the reporter reads them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::histogram::Histogram;
use crate::seq::{Arrival, Seq};

/// Losses kept with their time and place at most (the count goes on past it).
const LOSSES_KEPT: usize = 100_000;

/// Lost deliveries of one message: when it was sent (Unix ms), where it should have arrived
/// and how many times.
#[derive(Clone, Debug)]
pub struct Loss {
    pub sent_ms: u64,
    pub place: String,
    pub n: u64,
}

/// The counters of one kind of load.
pub struct Kind {
    pub name: &'static str,
    /// Messages the driver sent (echo messages, chat messages, edits).
    pub sent: AtomicU64,
    /// Of those, the ones the server accepted (each kind defines it: see main.rs).
    pub accepted: AtomicU64,
    /// Deliveries that had to arrive (set when the kind finishes).
    pub expected: AtomicU64,
    /// Deliveries that arrived (each (message, receiver) once).
    pub received: AtomicU64,
    /// Expected deliveries that had not arrived at the end (after the grace period).
    pub lost: AtomicU64,
    /// Deliveries that came after a later message of the same sender.
    pub reordered: AtomicU64,
    /// Deliveries that had come before.
    pub duplicated: AtomicU64,
    /// Gaps in what receivers got so far (a later message came first); filled by late
    /// arrivals, and what is still open at the end is lost. Shown while running.
    pub gaps: AtomicI64,
    /// Connections lost or refused, failed requests.
    pub errors: AtomicU64,
    /// Checks that failed other than losses (replicas that differ, a driver that broke).
    pub failures: AtomicU64,
    /// Time from send to delivery.
    pub latency: Histogram,
    losses: Mutex<Vec<Loss>>,
    notes: Mutex<Vec<String>>,
}

impl Kind {
    pub fn new(name: &'static str) -> Kind {
        Kind {
            name,
            sent: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            expected: AtomicU64::new(0),
            received: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            reordered: AtomicU64::new(0),
            duplicated: AtomicU64::new(0),
            gaps: AtomicI64::new(0),
            errors: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            latency: Histogram::default(),
            losses: Mutex::new(Vec::new()),
            notes: Mutex::new(Vec::new()),
        }
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Records `n` lost deliveries of a message sent at `sent_ms` (Unix ms) to `place`.
    pub fn lose(&self, sent_ms: u64, place: &str, n: u64) {
        Kind::add(&self.lost, n);
        let mut g = self.losses.lock().unwrap_or_else(|e| e.into_inner());
        if g.len() < LOSSES_KEPT {
            g.push(Loss {
                sent_ms,
                place: place.to_owned(),
                n,
            });
        }
    }

    /// The losses recorded with their time and place.
    pub fn losses(&self) -> Vec<Loss> {
        self.losses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Something worth reading in the summary.
    pub fn note(&self, line: String) {
        eprintln!("soak: {}: {line}", self.name);
        self.notes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    }

    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Counts the arrival of message `n` (sent `latency_us` ago) at a receiver whose arrivals
    /// so far are `seq`.
    pub fn arrived(&self, seq: &mut Seq, n: u64, latency_us: u64) {
        match seq.arrive(n) {
            Arrival::InOrder { gaps_opened } => {
                Kind::add(&self.received, 1);
                self.gaps.fetch_add(gaps_opened as i64, Ordering::Relaxed);
                self.latency.record_us(latency_us);
            }
            Arrival::Late => {
                Kind::add(&self.received, 1);
                Kind::add(&self.reordered, 1);
                self.gaps.fetch_sub(1, Ordering::Relaxed);
                self.latency.record_us(latency_us);
            }
            Arrival::Repeat => Kind::add(&self.duplicated, 1),
        }
    }

    /// A receiver is done: its open gaps are counted as losses instead (by the caller).
    pub fn close_gaps(&self, seq: &Seq) {
        self.gaps.fetch_sub(seq.gaps() as i64, Ordering::Relaxed);
    }
}
