//! Socket.IO v5 over Engine.IO v4 for wsx, wire-compatible with the official JS implementation
//! (`socket.io-client` in Node and in browsers, and Node `socket.io` servers sharing a Redis
//! cluster through `wsx-redis`).
//!
//! From the bottom up:
//! - [`engineio`] and [`socketio`]: the **sans-I/O wire codecs**, pure functions and small
//!   state machines that turn bytes into typed packets and back, with no sockets, no async and
//!   no timers. Engine.IO v4 packets in their WebSocket frame form and the HTTP long-polling
//!   payload form; Socket.IO v5 packets with namespaces, ack ids, JSON arguments and binary
//!   attachments, validated as strictly as the official `socket.io-parser`.
//! - [`engine`]: the Engine.IO server: sessions, the long-polling and WebSocket transports and
//!   the upgrade between them, heartbeats, CORS.
//! - Sockets, namespaces with the rooms of their sockets, broadcast operators and
//!   acknowledgements; [`cluster`]: the narrow trait through which a namespace reaches the
//!   other nodes of a cluster (the Redis adapters of `wsx-redis` implement it).
//! - [`SocketIo`]: the server, mounted on hyper or axum (feature `tower`) or served on its own.
//!
//! # Example
//!
//! A Socket.IO event as the JS client sends it over a WebSocket, decoded in two layers:
//!
//! ```
//! use wsx_socketio::{engineio, socketio};
//!
//! let eio = engineio::Packet::decode_text(r#"42["hello",1]"#)?;
//! let engineio::Packet::Message(text) = eio else { panic!("not a message") };
//!
//! let mut decoder = socketio::Decoder::new();
//! let packet = decoder.decode_text(&text)?.expect("no attachments, so complete at once");
//! assert_eq!(packet.nsp, "/");
//! assert_eq!(packet.event_name(), Some("hello"));
//! # Ok::<(), wsx_socketio::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod ack;
mod args;
mod broadcast;
pub mod cluster;
mod config;
mod connect_deadlines;
mod connection;
mod encoded;
pub mod engine;
pub mod engineio;
mod error;
mod event;
mod json;
mod local;
mod namespace;
mod namespaces;
mod options;
mod recovery;
mod rooms;
mod service;
mod socket;
mod socket_io;
pub mod socketio;
mod targets;

pub use ack::{AckError, AckFuture, AckSender};
pub use args::IntoArgs;
pub use broadcast::{AckResponse, BroadcastOperator, RemoteSocket};
pub use config::Config;
pub use error::{Error, SocketError};
pub use event::Event;
pub use namespace::{ConnectError, Namespace};
pub use recovery::RecoveryConfig;
#[cfg(feature = "tower")]
pub use service::{SocketIoLayer, SocketIoService};
pub use socket::{DisconnectReason, Handshake, Socket};
pub use socket_io::SocketIo;
pub use socketio::Data;

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
