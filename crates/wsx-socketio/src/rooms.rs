//! The rooms of a namespace's local sockets: which socket is in which room, kept so that a
//! broadcast finds its receivers in about the order they joined, as Node's in-memory adapter
//! does.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use indexmap::{IndexMap, IndexSet};

use crate::options::BroadcastOptions;

/// A room's members. Most rooms have one (every socket is in the room named after its id),
/// and a set for each of those would cost about 150 bytes per client. Sets keep join order
/// (but for the swap on removal), so a broadcast reaches its receivers in about the order
/// they joined, as Node's adapter does (its `Set`s iterate in insertion order).
enum Members {
    One(Arc<str>),
    Many(IndexSet<Arc<str>>),
}

impl Members {
    fn contains(&self, id: &str) -> bool {
        match self {
            Members::One(m) => &**m == id,
            Members::Many(set) => set.contains(id),
        }
    }

    fn insert(&mut self, id: &Arc<str>) {
        match self {
            Members::One(m) if *m == *id => {}
            Members::One(m) => {
                let set = IndexSet::from([m.clone(), id.clone()]);
                *self = Members::Many(set);
            }
            Members::Many(set) => {
                set.insert(id.clone());
            }
        }
    }

    /// Removes `id`; `true` when the room is now empty.
    fn remove(&mut self, id: &str) -> bool {
        match self {
            Members::One(m) => &**m == id,
            Members::Many(set) => {
                set.swap_remove(id);
                set.is_empty()
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Arc<str>> {
        let (one, many) = match self {
            Members::One(m) => (Some(m), None),
            Members::Many(set) => (None, Some(set.iter())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

#[derive(Default)]
struct Table {
    /// Room name → members. Names are shared with `sids`.
    rooms: HashMap<Arc<str>, Members>,
    /// Socket id → the rooms it is in (a short list: sockets are in a handful of rooms).
    /// In join order, like room members.
    sids: IndexMap<Arc<str>, Vec<Arc<str>>>,
}

impl Table {
    fn remove_member(&mut self, room: &str, id: &str) {
        if let Some(members) = self.rooms.get_mut(room) {
            if members.remove(id) {
                self.rooms.remove(room);
            }
        }
    }
}

/// The rooms of one namespace's local sockets.
#[derive(Default)]
pub(crate) struct Rooms {
    state: Mutex<Table>,
    /// [`version`](Self::version): bumped under the `state` lock by every change.
    version: AtomicU64,
}

impl Rooms {
    fn state(&self) -> MutexGuard<'_, Table> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state, to change: the version moves on with it (still under the lock, so that a
    /// reader that sees the new version sees the change).
    fn change(&self) -> MutexGuard<'_, Table> {
        let st = self.state();
        self.version.fetch_add(1, Ordering::AcqRel);
        st
    }

    /// Adds socket `id` to `rooms`.
    pub(crate) fn add_all(&self, id: &str, rooms: &[String]) {
        let mut st = self.change();
        let st = &mut *st;
        let id: Arc<str> = match st.sids.get_key_value(id) {
            Some((k, _)) => k.clone(),
            None => id.into(),
        };
        let list = st.sids.entry(id.clone()).or_default();
        for room in rooms {
            if list.iter().any(|r| **r == **room) {
                continue;
            }
            let key: Arc<str> = match st.rooms.get_key_value(room.as_str()) {
                Some((k, _)) => k.clone(),
                // A socket's own room shares the id's allocation.
                None if **room == *id => id.clone(),
                None => room.as_str().into(),
            };
            match st.rooms.get_mut(&key) {
                Some(members) => members.insert(&id),
                None => {
                    st.rooms.insert(key.clone(), Members::One(id.clone()));
                }
            }
            list.push(key);
        }
    }

    /// Removes socket `id` from `room`.
    pub(crate) fn del(&self, id: &str, room: &str) {
        let mut st = self.change();
        if let Some(list) = st.sids.get_mut(id) {
            list.retain(|r| &**r != room);
        }
        st.remove_member(room, id);
    }

    /// Removes socket `id` from every room; returns the rooms it was in.
    pub(crate) fn del_all(&self, id: &str) -> Vec<String> {
        let mut st = self.change();
        let Some(rooms) = st.sids.swap_remove(id) else {
            return Vec::new();
        };
        for room in &rooms {
            st.remove_member(room, id);
        }
        rooms.iter().map(|r| r.to_string()).collect()
    }

    /// The rooms socket `id` is in, in join order.
    pub(crate) fn socket_rooms(&self, id: &str) -> Vec<String> {
        self.state()
            .sids
            .get(id)
            .map(|r| r.iter().map(|r| r.to_string()).collect())
            .unwrap_or_default()
    }

    /// The sockets `opts` selects (rooms minus except), each once.
    pub(crate) fn sockets(&self, opts: &BroadcastOptions) -> Vec<Arc<str>> {
        let st = self.state();
        let excluded = |id: &Arc<str>| {
            opts.except
                .iter()
                .any(|room| st.rooms.get(room.as_str()).is_some_and(|m| m.contains(id)))
        };
        if opts.rooms.is_empty() {
            return st.sids.keys().filter(|id| !excluded(id)).cloned().collect();
        }
        if let [room] = opts.rooms.as_slice() {
            return st.rooms.get(room.as_str()).map_or_else(Vec::new, |m| {
                m.iter().filter(|id| !excluded(id)).cloned().collect()
            });
        }
        let mut seen = HashSet::new();
        for room in &opts.rooms {
            if let Some(members) = st.rooms.get(room.as_str()) {
                seen.extend(members.iter().filter(|id| !excluded(id)).cloned());
            }
        }
        seen.into_iter().collect()
    }

    /// Whether any socket is in `room`.
    pub(crate) fn has_room(&self, room: &str) -> bool {
        self.state().rooms.contains_key(room)
    }

    /// Every room with a member.
    pub(crate) fn rooms(&self) -> Vec<String> {
        self.state().rooms.keys().map(|r| r.to_string()).collect()
    }

    /// A number that changes whenever membership changes (a socket joins or leaves a room),
    /// changed only after the change is visible to [`sockets`](Self::sockets): a namespace
    /// keeps the receivers of a room it broadcasts to again and again for one version (see
    /// [`crate::targets`]).
    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to(rooms: &[&str], except: &[&str]) -> BroadcastOptions {
        BroadcastOptions {
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            except: except.iter().map(|r| r.to_string()).collect(),
            ..Default::default()
        }
    }

    fn sorted(mut v: Vec<Arc<str>>) -> Vec<String> {
        v.sort();
        v.into_iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rooms_grow_from_one_member_to_many_and_back() {
        let a = Rooms::default();
        a.add_all("s1", &["s1".into(), "lobby".into()]);
        a.add_all("s2", &["s2".into(), "lobby".into(), "lobby".into()]);
        a.add_all("s3", &["s3".into()]);
        assert_eq!(sorted(a.sockets(&to(&["lobby"], &[]))), ["s1", "s2"]);
        assert_eq!(sorted(a.sockets(&to(&["s2"], &[]))), ["s2"]);
        assert_eq!(sorted(a.sockets(&to(&[], &["lobby"]))), ["s3"]);
        assert_eq!(
            sorted(a.sockets(&to(&["lobby", "s3"], &["s1"]))),
            ["s2", "s3"]
        );
        assert_eq!(a.socket_rooms("s2"), ["s2", "lobby"]);

        // A third member, then back down to one, then none: the room disappears.
        a.add_all("s3", &["lobby".into()]);
        a.del("s1", "lobby");
        a.del("s2", "lobby");
        assert_eq!(sorted(a.sockets(&to(&["lobby"], &[]))), ["s3"]);
        a.del_all("s3");
        assert!(a.sockets(&to(&["lobby"], &[])).is_empty());
        let mut rooms = a.rooms();
        rooms.sort();
        assert_eq!(rooms, ["s1", "s2"]);

        // Leaving one's own room is allowed, as in Node.
        a.del("s1", "s1");
        assert!(a.sockets(&to(&["s1"], &[])).is_empty());
        assert!(a.socket_rooms("s1").is_empty());
    }
}
