//! Scale-out: the [`Cluster`] trait through which the processes serving the same room share its
//! updates and awareness (`wsx-redis` implements it over Redis streams), and the [`RoomLink`]
//! a cluster uses to bring updates from elsewhere into a room.
//!
//! What a cluster must give, for the rooms to converge: every update accepted anywhere reaches
//! every process that has the room open, at least once, even across a Redis restart (updates
//! are idempotent and commute, so duplicates and a different order between processes are
//! harmless: a duplicate changes nothing and is neither stored again nor sent to clients);
//! and a process opening a room late gets everything the others have.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use bytes::Bytes;

use crate::error::{Error, Result};

/// A boxed future, as the trait's methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Carries rooms' updates and awareness between processes.
pub trait Cluster: Send + Sync + 'static {
    /// `room` was loaded here (from this process's store): bring it up to date with what the
    /// other processes have, through [`RoomLink::apply_update`], then deliver what they send
    /// until [`Cluster::close`]. The server waits for this (bounded by its own timeout) before
    /// the room's first client gets its SyncStep1 answered.
    fn open(&self, room: RoomLink) -> BoxFuture<'_, Result<()>>;

    /// `room` was freed here: stop delivering its updates.
    fn close(&self, room: &str);

    /// A document update accepted and stored here, for the other processes.
    fn publish_update(&self, room: &str, update: Bytes);

    /// An awareness update applied here, for the other processes.
    fn publish_awareness(&self, room: &str, update: Bytes);
}

/// What a room offers its cluster (the room implements it).
pub(crate) trait Linked: Send + Sync {
    fn apply_remote_update(self: Arc<Self>, update: &[u8]) -> Result<()>;
    fn apply_remote_awareness(&self, update: &[u8]) -> Result<()>;
    fn state(&self) -> Vec<u8>;
}

/// A cluster's handle to an open room. It does not keep the room open.
#[derive(Clone)]
pub struct RoomLink {
    pub(crate) name: Arc<str>,
    pub(crate) room: Weak<dyn Linked>,
    pub(crate) had_history: bool,
}

impl std::fmt::Debug for RoomLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomLink")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl RoomLink {
    /// The room's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this process's store had anything of the room when it was loaded (which the
    /// other processes may lack, if this process died before publishing it).
    pub fn had_history(&self) -> bool {
        self.had_history
    }

    /// Whether the room is still open here.
    pub fn is_open(&self) -> bool {
        self.room.strong_count() > 0
    }

    fn room(&self) -> Result<Arc<dyn Linked>> {
        self.room
            .upgrade()
            .ok_or_else(|| Error::store(format!("room {:?} is closed", self.name)))
    }

    /// Applies a document update (a yrs v1 update) from another process: what it changes is
    /// stored here, then sent to this process's clients of the room; it is not published
    /// again.
    pub fn apply_update(&self, update: &[u8]) -> Result<()> {
        self.room()?.apply_remote_update(update)
    }

    /// Applies an awareness update (as y-protocols encodes it) from another process and sends
    /// what changed to this process's clients of the room.
    pub fn apply_awareness(&self, update: &[u8]) -> Result<()> {
        self.room()?.apply_remote_awareness(update)
    }

    /// The room's whole state as one v1 update.
    pub fn state(&self) -> Result<Vec<u8>> {
        Ok(self.room()?.state())
    }
}
