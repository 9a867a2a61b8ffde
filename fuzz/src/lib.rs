//! Helpers shared by the fuzz targets in `fuzz_targets/`: arbitrary deflate parameters and
//! configurations, limits, and the switch for inputs that reach known-open bugs.

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use wsx_proto::deflate::{DeflateConfig, DeflateParams};

/// Whether inputs that reach bugs listed in `regressions/known-open.txt` are generated.
///
/// Off by default so that the smoke run stays green while a fix is pending; the smoke script
/// turns it on to replay `regressions/` (and with `FUZZ_KNOWN_OPEN=1` for fuzzing too).
/// Set by the environment variable `WSX_FUZZ_KNOWN_OPEN=1`.
pub fn known_open() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var("WSX_FUZZ_KNOWN_OPEN").is_ok_and(|v| !v.is_empty() && v != "0")
    })
}

/// A limit near `usize::MAX` (someone configuring "no limit"), `usize::MAX` itself included
/// (regressions/inflate/max-usize-overflow was an overflow there, now fixed).
pub fn huge_limit(k: u16) -> usize {
    usize::MAX - (k as usize % 256)
}

/// Negotiated permessage-deflate parameters, as the handshake would produce them.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Params {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: u8,
    pub client_max_window_bits: u8,
    pub level: u8,
    pub threshold: u8,
}

impl Params {
    /// The parameters with window bits in 8..=15 and a level in 0..=9.
    pub fn get(&self) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: self.server_no_context_takeover,
            client_no_context_takeover: self.client_no_context_takeover,
            server_max_window_bits: self.server_max_window_bits % 8 + 8,
            client_max_window_bits: self.client_max_window_bits % 8 + 8,
            level: u32::from(self.level % 10),
            threshold: self.threshold as usize,
        }
    }
}

/// Local permessage-deflate preferences, built through `DeflateConfig`'s (clamping) setters.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct ConfigSpec {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: u8,
    pub client_max_window_bits: u8,
    pub level: u8,
}

impl ConfigSpec {
    /// The configuration; window bits are spread over 0..=17 to exercise the clamping.
    pub fn get(&self) -> DeflateConfig {
        DeflateConfig::default()
            .server_no_context_takeover(self.server_no_context_takeover)
            .client_no_context_takeover(self.client_no_context_takeover)
            .server_max_window_bits(self.server_max_window_bits % 18)
            .client_max_window_bits(self.client_max_window_bits % 18)
            .level(u32::from(self.level))
    }
}

/// Whether `s` is an RFC 7230 token.
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

/// The four negotiated fields of `DeflateParams` (level and threshold are local choices).
pub fn negotiated(p: &DeflateParams) -> (bool, bool, u8, u8) {
    (
        p.server_no_context_takeover,
        p.client_no_context_takeover,
        p.server_max_window_bits,
        p.client_max_window_bits,
    )
}
