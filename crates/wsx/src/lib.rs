//! WebSocket server and client for tokio, built on the sans-I/O core [`wsx_proto`].
//!
//! - [`WebSocket`]: a connection over any `AsyncRead + AsyncWrite` (a `Stream` and a `Sink` of
//!   [`Message`]s) with split halves and non-blocking [`Sender`] handles.
//! - [`Server`]: host/port/backlog, path routing, a verify hook, origin allow-list,
//!   subprotocol selection, heartbeats, max connections, graceful shutdown, TLS.
//! - [`Clients`]: the one registry of a server's connections (one [`ClientId`] each), with
//!   broadcast; [`Hub`]: publish/subscribe topics over it, each message encoded once for all
//!   its subscribers, and a [`Relay`] to carry them to other processes.
//! - [`connect`] / [`ClientBuilder`]: `ws://` and `wss://`, subprotocols, headers, Origin,
//!   handshake timeout, redirects, permessage-deflate.
//! - Features `hyper` and `axum`: upgrade requests of an existing HTTP server.

#![deny(missing_docs)]

mod accept;
mod active;
mod batch;
mod budget;
mod client;
mod client_connect;
mod clients;
mod error;
mod events;
mod fanout;
#[cfg(feature = "http2")]
mod forward_write;
#[cfg(feature = "http2")]
mod http2_client;
#[cfg(feature = "http2")]
mod http2_server;
#[cfg(feature = "http2")]
mod http2_stream;
mod hub;
mod metrics;
mod proxy;
mod queue;
mod registry;
mod relay;
#[cfg(feature = "http2")]
mod rewind;
mod server;
mod shutdown_signal;
mod stream;
#[cfg(feature = "rustls")]
pub mod tls;
mod tunnel;
mod websocket;

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "hyper")]
pub mod hyper;

pub use accept::{Accepted, Acceptor, ConnectProtocol, HandshakeRequest, Rejection, accept};
pub use budget::{MemoryAccount, MemoryBudget};
pub use client::{ClientBuilder, client_handshake};
pub use client_connect::connect;
pub use clients::Clients;
pub use error::{Error, Result, is_refused};
pub use events::{Conn, Handler};
pub use fanout::BroadcastReport;
#[cfg(feature = "http2")]
pub use http2_client::Http2Connection;
#[cfg(feature = "http2")]
pub use http2_stream::Http2Stream;
pub use hub::Hub;
pub use proxy::{Proxy, ProxyError, ProxyKind};
pub use queue::SendStatus;
pub use registry::ClientId;
pub use relay::Relay;
pub use server::{Connected, Server, ServerBuilder, ShutdownHandle, accept_tcp, listen};
pub use stream::MaybeTlsStream;
pub use websocket::{Options, ReadHalf, Sender, SlowConsumer, WebSocket, WriteHalf};
pub use wsx_proto::{
    self as proto, CloseCode, CloseFrame, Config, DeflateConfig, DeflateParams, HandshakeError,
    Message, OpCode, PreparedFrame, ProtocolError, ReadyState, Role, Utf8Bytes,
};

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
