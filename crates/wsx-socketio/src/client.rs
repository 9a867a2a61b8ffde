//! The Socket.IO side of one Engine.IO session: the packet decoder and the sockets it has
//! in each namespace.

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::engine::{CloseReason, Message, Session};
use crate::io::IoInner;
use crate::socket::{DisconnectReason, Socket};
use crate::socketio::{Decoder, Packet, PacketData};

#[derive(Default)]
struct Sockets {
    /// By namespace: a client is in one or a few, so a list costs less than a map (about
    /// 250 bytes per client).
    connected: Vec<(Box<str>, Socket)>,
    /// Namespaces whose CONNECT is being processed (middleware running).
    connecting: Vec<String>,
}

impl Sockets {
    fn get(&self, nsp: &str) -> Option<Socket> {
        self.connected
            .iter()
            .find(|(n, _)| &**n == nsp)
            .map(|(_, s)| s.clone())
    }

    fn connect_done(&mut self, nsp: &str) {
        self.connecting.retain(|n| n != nsp);
        if self.connecting.is_empty() {
            // Do not keep the capacity for the life of the connection.
            self.connecting = Vec::new();
        }
    }
}

pub(crate) struct Client {
    io: Weak<IoInner>,
    decoder: Mutex<Decoder>,
    sockets: Mutex<Sockets>,
}

impl Client {
    pub(crate) fn new(io: Weak<IoInner>, max_attachments: usize) -> Self {
        Client {
            io,
            decoder: Mutex::new(Decoder::with_max_attachments(max_attachments)),
            sockets: Mutex::new(Sockets::default()),
        }
    }

    fn sockets(&self) -> MutexGuard<'_, Sockets> {
        self.sockets.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn has_sockets(&self) -> bool {
        let s = self.sockets();
        !s.connected.is_empty() || !s.connecting.is_empty()
    }

    pub(crate) fn add_socket(&self, nsp: &str, socket: Socket) {
        let mut s = self.sockets();
        s.connect_done(nsp);
        match s.connected.iter_mut().find(|(n, _)| &**n == nsp) {
            Some(entry) => entry.1 = socket,
            None => s.connected.push((nsp.into(), socket)),
        }
    }

    pub(crate) fn connect_done(&self, nsp: &str) {
        self.sockets().connect_done(nsp);
    }

    pub(crate) fn remove_socket(&self, nsp: &str) {
        self.sockets().connected.retain(|(n, _)| &**n != nsp);
    }

    pub(crate) fn on_message(self: &Arc<Self>, session: &Arc<Session>, message: Message) {
        let decoded = {
            let mut decoder = self.decoder.lock().unwrap_or_else(|e| e.into_inner());
            match message {
                Message::Text(text) => decoder.decode_text(&text),
                Message::Binary(data) => decoder.decode_binary(data),
            }
        };
        match decoded {
            Ok(Some(packet)) => self.on_packet(session, packet),
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(sid = session.sid(), error = %e, "socket.io parse error");
                session.close(CloseReason::ParseError);
            }
        }
    }

    fn on_packet(self: &Arc<Self>, session: &Arc<Session>, packet: Packet) {
        if let PacketData::Connect(auth) = packet.data {
            self.on_connect(session, packet.nsp, auth.unwrap_or_default());
            return;
        }
        let socket = self.sockets().get(&packet.nsp);
        match socket {
            Some(socket) => socket.on_packet(packet),
            None => tracing::debug!(nsp = packet.nsp, "packet for a namespace not connected"),
        }
    }

    fn on_connect(
        self: &Arc<Self>,
        session: &Arc<Session>,
        nsp: String,
        auth: serde_json::Map<String, serde_json::Value>,
    ) {
        let Some(io) = self.io.upgrade() else {
            return;
        };
        {
            let mut s = self.sockets();
            if s.get(&nsp).is_some() || s.connecting.contains(&nsp) {
                return;
            }
            s.connecting.push(nsp.clone());
        }
        match io.namespace_for(&nsp, &auth) {
            Some(ns) => ns.connect(self.clone(), session.clone(), auth),
            None => {
                self.connect_done(&nsp);
                let packet = Packet::connect_error(nsp, "Invalid namespace");
                if let Ok(encoded) = crate::encoded::Encoded::new(&packet) {
                    session.send_out(encoded.frames());
                }
            }
        }
    }

    pub(crate) fn on_close(&self, reason: CloseReason) {
        let sockets = std::mem::take(&mut self.sockets().connected);
        for (_, socket) in sockets {
            socket.on_disconnect_inner(DisconnectReason::Transport(reason));
        }
        self.decoder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reset();
    }
}
