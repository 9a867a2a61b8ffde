//! A client's connection: the Socket.IO side of one Engine.IO session, with its packet
//! decoder and the socket it has in each namespace (Node's `Client`).

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::encoded::Encoded;
use crate::engine::{CloseReason, MessageData, Session};
use crate::namespaces::Namespaces;
use crate::socket::{DisconnectReason, Socket};
use crate::socketio::{Decoder, Packet, PacketData};

#[derive(Default)]
struct Sockets {
    /// By namespace: a client is in one or a few, so a list costs less than a map (about
    /// 250 bytes per client). A socket that left its namespace is dropped from here the
    /// next time the list is read.
    connected: Vec<(Box<str>, Socket)>,
    /// Namespaces whose CONNECT is being processed (middleware running).
    connecting: Vec<String>,
    /// Why the session closed, once it has: a socket that finishes connecting after that is
    /// disconnected at once instead of joining a list nobody will read again.
    closed: Option<CloseReason>,
}

impl Sockets {
    /// Forgets the sockets that left their namespace.
    fn prune(&mut self) {
        self.connected.retain(|(_, s)| s.connected());
    }

    fn get(&mut self, nsp: &str) -> Option<Socket> {
        self.prune();
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

pub(crate) struct Connection {
    namespaces: Weak<Namespaces>,
    decoder: Mutex<Decoder>,
    sockets: Mutex<Sockets>,
}

impl Connection {
    pub(crate) fn new(namespaces: Weak<Namespaces>, max_attachments: usize) -> Self {
        Connection {
            namespaces,
            decoder: Mutex::new(Decoder::with_max_attachments(max_attachments)),
            sockets: Mutex::new(Sockets::default()),
        }
    }

    fn sockets(&self) -> MutexGuard<'_, Sockets> {
        self.sockets.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn has_sockets(&self) -> bool {
        let mut s = self.sockets();
        s.prune();
        !s.connected.is_empty() || !s.connecting.is_empty()
    }

    /// Keeps the connected `socket`; `Err` with the session's close reason if it closed
    /// meanwhile (then it is not kept).
    fn add_socket(&self, nsp: &str, socket: Socket) -> Result<(), CloseReason> {
        let mut s = self.sockets();
        s.connect_done(nsp);
        if let Some(reason) = s.closed {
            return Err(reason);
        }
        match s.connected.iter_mut().find(|(n, _)| &**n == nsp) {
            Some(entry) => entry.1 = socket,
            None => s.connected.push((nsp.into(), socket)),
        }
        Ok(())
    }

    fn connect_done(&self, nsp: &str) {
        self.sockets().connect_done(nsp);
    }

    pub(crate) fn on_message(self: &Arc<Self>, session: &Arc<Session>, message: MessageData) {
        let decoded = {
            let mut decoder = self.decoder.lock().unwrap_or_else(|e| e.into_inner());
            match message {
                MessageData::Text(text) => decoder.decode_text(&text),
                MessageData::Binary(data) => decoder.decode_binary(data),
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
        let Some(namespaces) = self.namespaces.upgrade() else {
            return;
        };
        {
            let mut s = self.sockets();
            if s.get(&nsp).is_some() || s.connecting.contains(&nsp) {
                return;
            }
            s.connecting.push(nsp.clone());
        }
        match namespaces.namespace_for(&nsp, &auth) {
            Some(ns) => {
                let me = self.clone();
                ns.connect(session.clone(), auth, move |socket| match socket {
                    Some(socket) => match me.add_socket(&nsp, socket.clone()) {
                        Ok(()) => true,
                        Err(reason) => {
                            // The session closed between the namespace's last check and
                            // here: the socket leaves at once, as its siblings did.
                            socket.on_disconnect_inner(DisconnectReason::Transport(reason));
                            false
                        }
                    },
                    None => {
                        me.connect_done(&nsp);
                        false
                    }
                });
            }
            None => {
                self.connect_done(&nsp);
                let packet = Packet::connect_error(nsp, "Invalid namespace");
                if let Ok(encoded) = Encoded::new(&packet) {
                    session.send_out(encoded.frames());
                }
            }
        }
    }

    pub(crate) fn on_close(&self, reason: CloseReason) {
        let sockets = {
            let mut s = self.sockets();
            s.closed = Some(reason);
            std::mem::take(&mut s.connected)
        };
        for (_, socket) in sockets {
            socket.on_disconnect_inner(DisconnectReason::Transport(reason));
        }
        self.decoder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reset();
    }
}
