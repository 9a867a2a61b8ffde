//! The rooms of this node's own sockets, which each of the three Socket.IO adapters keeps in a
//! [`MemoryAdapter`](wsx_socketio::adapter::MemoryAdapter), its field `local`: the
//! [`Adapter`](wsx_socketio::adapter::Adapter) methods that those rooms alone answer.

/// Writes, in an `impl Adapter` block, the named methods (any of `add_all`, `del`, `del_all`,
/// `socket_rooms`, `sockets`, `membership_version`, `rooms`) as those of the adapter's `local`
/// rooms.
macro_rules! local_rooms {
    (add_all) => {
        fn add_all(&self, id: &str, rooms: &[String]) {
            self.local.add_all(id, rooms)
        }
    };
    (del) => {
        fn del(&self, id: &str, room: &str) {
            self.local.del(id, room)
        }
    };
    (del_all) => {
        fn del_all(&self, id: &str) {
            self.local.del_all(id)
        }
    };
    (socket_rooms) => {
        fn socket_rooms(&self, id: &str) -> Vec<String> {
            self.local.socket_rooms(id)
        }
    };
    (sockets) => {
        fn sockets(
            &self,
            opts: &::wsx_socketio::adapter::BroadcastOptions,
        ) -> Vec<::std::sync::Arc<str>> {
            self.local.sockets(opts)
        }
    };
    (membership_version) => {
        fn membership_version(&self) -> Option<u64> {
            self.local.membership_version()
        }
    };
    (rooms) => {
        fn rooms(&self) -> Vec<String> {
            self.local.rooms()
        }
    };
    ($($method:ident),+ $(,)?) => {
        $($crate::local_rooms::local_rooms!($method);)+
    };
}
pub(crate) use local_rooms;
