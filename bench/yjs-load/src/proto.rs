//! The y-websocket protocol as the driver speaks it, on yrs' own types: the messages it sends,
//! the messages it reads, the writer's keystrokes, and how a client tells which keystrokes an
//! update holds.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;
use std::rc::Rc;

use bytes::Bytes;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, GetString, ReadTxn, StateVector, Text, TextRef, Transact, Update};

/// `[0, 0, empty state vector]`: what a new client sends first (it has nothing yet).
pub fn sync_step1_empty() -> Bytes {
    Message::Sync(SyncMessage::SyncStep1(StateVector::default()))
        .encode_v1()
        .into()
}

/// `[0, 1, update]`: the answer to the server's SyncStep1 (empty for a client with nothing).
pub fn sync_step2(update: &[u8]) -> Bytes {
    Message::Sync(SyncMessage::SyncStep2(update.to_vec()))
        .encode_v1()
        .into()
}

/// `[0, 2, update]`: a document update.
pub fn update_frame(update: Vec<u8>) -> Bytes {
    Message::Sync(SyncMessage::Update(update))
        .encode_v1()
        .into()
}

/// The empty v1 update (no blocks, no deletions).
pub const EMPTY_UPDATE: &[u8] = Update::EMPTY_V1;

/// A message from the server, as far as the driver cares.
#[derive(Debug)]
pub enum In {
    Step1,
    Step2(Vec<u8>),
    Update(Vec<u8>),
    Awareness,
    /// Auth, awareness query, custom: nothing a server sends here.
    Other,
}

/// Decodes the one message of a frame (both servers send one message per frame).
pub fn parse(frame: &[u8]) -> Result<In, String> {
    Ok(
        match Message::decode_v1(frame).map_err(|e| format!("undecodable message: {e}"))? {
            Message::Sync(SyncMessage::SyncStep1(_)) => In::Step1,
            Message::Sync(SyncMessage::SyncStep2(u)) => In::Step2(u),
            Message::Sync(SyncMessage::Update(u)) => In::Update(u),
            Message::Awareness(_) => In::Awareness,
            _ => In::Other,
        },
    )
}

/// The blocks an update inserts: `(client id, clock range)`, one entry per client range.
pub type Insertions = Rc<[(u64, Range<u32>)]>;

/// What an update holds, read by yrs (`Update::decode_v1`, then the ids of every block it
/// inserts, deleted or not). `Update::state_vector` is not used: it only counts clients whose
/// blocks start at clock 0, and a keystroke's update starts at the writer's clock.
pub fn insertions(update: &[u8]) -> Result<Vec<(u64, Range<u32>)>, String> {
    let u = Update::decode_v1(update).map_err(|e| format!("undecodable update: {e}"))?;
    let mut out = Vec::new();
    for (client, ranges) in u.insertions(true).iter() {
        for r in ranges.iter() {
            out.push((client.get(), r.clone()));
        }
    }
    Ok(out)
}

/// Identifies update frames by their bytes. Both servers encode an update once and send the
/// same bytes to every connection of the room, so each distinct frame is decoded by yrs once,
/// and every other copy is recognised by an exact byte comparison (a hash lookup): the one
/// driver thread must keep up with a million deliveries a second.
#[derive(Default)]
pub struct FrameCache {
    map: RefCell<HashMap<Box<[u8]>, Insertions>>,
    decoded: std::cell::Cell<u64>,
}

impl FrameCache {
    /// The insertions of the update frame `frame` if it was seen before.
    pub fn get(&self, frame: &[u8]) -> Option<Insertions> {
        self.map.borrow().get(frame).cloned()
    }

    /// Decodes the update of `frame` (whose message decoded as `In::Update(update)`) and
    /// remembers it.
    pub fn decode(&self, frame: &[u8], update: &[u8]) -> Result<Insertions, String> {
        let ins: Insertions = insertions(update)?.into();
        self.decoded.set(self.decoded.get() + 1);
        let mut map = self.map.borrow_mut();
        // Bounded: a throughput run has at most a few thousand keystrokes in flight.
        if map.len() >= 1 << 16 {
            map.clear();
        }
        map.insert(frame.into(), ins.clone());
        Ok(ins)
    }

    /// Frames decoded by yrs (the others were copies).
    pub fn decoded(&self) -> u64 {
        self.decoded.get()
    }
}

/// The writer: a yrs document with a Y.Text `t`, typing at its end.
pub struct Writer {
    doc: Doc,
    text: TextRef,
    typed: u32,
}

impl Writer {
    pub fn new(client_id: u64) -> Writer {
        let doc = Doc::with_client_id(client_id);
        let text = doc.get_or_insert_text("t");
        Writer {
            doc,
            text,
            typed: 0,
        }
    }

    pub fn client_id(&self) -> u64 {
        self.doc.client_id().get()
    }

    /// Types the next character (one transaction) and returns its update message, a few
    /// dozen bytes: `[0, 2, update]`. Keystroke `k` is the writer's clock `k`.
    pub fn keystroke(&mut self) -> Bytes {
        let before = self.doc.transact().state_vector();
        let ch = char::from(b'a' + (self.typed % 26) as u8);
        {
            let mut txn = self.doc.transact_mut();
            self.text
                .insert(&mut txn, self.typed, ch.encode_utf8(&mut [0; 4]));
        }
        self.typed += 1;
        let update = self.doc.transact().encode_state_as_update_v1(&before);
        update_frame(update)
    }
}

/// A client's copy of a document (cold open): applies updates, reads the text's length.
pub struct Replica {
    doc: Doc,
    text: TextRef,
}

impl Default for Replica {
    fn default() -> Self {
        let doc = Doc::new();
        let text = doc.get_or_insert_text("t");
        Replica { doc, text }
    }
}

impl Replica {
    pub fn apply(&self, update: &[u8]) -> Result<(), String> {
        let u = Update::decode_v1(update).map_err(|e| format!("undecodable update: {e}"))?;
        self.doc
            .transact_mut()
            .apply_update(u)
            .map_err(|e| format!("update does not apply: {e}"))
    }

    /// Characters in `t` (ASCII here, so bytes and characters agree).
    pub fn text_len(&self) -> u32 {
        self.text.len(&self.doc.transact())
    }

    /// Whether the text is exactly what `Writer` types in `n` keystrokes.
    pub fn text_is_typed(&self, n: u32) -> bool {
        let s = self.text.get_string(&self.doc.transact());
        s.len() == n as usize
            && s.bytes()
                .enumerate()
                .all(|(i, b)| b == b'a' + (i % 26) as u8)
    }
}

/// An edit of its own for client `client_id` (the rooms mode): `"hello"` typed into a fresh
/// document, as one update message.
pub fn small_edit(client_id: u64) -> Bytes {
    let doc = Doc::with_client_id(client_id);
    let text = doc.get_or_insert_text("t");
    text.insert(&mut doc.transact_mut(), 0, "hello");
    update_frame(
        doc.transact()
            .encode_state_as_update_v1(&StateVector::default()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keystrokes_are_one_clock_each() {
        let mut w = Writer::new(42);
        let r = Replica::default();
        for k in 0..30u32 {
            let frame = w.keystroke();
            assert!(frame.len() < 40, "keystroke {k}: {} bytes", frame.len());
            let In::Update(u) = parse(&frame).unwrap() else {
                panic!("not an update")
            };
            assert_eq!(insertions(&u).unwrap(), vec![(42, k..k + 1)]);
            r.apply(&u).unwrap();
        }
        assert!(r.text_is_typed(30));
        assert_eq!(r.text_len(), 30);
    }

    #[test]
    fn cache_recognises_copies() {
        let mut w = Writer::new(7);
        let f = w.keystroke();
        let c = FrameCache::default();
        assert!(c.get(&f).is_none());
        let In::Update(u) = parse(&f).unwrap() else {
            panic!()
        };
        let a = c.decode(&f, &u).unwrap();
        assert_eq!(&*c.get(&f).unwrap(), &*a);
        assert_eq!(c.decoded(), 1);
        let edit = small_edit(9);
        let In::Update(u) = parse(&edit).unwrap() else {
            panic!()
        };
        assert_eq!(insertions(&u).unwrap(), vec![(9, 0..5)]);
    }
}
