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
    /// With `--redis`: members whose join is under way, by id (see `cluster.rs`).
    pub(super) joining: BTreeMap<u64, Joining>,
}

/// With `--redis`, a member between "join" and "joined": it listens to the room's channel
/// and its history is being read, atomically with a marker published on that channel. What
/// the channel carries before the marker is in that history; what comes after is kept for
/// the member until it gets its history.
pub(super) struct Joining {
    /// The marker came: later messages are newer than the history.
    pub(super) caught_up: bool,
    /// The messages to send after the history.
    pub(super) kept: Vec<String>,
    /// The member and its `joined` reply, once the history is read.
    pub(super) ready: Option<(Member, String)>,
    /// Told when the member is in the room.
    pub(super) done: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Joining {
    pub(super) fn new(done: tokio::sync::oneshot::Sender<()>) -> Self {
        Joining {
            caught_up: false,
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

    /// Delivers a chat message of room `name` (encoded) to this process's members, and keeps
    /// it for the members still joining that will not find it in their history: all of them
    /// when it was not `stored` (Redis away), those past their marker otherwise.
    pub(super) fn deliver(&mut self, name: &str, text: &str, stored: bool, metrics: &Metrics) {
        self.send_encoded(name, text, metrics);
        for j in self.joining.values_mut() {
            if j.caught_up || !stored {
                j.kept.push(text.to_owned());
            }
        }
    }

    /// Joining member `id`'s marker came on the room's channel: it joins now if its history
    /// is read, else as soon as it is.
    pub(super) fn caught_up(&mut self, name: &str, id: u64, metrics: &Metrics) {
        let Some(j) = self.joining.get_mut(&id) else {
            return; // another process's member, or a join that gave up waiting
        };
        j.caught_up = true;
        if j.ready.is_some() {
            self.complete(name, id, metrics);
        }
    }

    /// Joining member `id`'s history is read (`reply` holds it): it joins now if its marker
    /// came (or none will: `caught_up`), else when it comes.
    pub(super) fn ready(
        &mut self,
        name: &str,
        id: u64,
        member: Member,
        reply: String,
        caught_up: bool,
        metrics: &Metrics,
    ) {
        let Some(j) = self.joining.get_mut(&id) else {
            return;
        };
        j.ready = Some((member, reply));
        j.caught_up |= caught_up;
        if j.caught_up {
            self.complete(name, id, metrics);
        }
    }

    /// Makes joining member `id` a member: its `joined` reply (with the history), then the
    /// messages kept for it, then the room's next messages as everyone else.
    pub(super) fn complete(&mut self, name: &str, id: u64, metrics: &Metrics) {
        let Some(j) = self.joining.remove(&id) else {
            return;
        };
        if let Some((member, reply)) = j.ready {
            metrics.sent(1, reply.len());
            member.outlet.send_text(reply);
            for text in j.kept {
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
