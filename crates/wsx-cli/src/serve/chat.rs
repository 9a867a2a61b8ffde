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
//!
//! The messages are in `messages.rs`, members in `member.rs` and rooms in `room.rs`, beneath
//! both this module and the cluster.

use std::collections::HashMap;
use std::sync::{Arc, MutexGuard};

use super::cluster::Cluster;
use super::member::{Member, Outlet, Session};
use super::messages::{
    ChatLine, ClientMsg, MAX_NICK, MAX_ROOM, MAX_TEXT, ServerMsg, clean, encode, now_ms,
    parse_client,
};
use super::metrics::Metrics;
use super::room::{HISTORY, Room, Rooms, lock_rooms, sio_room};

/// All rooms of the server.
#[derive(Default, Clone)]
pub struct Chat {
    rooms: Rooms,
    /// With `--redis`: the rooms are shared with the other processes.
    cluster: Option<Arc<Cluster>>,
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
        let msg = match parse_client(text) {
            Ok(m) => m,
            Err(message) => return Some(encode(&ServerMsg::Error { message: &message })),
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
                    if cluster.say(&self.rooms, s.id, room, text).await.is_err() {
                        return Some(encode(&ServerMsg::Error {
                            message: "the room cannot take messages now (Redis is away); try again later",
                        }));
                    }
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
