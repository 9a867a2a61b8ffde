//! `FrameHeader::parse` on arbitrary bytes, `encode`/`parse` round trips, and the word-at-a-time
//! `apply_mask` against the byte-at-a-time reference.
//!
//! Invariants:
//! - `parse` never panics; a parsed header's length is one of the legal header sizes and fits
//!   the buffer.
//! - Parsing is monotonic in the bytes present: every strict prefix of a parsed header needs
//!   more bytes, and a prefix that fails keeps failing the same way once more bytes arrive.
//! - `parse(encode(h)) == h` for every parsed header, and for headers in the minimal length
//!   form `encode` reproduces the input bytes exactly.
//! - An arbitrary (legal) header survives `encode` then `parse`.
//! - `apply_mask` equals `apply_mask_reference` for any buffer, alignment and offset, and
//!   masking in two pieces equals masking at once.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsx_proto::frame::{FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, OpCode};
use wsx_proto::mask::{apply_mask, apply_mask_reference};

#[derive(Arbitrary, Debug)]
struct Input {
    /// A header to encode (fields are made legal before use).
    header: HeaderSpec,
    /// Masking: key, payload offset, start of the slice within `data` (alignment), split point.
    key: [u8; 4],
    offset: u64,
    start: u8,
    split: u16,
    /// Bytes to parse as a header and to mask.
    data: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
struct HeaderSpec {
    fin: bool,
    rsv1: bool,
    rsv2: bool,
    rsv3: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload_len: u64,
}

const OPCODES: [OpCode; 6] = [
    OpCode::Continuation,
    OpCode::Text,
    OpCode::Binary,
    OpCode::Close,
    OpCode::Ping,
    OpCode::Pong,
];

fn check_parse(data: &[u8]) {
    let full = FrameHeader::parse(data);
    if let Ok(Some((h, n))) = &full {
        let n = *n;
        assert!(n <= data.len() && n <= MAX_HEADER_LEN);
        assert!(matches!(n, 2 | 4 | 6 | 8 | 10 | 14), "header length {n}");
        assert_eq!(h.mask.is_some(), data[1] & 0x80 != 0);
        assert!(h.payload_len >> 63 == 0);
        if h.opcode.is_control() {
            assert!(h.fin && h.payload_len <= MAX_CONTROL_PAYLOAD as u64);
        }
        // Trailing bytes do not change the result.
        assert_eq!(FrameHeader::parse(&data[..n]), Ok(Some((*h, n))));
        // encode(parse(x)) re-parses identically.
        let mut out = [0u8; MAX_HEADER_LEN];
        let m = h.encode(&mut out);
        assert!(m <= n);
        assert_eq!(FrameHeader::parse(&out[..m]), Ok(Some((*h, m))));
        let len7 = data[1] & 0x7f;
        let minimal = match len7 {
            126 => h.payload_len >= 126 && h.payload_len <= u16::MAX as u64,
            127 => h.payload_len > u16::MAX as u64,
            _ => true,
        };
        if minimal {
            assert_eq!(
                &out[..m],
                &data[..n],
                "minimal encoding must round-trip byte for byte"
            );
        } else {
            assert!(m < n);
        }
    }
    // Monotonic in the bytes present: None ... None, then a fixed answer.
    let upto = data.len().min(MAX_HEADER_LEN + 1);
    let mut settled: Option<Result<Option<(FrameHeader, usize)>, _>> = None;
    for k in 0..=upto {
        let r = FrameHeader::parse(&data[..k]);
        match &settled {
            None => {
                if r != Ok(None) {
                    settled = Some(r);
                }
            }
            Some(s) => assert_eq!(&r, s, "prefix {k} of {data:x?}"),
        }
    }
    match settled {
        None => assert_eq!(full, Ok(None)),
        Some(s) => assert_eq!(full, s),
    }
}

fn check_encode(spec: &HeaderSpec) {
    let opcode = OPCODES[spec.opcode as usize % OPCODES.len()];
    let mut payload_len = spec.payload_len & (u64::MAX >> 1);
    let mut fin = spec.fin;
    if opcode.is_control() {
        payload_len %= MAX_CONTROL_PAYLOAD as u64 + 1;
        fin = true;
    }
    let h = FrameHeader {
        fin,
        rsv1: spec.rsv1,
        rsv2: spec.rsv2,
        rsv3: spec.rsv3,
        opcode,
        mask: spec.mask,
        payload_len,
    };
    let mut out = [0u8; MAX_HEADER_LEN];
    let n = h.encode(&mut out);
    assert_eq!(FrameHeader::parse(&out[..n]), Ok(Some((h, n))));
    for k in 0..n {
        assert_eq!(FrameHeader::parse(&out[..k]), Ok(None));
    }
}

fn check_mask(data: &[u8], key: [u8; 4], offset: usize, start: u8, split: u16) {
    let start = (start as usize).min(data.len());
    let mut fast = data.to_vec();
    let mut slow = data.to_vec();
    apply_mask(&mut fast[start..], key, offset);
    apply_mask_reference(&mut slow[start..], key, offset);
    assert_eq!(fast, slow, "key {key:x?} offset {offset} start {start}");
    assert_eq!(
        &fast[..start],
        &data[..start],
        "bytes before the slice untouched"
    );
    // In two pieces, the second continuing at its offset into the payload.
    let mut pieces = data.to_vec();
    let body = &mut pieces[start..];
    let at = (split as usize).min(body.len());
    let (a, b) = body.split_at_mut(at);
    apply_mask(a, key, offset);
    apply_mask(b, key, offset + at);
    assert_eq!(pieces, slow);
    // Masking is an involution.
    apply_mask(&mut fast[start..], key, offset);
    assert_eq!(fast, data);
}

fuzz_target!(|input: Input| {
    check_parse(&input.data);
    check_encode(&input.header);
    // Payload offsets are below 2^63 (the frame length limit), so `offset + len` never
    // overflows in the reference implementation.
    let offset = (input.offset & (u64::MAX >> 1)) as usize;
    check_mask(&input.data, input.key, offset, input.start, input.split);
});
