//! The error type of the tokio layer.

use std::time::Duration;

pub use wsx_proto::{HandshakeError, ProtocolError};

/// Everything that can go wrong on a connection or while making one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A transport error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer broke the protocol or a limit; a close frame with the matching code was sent.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The opening handshake failed.
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// The connection is closing or closed; nothing more can be sent.
    #[error("the connection is closed")]
    Closed,
    /// The transport ended without a closing handshake (close code 1006).
    #[error("the connection was closed abnormally (no close frame)")]
    AbnormalClosure,
    /// The peer did not answer heartbeat pings in time.
    #[error("no pong within {0:?}: peer considered dead")]
    HeartbeatTimeout(Duration),
    /// The peer did not finish the closing handshake in time; the connection was dropped.
    #[error("no close frame (or TCP close) from the peer within {0:?}")]
    CloseTimeout(Duration),
    /// The connection was terminated locally (server shutdown, slow consumer, `terminate`).
    #[error("the connection was terminated: {0}")]
    Terminated(&'static str),
    /// The opening handshake did not finish in time.
    #[error("handshake timed out after {0:?}")]
    HandshakeTimeout(Duration),
    /// The URL is not a usable ws:// or wss:// URL.
    #[error("invalid URL: {0}")]
    Url(String),
    /// Too many redirects, or a redirect from wss:// to ws://.
    #[error("redirect refused: {0}")]
    Redirect(String),
    /// TLS set-up failed (bad certificate or key file, unknown server name).
    #[error("TLS error: {0}")]
    Tls(String),
    /// The proxy could not be used (see [`ProxyError`](crate::ProxyError)).
    #[error("proxy: {0}")]
    Proxy(#[from] crate::proxy::ProxyError),
}

impl From<wsx_proto::Error> for Error {
    fn from(e: wsx_proto::Error) -> Self {
        match e {
            wsx_proto::Error::Protocol(p) => Self::Protocol(p),
            wsx_proto::Error::Handshake(h) => Self::Handshake(h),
            _ => Self::Closed,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shorthand: `Error` for a handshake refused by the server with `status`.
pub fn is_refused(e: &Error, status: u16) -> bool {
    matches!(e, Error::Handshake(HandshakeError::UnexpectedStatus { status: s, .. }) if *s == status)
}
