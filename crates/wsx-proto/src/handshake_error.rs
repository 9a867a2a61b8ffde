//! Why an opening handshake failed (RFC 6455 §4), and what a server answers each failure
//! with.

use http::{HeaderValue, Response, StatusCode, header};

/// Why a handshake failed. On the server each variant maps to the HTTP status to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The head is not valid HTTP/1.x.
    #[error("malformed HTTP head: {0}")]
    Malformed(String),
    /// The head is over the size or header-count limit.
    #[error("HTTP head over the limit of {0} bytes or too many headers")]
    HeadersTooLarge(usize),
    /// The request method is not GET.
    #[error("method must be GET")]
    MethodNotAllowed,
    /// HTTP/1.0 or older.
    #[error("HTTP/1.1 or later is required")]
    BadHttpVersion,
    /// No `Host` header.
    #[error("missing Host header")]
    MissingHost,
    /// `Upgrade` does not list `websocket`.
    #[error("missing or invalid Upgrade header")]
    MissingUpgrade,
    /// `Connection` does not list `upgrade`.
    #[error("missing or invalid Connection header")]
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Key` is missing, repeated or not 16 bytes of base64.
    #[error("missing or invalid Sec-WebSocket-Key header")]
    InvalidKey,
    /// `Sec-WebSocket-Version` is not 13.
    #[error("unsupported Sec-WebSocket-Version (13 is required)")]
    UnsupportedVersion,
    /// `Sec-WebSocket-Protocol` is malformed or lists a protocol twice.
    #[error("invalid Sec-WebSocket-Protocol header")]
    InvalidProtocolHeader,
    /// `Sec-WebSocket-Extensions` does not follow the RFC 6455 grammar.
    #[error("invalid Sec-WebSocket-Extensions header")]
    InvalidExtensionHeader,
    /// Client: the server answered with another status than 101.
    #[error("server answered {status} instead of 101 Switching Protocols")]
    UnexpectedStatus {
        /// The status received.
        status: u16,
        /// Its `Location` header, for redirects.
        location: Option<String>,
    },
    /// Client: `Sec-WebSocket-Accept` is missing or wrong.
    #[error("invalid Sec-WebSocket-Accept")]
    InvalidAccept,
    /// Client: the server chose a subprotocol that was not offered.
    #[error("server selected subprotocol {0:?}, which was not offered")]
    UnexpectedProtocol(String),
    /// Client: the server accepted an extension that was not offered.
    #[error("server accepted extension {0:?}, which was not offered")]
    UnexpectedExtension(String),
    /// Client: the server's permessage-deflate parameters do not fit the offer.
    #[error("invalid permessage-deflate response: {0}")]
    InvalidExtensionResponse(&'static str),
    /// HTTP/2 (RFC 8441): an extended CONNECT whose `:protocol` is not `websocket`.
    #[error("unsupported :protocol {0:?} (websocket is)")]
    UnsupportedProtocol(String),
}

impl HandshakeError {
    /// The HTTP status a server answers this error with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedVersion => StatusCode::UPGRADE_REQUIRED,
            Self::BadHttpVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The full response a server sends for this error (status, headers, a short text body).
    pub fn response(&self) -> Response<String> {
        let mut r = Response::new(format!("{self}\n"));
        *r.status_mut() = self.status();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        match self {
            Self::UnsupportedVersion => {
                h.insert(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                );
                h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            }
            Self::MethodNotAllowed => {
                h.insert(header::ALLOW, HeaderValue::from_static("GET"));
            }
            _ => {}
        }
        r
    }
}
