//! A room: one yrs document with its awareness, the connections editing it, and the rules of
//! the sync protocol between them.
//!
//! Everything a room does happens under its lock, so the order in which updates are applied is
//! the order in which they are queued to the journal, and so the order every client sees them
//! in. An update is applied once, encoded once (the changes of its transaction, as Yjs'
//! `update` event gives them) and the same frame goes to every connection of the room, the
//! sender included, once the journal has stored it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use indexmap::IndexMap;
use wsx::{Message, PreparedFrame, Sender};
use yrs::sync::AwarenessUpdate;
use yrs::updates::encoder::Encode;
use yrs::{ClientID, Update};

use crate::access::Access;
use crate::cluster::{Cluster, Linked};
use crate::config::Config;
use crate::document::Document;
use crate::error::Result;
use crate::journal::Journal;
use crate::message::{self, Incoming};
use crate::presence::Presence;
use crate::store::Stored;

/// One document and its connections.
pub(crate) struct Room {
    name: Arc<str>,
    state: Mutex<State>,
    journal: Option<Journal>,
    cluster: Option<Arc<dyn Cluster>>,
    config: Arc<Config>,
    /// Connections in the room, readable without the lock.
    members: AtomicUsize,
}

/// Where an update or awareness change came from: a connection here (then the other
/// processes get it too) or another process.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Local,
    Remote,
}

struct State {
    doc: Document,
    presence: Presence,
    members: IndexMap<u64, Member>,
    /// Updates applied but not yet stored: while there are some, a SyncStep2 waits for them.
    undurable: usize,
    /// Stored since the last compaction.
    since_compaction: (u64, u64),
}

struct Member {
    sender: Sender,
    access: Access,
    /// The awareness client ids this connection set, removed when it closes.
    clients: Vec<ClientID>,
    /// Whether this read-only connection was told its updates are dropped.
    told_read_only: bool,
}

impl Room {
    /// A room holding the document `stored` describes.
    pub(crate) fn load(
        name: Arc<str>,
        stored: Stored,
        journal: Option<Journal>,
        cluster: Option<Arc<dyn Cluster>>,
        config: Arc<Config>,
    ) -> Result<Self> {
        let since = (stored.updates.len() as u64, stored.update_bytes() as u64);
        let doc = Document::load(stored, config.keep_encoded_below)?;
        Ok(Self {
            name,
            state: Mutex::new(State {
                doc,
                presence: Presence::default(),
                members: IndexMap::new(),
                undurable: 0,
                since_compaction: since,
            }),
            journal,
            cluster,
            config,
            members: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the document is held encoded now (idle).
    pub(crate) fn is_encoded(&self) -> bool {
        self.lock().doc.is_cold()
    }

    /// Connections in the room.
    pub(crate) fn members(&self) -> usize {
        self.members.load(Ordering::Relaxed)
    }

    /// Adds a connection and greets it as the reference server does: SyncStep1 with the
    /// document's state vector, then every awareness state, if there are any.
    pub(crate) fn join(&self, id: u64, sender: Sender, access: Access) -> Result<()> {
        let mut st = self.lock();
        let sv = st.doc.state_vector()?;
        sender.send(Message::binary(message::sync_step1(&sv)));
        if let Some(u) = st.presence.full() {
            sender.send(Message::binary(message::awareness(&u)));
        }
        st.members.insert(
            id,
            Member {
                sender,
                access,
                clients: Vec::new(),
                told_read_only: false,
            },
        );
        self.members.store(st.members.len(), Ordering::Relaxed);
        Ok(())
    }

    /// Handles the messages of one frame from connection `id`. `permit` is held until the
    /// frame's updates are stored (the connection's in-flight bound).
    pub(crate) fn handle(
        self: &Arc<Self>,
        id: u64,
        msgs: Vec<Incoming>,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Result<()> {
        let mut st = self.lock();
        let Some(member) = st.members.get_mut(&id) else {
            return Ok(());
        };
        let access = member.access;
        let sender = member.sender.clone();
        let mut permit = permit;
        for msg in msgs {
            if msg.is_write() && access == Access::ReadOnly {
                tracing::debug!(room = %self.name, "dropped an update from a read-only connection");
                if let Some(m) = st.members.get_mut(&id).filter(|m| !m.told_read_only) {
                    // y-websocket clients log the reason of a denied message.
                    m.told_read_only = true;
                    m.sender
                        .send(Message::binary(message::permission_denied("read-only")));
                }
                continue;
            }
            match msg {
                Incoming::SyncStep1(sv) => {
                    let update = st.doc.diff(&sv)?;
                    let frame = Message::binary(message::sync_step2(&update));
                    match (&self.journal, st.undurable) {
                        (Some(j), n) if n > 0 => {
                            let sender = sender.clone();
                            j.barrier(Box::new(move || {
                                sender.send(frame);
                            }))
                        }
                        _ => {
                            sender.send(frame);
                        }
                    }
                }
                Incoming::SyncStep2(update) | Incoming::Update(update) => {
                    self.apply(&mut st, update, Origin::Local, permit.take())?;
                }
                Incoming::Awareness(update) => {
                    self.awareness(&mut st, Some(id), update, Origin::Local)
                }
                Incoming::QueryAwareness => {
                    if let Some(u) = st.presence.full() {
                        sender.send(Message::binary(message::awareness(&u)));
                    }
                }
                Incoming::Auth => {}
            }
        }
        Ok(())
    }

    /// Applies a document update; what it changed is stored, then sent to everyone (and, if it
    /// came from a connection here, to the other processes).
    fn apply(
        self: &Arc<Self>,
        st: &mut State,
        update: Update,
        origin: Origin,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Result<()> {
        let (changes, result) = st.doc.apply(update, self.config.keep_encoded_below);
        // Whatever the document took in is stored and sent, even if the rest was refused.
        if let Some(update) = changes {
            let update = Bytes::from(update);
            let frame = PreparedFrame::new(&Message::binary(message::update(&update)));
            st.since_compaction.0 += 1;
            st.since_compaction.1 += update.len() as u64;
            let publish = match (&self.cluster, origin) {
                (Some(c), Origin::Local) => Some((c.clone(), update.clone())),
                _ => None,
            };
            let name = self.name.clone();
            match &self.journal {
                Some(j) => {
                    st.undurable += 1;
                    let room = self.clone();
                    j.append(
                        self.name.clone(),
                        update,
                        Box::new(move || {
                            let mut st = room.lock();
                            st.undurable -= 1;
                            broadcast(&st, &frame);
                            drop(st);
                            if let Some((c, u)) = publish {
                                c.publish_update(&name, u);
                            }
                            drop(permit);
                        }),
                    );
                }
                None => {
                    broadcast(st, &frame);
                    if let Some((c, u)) = publish {
                        c.publish_update(&name, u);
                    }
                }
            }
            self.maybe_compact(st);
        }
        result
    }

    /// Queues a compaction if enough was stored since the last one.
    fn maybe_compact(&self, st: &mut State) {
        let (n, bytes) = st.since_compaction;
        if n >= self.config.compact_after_updates || bytes >= self.config.compact_after_bytes {
            self.compact(st);
        }
    }

    fn compact(&self, st: &mut State) {
        if let Some(j) = &self.journal {
            j.compact(self.name.clone(), Bytes::from(st.doc.snapshot()));
            st.since_compaction = (0, 0);
        }
    }

    /// Compacts what was stored since the last compaction (when the document is freed).
    pub(crate) fn compact_if_needed(&self) {
        let mut st = self.lock();
        if st.since_compaction.0 > 1 {
            self.compact(&mut st);
        }
    }

    /// Applies an awareness update from connection `id` (or another process) and relays what
    /// changed to everyone.
    fn awareness(&self, st: &mut State, id: Option<u64>, update: AwarenessUpdate, origin: Origin) {
        let changes = st.presence.apply(update, now_ms());
        if changes.is_empty() {
            return;
        }
        if let Some(m) = id.and_then(|id| st.members.get_mut(&id)) {
            for c in &changes.set {
                if !m.clients.contains(c) {
                    m.clients.push(*c);
                }
            }
            m.clients.retain(|c| !changes.removed.contains(c));
        }
        let u = st.presence.update_for(changes.all());
        self.relay_awareness(st, &u, origin);
    }

    /// Sends an awareness change to the room's connections, and to the other processes when
    /// it happened here.
    fn relay_awareness(&self, st: &State, u: &AwarenessUpdate, origin: Origin) {
        broadcast(
            st,
            &PreparedFrame::new(&Message::binary(message::awareness(u))),
        );
        if let (Some(c), Origin::Local) = (&self.cluster, origin) {
            c.publish_awareness(&self.name, Bytes::from(u.encode_v1()));
        }
    }

    /// Removes connection `id`, announcing its awareness states as removed. Returns the
    /// connections left.
    pub(crate) fn leave(&self, id: u64) -> usize {
        let mut st = self.lock();
        if let Some(m) = st.members.shift_remove(&id) {
            self.remove_states(&mut st, &m.clients, Origin::Local);
        }
        self.members.store(st.members.len(), Ordering::Relaxed);
        st.members.len()
    }

    /// Drops awareness states not renewed within the configured timeout, and encodes the
    /// document if it has been idle long enough.
    pub(crate) fn sweep(&self, now_ms: u64) {
        let timeout = self.config.awareness_timeout.as_millis() as u64;
        let mut st = self.lock();
        st.doc.cool(self.config.encode_idle_after);
        let stale = st.presence.stale(now_ms, timeout);
        if !stale.is_empty() {
            for m in st.members.values_mut() {
                m.clients.retain(|c| !stale.contains(c));
            }
            // Every process drops the states it stopped hearing about: nothing to publish.
            self.remove_states(&mut st, &stale, Origin::Remote);
        }
    }

    fn remove_states(&self, st: &mut State, clients: &[ClientID], origin: Origin) {
        let removed = st.presence.remove(clients, now_ms());
        if removed.is_empty() {
            return;
        }
        let u = st.presence.update_for(removed);
        self.relay_awareness(st, &u, origin);
    }

    /// The document's whole state as one v1 update.
    pub(crate) fn snapshot(&self) -> Vec<u8> {
        self.lock().doc.snapshot()
    }

    /// Closes every connection of the room with `code`.
    pub(crate) fn close_all(&self, code: wsx::CloseCode, reason: &str) {
        let st = self.lock();
        for m in st.members.values() {
            m.sender.close(code, reason);
        }
    }
}

impl Linked for Room {
    /// Applies a document update from another process.
    fn apply_remote_update(self: Arc<Self>, update: &[u8]) -> Result<()> {
        let update = message::decode_update(update)?;
        let mut st = self.lock();
        self.apply(&mut st, update, Origin::Remote, None)
    }

    /// Applies an awareness update from another process.
    fn apply_remote_awareness(&self, update: &[u8]) -> Result<()> {
        let update = message::decode_awareness(update)?;
        let mut st = self.lock();
        self.awareness(&mut st, None, update, Origin::Remote);
        Ok(())
    }

    fn state(&self) -> Vec<u8> {
        self.snapshot()
    }
}

/// Milliseconds since the epoch: awareness states are timed as y-protocols times them.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn broadcast(st: &State, frame: &PreparedFrame) {
    for m in st.members.values() {
        m.sender.send_prepared_batched(frame);
    }
}
