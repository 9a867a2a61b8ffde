//! A chat room as one process sees it: its own members, its recent history, and sending to
//! all of them with one encode per kind of member.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use wsx::{Message, PreparedFrame, SendStatus};
use wsx_redis::EntryId;

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
    /// With `--redis`: members whose join is under way, by id (see `cluster.rs`).
    pub(super) joining: BTreeMap<u64, Joining>,
    /// With `--redis`: the entry of the room's stream this process's members got last (from
    /// when this process follows the room).
    pub(super) position: Option<EntryId>,
}

/// With `--redis`, a member between "join" and "joined": the room's history is being read
/// (up to an entry id, its bound), while the room's next entries are kept for the member. It
/// joins once this process has handed out the room's entries up to the bound: its history,
/// then the kept entries after the bound, then the room's next messages like everyone else.
pub(super) struct Joining {
    /// The room's entries handed out since the join began, with their ids.
    pub(super) kept: Vec<(EntryId, String)>,
    /// The member, its `joined` reply and the id its history ends at, once read.
    pub(super) ready: Option<(Member, String, EntryId)>,
    /// Told when the member is in the room.
    pub(super) done: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Joining {
    pub(super) fn new(done: tokio::sync::oneshot::Sender<()>) -> Self {
        Joining {
            kept: Vec::new(),
            ready: None,
            done: Some(done),
        }
    }
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
        self.send_encoded(name, &encode(msg), metrics);
    }

    /// With `--redis`: the room's entry `id` (a chat message, encoded): to this process's
    /// members, kept for its joiners, and the joiners whose history it reaches join. An entry
    /// at or before the room's position was handed out already and is left out.
    pub(super) fn deliver_entry(&mut self, name: &str, id: EntryId, text: &str, metrics: &Metrics) {
        if self.position.is_some_and(|p| id <= p) {
            return;
        }
        self.position = Some(id);
        self.send_encoded(name, text, metrics);
        let mut reached = Vec::new();
        for (&member, j) in &mut self.joining {
            j.kept.push((id, text.to_owned()));
            if j.ready.as_ref().is_some_and(|r| r.2 <= id) {
                reached.push(member);
            }
        }
        for member in reached {
            self.complete(name, member, metrics);
        }
    }

    /// Joining member `id`'s history is read, up to entry `bound` (`reply` holds it): it
    /// joins now if the room's entries were handed out up to there, else once they are.
    pub(super) fn ready(
        &mut self,
        name: &str,
        id: u64,
        member: Member,
        reply: String,
        bound: EntryId,
        metrics: &Metrics,
    ) {
        let Some(j) = self.joining.get_mut(&id) else {
            return;
        };
        j.ready = Some((member, reply, bound));
        if self.position.is_none_or(|p| p >= bound) {
            self.complete(name, id, metrics);
        }
    }

    /// Makes joining member `id` a member: its `joined` reply (with the history), then the
    /// entries kept for it after its history, then the room's next messages as everyone else.
    pub(super) fn complete(&mut self, name: &str, id: u64, metrics: &Metrics) {
        let Some(j) = self.joining.remove(&id) else {
            return;
        };
        if let Some((member, reply, bound)) = j.ready {
            metrics.sent(1, reply.len());
            member.outlet.send_text(reply);
            for (_, text) in j.kept.into_iter().filter(|(e, _)| *e > bound) {
                metrics.sent(1, text.len());
                member.outlet.send_text(text);
            }
            // Room broadcasts reach a Socket.IO member from now on, after the above.
            if let Outlet::Sio(socket) = &member.outlet {
                socket.join([sio_room(name)]);
            }
            self.members.insert(id, member);
        }
        if let Some(done) = j.done {
            let _ = done.send(());
        }
    }

    /// Sends an encoded message to this process's members of room `name` (the Socket.IO ones
    /// through a local room broadcast: other processes deliver to their own).
    pub(super) fn send_encoded(&self, name: &str, text: &str, metrics: &Metrics) {
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
            ns.to([sio_room(name)])
                .local()
                .emit("chat", json_value(text));
        }
        metrics.sent(n, len);
    }
}

/// This process's rooms.
pub(super) type Rooms = Arc<Mutex<HashMap<String, Room>>>;

pub(super) fn lock_rooms(rooms: &Rooms) -> MutexGuard<'_, HashMap<String, Room>> {
    rooms.lock().unwrap_or_else(|e| e.into_inner())
}
