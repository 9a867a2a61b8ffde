//! The crate's error: what went wrong with a peer's message, the store or the socket, and the
//! close code each maps to.

use wsx::CloseCode;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the document server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A message that does not decode: a truncated varint or buffer, a bad sync sub-type, an
    /// update or awareness state that is not well formed. Closes with 1007.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A message type this server does not speak (y-websocket knows 0 to 3). Closes with 1003.
    #[error("unknown message type {0}")]
    UnknownMessage(u64),
    /// A text frame: the y-websocket protocol is binary. Closes with 1003.
    #[error("text frames are not part of the y-websocket protocol")]
    TextFrame,
    /// An update that decodes but that yrs refuses to integrate. Closes with 1007.
    #[error("update rejected: {0}")]
    Rejected(#[from] yrs::error::UpdateError),
    /// The store failed (I/O, corruption, a backend's own error). Closes with 1011.
    #[error("store: {0}")]
    Store(Box<dyn std::error::Error + Send + Sync>),
    /// The WebSocket layer failed.
    #[error(transparent)]
    WebSocket(#[from] wsx::Error),
}

impl Error {
    /// Wraps a store backend's error.
    pub fn store(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Store(e.into())
    }

    /// The close code a connection that caused this error is closed with.
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::Malformed(_) | Self::Rejected(_) => CloseCode::INVALID_PAYLOAD,
            Self::UnknownMessage(_) | Self::TextFrame => CloseCode::UNSUPPORTED,
            Self::Store(_) | Self::WebSocket(_) => CloseCode::INTERNAL,
        }
    }
}

impl From<yrs::encoding::read::Error> for Error {
    fn from(e: yrs::encoding::read::Error) -> Self {
        Self::Malformed(e.to_string())
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Self::store(e)
    }
}
