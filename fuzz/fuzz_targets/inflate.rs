//! `Inflater::decompress` on arbitrary compressed data, and `Deflater::compress` then
//! `Inflater::decompress` round trips.
//!
//! Invariants:
//! - `decompress` never panics, whatever the data, the framing into frames, the window bits,
//!   context takeover and the limit.
//! - The output never exceeds `max + 1` bytes (the inflater stops one byte past the limit to
//!   tell "exactly max" from "too big"), and the buffer it allocates stays within `max + 1`
//!   plus a small slack; exceeding the limit is `MessageTooBig`, nothing else.
//! - Round trip: any sequence of messages compressed with any window bits, level and context
//!   takeover, each split into any fragments, inflates back to the same messages.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsx_fuzz::huge_limit;
use wsx_proto::ProtocolError;
use wsx_proto::deflate::{Deflater, Inflater};

/// Slack allowed on the output buffer's capacity above `max + 1`.
const CAPACITY_SLACK: usize = 64;

#[derive(Arbitrary, Debug)]
struct Input {
    no_context_takeover: bool,
    window_bits: u8,
    level: u8,
    /// The limit: small (`max % 8192`), or near `usize::MAX` when `huge`.
    max: u16,
    huge: bool,
    /// Round trip: messages, each with the sizes of its compressed fragments.
    messages: Vec<(Vec<u8>, Vec<u8>)>,
    /// Raw data: (frame length, fin) pairs cut from `data`.
    frames: Vec<(u16, bool)>,
    data: Vec<u8>,
}

fn check_raw(input: &Input, max: usize) {
    let mut inflater = Inflater::new(input.no_context_takeover, input.window_bits);
    let mut out = Vec::new();
    let mut rest = &input.data[..];
    let mut frames = input.frames.iter();
    loop {
        let (len, fin) = match frames.next() {
            Some(&(len, fin)) => ((len as usize).min(rest.len()), fin),
            None => (rest.len(), true),
        };
        let (frame, tail) = rest.split_at(len);
        rest = tail;
        let r = inflater.decompress(frame, fin, &mut out, max);
        assert!(
            out.len() <= max.saturating_add(1),
            "inflated {} bytes with a limit of {max}",
            out.len()
        );
        assert!(
            out.capacity() <= max.saturating_add(1 + CAPACITY_SLACK),
            "capacity {} with a limit of {max}",
            out.capacity()
        );
        match r {
            Ok(()) => {}
            Err(ProtocolError::MessageTooBig { size, max: m }) => {
                assert_eq!(m, max);
                assert!(size as usize > max);
            }
            Err(ProtocolError::Inflate(_)) => {}
            Err(e) => panic!("unexpected error {e:?}"),
        }
        if fin || r.is_err() {
            // The next message starts with an empty buffer, as in `Connection`.
            out = Vec::new();
        }
        if rest.is_empty() && (fin || r.is_err()) {
            break;
        }
    }
}

fn check_roundtrip(input: &Input) {
    let bits = input.window_bits % 8 + 8;
    let level = u32::from(input.level % 10);
    let nct = input.no_context_takeover;
    let mut deflater = Deflater::new(nct, bits, level, 0);
    let mut inflater = Inflater::new(nct, bits);
    for (msg, cuts) in &input.messages {
        let mut compressed = Vec::new();
        deflater
            .compress(msg, &mut compressed)
            .expect("compression of any input succeeds");
        assert!(!compressed.is_empty());
        let mut out = Vec::new();
        let mut rest = &compressed[..];
        let mut cuts = cuts.iter();
        loop {
            let (frame, fin) = match cuts.next() {
                Some(&c) if (c as usize) < rest.len() => (&rest[..c as usize], false),
                _ => (rest, true),
            };
            rest = &rest[frame.len()..];
            inflater
                .decompress(frame, fin, &mut out, msg.len())
                .expect("what the deflater produced inflates");
            if fin {
                break;
            }
        }
        assert_eq!(&out, msg, "round trip, {bits} window bits, level {level}");
    }
}

fuzz_target!(|input: Input| {
    let max = if input.huge {
        huge_limit(input.max)
    } else {
        input.max as usize % 8192
    };
    check_raw(&input, max);
    check_roundtrip(&input);
});
