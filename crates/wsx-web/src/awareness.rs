//! Awareness (who is here, their names and cursors) with y-protocols' rules, kept by us.
//!
//! `yrs::sync::Awareness` needs a clock object and, when it drops a peer, raises that peer's
//! clock, so the peer's next renewal is ignored; a client also wants to forget every peer when
//! its connection drops and take the server's snapshot afresh on the next one. This small table
//! does what y-protocols' `Awareness` does (same wire format, same clock rules) plus that.

use std::collections::HashMap;
use std::sync::Arc;

use yrs::ClientID;
use yrs::sync::awareness::{AwarenessUpdate, AwarenessUpdateEntry};

/// One client's entry: its clock, when we last heard of it, and its state (JSON), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The client's logical clock for its state: a newer state has a higher clock.
    pub clock: u32,
    /// When we last received (or, for ours, changed) it, in milliseconds.
    pub last_updated: u64,
    /// The state as JSON; `None` once the client left (the entry keeps its clock).
    pub state: Option<Arc<str>>,
}

/// What applying an awareness update changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Someone came, went, or changed their state.
    pub changed: bool,
    /// A peer said we left while we are here: our state must be sent again (with a higher clock).
    pub reannounce: bool,
}

/// The awareness states of one document's clients, ours included.
#[derive(Debug)]
pub struct Awareness {
    me: u64,
    entries: HashMap<u64, Entry>,
}

fn is_null(json: &str) -> bool {
    json.trim() == "null"
}

impl Awareness {
    /// An empty table for client `me`.
    pub fn new(me: u64) -> Self {
        Awareness {
            me,
            entries: HashMap::new(),
        }
    }

    /// Everyone's entries, ours included, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (u64, &Entry)> {
        self.entries.iter().map(|(id, e)| (*id, e))
    }

    /// Our state, if we have one.
    pub fn local_state(&self) -> Option<&str> {
        self.entries.get(&self.me)?.state.as_deref()
    }

    /// Sets our state (`None`: we leave) and raises our clock. The first clock is 1: a peer
    /// that does not know us takes its clock as 0 and applies only higher ones (y-protocols'
    /// own first state, `{}` at clock 0, is never seen by the others).
    pub fn set_local_state(&mut self, state: Option<&str>, now: u64) {
        let clock = self.entries.get(&self.me).map_or(1, |e| e.clock + 1);
        self.entries.insert(
            self.me,
            Entry {
                clock,
                last_updated: now,
                state: state.map(Into::into),
            },
        );
    }

    /// The update carrying our entry (with `null` if we left), to send.
    pub fn local_update(&self) -> Option<AwarenessUpdate> {
        self.update_for([self.me])
    }

    /// The update carrying every client we have a state for, ours included (to answer a query).
    pub fn full_update(&self) -> Option<AwarenessUpdate> {
        let ids: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| e.state.is_some())
            .map(|(id, _)| *id)
            .collect();
        self.update_for(ids)
    }

    fn update_for(&self, ids: impl IntoIterator<Item = u64>) -> Option<AwarenessUpdate> {
        let clients: HashMap<ClientID, AwarenessUpdateEntry> = ids
            .into_iter()
            .filter_map(|id| {
                let e = self.entries.get(&id)?;
                Some((
                    ClientID::new(id),
                    AwarenessUpdateEntry {
                        clock: e.clock,
                        json: e.state.clone().unwrap_or_else(|| "null".into()),
                    },
                ))
            })
            .collect();
        (!clients.is_empty()).then_some(AwarenessUpdate { clients })
    }

    /// Applies an update from the server, with y-protocols' rules: a state replaces the known
    /// one if its clock is higher; `null` with the same clock removes it; nobody removes ours.
    pub fn apply(&mut self, update: AwarenessUpdate, now: u64) -> Applied {
        let mut out = Applied::default();
        for (id, incoming) in update.clients {
            let id = id.get();
            let mut clock = incoming.clock;
            let state = (!is_null(&incoming.json)).then_some(incoming.json);
            let known = self.entries.get(&id);
            let current = known.map_or(0, |e| e.clock);
            let has_state = known.is_some_and(|e| e.state.is_some());
            if !(current < clock || (current == clock && state.is_none() && has_state)) {
                continue;
            }
            let state = match state {
                None if id == self.me && has_state => {
                    // Someone thinks we left: we are still here, say so with a higher clock.
                    clock += 1;
                    out.reannounce = true;
                    known.and_then(|e| e.state.clone())
                }
                state => state,
            };
            out.changed |=
                id != self.me && known.and_then(|e| e.state.as_deref()) != state.as_deref();
            self.entries.insert(
                id,
                Entry {
                    clock,
                    last_updated: now,
                    state,
                },
            );
        }
        out
    }

    /// Forgets the peers not heard of for `timeout_ms` (their clocks are kept, as y-protocols
    /// does); returns whether anyone was forgotten.
    pub fn expire(&mut self, now: u64, timeout_ms: u64) -> bool {
        let mut changed = false;
        for (id, e) in &mut self.entries {
            if *id != self.me
                && e.state.is_some()
                && now.saturating_sub(e.last_updated) >= timeout_ms
            {
                e.state = None;
                changed = true;
            }
        }
        changed
    }

    /// Forgets every peer, clocks included (the connection dropped: the server sends everyone
    /// again on the next one, and their states must not be ignored as old news); returns
    /// whether anyone with a state was forgotten.
    pub fn forget_peers(&mut self) -> bool {
        let me = self.me;
        let had = self
            .entries
            .iter()
            .any(|(id, e)| *id != me && e.state.is_some());
        self.entries.retain(|id, _| *id == me);
        had
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(id: u64, clock: u32, json: &str) -> AwarenessUpdate {
        AwarenessUpdate {
            clients: HashMap::from([(
                ClientID::new(id),
                AwarenessUpdateEntry {
                    clock,
                    json: json.into(),
                },
            )]),
        }
    }

    #[test]
    fn clock_rules_are_y_protocols() {
        let mut a = Awareness::new(1);
        assert!(a.apply(update(2, 3, r#"{"n":1}"#), 10).changed);
        // Same or older clock: ignored.
        assert!(!a.apply(update(2, 3, r#"{"n":2}"#), 10).changed);
        assert!(!a.apply(update(2, 1, r#"{"n":2}"#), 10).changed);
        // Newer: replaces. Same state again with a newer clock: a renewal, no visible change.
        assert!(a.apply(update(2, 4, r#"{"n":2}"#), 10).changed);
        assert!(!a.apply(update(2, 5, r#"{"n":2}"#), 20).changed);
        assert_eq!(
            a.entries().find(|(id, _)| *id == 2).unwrap().1.last_updated,
            20
        );
        // null with the same clock removes.
        assert!(a.apply(update(2, 5, "null"), 30).changed);
        assert!(a.entries().all(|(_, e)| e.state.is_none()));
        // Nobody removes ours: we answer with a higher clock.
        a.set_local_state(Some("{}"), 40);
        let ours = a.entries().find(|(id, _)| *id == 1).unwrap().1.clock;
        let r = a.apply(update(1, ours, "null"), 50);
        assert!(r.reannounce && !r.changed);
        assert_eq!(a.local_state(), Some("{}"));
        let sent = a.local_update().unwrap();
        assert_eq!(sent.clients[&ClientID::new(1)].clock, ours + 1);
    }

    #[test]
    fn expiry_keeps_clocks_and_forgetting_drops_them() {
        let mut a = Awareness::new(1);
        a.set_local_state(Some("{}"), 0);
        a.apply(update(2, 7, "{}"), 0);
        assert!(!a.expire(29_999, 30_000));
        assert!(a.expire(30_000, 30_000));
        assert_eq!(a.local_state(), Some("{}"), "ours never expires");
        // An expired peer comes back with its next renewal, not with the same clock.
        assert!(!a.apply(update(2, 7, "{}"), 30_001).changed);
        assert!(a.apply(update(2, 8, "{}"), 30_002).changed);
        // After a disconnection, the server's snapshot is taken as it is.
        assert!(a.forget_peers());
        assert!(a.apply(update(2, 8, "{}"), 40_000).changed);
        assert_eq!(a.full_update().unwrap().clients.len(), 2);
    }
}
