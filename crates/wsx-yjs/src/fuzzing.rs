//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, off by default; not part
//! of the API and not covered by semver).
//!
//! The y-websocket decoder (`message.rs`), the awareness table (`presence.rs`) and the
//! document (`document.rs`) stay `pub(crate)`; this module wraps what a peer's bytes reach,
//! so the fuzz targets drive exactly the code a connection or a cluster drives.

use bytes::Bytes;
use yrs::sync::AwarenessUpdate;
use yrs::{ClientID, StateVector, Update};

use crate::document;
use crate::error::Result;
use crate::message;
use crate::presence;
use crate::store::Stored;

/// One decoded message of a frame (`message::Incoming`).
#[derive(Debug)]
pub enum Incoming {
    /// SyncStep1 and the client's state vector.
    SyncStep1(StateVector),
    /// SyncStep2 and its update.
    SyncStep2(Update),
    /// An Update.
    Update(Update),
    /// An awareness update whose states are all JSON.
    Awareness(AwarenessUpdate),
    /// QueryAwareness.
    QueryAwareness,
    /// Auth.
    Auth,
}

/// `message::read_frame`: every message of a binary frame, or the frame's error.
pub fn read_frame(frame: &[u8]) -> Result<Vec<Incoming>> {
    Ok(message::read_frame(frame)?
        .into_iter()
        .map(|m| match m {
            message::Incoming::SyncStep1(sv) => Incoming::SyncStep1(sv),
            message::Incoming::SyncStep2(u) => Incoming::SyncStep2(u),
            message::Incoming::Update(u) => Incoming::Update(u),
            message::Incoming::Awareness(a) => Incoming::Awareness(a),
            message::Incoming::QueryAwareness => Incoming::QueryAwareness,
            message::Incoming::Auth => Incoming::Auth,
        })
        .collect())
}

/// A document update from another process, decoded as a room decodes it.
pub fn decode_update(bytes: &[u8]) -> Result<Update> {
    message::decode_update(bytes)
}

/// An awareness update from another process, decoded as a room decodes it.
pub fn decode_awareness(bytes: &[u8]) -> Result<AwarenessUpdate> {
    message::decode_awareness(bytes)
}

/// `message::sync_step1`: the frame of a SyncStep1.
pub fn sync_step1(sv: &StateVector) -> Bytes {
    message::sync_step1(sv)
}

/// `message::sync_step2`: the frame of a SyncStep2 carrying `update`.
pub fn sync_step2(update: &[u8]) -> Bytes {
    message::sync_step2(update)
}

/// `message::update`: the frame of an Update.
pub fn update(update: &[u8]) -> Bytes {
    message::update(update)
}

/// `message::awareness`: the frame of an awareness update.
pub fn awareness(update: &AwarenessUpdate) -> Bytes {
    message::awareness(update)
}

/// A room's awareness table (`presence::Presence`).
#[derive(Debug, Default)]
pub struct Presence(presence::Presence);

impl Presence {
    /// Applies an update; returns the clients whose state was set and those removed.
    pub fn apply(&mut self, update: AwarenessUpdate, now: u64) -> (Vec<ClientID>, Vec<ClientID>) {
        let c = self.0.apply(update, now);
        (c.set, c.removed)
    }

    /// Removes `clients`' states; returns those that had one.
    pub fn remove(&mut self, clients: &[ClientID], now: u64) -> Vec<ClientID> {
        self.0.remove(clients, now)
    }

    /// The states not renewed for `timeout_ms`.
    pub fn stale(&mut self, now: u64, timeout_ms: u64) -> Vec<ClientID> {
        self.0.stale(now, timeout_ms)
    }

    /// The update carrying `clients`' entries.
    pub fn update_for(&self, clients: impl IntoIterator<Item = ClientID>) -> AwarenessUpdate {
        self.0.update_for(clients)
    }

    /// Every state set now.
    pub fn full(&self) -> Option<AwarenessUpdate> {
        self.0.full()
    }
}

/// A room's document (`document::Document`), held encoded while under `small` bytes.
pub struct Document(document::Document);

impl Document {
    /// The document a store holds (`state`, then `updates`).
    pub fn load(state: Option<Vec<u8>>, updates: Vec<Vec<u8>>, small: usize) -> Result<Self> {
        document::Document::load(Stored { state, updates }, small).map(Self)
    }

    /// Applies an update: what the document took in, and whether yrs refused part of it.
    pub fn apply(&mut self, update: Update, small: usize) -> (Option<Vec<u8>>, Result<()>) {
        self.0.apply(update, small)
    }

    /// The state vector a joining client gets.
    pub fn state_vector(&self) -> Result<StateVector> {
        self.0.state_vector()
    }

    /// What a client with state vector `sv` lacks.
    pub fn diff(&self, sv: &StateVector) -> Result<Vec<u8>> {
        self.0.diff(sv)
    }

    /// The whole state as one v1 update.
    pub fn snapshot(&self) -> Vec<u8> {
        self.0.snapshot()
    }

    /// Whether it is held encoded.
    pub fn is_cold(&self) -> bool {
        self.0.is_cold()
    }
}
