//! wsx in the browser: a y-websocket client on `yrs`, compiled to `wasm32-unknown-unknown`.
//!
//! [`Pad`] is the client logic of the collaborative pad of `wsx serve` (`/pad/<room>`): a Yjs
//! document holding one `Y.Text` named `"pad"`, the y-websocket sync protocol (SyncStep1,
//! SyncStep2, updates) and awareness (who is there, their names, colors and cursors). It is
//! plain Rust, tested natively. [`ffi`] exports it to JavaScript as a small C ABI, without
//! wasm-bindgen: `crates/wsx-cli/web/pad.js` is the hand-written glue.
//!
//! ```
//! use wsx_web::{Pad, Selection};
//!
//! let mut alice = Pad::new(1).unwrap();
//! let mut bob = Pad::new(2).unwrap();
//! let update = alice.edit("hello", None).unwrap(); // a y-websocket Update message
//! let got = bob.receive(&update, Selection::caret(0)).unwrap();
//! assert_eq!(got.text.unwrap().0, "hello");
//! ```
//!
//! Build for the browser (`wsx-cli`'s build script does this, with size-first profile
//! settings): `cargo build -p wsx-web --release --target wasm32-unknown-unknown`. The module
//! imports nothing of its own; `yrs` pulls `fastrand` with its `js` feature, whose getrandom
//! backend leaves a few imports for wasm-bindgen's generated glue (getrandom 0.4.3 cannot swap
//! that backend out: rust-random/getrandom#840). Only one of them is ever called:
//! `getRandomValues(ptr, len)`, when fastrand seeds itself the first time yrs decodes a
//! subdocument; `pad.js` fills those bytes from `crypto.getRandomValues`. Client ids never come from there:
//! the page draws them and passes them in.

// The C ABI's `#[unsafe(no_mangle)]` exports are the FFI boundary with JavaScript; they are
// the only reason for this allowance (the crate has no `unsafe` block).
#![allow(unsafe_code)]

pub mod awareness;
pub mod diff;
pub mod ffi;
pub mod pad;

pub use pad::{Error, Pad, Peer, Received, Selection};
