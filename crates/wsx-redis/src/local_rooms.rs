//! The rooms of this node's own sockets, which each of the three Socket.IO adapters keeps in a
//! [`MemoryAdapter`](wsx_socketio::adapter::MemoryAdapter), its field `local`: the
//! [`Adapter`](wsx_socketio::adapter::Adapter) methods that those rooms alone answer.

/// Writes, in an `impl Adapter` block, the named groups of methods as those of the adapter's
/// `local` rooms: `joins` (`add_all`), `leaves` (`del`, `del_all`) and `queries`
/// (`socket_rooms`, `sockets`, `membership_version`, `rooms`). An adapter that does more
/// when a socket joins or leaves writes those itself.
macro_rules! local_rooms {
    (joins) => {
        fn add_all(&self, id: &str, rooms: &[String]) {
            self.local.add_all(id, rooms)
        }
    };
    (leaves) => {
        fn del(&self, id: &str, room: &str) {
            self.local.del(id, room)
        }

        fn del_all(&self, id: &str) {
            self.local.del_all(id)
        }
    };
    (queries) => {
        fn socket_rooms(&self, id: &str) -> Vec<String> {
            self.local.socket_rooms(id)
        }

        fn sockets(
            &self,
            opts: &::wsx_socketio::adapter::BroadcastOptions,
        ) -> Vec<::std::sync::Arc<str>> {
            self.local.sockets(opts)
        }

        fn membership_version(&self) -> Option<u64> {
            self.local.membership_version()
        }

        fn rooms(&self) -> Vec<String> {
            self.local.rooms()
        }
    };
    ($($group:ident),+) => {
        $($crate::local_rooms::local_rooms!($group);)+
    };
}
pub(crate) use local_rooms;
