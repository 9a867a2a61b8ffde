//! permessage-deflate (RFC 7692): offers and negotiation with all four parameters; the
//! per-message compressor and decompressor are [`Deflater`] and [`Inflater`] (module
//! `compression`, with the default-on `deflate` feature). The `Sec-WebSocket-Extensions`
//! grammar it reads offers and responses with is [`parse_extensions`].

pub use crate::compression::{Deflater, Inflater};
pub use crate::extension::{Extension, parse_extensions};
use crate::handshake_error::HandshakeError;

/// The extension token.
pub const EXTENSION_NAME: &str = "permessage-deflate";

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
    /// Without the `deflate` feature it accepts nothing.
    ///
    /// ```
    /// use wsx_proto::deflate::{parse_extensions, DeflateConfig};
    /// let offers = parse_extensions([
    ///     "permessage-deflate; server_max_window_bits=20, permessage-deflate; client_max_window_bits",
    /// ]).unwrap();
    /// # if cfg!(feature = "deflate") {
    /// let (params, header) = DeflateConfig::default().accept(&offers).unwrap();
    /// assert_eq!(header, "permessage-deflate");
    /// assert_eq!(params.client_max_window_bits, 15);
    /// # }
    /// ```
    pub fn accept(&self, extensions: &[Extension]) -> Option<(DeflateParams, String)> {
        if !cfg!(feature = "deflate") {
            return None;
        }
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

#[cfg(all(test, feature = "deflate"))]
mod tests {
    use super::*;

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
