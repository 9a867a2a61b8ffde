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
    #[error("invalid URL: {message}")]
    Url {
        /// What is wrong with it.
        message: String,
        /// The URL parser's error, when it refused the URL.
        #[source]
        source: Option<url::ParseError>,
    },
    /// Too many redirects, a redirect from wss:// to ws://, or a `Location` that does not parse.
    #[error("redirect refused: {message}")]
    Redirect {
        /// Why it was refused.
        message: String,
        /// The URL parser's error, for a `Location` that does not parse.
        #[source]
        source: Option<url::ParseError>,
    },
    /// TLS failed: set-up (a certificate or key file, a server name, no crypto provider) or
    /// the handshake (an untrusted certificate…). Its `Display` says what was being done; the
    /// cause (a rustls, I/O or PEM error) is its [`source`](std::error::Error::source).
    #[error("TLS error: {message}")]
    Tls {
        /// What was being done.
        message: String,
        /// Why it failed.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// The proxy could not be used (see [`ProxyError`](crate::ProxyError)).
    #[error("proxy: {0}")]
    Proxy(#[from] crate::proxy::ProxyError),
    /// HTTP/2 failed: the connection, or a server that takes no WebSockets over it (no
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL`, RFC 8441 §3).
    #[error("HTTP/2: {message}")]
    Http2 {
        /// What went wrong.
        message: String,
        /// Why, when another error says it (hyper's).
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
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

impl Error {
    pub(crate) fn url(message: impl Into<String>) -> Self {
        Self::Url {
            message: message.into(),
            source: None,
        }
    }

    #[cfg(feature = "http2")]
    pub(crate) fn http2(
        message: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self::Http2 {
            message: message.into(),
            source,
        }
    }

    pub(crate) fn redirect(message: impl Into<String>) -> Self {
        Self::Redirect {
            message: message.into(),
            source: None,
        }
    }

    #[cfg(feature = "rustls")]
    pub(crate) fn tls(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self::Tls {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    #[cfg(feature = "rustls")]
    pub(crate) fn tls_setup(message: impl Into<String>) -> Self {
        Self::Tls {
            message: message.into(),
            source: None,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shorthand: `Error` for a handshake refused by the server with `status`.
pub fn is_refused(e: &Error, status: u16) -> bool {
    matches!(e, Error::Handshake(HandshakeError::UnexpectedStatus { status: s, .. }) if *s == status)
}
