//! The decoder a peer's update is read with: yrs' `DecoderV1`, refusing the legacy JSON
//! content (content type 2, Yjs' `ContentJSON`).
//!
//! yrs 0.28 reads one string more than a `ContentJSON` item declares (its loop runs while the
//! remaining count is `>= 0`), so such an item decodes with an extra string taken from the
//! bytes after it. Encoded again it declares the longer count, which decodes with one string
//! more still: every encode and decode (a broadcast, a document stored and loaded) grows it,
//! and the server's document differs from every Yjs client's. Yjs has not written this
//! content since v13 (2020; it writes `ContentAny`), so a peer sending it is refused as
//! malformed rather than misread. Found by the `yjs_frame` fuzz target.

use yrs::encoding::read::{Cursor, Error, Read};
use yrs::updates::decoder::{Decode, Decoder, DecoderV1};
use yrs::{Any, ClientID, ID, Update};

use std::sync::Arc;

/// Yjs' content reference number of `ContentJSON` (the low 5 bits of a block's info byte).
const CONTENT_JSON: u8 = 2;

/// Content references are the low 5 bits of an item's info byte; GC (0) and Skip (10) blocks
/// share the byte and never equal 2.
const CONTENT_MASK: u8 = 0b1_1111;

/// Decodes `bytes` as a v1 update, refusing legacy JSON content.
pub(crate) fn decode_update_v1(bytes: &[u8]) -> Result<Update, Error> {
    Update::decode(&mut Checked(DecoderV1::new(Cursor::new(bytes))))
}

/// `DecoderV1` with its block info checked.
struct Checked<'a>(DecoderV1<'a>);

impl Read for Checked<'_> {
    fn read_exact(&mut self, len: usize) -> Result<&[u8], Error> {
        self.0.read_exact(len)
    }

    fn read_u8(&mut self) -> Result<u8, Error> {
        self.0.read_u8()
    }
}

impl Decoder for Checked<'_> {
    fn reset_ds_cur_val(&mut self) {
        self.0.reset_ds_cur_val()
    }

    fn read_ds_clock(&mut self) -> Result<u32, Error> {
        self.0.read_ds_clock()
    }

    fn read_ds_len(&mut self) -> Result<u32, Error> {
        self.0.read_ds_len()
    }

    fn read_left_id(&mut self) -> Result<ID, Error> {
        self.0.read_left_id()
    }

    fn read_right_id(&mut self) -> Result<ID, Error> {
        self.0.read_right_id()
    }

    fn read_client(&mut self) -> Result<ClientID, Error> {
        self.0.read_client()
    }

    fn read_info(&mut self) -> Result<u8, Error> {
        let info = self.0.read_info()?;
        if info & CONTENT_MASK == CONTENT_JSON {
            return Err(Error::Custom(
                "legacy JSON content (Yjs' ContentJSON, not written since Yjs 13) is not accepted"
                    .into(),
            ));
        }
        Ok(info)
    }

    fn read_parent_info(&mut self) -> Result<bool, Error> {
        self.0.read_parent_info()
    }

    fn read_type_ref(&mut self) -> Result<u8, Error> {
        self.0.read_type_ref()
    }

    fn read_len(&mut self) -> Result<u32, Error> {
        self.0.read_len()
    }

    fn read_any(&mut self) -> Result<Any, Error> {
        self.0.read_any()
    }

    fn read_json(&mut self) -> Result<Any, Error> {
        self.0.read_json()
    }

    fn read_key(&mut self) -> Result<Arc<str>, Error> {
        self.0.read_key()
    }

    fn read_to_end(&mut self) -> Result<&[u8], Error> {
        self.0.read_to_end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::updates::encoder::Encode;
    use yrs::{Doc, GetString, Map, ReadTxn, Text, Transact};

    /// The fuzz finding: a `ContentJSON` item declaring one string, followed by bytes that
    /// yrs reads as a second one.
    const LEGACY_JSON: [u8; 23] = [
        1, 1, 0, 0xe9, 0x56, 2, 3, 2, 1, 1, 2, 9, 2, 0, 1, 0x2f, 0, 2, 2, 0x92, 0xb, 0, 0xd6,
    ];

    #[test]
    fn yrs_alone_misreads_legacy_json_content() {
        // What this module guards against: yrs takes two strings where one is declared, and
        // its own encoding of that decodes as three. If a yrs release fixes it, this fails
        // and the guard can go.
        let u = Update::decode_v1(&LEGACY_JSON).unwrap();
        let again = Update::decode_v1(&u.encode_v1()).unwrap();
        assert_ne!(again.encode_v1(), u.encode_v1());
    }

    #[test]
    fn legacy_json_content_is_refused() {
        let e = decode_update_v1(&LEGACY_JSON).unwrap_err();
        assert!(e.to_string().contains("ContentJSON"), "{e}");
    }

    #[test]
    fn what_yjs_writes_decodes_as_before() {
        let doc = Doc::new();
        let text = doc.get_or_insert_text("t");
        let map = doc.get_or_insert_map("m");
        {
            let mut txn = doc.transact_mut();
            text.insert(&mut txn, 0, "hello");
            map.insert(&mut txn, "k", vec![1.5, 2.0]);
            map.insert(&mut txn, "s", "x");
            text.remove_range(&mut txn, 1, 2);
        }
        let bytes = doc
            .transact()
            .encode_state_as_update_v1(&Default::default());
        let checked = decode_update_v1(&bytes).unwrap();
        assert_eq!(
            checked.encode_v1(),
            Update::decode_v1(&bytes).unwrap().encode_v1()
        );
        let copy = Doc::new();
        copy.transact_mut().apply_update(checked).unwrap();
        let t = copy.get_or_insert_text("t");
        assert_eq!(t.get_string(&copy.transact()), "hlo");
    }
}
