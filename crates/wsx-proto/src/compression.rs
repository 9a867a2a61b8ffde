//! The per-message compressor and decompressor of permessage-deflate, on zlib (flate2 with
//! zlib-rs), with the default-on `deflate` feature. Without it they are types with no value
//! (and no constructor): nothing offers or accepts the extension, so no connection holds one.

#[cfg(feature = "deflate")]
pub use zlib::{Deflater, Inflater};

#[cfg(not(feature = "deflate"))]
pub use absent::{Deflater, Inflater};

#[cfg(feature = "deflate")]
mod zlib {
    use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

    use crate::error::ProtocolError;

    /// The four bytes a sync flush ends with; stripped on send, appended before inflating.
    const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

    /// The tail followed by a second empty stored block, fed at the end of every message.
    const END_CHECK: [u8; 9] = [0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0xff, 0xff];

    /// zlib cannot deflate with a 256-byte window (raw windowBits 8 is rejected): use 512 bytes,
    /// as every zlib-based peer does. Inflating with the larger window is always safe.
    fn zlib_bits(bits: u8) -> u8 {
        bits.clamp(9, 15)
    }

    /// Compresses outgoing messages. The zlib state is created on first use and, without context
    /// takeover, dropped after every message so an idle connection holds no compressor memory.
    pub struct Deflater {
        ctx: Option<Compress>,
        no_context_takeover: bool,
        window_bits: u8,
        level: u32,
        /// Messages shorter than this are not compressed.
        pub threshold: usize,
    }

    impl std::fmt::Debug for Deflater {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Deflater")
                .field("no_context_takeover", &self.no_context_takeover)
                .field("window_bits", &self.window_bits)
                .finish()
        }
    }

    impl Deflater {
        /// A compressor using `no_context_takeover` and `window_bits` of the sending side.
        pub fn new(
            no_context_takeover: bool,
            window_bits: u8,
            level: u32,
            threshold: usize,
        ) -> Self {
            Self {
                ctx: None,
                no_context_takeover,
                window_bits: zlib_bits(window_bits),
                level,
                threshold,
            }
        }

        /// Messages shorter than this are not compressed.
        pub fn threshold(&self) -> usize {
            self.threshold
        }

        /// Appends the compressed form of `input` (sync flush, tail stripped) to `out`.
        pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), ProtocolError> {
            let (level, bits) = (self.level, self.window_bits);
            let c = self.ctx.get_or_insert_with(|| {
                Compress::new_with_window_bits(Compression::new(level), false, bits)
            });
            let start = out.len();
            out.reserve(input.len() / 2 + 64);
            let mut consumed = 0usize;
            loop {
                if out.capacity() - out.len() < 32 {
                    out.reserve(out.capacity().max(4096));
                }
                let before = c.total_in();
                c.compress_vec(&input[consumed..], out, FlushCompress::Sync)
                    .map_err(|e| ProtocolError::Deflate(e.to_string()))?;
                consumed += (c.total_in() - before) as usize;
                if consumed == input.len() && out.len() < out.capacity() {
                    break;
                }
            }
            if out.len() >= start + 4 && out[out.len() - 4..] == TAIL {
                out.truncate(out.len() - 4);
            }
            if out.len() == start {
                // An empty message: a single empty stored block marker (RFC 7692 §7.2.3.6).
                out.push(0x00);
            }
            if self.no_context_takeover {
                self.ctx = None;
            }
            Ok(())
        }
    }

    /// Inflates incoming messages, bounding the inflated size.
    pub struct Inflater {
        ctx: Option<Decompress>,
        /// The peer's deflate stream ended (BFINAL) inside the current message.
        stream_ended: bool,
        no_context_takeover: bool,
        window_bits: u8,
    }

    impl std::fmt::Debug for Inflater {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Inflater")
                .field("no_context_takeover", &self.no_context_takeover)
                .field("window_bits", &self.window_bits)
                .finish()
        }
    }

    impl Inflater {
        /// A decompressor for a peer that uses `no_context_takeover` and `window_bits`.
        pub fn new(no_context_takeover: bool, window_bits: u8) -> Self {
            Self {
                ctx: None,
                stream_ended: false,
                no_context_takeover,
                window_bits: zlib_bits(window_bits),
            }
        }

        /// Inflates one frame's compressed payload onto `out`. On the message's last frame
        /// (`fin`), the stripped tail is appended first. Fails with
        /// [`ProtocolError::MessageTooBig`] as soon as `out` would pass `max` bytes, so an inflate
        /// bomb costs at most about `max` bytes of memory.
        pub fn decompress(
            &mut self,
            input: &[u8],
            fin: bool,
            out: &mut Vec<u8>,
            max: usize,
        ) -> Result<(), ProtocolError> {
            let r = self.inflate_chunk(input, out, max).and_then(|()| {
                if fin && !self.stream_ended {
                    // The stripped tail, then one more empty stored block: if the message ended
                    // inside a block, those bytes decode as data (or fail) instead of producing
                    // nothing, so truncated input is caught rather than corrupting what follows.
                    let before = out.len();
                    self.inflate_chunk(&END_CHECK, out, max)?;
                    if out.len() != before {
                        return Err(ProtocolError::Inflate(
                            "compressed data ends inside a block".into(),
                        ));
                    }
                }
                Ok(())
            });
            if fin || r.is_err() {
                self.stream_ended = false;
                if self.no_context_takeover || r.is_err() {
                    self.ctx = None;
                }
            }
            r
        }

        fn inflate_chunk(
            &mut self,
            chunk: &[u8],
            out: &mut Vec<u8>,
            max: usize,
        ) -> Result<(), ProtocolError> {
            if self.stream_ended {
                return if chunk.is_empty() {
                    Ok(())
                } else {
                    Err(ProtocolError::Inflate("data after the final block".into()))
                };
            }
            let bits = self.window_bits;
            let d = self
                .ctx
                .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
            let too_big = |size: usize| ProtocolError::MessageTooBig {
                size: size as u64,
                max,
            };
            let mut consumed = 0usize;
            loop {
                if out.capacity() == out.len() {
                    if out.len() > max {
                        return Err(too_big(out.len()));
                    }
                    // Grow geometrically, but never beyond the limit plus one byte.
                    let want = out.len().max(chunk.len() * 2).clamp(1024, 1 << 20);
                    out.reserve_exact(want.min((max - out.len()).saturating_add(1)));
                }
                let (in_before, out_before) = (d.total_in(), out.len());
                let status = d
                    .decompress_vec(&chunk[consumed..], out, FlushDecompress::Sync)
                    .map_err(|e| ProtocolError::Inflate(e.to_string()))?;
                consumed += (d.total_in() - in_before) as usize;
                if out.len() > max {
                    return Err(too_big(out.len()));
                }
                if status == Status::StreamEnd {
                    // BFINAL: this stream is over; the next message starts a fresh one.
                    self.ctx = None;
                    self.stream_ended = true;
                    return if consumed < chunk.len() {
                        Err(ProtocolError::Inflate("data after the final block".into()))
                    } else {
                        Ok(())
                    };
                }
                let room_left = out.len() < out.capacity();
                if consumed == chunk.len() && room_left {
                    return Ok(());
                }
                if room_left && d.total_in() == in_before && out.len() == out_before {
                    // No progress with room to spare: the input is truncated; wait for more.
                    return Ok(());
                }
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::deflate::DeflateParams;

        fn roundtrip(params: DeflateParams, msgs: &[&[u8]]) {
            let mut d = Deflater::new(
                params.server_no_context_takeover,
                params.server_max_window_bits,
                6,
                0,
            );
            let mut i = Inflater::new(
                params.server_no_context_takeover,
                params.server_max_window_bits,
            );
            for m in msgs {
                let mut c = Vec::new();
                d.compress(m, &mut c).unwrap();
                let mut out = Vec::new();
                i.decompress(&c, true, &mut out, 1 << 24).unwrap();
                assert_eq!(&out[..], *m);
            }
        }

        #[test]
        fn compress_inflate_every_window_with_and_without_takeover() {
            let big: Vec<u8> = (0..200_000u32)
                .map(|i| (i % 251) as u8 ^ (i / 977) as u8)
                .collect();
            for bits in 8..=15 {
                for nct in [false, true] {
                    let p = DeflateParams {
                        server_no_context_takeover: nct,
                        client_no_context_takeover: nct,
                        server_max_window_bits: bits,
                        client_max_window_bits: bits,
                        level: 6,
                        threshold: 0,
                    };
                    roundtrip(p, &[b"Hello", b"Hello", b"", &big, b"Hello"]);
                }
            }
        }

        #[test]
        fn inflate_bomb_is_stopped_at_the_limit() {
            let zeros = vec![0u8; 10 << 20];
            let mut d = Deflater::new(false, 15, 9, 0);
            let mut c = Vec::new();
            d.compress(&zeros, &mut c).unwrap();
            assert!(
                c.len() < 20_000,
                "10 MiB of zeros compresses to {} bytes",
                c.len()
            );
            let mut i = Inflater::new(false, 15);
            let mut out = Vec::new();
            let err = i.decompress(&c, true, &mut out, 1 << 20).unwrap_err();
            assert!(matches!(err, ProtocolError::MessageTooBig { .. }));
            assert!(
                out.capacity() <= (1 << 20) + 1 + (1 << 20),
                "memory stayed bounded"
            );
        }

        #[test]
        fn unlimited_message_size_does_not_overflow() {
            let mut d = Deflater::new(false, 15, 6, 0);
            let mut c = Vec::new();
            d.compress(b"no limit", &mut c).unwrap();
            let mut out = Vec::new();
            Inflater::new(false, 15)
                .decompress(&c, true, &mut out, usize::MAX)
                .unwrap();
            assert_eq!(out, b"no limit");
        }
    }
}

#[cfg(not(feature = "deflate"))]
mod absent {
    use crate::error::ProtocolError;

    /// Compresses outgoing messages (without the `deflate` feature: never made).
    #[derive(Debug)]
    pub enum Deflater {}

    impl Deflater {
        /// The threshold under which messages go uncompressed.
        pub fn threshold(&self) -> usize {
            match *self {}
        }

        /// Never called: no value of this type exists.
        pub fn compress(&mut self, _input: &[u8], _out: &mut Vec<u8>) -> Result<(), ProtocolError> {
            match *self {}
        }
    }

    /// Inflates incoming messages (without the `deflate` feature: never made).
    #[derive(Debug)]
    pub enum Inflater {}

    impl Inflater {
        /// Never called: no value of this type exists.
        pub fn decompress(
            &mut self,
            _input: &[u8],
            _fin: bool,
            _out: &mut Vec<u8>,
            _max: usize,
        ) -> Result<(), ProtocolError> {
            match *self {}
        }
    }
}
