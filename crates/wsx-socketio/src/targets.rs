//! The receivers of a room broadcast, looked up once and kept while membership does not
//! change.
//!
//! Delivering a broadcast to a room of 10,000 by looking each member up (the adapter's list
//! of ids, the namespace's id → socket map, the socket's session, the session's WebSocket)
//! spends most of its time hashing ids and chasing pointers: profiled on the bench server
//! (10,000 receivers, 32 broadcasts in flight), the lookups and the session lock were over
//! half of the server's CPU. A namespace therefore keeps, per set of rooms it broadcasts to,
//! the list of receivers, each with its WebSocket sender when it has one, as long as the
//! namespace's [membership version](crate::rooms::Rooms::version) stays the
//! same. A list is built on the second broadcast to the same rooms at one version, so rooms
//! whose membership changes between every broadcast cost no more than before; small rooms,
//! and adapters without a version, are looked up each time.

use std::collections::HashMap;
use std::sync::Arc;

use crate::socket::Socket;

/// Rooms with fewer receivers are looked up each time: nothing to gain.
pub(crate) const MIN_TARGETS: usize = 32;
/// Sets of rooms remembered at once; the cache is emptied when full.
const MAX_ROOM_SETS: usize = 64;

/// One receiver of a cached broadcast.
pub(crate) struct Target {
    pub(crate) socket: Socket,
    /// The socket's WebSocket, when it was connected on one and open as the list was built.
    /// A session upgrades from polling to WebSocket and never back, so a socket listed
    /// without one goes through its session, which finds the WebSocket if it came since.
    pub(crate) ws: Option<wsx::Sender>,
    /// Frames to `ws` may be compressed (permessage-deflate configured): a frame encoded once
    /// uncompressed does not serve a compressed send.
    pub(crate) deflate: bool,
}

impl Target {
    pub(crate) fn new(socket: &Socket) -> Self {
        let (ws, deflate) = if socket.connected() {
            socket
                .0
                .session
                .ws_sender()
                .map_or((None, false), |(s, d)| (Some(s), d))
        } else {
            (None, false)
        };
        Target {
            socket: socket.clone(),
            ws,
            deflate,
        }
    }
}

enum Entry {
    /// Broadcast to once at this version.
    Seen,
    /// Fewer than [`MIN_TARGETS`] receivers: looked up each time.
    Small,
    Built(Arc<[Target]>),
}

/// A namespace's lists of receivers, valid for one membership version.
#[derive(Default)]
pub(crate) struct TargetCache {
    version: u64,
    lists: HashMap<Vec<String>, Entry>,
}

impl TargetCache {
    /// The list for `rooms` at `version`, if one is kept; otherwise `Err(build)`: whether
    /// the caller should build one and [`insert`](Self::insert) it (the second broadcast to
    /// these rooms at this version).
    pub(crate) fn get(&mut self, version: u64, rooms: &[String]) -> Result<Arc<[Target]>, bool> {
        if self.version != version {
            self.lists.clear();
            self.version = version;
        }
        match self.lists.get(rooms) {
            Some(Entry::Built(list)) => Ok(list.clone()),
            Some(Entry::Seen) => Err(true),
            Some(Entry::Small) => Err(false),
            None => {
                if self.lists.len() >= MAX_ROOM_SETS {
                    self.lists.clear();
                }
                self.lists.insert(rooms.to_vec(), Entry::Seen);
                Err(false)
            }
        }
    }

    /// Keeps `list` for `rooms`, or remembers that they are too few to keep.
    pub(crate) fn insert(&mut self, rooms: &[String], list: Option<Arc<[Target]>>) {
        let entry = list.map_or(Entry::Small, Entry::Built);
        self.lists.insert(rooms.to_vec(), entry);
    }

    /// Forgets every list (a socket left the namespace: do not keep it alive).
    pub(crate) fn clear(&mut self) {
        self.lists.clear();
    }
}
