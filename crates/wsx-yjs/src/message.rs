//! The y-websocket framing: a binary frame read as y-protocols messages (yrs' own types), and
//! the outgoing messages encoded one per frame.
//!
//! The stable `y-websocket` v3 client sends and reads exactly one message per frame; the v4
//! client reads several from one frame. So frames are read as a sequence of messages (each
//! delimited with yrs' lib0 reader, then decoded by `yrs::sync::Message`), and written one
//! message per frame, which both understand.

use bytes::Bytes;
use yrs::encoding::read::{Cursor, Read};
use yrs::encoding::write::Write;
use yrs::sync::protocol::{
    MSG_AUTH, MSG_AWARENESS, MSG_QUERY_AWARENESS, MSG_SYNC, MSG_SYNC_STEP_2, MSG_SYNC_UPDATE,
};
use yrs::sync::{AwarenessUpdate, Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::{Encode, Encoder, EncoderV1};
use yrs::{StateVector, Update};

use crate::error::{Error, Result};
use crate::update_decoder::decode_update_v1;

/// One message from a client, decoded and checked.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// SyncStep1: the client's state vector; answered with SyncStep2.
    SyncStep1(StateVector),
    /// SyncStep2: the update answering our SyncStep1.
    SyncStep2(Update),
    /// Update: a document update (applied the same way as SyncStep2).
    Update(Update),
    /// An awareness update whose states are all well-formed JSON.
    Awareness(AwarenessUpdate),
    /// QueryAwareness: answered with every known state.
    QueryAwareness,
    /// Auth: only servers send it; a client's is ignored.
    Auth,
}

impl Incoming {
    /// Whether this message would change the document (what a read-only connection may not send).
    pub(crate) fn is_write(&self) -> bool {
        matches!(self, Self::SyncStep2(_) | Self::Update(_))
    }
}

/// Reads every message of a binary frame. Any message that does not decode fails the whole
/// frame, before any of it is applied.
pub(crate) fn read_frame(frame: &[u8]) -> Result<Vec<Incoming>> {
    if frame.is_empty() {
        return Err(Error::Malformed("empty frame".into()));
    }
    let mut out = Vec::with_capacity(1);
    let mut cur = Cursor::new(frame);
    while cur.has_content() {
        let start = cur.next;
        delimit(&mut cur)?;
        out.push(decode(&frame[start..cur.next])?);
    }
    Ok(out)
}

/// Moves `cur` past one message, checking only its outer structure.
fn delimit(cur: &mut Cursor<'_>) -> Result<()> {
    let tag: u64 = cur.read_var()?;
    match tag {
        t if t == u64::from(MSG_SYNC) => {
            let _sub: u64 = cur.read_var()?;
            cur.read_buf()?;
        }
        t if t == u64::from(MSG_AWARENESS) => {
            cur.read_buf()?;
        }
        t if t == u64::from(MSG_AUTH) => {
            let permission: u64 = cur.read_var()?;
            if permission == 0 {
                cur.read_string()?;
            }
        }
        t if t == u64::from(MSG_QUERY_AWARENESS) => {}
        t => return Err(Error::UnknownMessage(t)),
    }
    Ok(())
}

/// Runs yrs' decoding of a peer's bytes, a panic included: yrs checks some of what it reads
/// with assertions (a client id over 53 bits trips a `debug_assert!` in `ClientID::new`), so
/// in a debug build a peer could make it panic. Such a message is malformed, like any other
/// that does not decode.
pub(crate) fn guarded<T>(decode: impl FnOnce() -> Result<T> + std::panic::UnwindSafe) -> Result<T> {
    std::panic::catch_unwind(decode)
        .unwrap_or_else(|_| Err(Error::Malformed("yrs refused it with a panic".into())))
}

/// A peer's document update (a SyncStep2 or Update message's, or another process's).
pub(crate) fn decode_update(bytes: &[u8]) -> Result<Update> {
    guarded(|| Ok(decode_update_v1(bytes)?))
}

/// A peer's awareness update (another process's).
pub(crate) fn decode_awareness(bytes: &[u8]) -> Result<AwarenessUpdate> {
    guarded(|| Ok(AwarenessUpdate::decode_v1(bytes)?))
}

/// Decodes one delimited message with yrs and checks its content.
fn decode(bytes: &[u8]) -> Result<Incoming> {
    guarded(|| decode_unguarded(bytes))
}

fn decode_unguarded(bytes: &[u8]) -> Result<Incoming> {
    Ok(match Message::decode_v1(bytes)? {
        Message::Sync(SyncMessage::SyncStep1(sv)) => Incoming::SyncStep1(sv),
        Message::Sync(SyncMessage::SyncStep2(u)) => Incoming::SyncStep2(decode_update_v1(&u)?),
        Message::Sync(SyncMessage::Update(u)) => Incoming::Update(decode_update_v1(&u)?),
        Message::Awareness(update) => {
            for entry in update.clients.values() {
                serde_json::from_str::<serde::de::IgnoredAny>(&entry.json)
                    .map_err(|e| Error::Malformed(format!("awareness state is not JSON: {e}")))?;
            }
            Incoming::Awareness(update)
        }
        Message::AwarenessQuery => Incoming::QueryAwareness,
        Message::Auth(_) => Incoming::Auth,
        Message::Custom(tag, _) => return Err(Error::UnknownMessage(u64::from(tag))),
    })
}

/// `[0, 0, state vector]`: SyncStep1.
pub(crate) fn sync_step1(sv: &StateVector) -> Bytes {
    Message::Sync(SyncMessage::SyncStep1(sv.clone()))
        .encode_v1()
        .into()
}

/// `[0, 1, update]`: SyncStep2.
pub(crate) fn sync_step2(update: &[u8]) -> Bytes {
    sync(MSG_SYNC_STEP_2, update)
}

/// `[0, 2, update]`: an Update.
pub(crate) fn update(update: &[u8]) -> Bytes {
    sync(MSG_SYNC_UPDATE, update)
}

fn sync(sub: u8, payload: &[u8]) -> Bytes {
    let mut enc = EncoderV1::new();
    enc.write_var(MSG_SYNC);
    enc.write_var(sub);
    enc.write_buf(payload);
    enc.to_vec().into()
}

/// `[1, awareness update]`.
pub(crate) fn awareness(update: &AwarenessUpdate) -> Bytes {
    let mut enc = EncoderV1::new();
    enc.write_var(MSG_AWARENESS);
    enc.write_buf(update.encode_v1());
    enc.to_vec().into()
}

/// `[2, 0, reason]`: permission denied (sent to a read-only client that tried to write).
pub(crate) fn permission_denied(reason: &str) -> Bytes {
    Message::Auth(Some(reason.to_owned())).encode_v1().into()
}

/// The sync sub-type constant for SyncStep1, for tests that build frames by hand.
#[cfg(test)]
const STEP1: u8 = yrs::sync::protocol::MSG_SYNC_STEP_1;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use yrs::{Doc, GetString, ReadTxn, Text, Transact};

    fn some_update() -> Vec<u8> {
        let doc = Doc::new();
        let text = doc.get_or_insert_text("t");
        text.insert(&mut doc.transact_mut(), 0, "hello");
        doc.transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    #[test]
    fn reads_one_message_per_frame_and_several() {
        let u = some_update();
        let one = update(&u);
        assert!(matches!(
            read_frame(&one).unwrap().as_slice(),
            [Incoming::Update(_)]
        ));
        let mut two = one.to_vec();
        two.extend_from_slice(&sync_step1(&StateVector::default()));
        two.push(MSG_QUERY_AWARENESS);
        let msgs = read_frame(&two).unwrap();
        assert!(matches!(
            msgs.as_slice(),
            [
                Incoming::Update(_),
                Incoming::SyncStep1(_),
                Incoming::QueryAwareness
            ]
        ));
    }

    #[test]
    fn outgoing_messages_decode_with_yrs() {
        let u = some_update();
        let m = Message::decode_v1(&sync_step2(&u)).unwrap();
        assert_eq!(m, Message::Sync(SyncMessage::SyncStep2(u.clone())));
        let m = Message::decode_v1(&update(&u)).unwrap();
        assert_eq!(m, Message::Sync(SyncMessage::Update(u.clone())));
        let doc = Doc::new();
        let applied = doc
            .transact_mut()
            .apply_update(Update::decode_v1(&u).unwrap());
        assert!(applied.is_ok());
        let text = doc.get_or_insert_text("t");
        assert_eq!(text.get_string(&doc.transact()), "hello");
        assert_eq!(sync_step1(&StateVector::default())[1], STEP1);
    }

    #[test]
    fn truncated_varints_and_buffers_are_malformed() {
        let u = update(&some_update());
        for cut in 1..u.len() {
            let r = read_frame(&u[..cut]);
            assert!(matches!(r, Err(Error::Malformed(_))), "cut at {cut}: {r:?}");
        }
        // A varint whose continuation bit never ends.
        assert!(matches!(
            read_frame(&[0x80, 0x80, 0x80]),
            Err(Error::Malformed(_))
        ));
        assert!(matches!(read_frame(&[]), Err(Error::Malformed(_))));
    }

    /// fuzz/regressions/yjs_frame/client-id-over-53-bits: yrs asserts (in debug builds) that a
    /// client id fits in 53 bits, so a SyncStep1 naming a larger one panicked.
    #[test]
    fn client_ids_over_53_bits_are_malformed_not_a_panic() {
        let mut sv = EncoderV1::new();
        sv.write_var(1u32);
        sv.write_var((1u64 << 53) + 5);
        sv.write_var(0u32);
        let mut frame = EncoderV1::new();
        frame.write_var(MSG_SYNC);
        frame.write_var(STEP1);
        frame.write_buf(sv.to_vec());
        let r = read_frame(&frame.to_vec());
        if cfg!(debug_assertions) {
            assert!(matches!(r, Err(Error::Malformed(_))), "{r:?}");
        } else {
            // Without the assertion yrs keeps the low 53 bits.
            assert!(r.is_ok(), "{r:?}");
        }
        let mut update = EncoderV1::new();
        update.write_var(1u32);
        update.write_var(1u32);
        update.write_var((1u64 << 60) + 1);
        update.write_var(0u32);
        let r = decode_update(&update.to_vec());
        assert!(r.is_err() || !cfg!(debug_assertions), "{r:?}");
    }

    #[test]
    fn unknown_types_and_bad_content_are_refused() {
        assert!(matches!(read_frame(&[7, 0]), Err(Error::UnknownMessage(7))));
        // A sync sub-type that does not exist.
        assert!(matches!(read_frame(&[0, 9, 0]), Err(Error::Malformed(_))));
        // An update whose bytes are not an update.
        assert!(matches!(
            read_frame(&update(&[0xff, 0xff, 0xff, 0x0f, 1, 2, 3])),
            Err(Error::Malformed(_))
        ));
        // An awareness state that is not JSON.
        let mut enc = EncoderV1::new();
        enc.write_var(1u32);
        enc.write_var(42u32);
        enc.write_var(1u32);
        enc.write_string("{not json");
        let mut frame = vec![MSG_AWARENESS];
        let inner = enc.to_vec();
        let mut e2 = EncoderV1::new();
        e2.write_buf(&inner);
        frame.extend_from_slice(&e2.to_vec());
        assert!(matches!(read_frame(&frame), Err(Error::Malformed(_))));
    }
}
