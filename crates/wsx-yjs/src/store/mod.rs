//! Where documents are kept: the [`Store`] trait, the embedded default ([`SqliteStore`]) and an
//! in-memory one ([`MemoryStore`]).
//!
//! A store keeps, per document, one compacted state and the updates appended since. The server
//! calls it from one writer at a time (the journal), in batches: every write of a batch lands in
//! one transaction, so a batch is the unit of a group commit.

mod memory;
mod sqlite;

pub use memory::MemoryStore;
pub use sqlite::{SqliteStore, Sync};

use crate::error::Result;

/// A document as stored: its compacted state (if any) and the updates appended after it, oldest
/// first. Applying them all in order gives the document.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The state written by the last compaction.
    pub state: Option<Vec<u8>>,
    /// Updates appended since, oldest first.
    pub updates: Vec<Vec<u8>>,
}

impl Stored {
    /// Bytes held in updates since the last compaction.
    pub fn update_bytes(&self) -> usize {
        self.updates.iter().map(Vec::len).sum()
    }
}

/// One write of a batch.
#[derive(Debug, Clone, Copy)]
pub enum Write<'a> {
    /// Appends an update to `doc`.
    Append {
        /// The document's name (its room).
        doc: &'a str,
        /// A yrs v1 update.
        update: &'a [u8],
    },
    /// Replaces everything stored for `doc` until now (its state and every update appended
    /// before this write) by `state`, the document's whole state as one v1 update.
    Compact {
        /// The document's name.
        doc: &'a str,
        /// The document's state.
        state: &'a [u8],
    },
}

/// A document store. Called from a blocking thread, one call at a time.
///
/// ```
/// use wsx_yjs::store::{MemoryStore, Store, Write};
///
/// let mut store = MemoryStore::default();
/// store.write(&[Write::Append { doc: "pad", update: &[0, 0] }]).unwrap();
/// assert_eq!(store.load("pad").unwrap().updates, vec![vec![0, 0]]);
/// ```
pub trait Store: Send + 'static {
    /// Everything stored for `doc` (empty if it was never written).
    fn load(&mut self, doc: &str) -> Result<Stored>;

    /// Applies `batch` in order, all or nothing: when this returns `Ok`, every write is as
    /// durable as the store promises.
    fn write(&mut self, batch: &[Write<'_>]) -> Result<()>;
}

impl<S: Store + ?Sized> Store for Box<S> {
    fn load(&mut self, doc: &str) -> Result<Stored> {
        (**self).load(doc)
    }
    fn write(&mut self, batch: &[Write<'_>]) -> Result<()> {
        (**self).write(batch)
    }
}
