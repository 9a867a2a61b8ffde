//! A store in this process's memory: for tests, and for servers that want no persistence.

use std::collections::HashMap;

use super::{Store, Stored, Write};
use crate::error::Result;

/// Documents kept in a map; nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    docs: HashMap<String, Stored>,
}

impl Store for MemoryStore {
    fn load(&mut self, doc: &str) -> Result<Stored> {
        Ok(self.docs.get(doc).cloned().unwrap_or_default())
    }

    fn write(&mut self, batch: &[Write<'_>]) -> Result<()> {
        for w in batch {
            match *w {
                Write::Append { doc, update } => self
                    .docs
                    .entry(doc.to_owned())
                    .or_default()
                    .updates
                    .push(update.to_vec()),
                Write::Compact { doc, state } => {
                    self.docs.insert(
                        doc.to_owned(),
                        Stored {
                            state: Some(state.to_vec()),
                            updates: Vec::new(),
                        },
                    );
                }
            }
        }
        Ok(())
    }
}
