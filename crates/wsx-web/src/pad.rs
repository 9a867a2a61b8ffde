//! A y-websocket client for one shared text: the document, awareness, and the messages to send.

use serde::Serialize;
use serde_json::{Value, json};
use yrs::encoding::read::Cursor;
use yrs::sync::awareness::AwarenessUpdate;
use yrs::sync::{Message, MessageReader, SyncMessage};
use yrs::updates::decoder::{Decode, DecoderV1};
use yrs::updates::encoder::Encode;
use yrs::{
    Assoc, ClientID, Doc, GetString, IndexedSequence, OffsetKind, Options, ReadTxn, StickyIndex,
    Text, TextRef, Transact, Update,
};

use crate::awareness::Awareness;
use crate::diff::splice;

/// The name of the shared text in the document (`doc.getText("pad")` in Yjs).
pub const TEXT_NAME: &str = "pad";

/// A local awareness state is sent again after this long without a change (y-protocols: 15 s).
pub const RENEW_AFTER_MS: u64 = 15_000;

/// A peer whose awareness state was not renewed for this long is dropped (y-protocols: 30 s).
pub const OUTDATED_AFTER_MS: u64 = 30_000;

/// Longest user name shown to others, in characters.
const MAX_NAME: usize = 64;

/// What can go wrong with input from the server or from the page.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A message that is not a well-formed y-websocket message.
    #[error("malformed message: {0}")]
    Decode(String),
    /// A document update that could not be applied.
    #[error("update not applied: {0}")]
    Update(String),
    /// An argument from the page that is out of range (client id, JSON of the user).
    #[error("invalid argument: {0}")]
    Invalid(String),
}

/// A text selection in UTF-16 code units: `anchor` is where it started, `head` where the caret is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Selection {
    /// Fixed end of the selection.
    pub anchor: u32,
    /// Moving end of the selection (the caret).
    pub head: u32,
}

impl Selection {
    /// A collapsed selection (a caret) at `at`.
    pub fn caret(at: u32) -> Self {
        Selection {
            anchor: at,
            head: at,
        }
    }
}

/// What handling one incoming message produced.
#[derive(Debug, Default)]
pub struct Received {
    /// Messages to send back to the server, in order.
    pub replies: Vec<Vec<u8>>,
    /// The text changed: the new text and the local selection mapped through the change.
    pub text: Option<(String, Selection)>,
    /// Someone's name, color or cursor changed (or someone came or went).
    pub awareness_changed: bool,
    /// This message completed the initial sync (it was the server's SyncStep2).
    pub synced: bool,
    /// The server refused access, with its reason.
    pub denied: Option<String>,
}

/// Someone in the pad, as the page draws them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Peer {
    /// Their Yjs client id.
    pub id: u64,
    /// Whether this is the local user.
    pub me: bool,
    /// Their name (`user.name`), at most 64 characters.
    pub name: String,
    /// Their color (`user.color`), always `#rgb` or `#rrggbb`.
    pub color: String,
    /// Their selection resolved in the current text, if they have one and it resolves.
    pub cursor: Option<Selection>,
}

/// One client of a y-websocket room whose document holds a single `Y.Text` named `"pad"`.
///
/// The page feeds it every binary WebSocket message ([`Pad::receive`]) and every edit of the
/// textarea ([`Pad::edit`]); the pad answers with the binary messages to send and with what to
/// show. Time comes from the caller ([`Pad::set_now`]), so this works where there is no clock.
pub struct Pad {
    doc: Doc,
    text: TextRef,
    awareness: Awareness,
    now: u64,
    user: Option<Value>,
    cursor: Option<Value>,
    synced: bool,
}

impl std::fmt::Debug for Pad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pad")
            .field("client_id", &self.client_id())
            .field("synced", &self.synced)
            .finish_non_exhaustive()
    }
}

fn sync_message(msg: SyncMessage) -> Vec<u8> {
    Message::Sync(msg).encode_v1()
}

fn awareness_message(update: AwarenessUpdate) -> Vec<u8> {
    Message::Awareness(update).encode_v1()
}

/// A sticky index at `index` of `text`; the end of the text (where Yjs too anchors to the type
/// itself) when no item follows.
fn sticky<T: ReadTxn>(txn: &T, text: &TextRef, index: u32, assoc: Assoc) -> StickyIndex {
    let index = index.min(text.len(txn));
    text.sticky_index(txn, index, assoc)
        .unwrap_or_else(|| StickyIndex::from_type(txn, text, Assoc::After))
}

/// `#rgb` or `#rrggbb`, or `None`.
fn css_hex_color(s: &str) -> Option<String> {
    let hex = s.strip_prefix('#')?;
    ((hex.len() == 3 || hex.len() == 6) && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| s.to_ascii_lowercase())
}

/// A color for someone who has none, stable per client id.
fn default_color(id: u64) -> String {
    const PALETTE: [&str; 8] = [
        "#5b8cff", "#ff5c8a", "#2ecc71", "#f5a623", "#b07cff", "#1fc7d4", "#ff7a45", "#c0d94a",
    ];
    PALETTE[(id % PALETTE.len() as u64) as usize].to_owned()
}

impl Pad {
    /// A new, empty pad for the client `client_id` (below 2^53, unique per page: the page picks
    /// it with `crypto.getRandomValues`, as yrs cannot draw entropy on wasm32-unknown-unknown).
    pub fn new(client_id: u64) -> Result<Self, Error> {
        if client_id >= 1 << 53 {
            return Err(Error::Invalid(format!(
                "client id {client_id} does not fit in 53 bits"
            )));
        }
        let mut options = Options::with_guid_and_client_id(
            client_id.to_string().into(),
            ClientID::new(client_id),
        );
        // Indices are UTF-16 code units, as JavaScript strings count them.
        options.offset_kind = OffsetKind::Utf16;
        let doc = Doc::with_options(options);
        let text = doc.get_or_insert_text(TEXT_NAME);
        Ok(Pad {
            doc,
            text,
            awareness: Awareness::new(client_id),
            now: 0,
            user: None,
            cursor: None,
            synced: false,
        })
    }

    /// This client's id.
    pub fn client_id(&self) -> u64 {
        self.doc.client_id().get()
    }

    /// Sets the current time (milliseconds since the epoch: JavaScript's `Date.now()`), used to
    /// stamp awareness states and to expire them.
    pub fn set_now(&mut self, now_ms: u64) {
        self.now = now_ms;
    }

    /// Whether the server's SyncStep2 arrived on the current connection.
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// The current text.
    pub fn text(&self) -> String {
        self.text.get_string(&self.doc.transact())
    }

    /// The messages to send when a connection opens: SyncStep1 with our state vector, then our
    /// awareness state if we have one (as y-websocket's client does).
    pub fn connect(&mut self) -> Vec<Vec<u8>> {
        self.synced = false;
        let sv = self.doc.transact().state_vector();
        let mut out = vec![sync_message(SyncMessage::SyncStep1(sv))];
        if self.awareness.local_state().is_some() {
            out.extend(self.local_awareness());
        }
        out
    }

    /// The connection dropped: forgets the others (as y-websocket does; the server sends
    /// everyone again on the next connection). Returns whether anyone was forgotten.
    pub fn disconnect(&mut self) -> bool {
        self.synced = false;
        self.awareness.forget_peers()
    }

    /// Handles one binary message from the server. `selection` is the local selection now; if
    /// the text changes, it comes back mapped through the change.
    pub fn receive(&mut self, data: &[u8], selection: Selection) -> Result<Received, Error> {
        let mut out = Received::default();
        let mut decoder = DecoderV1::new(Cursor::new(data));
        let mut any = false;
        for msg in MessageReader::new(&mut decoder) {
            let msg = msg.map_err(|e| Error::Decode(e.to_string()))?;
            any = true;
            match msg {
                Message::Sync(SyncMessage::SyncStep1(sv)) => {
                    let update = self.doc.transact().encode_diff_v1(&sv);
                    out.replies
                        .push(sync_message(SyncMessage::SyncStep2(update)));
                }
                Message::Sync(SyncMessage::SyncStep2(update)) => {
                    self.apply(&update, selection, &mut out)?;
                    if !self.synced {
                        self.synced = true;
                        out.synced = true;
                    }
                }
                Message::Sync(SyncMessage::Update(update)) => {
                    self.apply(&update, selection, &mut out)?;
                }
                Message::Awareness(update) => {
                    let applied = self.awareness.apply(update, self.now);
                    out.awareness_changed |= applied.changed;
                    if applied.reannounce {
                        out.replies.extend(self.local_awareness());
                    }
                }
                Message::AwarenessQuery => {
                    if let Some(update) = self.awareness.full_update() {
                        out.replies.push(awareness_message(update));
                    }
                }
                Message::Auth(reason) => out.denied = reason,
                Message::Custom(..) => {}
            }
        }
        if !any {
            return Err(Error::Decode("empty message".into()));
        }
        Ok(out)
    }

    fn apply(
        &mut self,
        update: &[u8],
        selection: Selection,
        out: &mut Received,
    ) -> Result<(), Error> {
        let update = Update::decode_v1(update).map_err(|e| Error::Decode(e.to_string()))?;
        // The selection as of the text before, or as the previous message of this batch left it.
        let selection = out.text.as_ref().map(|(_, s)| *s).unwrap_or(selection);
        let mut txn = self.doc.transact_mut();
        let before = self.text.get_string(&txn);
        // A collapsed caret sticks to what follows it (Yjs's default), a range keeps its ends
        // from swallowing text typed right at its edges.
        let (anchor_assoc, head_assoc) = match selection.anchor.cmp(&selection.head) {
            std::cmp::Ordering::Equal => (Assoc::After, Assoc::After),
            std::cmp::Ordering::Less => (Assoc::After, Assoc::Before),
            std::cmp::Ordering::Greater => (Assoc::Before, Assoc::After),
        };
        let anchor = sticky(&txn, &self.text, selection.anchor, anchor_assoc);
        let head = sticky(&txn, &self.text, selection.head, head_assoc);
        txn.apply_update(update)
            .map_err(|e| Error::Update(e.to_string()))?;
        let after = self.text.get_string(&txn);
        if after != before {
            let len = self.text.len(&txn);
            let resolve = |s: &StickyIndex, fallback: u32| {
                s.get_offset(&txn)
                    .map(|o| o.index)
                    .unwrap_or(fallback)
                    .min(len)
            };
            let mapped = Selection {
                anchor: resolve(&anchor, selection.anchor),
                head: resolve(&head, selection.head),
            };
            out.text = Some((after, mapped));
        }
        Ok(())
    }

    /// The page's text is now `new_text` (the textarea's value after an input event; `caret` is
    /// its `selectionEnd`). Applies the difference to the document and returns the Update
    /// message to send, if anything changed.
    pub fn edit(&mut self, new_text: &str, caret: Option<u32>) -> Option<Vec<u8>> {
        let mut txn = self.doc.transact_mut();
        let old = self.text.get_string(&txn);
        let s = splice(&old, new_text, caret)?;
        // Insert before deleting: the new text then hangs on the character before it, which
        // stays, rather than on the replaced ones, so a concurrent edit next to a replacement
        // lands where its author saw it.
        if !s.insert.is_empty() {
            self.text.insert(&mut txn, s.index, &s.insert);
        }
        if s.delete > 0 {
            let inserted = u32::try_from(s.insert.encode_utf16().count()).unwrap_or(u32::MAX);
            self.text
                .remove_range(&mut txn, s.index.saturating_add(inserted), s.delete);
        }
        let update = txn.encode_update_v1();
        drop(txn);
        Some(sync_message(SyncMessage::Update(update)))
    }

    /// Sets who we are (`{"name": ..., "color": ...}` as JSON: y-websocket front ends read
    /// `user.name` and `user.color`) and returns the awareness message to send.
    pub fn set_user(&mut self, user_json: &str) -> Result<Vec<u8>, Error> {
        let user: Value =
            serde_json::from_str(user_json).map_err(|e| Error::Invalid(e.to_string()))?;
        let name = user
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Invalid("user.name must be a string".into()))?;
        let color = user
            .get("color")
            .and_then(Value::as_str)
            .and_then(css_hex_color)
            .unwrap_or_else(|| default_color(self.client_id()));
        let name: String = name.chars().take(MAX_NAME).collect();
        self.user = Some(json!({ "name": name, "color": color }));
        Ok(self.publish())
    }

    /// Sets the local selection (shown to the others as our cursor) and returns the awareness
    /// message to send, or `None` if it did not move.
    pub fn set_selection(&mut self, selection: Option<Selection>) -> Option<Vec<u8>> {
        let cursor = selection.map(|sel| {
            let txn = self.doc.transact();
            let anchor = sticky(&txn, &self.text, sel.anchor, Assoc::After);
            let head = sticky(&txn, &self.text, sel.head, Assoc::After);
            json!({ "anchor": anchor, "head": head })
        });
        if cursor == self.cursor {
            return None;
        }
        self.cursor = cursor;
        self.user.is_some().then(|| self.publish())
    }

    fn publish(&mut self) -> Vec<u8> {
        let state = json!({
            "user": self.user,
            "cursor": self.cursor,
        });
        self.awareness
            .set_local_state(Some(&state.to_string()), self.now);
        self.local_awareness().unwrap_or_default()
    }

    fn local_awareness(&self) -> Option<Vec<u8>> {
        self.awareness.local_update().map(awareness_message)
    }

    /// Housekeeping, to call every few seconds: renews our awareness state when it is 15 s old
    /// (returns the message to send) and forgets peers not heard of for 30 s (then `true`: the
    /// list of peers changed).
    pub fn tick(&mut self) -> (Option<Vec<u8>>, bool) {
        let now = self.now;
        let me = self.client_id();
        let due = self.awareness.entries().any(|(id, e)| {
            id == me && e.state.is_some() && now.saturating_sub(e.last_updated) >= RENEW_AFTER_MS
        });
        let message = if due {
            let state = self.awareness.local_state().map(str::to_owned);
            self.awareness.set_local_state(state.as_deref(), now);
            self.local_awareness()
        } else {
            None
        };
        (message, self.awareness.expire(now, OUTDATED_AFTER_MS))
    }

    /// We are leaving (the page is hidden or closed): clears our awareness state and returns the
    /// message telling the others, so they drop our name and cursor at once.
    pub fn leave(&mut self) -> Vec<u8> {
        self.awareness.set_local_state(None, self.now);
        self.local_awareness().unwrap_or_default()
    }

    /// Everyone present (with a state), the local user first, with cursors resolved in the text.
    pub fn peers(&self) -> Vec<Peer> {
        let me = self.client_id();
        let txn = self.doc.transact();
        let resolve = |v: &Value| -> Option<u32> {
            let s: StickyIndex = serde_json::from_value(v.clone()).ok()?;
            s.get_offset(&txn).map(|o| o.index)
        };
        let mut peers: Vec<Peer> = self
            .awareness
            .entries()
            .filter_map(|(id, entry)| {
                let v: Value = serde_json::from_str(entry.state.as_deref()?).ok()?;
                let user = v.get("user");
                let name: String = user
                    .and_then(|u| u.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or("anonymous")
                    .chars()
                    .take(MAX_NAME)
                    .collect();
                let color = user
                    .and_then(|u| u.get("color"))
                    .and_then(Value::as_str)
                    .and_then(css_hex_color)
                    .unwrap_or_else(|| default_color(id));
                let cursor = v.get("cursor").and_then(|c| {
                    Some(Selection {
                        anchor: resolve(c.get("anchor")?)?,
                        head: resolve(c.get("head")?)?,
                    })
                });
                Some(Peer {
                    id,
                    me: id == me,
                    name,
                    color,
                    cursor,
                })
            })
            .collect();
        peers.sort_by(|a, b| {
            b.me.cmp(&a.me)
                .then_with(|| a.name.cmp(&b.name))
                .then(a.id.cmp(&b.id))
        });
        peers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Delivers every message of `msgs` to `to`, collecting what it answers.
    fn deliver(to: &mut Pad, msgs: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut replies = Vec::new();
        for m in msgs {
            replies.extend(to.receive(m, Selection::caret(0)).unwrap().replies);
        }
        replies
    }

    /// Two pads that did the y-websocket handshake with each other.
    fn pair() -> (Pad, Pad) {
        let mut a = Pad::new(1).unwrap();
        let mut b = Pad::new(2).unwrap();
        let from_a = a.connect();
        let from_b = b.connect();
        let back_to_a = deliver(&mut b, &from_a);
        let back_to_b = deliver(&mut a, &from_b);
        deliver(&mut a, &back_to_a);
        deliver(&mut b, &back_to_b);
        assert!(a.is_synced() && b.is_synced());
        (a, b)
    }

    #[test]
    fn handshake_answers_sync_step1_with_sync_step2() {
        let mut server = Pad::new(100).unwrap();
        server.edit("from the server", None).unwrap();
        let mut client = Pad::new(7).unwrap();
        let hello = client.connect();
        assert_eq!(hello.len(), 1, "no awareness state yet");
        assert!(matches!(
            Message::decode_v1(&hello[0]).unwrap(),
            Message::Sync(SyncMessage::SyncStep1(_))
        ));
        let step2 = deliver(&mut server, &hello);
        assert!(matches!(
            Message::decode_v1(&step2[0]).unwrap(),
            Message::Sync(SyncMessage::SyncStep2(_))
        ));
        assert!(!client.is_synced());
        let got = client.receive(&step2[0], Selection::caret(0)).unwrap();
        assert!(got.synced && client.is_synced());
        assert_eq!(got.text.unwrap().0, "from the server");
        // A reconnection starts over.
        client.connect();
        assert!(!client.is_synced());
    }

    #[test]
    fn concurrent_edits_converge() {
        let (mut a, mut b) = pair();
        let m = a.edit("hello world", Some(11)).unwrap();
        deliver(&mut b, &[m]);
        assert_eq!(b.text(), "hello world");
        // Both edit at once, then each gets the other's change.
        let ma = vec![
            a.edit("hello, dear world", Some(11)).unwrap(),
            a.edit("hello, dear world!", Some(18)).unwrap(),
        ];
        let mb = vec![
            b.edit("hello there", Some(11)).unwrap(),
            b.edit("Hello there", Some(1)).unwrap(),
        ];
        deliver(&mut a, &mb);
        deliver(&mut b, &ma);
        assert_eq!(a.text(), b.text());
        assert_eq!(a.text(), "Hello, dear there!");
    }

    #[test]
    fn interleaved_typing_at_the_same_place_converges() {
        // A tiny deterministic generator: edits at random places, delivered late and in bursts.
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n.max(1) as u64) as usize
        };
        let (mut a, mut b) = pair();
        let (mut to_a, mut to_b) = (Vec::new(), Vec::new());
        for round in 0..300 {
            for (pad, queue) in [(&mut a, &mut to_b), (&mut b, &mut to_a)] {
                let text: Vec<char> = pad.text().chars().collect();
                let at = next(text.len() + 1);
                let mut new: Vec<char> = text.clone();
                if next(3) == 0 && !text.is_empty() {
                    let end = (at + 1 + next(3)).min(text.len());
                    new.drain(at.min(end)..end);
                } else {
                    new.insert(at, ['x', 'é', '\u{1F600}', '\n'][next(4)]);
                }
                let new: String = new.into_iter().collect();
                if let Some(m) = pad.edit(&new, None) {
                    queue.push(m);
                }
            }
            if round % 7 == 0 {
                deliver(&mut a, &std::mem::take(&mut to_a));
                deliver(&mut b, &std::mem::take(&mut to_b));
            }
        }
        deliver(&mut a, &to_a);
        deliver(&mut b, &to_b);
        assert_eq!(a.text(), b.text());
        assert!(!a.text().is_empty());
    }

    #[test]
    fn a_remote_change_keeps_the_local_cursor_in_place() {
        let (mut a, mut b) = pair();
        deliver(&mut b, &[a.edit("hello world", None).unwrap()]);
        // b's caret is before "rld" (index 8): a inserts before it, after it, and deletes
        // across the start of the text.
        let caret = Selection::caret(8);
        let got = b
            .receive(&a.edit("hello big world", Some(10)).unwrap(), caret)
            .unwrap();
        let (text, sel) = got.text.unwrap();
        assert_eq!(text, "hello big world");
        assert_eq!(sel, Selection::caret(12));
        let got = b
            .receive(&a.edit("hello big world!", Some(16)).unwrap(), sel)
            .unwrap();
        assert_eq!(got.text.unwrap().1, Selection::caret(12));
        let got = b
            .receive(
                &a.edit("big world!", Some(0)).unwrap(),
                Selection::caret(12),
            )
            .unwrap();
        assert_eq!(got.text.unwrap().1, Selection::caret(6));
        // A selection ("world", backwards) keeps covering the same word.
        let got = b
            .receive(
                &a.edit("a big world!", Some(2)).unwrap(),
                Selection { anchor: 9, head: 4 },
            )
            .unwrap();
        let (text, sel) = got.text.unwrap();
        assert_eq!(&text[6..11], "world");
        assert_eq!(
            sel,
            Selection {
                anchor: 11,
                head: 6
            }
        );
        // UTF-16 indices: an emoji before the caret moves it by 2.
        let got = b
            .receive(
                &a.edit("\u{1F600}a big world!", Some(2)).unwrap(),
                Selection::caret(1),
            )
            .unwrap();
        assert_eq!(got.text.unwrap().1, Selection::caret(3));
        // A caret at the very end stays at the end when text is appended there.
        let len = b.text().encode_utf16().count() as u32;
        let got = b
            .receive(
                &a.edit("\u{1F600}a big world!?", None).unwrap(),
                Selection::caret(len),
            )
            .unwrap();
        assert_eq!(got.text.unwrap().1, Selection::caret(len + 1));
    }

    #[test]
    fn awareness_round_trip() {
        let (mut a, mut b) = pair();
        a.set_now(1_000);
        b.set_now(1_000);
        deliver(&mut b, &[a.edit("hello world", None).unwrap()]);
        let hello = a.set_user(r##"{"name":"Ann","color":"#FF8800"}"##).unwrap();
        let cursor = a
            .set_selection(Some(Selection {
                anchor: 6,
                head: 11,
            }))
            .unwrap();
        assert!(
            a.set_selection(Some(Selection {
                anchor: 6,
                head: 11
            }))
            .is_none()
        );
        let got = b.receive(&hello, Selection::caret(0)).unwrap();
        assert!(got.awareness_changed);
        let got = b.receive(&cursor, Selection::caret(0)).unwrap();
        assert!(got.awareness_changed);
        let peers = b.peers();
        assert_eq!(peers.len(), 1);
        assert_eq!(peers[0].id, 1);
        assert!(!peers[0].me);
        assert_eq!(peers[0].name, "Ann");
        assert_eq!(peers[0].color, "#ff8800");
        assert_eq!(
            peers[0].cursor,
            Some(Selection {
                anchor: 6,
                head: 11
            })
        );
        // The state is Yjs's convention: user.name, user.color, cursor.{anchor,head} as
        // relative positions in JSON.
        let entry = b.awareness.entries().find(|(id, _)| *id == 1).unwrap().1;
        let v: Value = serde_json::from_str(entry.state.as_deref().unwrap()).unwrap();
        assert_eq!(v["user"]["name"], "Ann");
        assert!(v["cursor"]["anchor"]["item"]["client"].is_number());
        // The cursor follows edits made by b.
        b.edit("oh, hello world", None).unwrap();
        assert_eq!(
            b.peers()[0].cursor,
            Some(Selection {
                anchor: 10,
                head: 15
            })
        );
        // A third client asking (QueryAwareness) gets everyone.
        let query = Message::AwarenessQuery.encode_v1();
        let answer = b.receive(&query, Selection::caret(0)).unwrap().replies;
        let mut c = Pad::new(3).unwrap();
        deliver(&mut c, &answer);
        assert_eq!(c.peers()[0].name, "Ann");
        // Hostile names and colors are tamed.
        let long = "x".repeat(500);
        let m = b
            .set_user(&format!(
                r#"{{"name":"{long}","color":"red;background:url(x)"}}"#
            ))
            .unwrap();
        deliver(&mut a, &[m]);
        let bob = a.peers().into_iter().find(|p| p.id == 2).unwrap();
        assert_eq!(bob.name.chars().count(), 64);
        assert!(bob.color.starts_with('#'));
        assert!(a.set_user("{}").is_err());
        // Renewal after 15 s, expiry after 30 s without news.
        a.set_now(10_000);
        assert_eq!(a.tick(), (None, false));
        a.set_now(16_001);
        let (renewed, changed) = a.tick();
        assert!(renewed.is_some() && !changed);
        deliver(&mut b, &[renewed.unwrap()]);
        a.set_now(40_000);
        let (_, changed) = a.tick();
        assert!(changed, "b was last heard of at t=1000");
        assert!(a.peers().iter().all(|p| p.me));
        // Leaving: b drops a at once.
        assert_eq!(b.peers().len(), 2);
        let bye = a.leave();
        assert!(
            b.receive(&bye, Selection::caret(0))
                .unwrap()
                .awareness_changed
        );
        assert_eq!(b.peers().len(), 1);
        assert!(b.peers()[0].me);
    }

    #[test]
    fn a_reconnection_takes_everyone_afresh() {
        let (mut a, mut b) = pair();
        let hello = a.set_user(r##"{"name":"Ann","color":"#123456"}"##).unwrap();
        deliver(&mut b, std::slice::from_ref(&hello));
        assert_eq!(b.peers().len(), 1, "b has no state of its own yet");
        // b's connection drops: Ann is gone from its view, and b is no longer synced.
        assert!(b.disconnect());
        assert!(b.peers().is_empty() && !b.is_synced());
        assert!(!b.disconnect());
        // On the next connection the server sends Ann's state as it is (same clock): shown.
        b.connect();
        let got = b.receive(&hello, Selection::caret(0)).unwrap();
        assert!(got.awareness_changed);
        assert_eq!(b.peers()[0].name, "Ann");
        // A peer that thinks we left (null state with our clock) is told otherwise.
        b.set_user(r#"{"name":"Bo"}"#).unwrap();
        let me = AwarenessUpdate {
            clients: [(
                ClientID::new(2),
                yrs::sync::awareness::AwarenessUpdateEntry {
                    clock: 1,
                    json: "null".into(),
                },
            )]
            .into(),
        };
        let got = b
            .receive(&Message::Awareness(me).encode_v1(), Selection::caret(0))
            .unwrap();
        assert_eq!(got.replies.len(), 1);
        deliver(&mut a, &got.replies);
        assert!(a.peers().iter().any(|p| p.name == "Bo"));
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let (mut a, mut b) = pair();
        deliver(&mut b, &[a.edit("still here", None).unwrap()]);
        let bad: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0, 9],
            vec![0, 1, 200],
            vec![0, 2, 5, 1, 2, 3],
            vec![0, 2, 3, 0xff, 0xff, 0xff],
            vec![1, 4, 1, 2, 3, 4],
            vec![1, 10, 1, 5, 1, 3, b'{', b'x', b'}'],
            vec![0, 0, 2, 0xff, 0xff],
            vec![
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ],
            // SyncStep1 followed by trailing garbage.
            [
                Message::Sync(SyncMessage::SyncStep1(Default::default())).encode_v1(),
                vec![0, 7],
            ]
            .concat(),
        ];
        for m in &bad {
            assert!(b.receive(m, Selection::caret(0)).is_err(), "{m:?}");
        }
        // Random bytes after a valid tag: errors or harmless, never a panic. The bytes stay
        // below 0x80, so every varint is one byte: longer ones make yrs reserve gigabytes for
        // made-up lengths (slow, not wrong), and client ids of 2^53 or more trip a
        // `debug_assert!` in `yrs::ClientID::new` (debug builds only: release builds, the wasm
        // among them, mask the id).
        const ROUNDS: usize = 2000;
        let mut seed: u32 = 12345;
        for round in 0..ROUNDS {
            let len = round % 40;
            let mut m = vec![(round % 3) as u8];
            for _ in 0..len {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                m.push((seed >> 16) as u8 & 0x7f);
            }
            let _ = b.receive(&m, Selection::caret(3));
            // The same bytes as the payload of an Update and of an awareness message.
            let payload = m[1..].to_vec();
            for envelope in [
                Message::Sync(SyncMessage::Update(payload.clone())),
                Message::Sync(SyncMessage::SyncStep2(payload.clone())),
                Message::Custom(1, payload.clone()),
            ] {
                let _ = b.receive(&envelope.encode_v1(), Selection::caret(3));
            }
        }
        // The pad still works.
        deliver(&mut b, &[a.edit("still here!", None).unwrap()]);
        assert_eq!(b.text(), "still here!");
        assert!(Pad::new(1 << 53).is_err());
    }
}
