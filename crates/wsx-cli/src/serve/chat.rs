//! The demo chat: rooms, nicknames, presence and live comments over JSON text messages.
//! The protocol is documented in `web/PROTOCOL.md`.
//!
//! Members reach the chat over a raw WebSocket (`/chat`) or over Socket.IO (`/socket.io/`,
//! event `chat`); both kinds share the rooms. A room broadcast is encoded once per kind: one
//! prepared frame for the WebSocket members, one Socket.IO room broadcast for the others.
//!
//! With `--redis` the rooms are shared by every `wsx serve` process on that Redis (see
//! `cluster.rs`): this module keeps each process's own members and hands the shared state
//! (presence, history, other processes' messages) to the cluster.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use wsx::{Message, PreparedFrame, SendStatus, Sender};

use super::cluster::Cluster;
use super::metrics::Metrics;

/// Longest nickname, room name and message text (characters).
const MAX_NICK: usize = 32;
const MAX_ROOM: usize = 64;
const MAX_TEXT: usize = 2000;
/// Messages a newcomer receives from the room's recent history.
pub(super) const HISTORY: usize = 50;

/// What a client sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientMsg {
    /// Join a room (leaving the current one) under a nickname.
    Join { room: String, nick: String },
    /// Leave the current room.
    Leave,
    /// Say something in the current room (it also flies across the live-comment stage).
    Say { text: String },
}

/// A room member as others see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberInfo {
    pub id: u64,
    pub nick: String,
}

/// What the server sends.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerMsg<'a> {
    /// Sent once on connect.
    Welcome { id: u64 },
    /// The join succeeded: the room, who is there, and recent messages.
    Joined {
        room: &'a str,
        nick: &'a str,
        members: &'a [MemberInfo],
        history: Vec<&'a ChatLine>,
    },
    /// Who is in the room now (after any join or leave).
    Presence {
        room: &'a str,
        members: &'a [MemberInfo],
    },
    /// A message said in the room.
    Message(&'a ChatLine),
    /// Something the client sent was refused; the connection stays open.
    Error { message: &'a str },
}

/// One chat message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatLine {
    pub room: String,
    pub id: u64,
    pub nick: String,
    pub text: String,
    /// Milliseconds since the Unix epoch.
    pub ts: u64,
}

/// Where a member's messages go.
#[derive(Clone)]
pub enum Outlet {
    /// A raw WebSocket connection to `/chat`.
    Ws(Sender),
    /// A Socket.IO socket: messages are `chat` events carrying the same JSON objects.
    Sio(wsx_socketio::Socket),
}

impl Outlet {
    /// Sends one encoded message to this member alone.
    pub fn send_text(&self, text: String) {
        match self {
            Outlet::Ws(s) => {
                s.send(Message::text(text));
            }
            Outlet::Sio(socket) => {
                socket.emit("chat", json_value(&text));
            }
        }
    }
}

/// The Socket.IO room that mirrors chat room `room`.
pub(super) fn sio_room(room: &str) -> String {
    format!("chat:{room}")
}

pub(super) fn json_value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

pub(super) struct Member {
    pub(super) nick: String,
    pub(super) outlet: Outlet,
}

/// A room as this process sees it: its own members (all of them without `--redis`).
#[derive(Default)]
pub(super) struct Room {
    pub(super) members: BTreeMap<u64, Member>,
    history: VecDeque<ChatLine>,
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
    fn broadcast(&self, name: &str, msg: &ServerMsg<'_>, metrics: &Metrics) {
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

pub fn encode(msg: &ServerMsg<'_>) -> String {
    serde_json::to_string(msg)
        .unwrap_or_else(|_| String::from("{\"type\":\"error\",\"message\":\"encoding failed\"}"))
}

/// This process's rooms.
pub(super) type Rooms = Arc<Mutex<HashMap<String, Room>>>;

pub(super) fn lock_rooms(rooms: &Rooms) -> MutexGuard<'_, HashMap<String, Room>> {
    rooms.lock().unwrap_or_else(|e| e.into_inner())
}

/// All rooms of the server.
#[derive(Default, Clone)]
pub struct Chat {
    rooms: Rooms,
    /// With `--redis`: the rooms are shared with the other processes.
    cluster: Option<Arc<Cluster>>,
}

/// One connection's place in the chat.
pub struct Session {
    pub id: u64,
    pub room: Option<String>,
    pub outlet: Outlet,
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn clean(s: &str, max: usize) -> Option<String> {
    let t: String = s.trim().chars().filter(|c| !c.is_control()).collect();
    (!t.is_empty() && t.chars().count() <= max).then_some(t)
}

impl Chat {
    /// A chat whose rooms are shared through `cluster` (made with [`Chat::rooms`]).
    pub fn clustered(rooms: Rooms, cluster: Arc<Cluster>) -> Self {
        Chat {
            rooms,
            cluster: Some(cluster),
        }
    }

    /// A new empty set of rooms, for [`Chat::clustered`].
    pub fn rooms() -> Rooms {
        Rooms::default()
    }

    /// The cluster, with `--redis`.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    /// The chat id of this process's connection number `local` (unique across processes
    /// with `--redis`).
    pub fn member_id(&self, local: u64) -> u64 {
        match &self.cluster {
            Some(c) => c.member_id(local),
            None => local,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        lock_rooms(&self.rooms)
    }

    /// Handles one text message of a client; returns the reply meant for that client alone.
    pub async fn handle(&self, s: &mut Session, text: &str, metrics: &Metrics) -> Option<String> {
        let msg: ClientMsg = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => {
                return Some(encode(&ServerMsg::Error {
                    message: &format!("invalid message: {e}"),
                }));
            }
        };
        match msg {
            ClientMsg::Join { room, nick } => {
                let (Some(room), Some(nick)) = (clean(&room, MAX_ROOM), clean(&nick, MAX_NICK))
                else {
                    return Some(encode(&ServerMsg::Error {
                        message: "room (1-64 characters) and nick (1-32 characters) are required",
                    }));
                };
                self.leave(s, metrics).await;
                if let Some(cluster) = &self.cluster {
                    cluster.join(&self.rooms, s, room, nick, metrics).await;
                    return None;
                }
                let mut rooms = self.lock();
                let r = rooms.entry(room.clone()).or_default();
                r.members.insert(
                    s.id,
                    Member {
                        nick: nick.clone(),
                        outlet: s.outlet.clone(),
                    },
                );
                if let Outlet::Sio(socket) = &s.outlet {
                    socket.join([sio_room(&room)]);
                }
                let members = r.roster();
                let reply = encode(&ServerMsg::Joined {
                    room: &room,
                    nick: &nick,
                    members: &members,
                    history: r.history.iter().collect(),
                });
                // The joiner hears "joined" before the presence update everyone gets.
                metrics.sent(1, reply.len());
                s.outlet.send_text(reply);
                r.broadcast(
                    &room,
                    &ServerMsg::Presence {
                        room: &room,
                        members: &members,
                    },
                    metrics,
                );
                s.room = Some(room);
                None
            }
            ClientMsg::Leave => {
                self.leave(s, metrics).await;
                None
            }
            ClientMsg::Say { text } => {
                let Some(room) = &s.room else {
                    return Some(encode(&ServerMsg::Error {
                        message: "join a room first",
                    }));
                };
                let Some(text) = clean(&text, MAX_TEXT) else {
                    return Some(encode(&ServerMsg::Error {
                        message: "text must be 1-2000 characters",
                    }));
                };
                if let Some(cluster) = &self.cluster {
                    cluster.say(&self.rooms, s.id, room, text, metrics);
                    return None;
                }
                let mut rooms = self.lock();
                let r = rooms.get_mut(room)?;
                let nick = r
                    .members
                    .get(&s.id)
                    .map(|m| m.nick.clone())
                    .unwrap_or_default();
                let line = ChatLine {
                    room: room.clone(),
                    id: s.id,
                    nick,
                    text,
                    ts: now_ms(),
                };
                r.broadcast(room, &ServerMsg::Message(&line), metrics);
                if r.history.len() == HISTORY {
                    r.history.pop_front();
                }
                r.history.push_back(line);
                None
            }
        }
    }

    /// Removes the session from its room and tells the others.
    pub async fn leave(&self, s: &mut Session, metrics: &Metrics) {
        let Some(room) = s.room.take() else { return };
        if let Outlet::Sio(socket) = &s.outlet {
            socket.leave(&sio_room(&room));
        }
        if let Some(cluster) = &self.cluster {
            cluster.leave(&self.rooms, s.id, room).await;
            return;
        }
        let mut rooms = self.lock();
        if let Some(r) = rooms.get_mut(&room) {
            r.members.remove(&s.id);
            if r.members.is_empty() {
                rooms.remove(&room);
            } else {
                let members = r.roster();
                r.broadcast(
                    &room,
                    &ServerMsg::Presence {
                        room: &room,
                        members: &members,
                    },
                    metrics,
                );
            }
        }
    }
}
