//! A room's awareness states (who is there, their names and cursors), kept by the rules of
//! y-protocols' awareness, in a table sized for the few clients of a room.
//!
//! Updates are read and written as yrs' own [`AwarenessUpdate`]; only the table is ours:
//! `yrs::sync::Awareness` keeps its states in a sharded `DashMap` (about 1.2 KiB per room
//! before any state) and owns a document, which a room that keeps its document encoded while
//! idle does not have.

use std::collections::HashMap;
use std::sync::Arc;

use yrs::ClientID;
use yrs::sync::AwarenessUpdate;
use yrs::sync::awareness::AwarenessUpdateEntry;

const NULL: &str = "null";

/// One client's state.
#[derive(Debug, Clone)]
struct Entry {
    client: ClientID,
    clock: u32,
    /// When it was last set or renewed (ms since the epoch).
    updated: u64,
    /// The JSON state; `None` once removed (kept, so an older copy is not taken again).
    state: Option<Arc<str>>,
}

/// What an update changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// Clients whose state was set or renewed.
    pub(crate) set: Vec<ClientID>,
    /// Clients whose state was removed.
    pub(crate) removed: Vec<ClientID>,
}

impl Changes {
    pub(crate) fn is_empty(&self) -> bool {
        self.set.is_empty() && self.removed.is_empty()
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = ClientID> + '_ {
        self.set.iter().chain(self.removed.iter()).copied()
    }
}

/// The awareness states of a room.
#[derive(Debug, Default)]
pub(crate) struct Presence {
    entries: Vec<Entry>,
}

impl Presence {
    fn find(&self, client: ClientID) -> Option<usize> {
        self.entries.iter().position(|e| e.client == client)
    }

    /// Applies an update as y-protocols' `applyAwarenessUpdate` does: a state is taken when
    /// its clock is newer, and a removal (`null`) also when its clock is the same.
    pub(crate) fn apply(&mut self, update: AwarenessUpdate, now: u64) -> Changes {
        let mut changes = Changes::default();
        for (client, AwarenessUpdateEntry { clock, json }) in update.clients {
            let state = (&*json != NULL).then_some(json);
            match self.find(client) {
                Some(i) => {
                    let e = &mut self.entries[i];
                    let removal = e.clock == clock && state.is_none() && e.state.is_some();
                    if e.clock < clock || removal {
                        match (&state, &e.state) {
                            (None, Some(_)) => changes.removed.push(client),
                            (Some(_), _) => changes.set.push(client),
                            (None, None) => {}
                        }
                        e.clock = clock;
                        e.state = state;
                        e.updated = now;
                    }
                }
                None => {
                    if state.is_some() {
                        changes.set.push(client);
                    }
                    self.entries.push(Entry {
                        client,
                        clock,
                        updated: now,
                        state,
                    });
                }
            }
        }
        changes
    }

    /// Removes `clients`' states (bumping their clocks, so every peer takes the removal).
    pub(crate) fn remove(&mut self, clients: &[ClientID], now: u64) -> Vec<ClientID> {
        let mut removed = Vec::new();
        for &c in clients {
            if let Some(i) = self.find(c) {
                let e = &mut self.entries[i];
                if e.state.take().is_some() {
                    e.clock = e.clock.wrapping_add(1);
                    e.updated = now;
                    removed.push(c);
                }
            }
        }
        removed
    }

    /// Clients whose state was not renewed for `timeout_ms`; forgets removals older than that.
    pub(crate) fn stale(&mut self, now: u64, timeout_ms: u64) -> Vec<ClientID> {
        self.entries
            .retain(|e| e.state.is_some() || now.saturating_sub(e.updated) < timeout_ms);
        self.entries
            .iter()
            .filter(|e| e.state.is_some() && now.saturating_sub(e.updated) >= timeout_ms)
            .map(|e| e.client)
            .collect()
    }

    /// The update carrying `clients`' entries (removed ones as `null`).
    pub(crate) fn update_for(
        &self,
        clients: impl IntoIterator<Item = ClientID>,
    ) -> AwarenessUpdate {
        let mut out = HashMap::new();
        for c in clients {
            if let Some(e) = self.find(c).map(|i| &self.entries[i]) {
                out.insert(
                    c,
                    AwarenessUpdateEntry {
                        clock: e.clock,
                        json: e.state.clone().unwrap_or_else(|| NULL.into()),
                    },
                );
            }
        }
        AwarenessUpdate { clients: out }
    }

    /// Every state set now, if any.
    pub(crate) fn full(&self) -> Option<AwarenessUpdate> {
        let set: Vec<ClientID> = self
            .entries
            .iter()
            .filter(|e| e.state.is_some())
            .map(|e| e.client)
            .collect();
        (!set.is_empty()).then(|| self.update_for(set))
    }

    /// Whether `client` has a state now.
    #[cfg(test)]
    pub(crate) fn has(&self, client: ClientID) -> bool {
        self.find(client)
            .is_some_and(|i| self.entries[i].state.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(entries: &[(u64, u32, &str)]) -> AwarenessUpdate {
        AwarenessUpdate {
            clients: entries
                .iter()
                .map(|&(c, clock, json)| {
                    (
                        ClientID::new(c),
                        AwarenessUpdateEntry {
                            clock,
                            json: json.into(),
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn follows_the_clock_rules_of_y_protocols() {
        let mut p = Presence::default();
        let a = ClientID::new(1);
        let c = p.apply(update(&[(1, 1, r#"{"n":"a"}"#)]), 0);
        assert_eq!(c.set, vec![a]);
        // An older or equal clock with a state is ignored.
        assert!(p.apply(update(&[(1, 1, r#"{"n":"x"}"#)]), 0).is_empty());
        // A renewal with a newer clock counts (the same state: still relayed).
        assert_eq!(p.apply(update(&[(1, 2, r#"{"n":"a"}"#)]), 5).set, vec![a]);
        // A removal with the same clock is taken.
        assert_eq!(p.apply(update(&[(1, 2, "null")]), 6).removed, vec![a]);
        assert!(!p.has(a));
        assert!(p.full().is_none());
        // An unknown client's removal is remembered but changes nothing.
        assert!(p.apply(update(&[(9, 3, "null")]), 6).is_empty());
    }

    #[test]
    fn removal_bumps_the_clock_and_stale_states_expire() {
        let mut p = Presence::default();
        p.apply(update(&[(1, 4, "{}"), (2, 1, "{}")]), 1_000);
        let removed = p.remove(&[ClientID::new(1)], 2_000);
        assert_eq!(removed, vec![ClientID::new(1)]);
        let u = p.update_for(removed);
        let e = &u.clients[&ClientID::new(1)];
        assert_eq!((e.clock, &*e.json), (5, "null"));
        assert_eq!(p.stale(30_999, 30_000), Vec::<ClientID>::new());
        assert_eq!(p.stale(31_000, 30_000), vec![ClientID::new(2)]);
        // The removal of client 1 is forgotten once older than the timeout.
        assert_eq!(p.stale(40_000, 30_000), vec![ClientID::new(2)]);
        assert_eq!(p.entries.len(), 1);
    }
}
