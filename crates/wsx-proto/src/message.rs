//! Messages: what the application sends and receives.

use bytes::Bytes;

use crate::close::{CloseCode, CloseFrame};
use crate::error::ProtocolError;
pub use crate::utf8_bytes::Utf8Bytes;

/// A WebSocket message, or a control frame surfaced to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (validated UTF-8).
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping with its application data (at most 125 bytes). Answered automatically.
    Ping(Bytes),
    /// A pong with its application data (at most 125 bytes).
    Pong(Bytes),
    /// A close frame; `None` when it carried no status code.
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    pub fn text(s: impl Into<Utf8Bytes>) -> Self {
        Self::Text(s.into())
    }

    /// A binary message.
    pub fn binary(b: impl Into<Bytes>) -> Self {
        Self::Binary(b.into())
    }

    /// Whether this is a text or binary message (not a control frame).
    pub fn is_data(&self) -> bool {
        matches!(self, Self::Text(_) | Self::Binary(_))
    }

    /// The payload bytes (for a close, only the reason).
    pub fn as_payload(&self) -> &[u8] {
        match self {
            Self::Text(t) => t.as_bytes(),
            Self::Binary(b) | Self::Ping(b) | Self::Pong(b) => b,
            Self::Close(Some(c)) => c.reason.as_bytes(),
            Self::Close(None) => &[],
        }
    }

    /// The text of a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(t) => Some(t.as_str()),
            _ => None,
        }
    }

    /// A ping carrying `data` (at most 125 bytes: a longer one is refused when sent).
    pub fn ping(data: impl Into<Bytes>) -> Self {
        Self::Ping(data.into())
    }

    /// A pong carrying `data` (at most 125 bytes: a longer one is refused when sent).
    pub fn pong(data: impl Into<Bytes>) -> Self {
        Self::Pong(data.into())
    }

    /// A close frame with `code` and `reason`, checked as for sending (see [`CloseFrame::new`]).
    pub fn close(code: impl Into<CloseCode>, reason: &str) -> Result<Self, ProtocolError> {
        Ok(Self::Close(Some(CloseFrame::new(code, reason)?)))
    }

    /// Whether this is a text message.
    pub fn is_text(&self) -> bool {
        matches!(self, Self::Text(_))
    }

    /// Whether this is a binary message.
    pub fn is_binary(&self) -> bool {
        matches!(self, Self::Binary(_))
    }

    /// Whether this is a ping.
    pub fn is_ping(&self) -> bool {
        matches!(self, Self::Ping(_))
    }

    /// Whether this is a pong.
    pub fn is_pong(&self) -> bool {
        matches!(self, Self::Pong(_))
    }

    /// Whether this is a close frame.
    pub fn is_close(&self) -> bool {
        matches!(self, Self::Close(_))
    }

    /// The length of the payload in bytes (for a close, of its reason).
    pub fn len(&self) -> usize {
        self.as_payload().len()
    }

    /// Whether the payload is empty (for a close, its reason).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The payload, without a copy (for a close, its reason).
    pub fn into_data(self) -> Bytes {
        match self {
            Self::Text(t) => t.into_bytes(),
            Self::Binary(b) | Self::Ping(b) | Self::Pong(b) => b,
            Self::Close(Some(c)) => c.reason.into_bytes(),
            Self::Close(None) => Bytes::new(),
        }
    }

    /// The payload as text, without a copy: a text message's, a close's reason, or any other
    /// payload that is valid UTF-8 (checked).
    pub fn into_text(self) -> Result<Utf8Bytes, ProtocolError> {
        match self {
            Self::Text(t) => Ok(t),
            Self::Close(Some(c)) => Ok(c.reason),
            Self::Close(None) => Ok(Utf8Bytes::default()),
            Self::Binary(b) | Self::Ping(b) | Self::Pong(b) => {
                Utf8Bytes::try_from(b).map_err(|_| ProtocolError::InvalidUtf8)
            }
        }
    }

    /// The payload as text, borrowed: as [`into_text`](Self::into_text).
    pub fn to_text(&self) -> Result<&str, ProtocolError> {
        match self {
            Self::Text(t) => Ok(t.as_str()),
            Self::Close(Some(c)) => Ok(c.reason.as_str()),
            Self::Close(None) => Ok(""),
            Self::Binary(b) | Self::Ping(b) | Self::Pong(b) => {
                simdutf8::basic::from_utf8(b).map_err(|_| ProtocolError::InvalidUtf8)
            }
        }
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Self::Text(s.into())
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Self::Text(s.into())
    }
}

impl From<Vec<u8>> for Message {
    fn from(v: Vec<u8>) -> Self {
        Self::Binary(v.into())
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Self::Binary(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_lengths_and_payloads() {
        let t = Message::text("héllo");
        assert!(t.is_text() && t.is_data() && !t.is_binary() && !t.is_close());
        assert_eq!((t.len(), t.is_empty()), (6, false));
        assert_eq!(t.to_text().unwrap(), "héllo");
        assert_eq!(
            t.clone().into_data(),
            Bytes::from_static("héllo".as_bytes())
        );
        assert_eq!(t.into_text().unwrap(), "héllo");

        let b = Message::binary(vec![0xff, 0]);
        assert!(b.is_binary() && !b.is_text());
        assert_eq!(b.len(), 2);
        assert_eq!(b.to_text(), Err(ProtocolError::InvalidUtf8));
        assert_eq!(b.clone().into_text(), Err(ProtocolError::InvalidUtf8));
        assert_eq!(b.into_data(), Bytes::from_static(&[0xff, 0]));
        assert_eq!(Message::binary(&b"ok"[..]).into_text().unwrap(), "ok");

        let p = Message::ping(&b"1"[..]);
        assert!(p.is_ping() && !p.is_pong() && !p.is_data());
        assert!(Message::pong(Bytes::new()).is_empty());

        let c = Message::close(CloseCode::NORMAL, "bye").unwrap();
        assert!(c.is_close());
        assert_eq!((c.len(), c.to_text().unwrap()), (3, "bye"));
        assert_eq!(c.into_data(), Bytes::from_static(b"bye"));
        assert!(Message::Close(None).into_text().unwrap().is_empty());
        assert!(Message::close(1005u16, "").is_err(), "1005 is never sent");
    }
}
