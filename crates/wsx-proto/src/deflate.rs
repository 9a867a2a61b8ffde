//! permessage-deflate (RFC 7692): offers and negotiation with all four parameters, and the
//! per-message compressor and decompressor. The `Sec-WebSocket-Extensions` grammar it reads
//! offers and responses with is [`parse_extensions`].

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::error::ProtocolError;
pub use crate::extension::{Extension, parse_extensions};
use crate::handshake_error::HandshakeError;

/// The extension token.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// The four bytes a sync flush ends with; stripped on send, appended before inflating.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The tail followed by a second empty stored block, fed at the end of every message.
const END_CHECK: [u8; 9] = [0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0xff, 0xff];

/// Local permessage-deflate preferences, for the client's offer or the server's acceptance.
///
/// Defaults: enabled, context takeover on both sides, window bits 15, compression level 1
/// (fast; most of the ratio for a fraction of the CPU), messages under 64 bytes sent
/// uncompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Server: compress without context takeover (saves its compressor's memory between
    /// messages). Client: ask the server for this.
    pub server_no_context_takeover: bool,
    /// Server: ask the client to compress without context takeover. Client: offer it.
    pub client_no_context_takeover: bool,
    /// Server: the largest window the server compresses with. Client: request it of the server
    /// (sent only when below 15). Each step down halves the compressor's window and chain
    /// table: 1000 connections echoing 20-byte messages took 331 MiB at 15 bits and 239 MiB at
    /// 13 (`docs/BENCHMARKS.md`), for some loss of ratio on larger or repetitive messages.
    pub server_max_window_bits: u8,
    /// Server: limit the client's window (only possible when the client's offer allows it).
    /// Client: the largest window the client compresses with (offered as a bare
    /// `client_max_window_bits` when 15, with a value below 15).
    pub client_max_window_bits: u8,
    /// zlib compression level, 0–9.
    pub level: u32,
    /// Messages shorter than this are sent uncompressed.
    pub threshold: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            level: 1,
            threshold: 64,
        }
    }
}

impl DeflateConfig {
    /// Sets `server_no_context_takeover`.
    pub fn server_no_context_takeover(mut self, v: bool) -> Self {
        self.server_no_context_takeover = v;
        self
    }
    /// Sets `client_no_context_takeover`.
    pub fn client_no_context_takeover(mut self, v: bool) -> Self {
        self.client_no_context_takeover = v;
        self
    }
    /// Sets `server_max_window_bits` (clamped to 8–15).
    pub fn server_max_window_bits(mut self, bits: u8) -> Self {
        self.server_max_window_bits = bits.clamp(8, 15);
        self
    }
    /// Sets `client_max_window_bits` (clamped to 8–15).
    pub fn client_max_window_bits(mut self, bits: u8) -> Self {
        self.client_max_window_bits = bits.clamp(8, 15);
        self
    }
    /// Sets the compression level (clamped to 0–9).
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.min(9);
        self
    }
    /// Sets the size under which messages go uncompressed.
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// The client's offer, as a `Sec-WebSocket-Extensions` value.
    ///
    /// ```
    /// use wsx_proto::deflate::DeflateConfig;
    /// assert_eq!(DeflateConfig::default().offer(), "permessage-deflate; client_max_window_bits");
    /// let c = DeflateConfig::default().server_no_context_takeover(true).server_max_window_bits(10);
    /// assert_eq!(c.offer(),
    ///   "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits");
    /// ```
    pub fn offer(&self) -> String {
        let mut s = String::from(EXTENSION_NAME);
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            s.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        if self.client_max_window_bits < 15 {
            s.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_max_window_bits
            ));
        } else {
            s.push_str("; client_max_window_bits");
        }
        s
    }

    /// Server side: picks the first acceptable `permessage-deflate` offer among the request's
    /// extensions. Returns the negotiated parameters and the response header value, or `None`
    /// when no offer is acceptable (offers with unknown, repeated or out-of-range parameters are
    /// declined, as RFC 7692 §5 asks).
    ///
    /// ```
    /// use wsx_proto::deflate::{parse_extensions, DeflateConfig};
    /// let offers = parse_extensions([
    ///     "permessage-deflate; server_max_window_bits=20, permessage-deflate; client_max_window_bits",
    /// ]).unwrap();
    /// let (params, header) = DeflateConfig::default().accept(&offers).unwrap();
    /// assert_eq!(header, "permessage-deflate");
    /// assert_eq!(params.client_max_window_bits, 15);
    /// ```
    pub fn accept(&self, extensions: &[Extension]) -> Option<(DeflateParams, String)> {
        extensions
            .iter()
            .filter(|e| e.name.eq_ignore_ascii_case(EXTENSION_NAME))
            .find_map(|e| self.accept_one(e))
    }

    fn accept_one(&self, offer: &Extension) -> Option<(DeflateParams, String)> {
        let o = OfferParams::parse(&offer.params).ok()?;
        let server_nct = o.server_no_context_takeover || self.server_no_context_takeover;
        let client_nct = o.client_no_context_takeover || self.client_no_context_takeover;
        let mut server_bits = self.server_max_window_bits;
        let mut announce_server_bits = server_bits < 15;
        if let Some(req) = o.server_max_window_bits {
            server_bits = server_bits.min(req);
            announce_server_bits = true;
        }
        let mut client_bits = 15;
        let mut announce_client_bits = false;
        if let Some(offered) = o.client_max_window_bits {
            // The client allows us to limit its window. Its value (if any) is already a promise.
            let want = self.client_max_window_bits.min(offered.unwrap_or(15));
            client_bits = want;
            announce_client_bits = want < 15 || offered.is_some();
        }
        let mut header = String::from(EXTENSION_NAME);
        if server_nct {
            header.push_str("; server_no_context_takeover");
        }
        if client_nct {
            header.push_str("; client_no_context_takeover");
        }
        if announce_server_bits {
            header.push_str(&format!("; server_max_window_bits={server_bits}"));
        }
        if announce_client_bits {
            header.push_str(&format!("; client_max_window_bits={client_bits}"));
        }
        Some((
            DeflateParams {
                server_no_context_takeover: server_nct,
                client_no_context_takeover: client_nct,
                server_max_window_bits: server_bits,
                client_max_window_bits: client_bits,
                level: self.level,
                threshold: self.threshold,
            },
            header,
        ))
    }

    /// Client side: checks the server's response against this offer and returns the
    /// negotiated parameters. A response the offer did not allow fails the handshake.
    pub fn confirm(&self, response: &Extension) -> Result<DeflateParams, HandshakeError> {
        let bad = |why: &'static str| HandshakeError::InvalidExtensionResponse(why);
        if !response.name.eq_ignore_ascii_case(EXTENSION_NAME) {
            return Err(HandshakeError::UnexpectedExtension(response.name.clone()));
        }
        let r = OfferParams::parse(&response.params).map_err(bad)?;
        if self.server_no_context_takeover && !r.server_no_context_takeover {
            return Err(bad(
                "server_no_context_takeover was requested but not granted",
            ));
        }
        let server_bits = match r.server_max_window_bits {
            Some(b) if b > self.server_max_window_bits => {
                return Err(bad("server_max_window_bits above the requested value"));
            }
            Some(b) => b,
            None if self.server_max_window_bits < 15 => {
                return Err(bad("server_max_window_bits was requested but not granted"));
            }
            None => 15,
        };
        let client_bits = match r.client_max_window_bits {
            // In a response the parameter must carry a value.
            Some(None) => return Err(bad("client_max_window_bits without a value")),
            Some(Some(b)) if b > self.client_max_window_bits => {
                return Err(bad("client_max_window_bits above the offered value"));
            }
            Some(Some(b)) => b,
            None => self.client_max_window_bits,
        };
        Ok(DeflateParams {
            server_no_context_takeover: r.server_no_context_takeover,
            client_no_context_takeover: r.client_no_context_takeover
                || self.client_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
            level: self.level,
            threshold: self.threshold,
        })
    }
}

#[derive(Default)]
struct OfferParams {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: Option<Option<u8>>,
}

impl OfferParams {
    fn parse(params: &[(String, Option<String>)]) -> Result<Self, &'static str> {
        let mut o = Self::default();
        let bits = |v: &Option<String>| -> Result<u8, &'static str> {
            let v = v.as_deref().ok_or("window bits without a value")?;
            // Only plain decimal digits, 8–15 (no sign, no leading zeros).
            if v.is_empty()
                || v.len() > 2
                || !v.bytes().all(|c| c.is_ascii_digit())
                || v.starts_with('0')
            {
                return Err("window bits out of range");
            }
            match v.parse::<u8>() {
                Ok(b @ 8..=15) => Ok(b),
                _ => Err("window bits out of range"),
            }
        };
        for (k, v) in params {
            match k.to_ascii_lowercase().as_str() {
                "server_no_context_takeover" => {
                    if o.server_no_context_takeover || v.is_some() {
                        return Err("bad server_no_context_takeover");
                    }
                    o.server_no_context_takeover = true;
                }
                "client_no_context_takeover" => {
                    if o.client_no_context_takeover || v.is_some() {
                        return Err("bad client_no_context_takeover");
                    }
                    o.client_no_context_takeover = true;
                }
                "server_max_window_bits" => {
                    if o.server_max_window_bits.is_some() {
                        return Err("repeated server_max_window_bits");
                    }
                    o.server_max_window_bits = Some(bits(v)?);
                }
                "client_max_window_bits" => {
                    if o.client_max_window_bits.is_some() {
                        return Err("repeated client_max_window_bits");
                    }
                    o.client_max_window_bits = Some(match v {
                        None => None,
                        Some(_) => Some(bits(v)?),
                    });
                }
                _ => return Err("unknown parameter"),
            }
        }
        Ok(o)
    }
}

/// The parameters both sides agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server compresses each message with a fresh context.
    pub server_no_context_takeover: bool,
    /// The client compresses each message with a fresh context.
    pub client_no_context_takeover: bool,
    /// The server's LZ77 window, 8–15.
    pub server_max_window_bits: u8,
    /// The client's LZ77 window, 8–15.
    pub client_max_window_bits: u8,
    /// Local compression level.
    pub level: u32,
    /// Local threshold under which messages go uncompressed.
    pub threshold: usize,
}

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
    pub fn new(no_context_takeover: bool, window_bits: u8, level: u32, threshold: usize) -> Self {
        Self {
            ctx: None,
            no_context_takeover,
            window_bits: zlib_bits(window_bits),
            level,
            threshold,
        }
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

    #[test]
    fn server_negotiation_rules() {
        let cfg = DeflateConfig::default();
        let acc = |h: &str| cfg.accept(&parse_extensions([h]).unwrap());
        // Plain offer.
        let (p, h) = acc("permessage-deflate").unwrap();
        assert_eq!(h, "permessage-deflate");
        assert_eq!(
            (p.server_max_window_bits, p.client_max_window_bits),
            (15, 15)
        );
        // The client's requests are honoured.
        let (p, h) =
            acc("permessage-deflate; server_no_context_takeover; server_max_window_bits=9")
                .unwrap();
        assert_eq!(
            h,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=9"
        );
        assert!(p.server_no_context_takeover);
        assert_eq!(p.server_max_window_bits, 9);
        // client_max_window_bits with a value is echoed; the client promised it.
        let (p, h) = acc("permessage-deflate; client_max_window_bits=10").unwrap();
        assert_eq!(h, "permessage-deflate; client_max_window_bits=10");
        assert_eq!(p.client_max_window_bits, 10);
        // Bad offers are declined; a later good one is taken.
        for bad in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=x",
            "permessage-deflate; foo",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_no_context_takeover=1",
            "x-other",
        ] {
            assert!(acc(bad).is_none(), "{bad}");
        }
        let (p, _) =
            acc("permessage-deflate; foo, permessage-deflate; client_no_context_takeover").unwrap();
        assert!(p.client_no_context_takeover);
        // Quoted values.
        let (p, _) = acc("permessage-deflate; server_max_window_bits=\"12\"").unwrap();
        assert_eq!(p.server_max_window_bits, 12);
    }

    #[test]
    fn server_limits_client_only_when_offered() {
        let cfg = DeflateConfig::default()
            .client_max_window_bits(10)
            .server_no_context_takeover(true);
        let (p, h) = cfg
            .accept(&parse_extensions(["permessage-deflate"]).unwrap())
            .unwrap();
        assert_eq!(h, "permessage-deflate; server_no_context_takeover");
        assert_eq!(p.client_max_window_bits, 15);
        let (p, h) = cfg
            .accept(&parse_extensions(["permessage-deflate; client_max_window_bits"]).unwrap())
            .unwrap();
        assert_eq!(
            h,
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"
        );
        assert_eq!(p.client_max_window_bits, 10);
    }

    #[test]
    fn client_confirms_the_response() {
        let cfg = DeflateConfig::default();
        let conf = |h: &str| cfg.confirm(&parse_extensions([h]).unwrap()[0]);
        let p = conf("permessage-deflate; server_no_context_takeover; client_max_window_bits=9")
            .unwrap();
        assert!(p.server_no_context_takeover);
        assert_eq!(p.client_max_window_bits, 9);
        assert!(conf("permessage-deflate; client_max_window_bits").is_err());
        assert!(conf("permessage-deflate; bogus").is_err());
        assert!(conf("x-webkit-deflate-frame").is_err());
        let strict = DeflateConfig::default()
            .server_no_context_takeover(true)
            .server_max_window_bits(10);
        let conf = |h: &str| strict.confirm(&parse_extensions([h]).unwrap()[0]);
        assert!(conf("permessage-deflate; server_max_window_bits=10").is_err());
        assert!(
            conf("permessage-deflate; server_no_context_takeover; server_max_window_bits=11")
                .is_err()
        );
        assert!(
            conf("permessage-deflate; server_no_context_takeover; server_max_window_bits=9")
                .is_ok()
        );
    }
}
