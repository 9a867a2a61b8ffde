//! Helpers shared by the fuzz targets in `fuzz_targets/`: arbitrary deflate parameters and
//! configurations, limits, the switch for inputs that reach known-open bugs, and arbitrary
//! JSON values with JavaScript's equality (`json`).

use std::sync::{Once, OnceLock};

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

/// Lets panics raised inside yrs unwind instead of aborting the fuzzer at once (libfuzzer-sys's
/// panic hook aborts before unwinding): wsx-yjs catches them where it decodes a peer's bytes
/// (yrs asserts, in debug builds, what a peer may well send: a client id over 53 bits) and
/// turns them into errors, which the targets check. A yrs panic that nothing catches still
/// reaches libfuzzer-sys's own `catch_unwind`, which aborts: a crash, as it should be.
pub fn let_yrs_panics_unwind() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_yrs = info.location().is_some_and(|l| l.file().contains("/yrs-"));
            if !in_yrs {
                previous(info);
            }
        }));
    });
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

/// Arbitrary JSON values, bounded in depth and width, for the targets that build packets.
pub mod json {
    use arbitrary::{Result, Unstructured};
    use serde_json::{Map, Number, Value};

    /// A JSON value at most `depth` levels deep.
    pub fn value(u: &mut Unstructured<'_>, depth: u32) -> Result<Value> {
        let kinds = if depth == 0 { 6 } else { 8 };
        Ok(match u.choose_index(kinds)? {
            0 => Value::Null,
            1 => Value::Bool(u.arbitrary()?),
            2 => Value::from(u.arbitrary::<u64>()?),
            3 => Value::from(u.arbitrary::<i64>()?),
            4 => Number::from_f64(u.arbitrary()?).map_or(Value::Null, Value::Number),
            5 => Value::String(u.arbitrary()?),
            6 => {
                let n = u.int_in_range(0..=6)?;
                Value::Array((0..n).map(|_| value(u, depth - 1)).collect::<Result<_>>()?)
            }
            _ => Value::Object(object(u, depth - 1)?),
        })
    }

    /// A JSON object at most `depth` levels deep below it; keys are sometimes array-index
    /// like (`"0"`, `"12"`), which JavaScript lists first.
    pub fn object(u: &mut Unstructured<'_>, depth: u32) -> Result<Map<String, Value>> {
        let n = u.int_in_range(0..=6)?;
        let mut map = Map::new();
        for _ in 0..n {
            let key = if u.ratio(1, 4)? {
                u.int_in_range(0..=20u32)?.to_string()
            } else {
                u.arbitrary()?
            };
            map.insert(key, value(u, depth)?);
        }
        Ok(map)
    }

    /// Equality as JavaScript sees the values after `JSON.parse`: numbers are compared as
    /// doubles (`1`, `1.0` and `1e0` are one number), object keys in any order.
    pub fn js_eq(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x == y,
                _ => x == y,
            },
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(a, b)| js_eq(a, b))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| js_eq(v, w)))
            }
            _ => a == b,
        }
    }

    /// Whether `v` holds an object that reads as a Socket.IO attachment placeholder
    /// (`{"_placeholder": true, …}`): such data is ambiguous on the wire, in every
    /// implementation, so round-trip properties leave it out.
    pub fn has_placeholder(v: &Value) -> bool {
        match v {
            Value::Object(m) => {
                m.get("_placeholder") == Some(&Value::Bool(true)) || m.values().any(has_placeholder)
            }
            Value::Array(a) => a.iter().any(has_placeholder),
            _ => false,
        }
    }
}

/// The largest single allocation made while running a closure: the targets check with it that
/// no allocation grows with a number a peer wrote rather than with the bytes it sent.
pub mod alloc {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The system allocator, remembering the largest block asked for.
    pub struct Tracking;

    static LARGEST: AtomicUsize = AtomicUsize::new(0);

    // SAFETY: every call is forwarded unchanged to the system allocator; the only addition is
    // an atomic maximum.
    unsafe impl GlobalAlloc for Tracking {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
            // SAFETY: the caller's contract is System's.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
            // SAFETY: the caller's contract is System's.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: the caller's contract is System's.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            LARGEST.fetch_max(new_size, Ordering::Relaxed);
            // SAFETY: the caller's contract is System's.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Tracking = Tracking;

    /// Runs `f`; returns its result and the largest allocation it made.
    pub fn largest_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
        LARGEST.store(0, Ordering::Relaxed);
        let r = f();
        (r, LARGEST.load(Ordering::Relaxed))
    }
}
