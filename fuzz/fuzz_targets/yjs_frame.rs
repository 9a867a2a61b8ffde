//! The y-websocket decoder of `wsx-yjs` (`message.rs`, `read_frame`) and what a frame's
//! messages reach: the room's document (`document.rs`, held encoded or decoded) and its
//! awareness table (`presence.rs`), through `wsx_yjs::fuzzing`.
//!
//! The input is read as one binary frame from a client, and as a frame built from arbitrary
//! messages (state vectors, updates made by editing a document, awareness states).
//!
//! Invariants:
//! - `read_frame` never panics (yrs does, on some malformed input in debug builds: wsx-yjs
//!   catches that as a malformed message, and this target lets such a panic unwind to it); it
//!   refuses the empty frame, truncated varints and buffers,
//!   unknown message types, sync sub-types and updates yrs does not decode, and awareness
//!   states that are not JSON, as errors (`Malformed`, `UnknownMessage`), and accepts a frame
//!   only if every message in it decodes.
//! - What it accepts re-encodes: each message written again (`sync_step1`, `update`,
//!   `awareness`) is read back as the same message, and the whole frame written again reads
//!   back as the same messages in order.
//! - yrs takes what `read_frame` accepted without panicking: updates applied to a document held
//!   encoded or decoded are applied or refused as errors, its state then decodes again and
//!   answers a SyncStep1; awareness updates apply to the presence table, which encodes its
//!   states back.
#![no_main]

use std::collections::HashMap;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use wsx_yjs::Error;
use wsx_yjs::fuzzing::{self as f, Document, Incoming, Presence};
use yrs::sync::AwarenessUpdate;
use yrs::sync::awareness::AwarenessUpdateEntry;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{ClientID, Doc, ReadTxn, StateVector, Text, Transact, Update};

/// A message written again as the server writes it (`None` for those it never writes).
fn reencode(m: &Incoming) -> Option<Vec<u8>> {
    Some(match m {
        Incoming::SyncStep1(sv) => f::sync_step1(sv).to_vec(),
        Incoming::SyncStep2(u) => f::sync_step2(&u.encode_v1()).to_vec(),
        Incoming::Update(u) => f::update(&u.encode_v1()).to_vec(),
        Incoming::Awareness(a) => f::awareness(a).to_vec(),
        Incoming::QueryAwareness => vec![3],
        Incoming::Auth => return None,
    })
}

fn same(a: &Incoming, b: &Incoming) -> bool {
    match (a, b) {
        (Incoming::SyncStep1(x), Incoming::SyncStep1(y)) => x == y,
        (Incoming::SyncStep2(x), Incoming::SyncStep2(y))
        | (Incoming::Update(x), Incoming::Update(y)) => x.encode_v1() == y.encode_v1(),
        (Incoming::Awareness(x), Incoming::Awareness(y)) => x == y,
        (Incoming::QueryAwareness, Incoming::QueryAwareness) => true,
        (Incoming::Auth, Incoming::Auth) => true,
        _ => false,
    }
}

fn check_frame(frame: &[u8]) {
    let msgs = match f::read_frame(frame) {
        Ok(msgs) => msgs,
        Err(Error::Malformed(_) | Error::UnknownMessage(_)) => return,
        Err(e) => panic!("a frame refused with {e:?}"),
    };
    assert!(!msgs.is_empty(), "an accepted frame has messages");
    let mut whole = Vec::new();
    let mut expected = Vec::new();
    for m in &msgs {
        let Some(bytes) = reencode(m) else { continue };
        let back = f::read_frame(&bytes)
            .unwrap_or_else(|e| panic!("{m:?} re-encoded as {bytes:?} is refused: {e:?}"));
        assert!(
            matches!(back.as_slice(), [b] if same(b, m)),
            "{m:?} came back as {back:?}"
        );
        whole.extend_from_slice(&bytes);
        expected.push(m);
    }
    if !whole.is_empty() {
        let back = f::read_frame(&whole).expect("the frame written again is accepted");
        assert_eq!(back.len(), expected.len());
    }
    apply_all(msgs);
}

/// The messages applied as a room applies them, to documents held encoded and decoded.
fn apply_all(msgs: Vec<Incoming>) {
    let mut presence = Presence::default();
    let mut docs: Vec<(Document, usize)> = [0usize, 1 << 20]
        .into_iter()
        .map(|small| {
            (
                Document::load(None, Vec::new(), small).expect("an empty document"),
                small,
            )
        })
        .collect();
    for m in msgs {
        match m {
            Incoming::SyncStep1(sv) => {
                for (doc, _) in &docs {
                    let diff = doc.diff(&sv).expect("a SyncStep1 is answered");
                    Update::decode_v1(&diff).expect("the answer decodes");
                }
            }
            Incoming::SyncStep2(u) | Incoming::Update(u) => {
                let bytes = u.encode_v1();
                for (doc, small) in &mut docs {
                    let u = Update::decode_v1(&bytes).expect("re-encoded update decodes");
                    let (changes, _result) = doc.apply(u, *small);
                    if let Some(c) = changes {
                        Update::decode_v1(&c).expect("what the document took in decodes");
                    }
                    let state = doc.snapshot();
                    Update::decode_v1(&state).expect("the document's state decodes");
                    let sv = doc.state_vector().expect("a state vector");
                    doc.diff(&sv).expect("a diff");
                }
            }
            Incoming::Awareness(a) => {
                let clients: Vec<ClientID> = a.clients.keys().copied().collect();
                let (set, removed) = presence.apply(a, 1_000);
                for c in set.iter().chain(&removed) {
                    assert!(clients.contains(c));
                }
                let u = presence.update_for(clients);
                let frame = f::awareness(&u);
                f::read_frame(&frame).expect("the presence's own update is accepted");
                if let Some(full) = presence.full() {
                    f::read_frame(&f::awareness(&full)).expect("the full presence is accepted");
                }
            }
            Incoming::QueryAwareness | Incoming::Auth => {}
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Spec {
    Step1(Vec<(u64, u32)>),
    /// An update made by edits: (client id, position, text, delete length).
    Update(u64, Vec<(u16, String, u8)>),
    Awareness(Vec<(u64, u32, Option<String>)>),
    Query,
}

/// A client id as Yjs makes them: 53 bits.
fn client_id(c: u64) -> ClientID {
    ClientID::new(c & ((1 << 53) - 1))
}

fn build(specs: &[Spec]) -> Vec<u8> {
    let mut frame = Vec::new();
    for s in specs {
        let bytes = match s {
            Spec::Step1(entries) => {
                let mut sv = StateVector::default();
                for &(c, clock) in entries {
                    sv.set_max(client_id(c), clock);
                }
                f::sync_step1(&sv).to_vec()
            }
            Spec::Update(client, edits) => {
                let doc = Doc::with_client_id(client_id(*client).get());
                let text = doc.get_or_insert_text("t");
                for (pos, s, del) in edits {
                    // ASCII: positions in bytes are positions in characters.
                    let s: String = s.chars().filter(char::is_ascii).collect();
                    let mut txn = doc.transact_mut();
                    let len = text.len(&txn);
                    text.insert(&mut txn, u32::from(*pos) % (len + 1), &s);
                    let len = text.len(&txn);
                    let at = u32::from(*pos) % (len + 1);
                    text.remove_range(&mut txn, at, u32::from(*del).min(len - at));
                }
                let update = doc
                    .transact()
                    .encode_state_as_update_v1(&StateVector::default());
                f::update(&update).to_vec()
            }
            Spec::Awareness(entries) => {
                let clients: HashMap<ClientID, AwarenessUpdateEntry> = entries
                    .iter()
                    .map(|(c, clock, state)| {
                        let json = match state {
                            Some(s) => serde_json::json!({ "user": s }).to_string(),
                            None => "null".to_owned(),
                        };
                        (
                            client_id(*c),
                            AwarenessUpdateEntry {
                                clock: *clock,
                                json: json.into(),
                            },
                        )
                    })
                    .collect();
                f::awareness(&AwarenessUpdate { clients }).to_vec()
            }
            Spec::Query => vec![3],
        };
        frame.extend_from_slice(&bytes);
    }
    frame
}

fuzz_target!(|data: &[u8]| {
    wsx_fuzz::let_yrs_panics_unwind();
    check_frame(data);
    if let Ok(specs) = Vec::<Spec>::arbitrary(&mut Unstructured::new(data)) {
        let frame = build(&specs);
        match f::read_frame(&frame) {
            Ok(msgs) => assert_eq!(msgs.len(), specs.len()),
            Err(e) => assert!(specs.is_empty(), "{specs:?} built a frame refused: {e:?}"),
        }
        check_frame(&frame);
    }
});
