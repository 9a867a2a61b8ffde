//! A room's document: a yrs `Doc` while it is being edited, and only its encoded state while
//! it is idle.
//!
//! Most open documents are idle most of the time (people read, think, leave a tab open), and a
//! `Doc` costs far more memory than the bytes of its state (about 1.6 KiB for one holding
//! "hello" against 30 bytes). So after a while without updates the document is encoded and the
//! `Doc` dropped; a client joining meanwhile is answered from the encoded state (yrs'
//! `diff_updates_v1`), and the next update decodes it again.
//!
//! A small document is never kept decoded: an update to it is applied to a `Doc` decoded for
//! that update alone, and the state encoded again. Decoding a few hundred bytes costs a few
//! microseconds per update, and most documents of a busy server (a comment thread, a short
//! note, a form) stay that small for their whole life.

use std::time::{Duration, Instant};

use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

use crate::error::{Error, Result};
use crate::store::Stored;

/// A document, decoded or not.
pub(crate) enum Document {
    /// Being edited: the document and when it last changed.
    Hot { doc: Doc, touched: Instant },
    /// Idle: its whole state as one v1 update.
    Cold(Vec<u8>),
}

impl Document {
    /// The document `stored` describes; a single stored state stays encoded, and so does a
    /// document whose state encodes in fewer than `small` bytes.
    pub(crate) fn load(stored: Stored, small: usize) -> Result<Self> {
        let mut doc = Self::decode(stored)?;
        doc.encode_if_smaller_than(small);
        Ok(doc)
    }

    fn decode(stored: Stored) -> Result<Self> {
        match (stored.state, stored.updates.is_empty()) {
            (Some(state), true) => Ok(Self::Cold(state)),
            (None, true) => Ok(Self::Cold(empty_state())),
            (state, false) => {
                let doc = Doc::new();
                {
                    let mut txn = doc.transact_mut();
                    for u in state.iter().chain(stored.updates.iter()) {
                        let u = Update::decode_v1(u)
                            .map_err(|e| Error::store(format!("a stored update: {e}")))?;
                        txn.apply_update(u)
                            .map_err(|e| Error::store(format!("a stored update: {e}")))?;
                    }
                }
                Ok(Self::Hot {
                    doc,
                    touched: Instant::now(),
                })
            }
        }
    }

    /// The document's state vector (for the SyncStep1 a joining client gets).
    pub(crate) fn state_vector(&self) -> Result<StateVector> {
        match self {
            Self::Hot { doc, .. } => Ok(doc.transact().state_vector()),
            Self::Cold(state) => {
                let sv = yrs::encode_state_vector_from_update_v1(state)
                    .map_err(|e| Error::store(format!("a document's state: {e}")))?;
                Ok(StateVector::decode_v1(&sv)?)
            }
        }
    }

    /// What a client with state vector `sv` lacks (the SyncStep2 it gets).
    pub(crate) fn diff(&self, sv: &StateVector) -> Result<Vec<u8>> {
        match self {
            Self::Hot { doc, .. } => Ok(doc.transact().encode_state_as_update_v1(sv)),
            Self::Cold(state) => yrs::diff_updates_v1(state, &sv.encode_v1())
                .map_err(|e| Error::store(format!("a document's state: {e}"))),
        }
    }

    /// The whole state as one v1 update.
    pub(crate) fn snapshot(&self) -> Vec<u8> {
        match self {
            Self::Hot { doc, .. } => doc
                .transact()
                .encode_state_as_update_v1(&StateVector::default()),
            Self::Cold(state) => state.clone(),
        }
    }

    /// Applies `update`; returns what the document took in (the changes of the transaction,
    /// as Yjs' `update` event gives them; `None` if it knew everything already) and whether
    /// yrs refused a part of it. An encoded document whose state is under `small` bytes is
    /// decoded for this update only and stays encoded unless it grew past that.
    pub(crate) fn apply(&mut self, update: Update, small: usize) -> (Option<Vec<u8>>, Result<()>) {
        let small_and_cold = matches!(self, Self::Cold(state) if state.len() < small);
        let doc = match self.hot() {
            Ok(doc) => doc,
            Err(e) => return (None, Err(e)),
        };
        let applied = Self::apply_to(doc, update);
        if small_and_cold {
            self.encode_if_smaller_than(small);
        }
        applied
    }

    fn apply_to(doc: &Doc, update: Update) -> (Option<Vec<u8>>, Result<()>) {
        let mut txn = doc.transact_mut();
        let result = txn.apply_update(update).map_err(Error::from);
        // Encoded before the commit: the commit squashes a keystroke into the block it
        // continues, and encoding the keystroke out of that block would walk the whole string
        // (yrs' split_str), a cost growing with the document. Before it, the new blocks stand
        // apart and the update is as small as what came in.
        let changed = !txn.delete_set().is_empty() || txn.after_state() != txn.before_state();
        // Shrunk: it is kept until stored, and yrs' encoder starts at 1 KiB.
        let changes = changed.then(|| {
            let mut update = txn.encode_update_v1();
            update.shrink_to_fit();
            update
        });
        txn.commit();
        (changes, result)
    }

    /// The decoded document, decoding it if it is idle.
    fn hot(&mut self) -> Result<&Doc> {
        if let Self::Cold(state) = self {
            let doc = Doc::new();
            let update = Update::decode_v1(state)?;
            doc.transact_mut().apply_update(update)?;
            *self = Self::Hot {
                doc,
                touched: Instant::now(),
            };
        }
        match self {
            Self::Hot { doc, touched } => {
                *touched = Instant::now();
                Ok(doc)
            }
            Self::Cold(_) => Err(Error::store("a document that does not decode")),
        }
    }

    /// Encodes the document if it has not changed for `idle`.
    pub(crate) fn cool(&mut self, idle: Duration) {
        if let Self::Hot { doc, touched } = self
            && touched.elapsed() >= idle
        {
            *self = Self::Cold(encoded_state(doc));
        }
    }

    /// Encodes the document if its state takes fewer than `small` bytes.
    fn encode_if_smaller_than(&mut self, small: usize) {
        if let Self::Hot { doc, .. } = self {
            let state = encoded_state(doc);
            if state.len() < small {
                *self = Self::Cold(state);
            }
        }
    }

    /// Whether the document is held encoded now.
    pub(crate) fn is_cold(&self) -> bool {
        matches!(self, Self::Cold(_))
    }
}

/// The state of an empty document.
fn empty_state() -> Vec<u8> {
    encoded_state(&Doc::new())
}

/// `doc`'s whole state as one v1 update, in a buffer of its size: yrs' encoder starts at 1 KiB,
/// which would be most of a small idle document's memory.
fn encoded_state(doc: &Doc) -> Vec<u8> {
    let mut state = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    state.shrink_to_fit();
    state
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use yrs::{GetString, Text};

    fn update_of(text: &str) -> Vec<u8> {
        let d = Doc::new();
        let t = d.get_or_insert_text("t");
        t.push(&mut d.transact_mut(), text);
        d.transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    fn text_of(update: &[u8]) -> String {
        let d = Doc::new();
        d.transact_mut()
            .apply_update(Update::decode_v1(update).unwrap())
            .unwrap();
        let t = d.get_or_insert_text("t");
        t.get_string(&d.transact())
    }

    #[test]
    fn an_idle_document_answers_from_its_state_and_decodes_on_the_next_update() {
        let hello = update_of("hello");
        let mut d = Document::load(
            Stored {
                state: Some(hello.clone()),
                updates: vec![],
            },
            0,
        )
        .unwrap();
        assert!(d.is_cold());
        let empty = StateVector::default();
        assert_eq!(text_of(&d.diff(&empty).unwrap()), "hello");
        let sv = d.state_vector().unwrap();
        assert_eq!(sv.len(), 1);
        // A client that has it all gets nothing new.
        assert_eq!(text_of(&d.diff(&sv).unwrap()), "");

        let (changes, r) = d.apply(Update::decode_v1(&update_of("!")).unwrap(), 0);
        assert!(r.is_ok() && changes.is_some());
        assert!(!d.is_cold());
        let both = text_of(&d.snapshot());
        assert!(both == "hello!" || both == "!hello", "{both}");
        // Known content changes nothing.
        let (changes, _) = d.apply(Update::decode_v1(&hello).unwrap(), 0);
        assert!(changes.is_none());

        d.cool(Duration::ZERO);
        assert!(d.is_cold());
        assert_eq!(text_of(&d.snapshot()), both);
        assert_eq!(d.state_vector().unwrap().len(), 2);
    }

    #[test]
    fn a_small_document_stays_encoded_until_it_grows_past_the_limit() {
        let small = 64;
        let mut d = Document::load(Stored::default(), small).unwrap();
        assert!(d.is_cold());
        let doc = Doc::new();
        let t = doc.get_or_insert_text("t");
        let mirror = Doc::new();
        let mut typed = String::new();
        for c in "the quick brown fox jumps over the lazy dog "
            .repeat(2)
            .chars()
        {
            let before = doc.transact().state_vector();
            t.push(&mut doc.transact_mut(), &c.to_string());
            typed.push(c);
            let u = doc.transact().encode_state_as_update_v1(&before);
            let (changes, r) = d.apply(Update::decode_v1(&u).unwrap(), small);
            assert!(r.is_ok() && changes.is_some());
            // The changes are this keystroke alone, not the whole state: a copy fed only with
            // them follows.
            let changes = changes.unwrap();
            assert!(changes.len() < 40, "{}", changes.len());
            mirror
                .transact_mut()
                .apply_update(Update::decode_v1(&changes).unwrap())
                .unwrap();
            let m = mirror.get_or_insert_text("t");
            assert_eq!(m.get_string(&mirror.transact()), typed);
            assert_eq!(text_of(&d.snapshot()), typed);
            assert_eq!(d.is_cold(), d.snapshot().len() < small, "{}", typed.len());
        }
        assert!(!d.is_cold(), "grew past {small} bytes and is held decoded");
        // An update that arrives before what it depends on is kept while encoded.
        let mut d = Document::load(Stored::default(), small).unwrap();
        let first = update_of("a");
        let other = Doc::new();
        other
            .transact_mut()
            .apply_update(Update::decode_v1(&first).unwrap())
            .unwrap();
        let sv = other.transact().state_vector();
        other
            .get_or_insert_text("t")
            .push(&mut other.transact_mut(), "b");
        let second = other.transact().encode_state_as_update_v1(&sv);
        let (_, r) = d.apply(Update::decode_v1(&second).unwrap(), small);
        assert!(r.is_ok() && d.is_cold());
        d.apply(Update::decode_v1(&first).unwrap(), small)
            .1
            .unwrap();
        assert_eq!(text_of(&d.snapshot()), "ab");
    }
}
