//! Harness for the interop tests that drive a wsx Socket.IO server with the official
//! `socket.io-client` (`interop_socketio.rs`: in Node; `chromium_socketio.rs`: the browser
//! bundle in headless Chromium). Both peers run the same driver, `interop/node/sio_core.js`:
//! JSON commands in, JSON events out (see its header), so every scenario (`scenarios.rs`) is
//! written once, here, and asserted on both ends: the client's events and the server's log.
//! The peers ([`Peer`]), the server that serves their page ([`serve`]) and the process
//! plumbing are the workspace's `tests-support/` (`sio_peer.rs`, `procs.rs`), shared with
//! `wsx-redis`'s cluster tests; the server's log and the scenarios are here.
//!
//! The peers must be installed by `interop/setup.sh` (`npm ci` of `interop/`, Debian's
//! Chromium); without them these tests fail, they never skip.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod scenarios;

#[path = "../../../../tests-support/procs.rs"]
pub mod procs;
#[path = "../../../../tests-support/sio_peer.rs"]
pub mod sio_peer;

use serde_json::Value;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use wsx_socketio::engine::{EngineConfig, TransportKind};

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use procs::{Inbox, T, eventually};
#[allow(unused_imports)]
pub use sio_peer::{
    Kind, Peer, answer, event, hex, is, marked, marked_args, serve, unhex, unmarked,
};

/// The server's log: handlers note what they saw, the test expects it.
#[derive(Clone)]
pub struct Log(UnboundedSender<Value>);

impl Log {
    pub fn note(&self, v: Value) {
        let _ = self.0.send(v);
    }
}

/// A log for the server's handlers and the inbox the test reads it from.
pub fn server_log() -> (Log, Inbox) {
    let (tx, rx) = unbounded_channel();
    (Log(tx), Inbox::new("server log", rx))
}

/// Matches server-log entries `ev`.
pub fn logged(ev: &str) -> impl Fn(&Value) -> bool + use<> {
    let ev = ev.to_owned();
    move |v| v["ev"] == *ev
}

pub fn transport_name(t: TransportKind) -> &'static str {
    match t {
        TransportKind::Polling => "polling",
        TransportKind::WebSocket => "websocket",
    }
}

/// Engine settings at Socket.IO's path.
pub fn engine() -> EngineConfig {
    EngineConfig::default().path("/socket.io/")
}
