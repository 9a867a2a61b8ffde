//! [`Clients`]: the connections of a server (ws's `server.clients`), one registry shared by
//! every handle to it and by the [`Hub`](crate::Hub)s over it.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use tokio::sync::Notify;
use wsx_proto::{CloseCode, Message, PreparedFrame};

use crate::fanout::{BroadcastReport, send_all};
use crate::queue::{QUIETED, SendStatus};
use crate::registry::{ClientId, Registry};
use crate::relay::Relay;
use crate::websocket::Sender;

#[derive(Default)]
struct Shared {
    state: RwLock<Registry>,
    /// Carries the publishes of the hubs over these clients to other processes.
    relay: RwLock<Option<Arc<dyn Relay>>>,
    /// Woken when the last connection leaves.
    emptied: Notify,
}

/// The set of connected clients (ws's `server.clients`): count them, find one by id, send to
/// one, or broadcast to all with the frame encoded once. Each connection has one
/// [`ClientId`], the one its server gave it ([`Connected::id`](crate::Connected::id),
/// [`Conn::id`](crate::Conn::id)); a [`Hub`](crate::Hub) over the same clients
/// ([`Server::hub`](crate::Server::hub)) subscribes them to topics under that id. Cloning
/// gives another handle to the same set.
#[derive(Clone, Default)]
pub struct Clients {
    inner: Arc<Shared>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients").field("len", &self.len()).finish()
    }
}

impl Clients {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Registry> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Registry> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn relay(&self) -> Option<Arc<dyn Relay>> {
        self.inner
            .relay
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_relay(&self, relay: Arc<dyn Relay>) {
        *self.inner.relay.write().unwrap_or_else(|e| e.into_inner()) = Some(relay);
    }

    /// Tells the relay (if any) about topics that got their first or lost their last
    /// subscriber here. Called outside the registry's lock.
    pub(crate) fn notify_topics<T: AsRef<str>>(&self, created: &[T], emptied: &[T]) {
        if created.is_empty() && emptied.is_empty() {
            return;
        }
        if let Some(relay) = self.relay() {
            for t in created {
                relay.subscribed(t.as_ref());
            }
            for t in emptied {
                relay.unsubscribed(t.as_ref());
            }
        }
    }

    /// Registers a connection; it stays listed until [`Clients::remove`]. A server registers
    /// the connections it accepts itself.
    pub fn insert(&self, sender: Sender) -> ClientId {
        self.write().insert(sender)
    }

    /// Removes a connection and its topic subscriptions.
    pub fn remove(&self, id: ClientId) -> Option<Sender> {
        let (removed, now_empty) = {
            let mut g = self.write();
            let removed = g.remove(id);
            (removed, g.clients.is_empty())
        };
        let (sender, emptied) = removed?;
        self.notify_topics(&[] as &[Arc<str>], &emptied);
        if now_empty {
            self.inner.emptied.notify_waiters();
        }
        Some(sender)
    }

    /// Number of connected clients.
    pub fn len(&self) -> usize {
        self.read().clients.len()
    }

    /// Whether no client is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ids of the connected clients.
    pub fn ids(&self) -> Vec<ClientId> {
        self.read().clients.keys().map(|&k| ClientId(k)).collect()
    }

    /// A send handle for one client.
    pub fn get(&self, id: ClientId) -> Option<Sender> {
        self.read().clients.get(&id.0).map(|e| e.sender.clone())
    }

    /// Sends to one client.
    pub fn send_to(&self, id: ClientId, msg: Message) -> SendStatus {
        match self.get(id) {
            Some(s) => s.send(msg),
            None => SendStatus::Closed,
        }
    }

    /// Sends `msg` to every client: the frame is encoded once and the same bytes are queued to
    /// each receiver.
    pub fn broadcast(&self, msg: &Message) -> BroadcastReport {
        self.broadcast_prepared(&PreparedFrame::new(msg), None)
    }

    /// Sends to every client except `except`.
    pub fn broadcast_except(&self, msg: &Message, except: ClientId) -> BroadcastReport {
        self.broadcast_prepared(&PreparedFrame::new(msg), Some(except))
    }

    /// Sends an encoded frame to every client (except one).
    pub fn broadcast_prepared(
        &self,
        frame: &PreparedFrame,
        except: Option<ClientId>,
    ) -> BroadcastReport {
        send_all(self.read().senders(), frame, except)
    }

    /// Starts the closing handshake with every client.
    pub fn close_all(&self, code: CloseCode, reason: &str) {
        for (_, s) in self.read().senders() {
            s.close(code, reason);
        }
    }

    /// Drops every client at once.
    pub fn terminate_all(&self) {
        for (_, s) in self.read().senders() {
            s.kill("server shut down");
        }
    }

    /// Graceful shutdown of every client: [`quiesce`](Self::quiesce) (at most half of
    /// `timeout`), so that every message a handler accepted is answered or broadcast before
    /// the close; then close with 1001, wait until they have all left (their handlers
    /// returned) or the rest of `timeout` passed, then drop the rest.
    pub async fn shutdown(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        self.quiesce(timeout / 2).await;
        self.close_all(CloseCode::GOING_AWAY, "server shutting down");
        self.wait_empty(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await;
        self.terminate_all();
        self.wait_empty(Duration::from_secs(1)).await;
    }

    /// The first half of a graceful shutdown: every client's connection stops reading from its
    /// peer and hands the messages it had already read to its handler; this waits until each
    /// one has, and its handler asked for the next message (so it has dealt with them), or
    /// until `timeout` passed. Messages that arrive later are left unread; a connection stays
    /// quiet until it is closed, when it reads the peer's close reply (and drops the data
    /// before it).
    pub async fn quiesce(&self, timeout: Duration) {
        let senders: Vec<Sender> = self.read().senders().map(|(_, s)| s.clone()).collect();
        for s in &senders {
            s.go_away();
        }
        let _ = tokio::time::timeout(timeout, async {
            // A connection stays quiet once it is: the scan goes on from the first that is not.
            let mut next = 0;
            loop {
                let quieted = QUIETED.notified();
                tokio::pin!(quieted);
                // Registered before looking, so a connection going quiet in between wakes it.
                quieted.as_mut().enable();
                while next < senders.len() && senders[next].is_quiet() {
                    next += 1;
                }
                if next == senders.len() {
                    return;
                }
                quieted.await;
            }
        })
        .await;
    }

    /// Waits until no client is left, or `timeout` passed.
    async fn wait_empty(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, async {
            loop {
                let emptied = self.inner.emptied.notified();
                tokio::pin!(emptied);
                // Registered before looking, so a removal in between still wakes it.
                emptied.as_mut().enable();
                if self.is_empty() {
                    return;
                }
                emptied.await;
            }
        })
        .await;
    }
}
