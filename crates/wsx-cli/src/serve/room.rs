//! A chat room as one process sees it: its own members, its recent history, and sending to
//! all of them with one encode per kind of member.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use wsx::{Message, PreparedFrame, SendStatus};

use super::member::{Member, Outlet};
use super::messages::{ChatLine, MemberInfo, ServerMsg, encode, json_value};
use super::metrics::Metrics;

/// Messages a newcomer receives from the room's recent history.
pub(super) const HISTORY: usize = 50;

/// The Socket.IO room that mirrors chat room `room`.
pub(super) fn sio_room(room: &str) -> String {
    format!("chat:{room}")
}

/// A room as this process sees it: its own members (all of them without `--redis`).
#[derive(Default)]
pub(super) struct Room {
    pub(super) members: BTreeMap<u64, Member>,
    pub(super) history: VecDeque<ChatLine>,
    /// With `--redis`: the member list this process's members were last sent.
    pub(super) shown: Option<Vec<MemberInfo>>,
}

impl Room {
    pub(super) fn roster(&self) -> Vec<MemberInfo> {
        self.members
            .iter()
            .map(|(&id, m)| MemberInfo {
                id,
                nick: m.nick.clone(),
            })
            .collect()
    }

    /// Sends one JSON message to every member of room `name`: encoded once for the
    /// WebSocket members (the same bytes to all), once for the Socket.IO ones.
    pub(super) fn broadcast(&self, name: &str, msg: &ServerMsg<'_>, metrics: &Metrics) {
        self.send_encoded(name, &encode(msg), false, metrics);
    }

    /// Sends an encoded message to this process's members of room `name`, the Socket.IO ones
    /// through the namespace's adapter (so every process's with `through_adapter`).
    pub(super) fn send_encoded(
        &self,
        name: &str,
        text: &str,
        through_adapter: bool,
        metrics: &Metrics,
    ) {
        let len = text.len();
        let frame = PreparedFrame::new(&Message::text(text));
        let mut n = 0;
        let mut sio = None;
        for m in self.members.values() {
            match &m.outlet {
                Outlet::Ws(sender) => {
                    if matches!(
                        sender.send_prepared(&frame),
                        SendStatus::Queued | SendStatus::Backpressure
                    ) {
                        n += 1;
                    }
                }
                Outlet::Sio(socket) => {
                    sio.get_or_insert_with(|| socket.ns().clone());
                    n += 1;
                }
            }
        }
        if let Some(ns) = sio {
            let to = ns.to([sio_room(name)]);
            let to = if through_adapter { to } else { to.local() };
            to.emit("chat", json_value(text));
        }
        metrics.sent(n, len);
    }
}

/// This process's rooms.
pub(super) type Rooms = Arc<Mutex<HashMap<String, Room>>>;

pub(super) fn lock_rooms(rooms: &Rooms) -> MutexGuard<'_, HashMap<String, Room>> {
    rooms.lock().unwrap_or_else(|e| e.into_inner())
}
