//! A chat member: where its messages go, what a room keeps of it, and its connection's place
//! in the chat.

use wsx::{Message, Sender};

use super::messages::json_value;

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

/// A member of a room, as this process keeps it.
pub(super) struct Member {
    pub(super) nick: String,
    pub(super) outlet: Outlet,
}

/// One connection's place in the chat.
pub struct Session {
    pub id: u64,
    pub room: Option<String>,
    pub outlet: Outlet,
}
