//! Close codes and close frames (RFC 6455 §5.5.1, §7.4).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::ProtocolError;

/// A close status code.
///
/// ```
/// use wsx_proto::CloseCode;
/// assert!(CloseCode::NORMAL.is_valid_on_wire());
/// assert!(CloseCode(4000).is_valid_on_wire());
/// assert!(!CloseCode(1005).is_valid_on_wire()); // reserved for "no status"
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigated away).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: protocol error.
    pub const PROTOCOL: Self = Self(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED: Self = Self(1003);
    /// 1005: no status code was present (never sent on the wire).
    pub const NO_STATUS: Self = Self(1005);
    /// 1006: the connection closed without a close frame (never sent on the wire).
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: message data was inconsistent with its type (invalid UTF-8 in a text message).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: the message violates the endpoint's policy.
    pub const POLICY: Self = Self(1008);
    /// 1009: a message too big to process.
    pub const TOO_BIG: Self = Self(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: an unexpected condition on the server.
    pub const INTERNAL: Self = Self(1011);
    /// 1012: the service is restarting.
    pub const RESTART: Self = Self(1012);
    /// 1013: try again later.
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: a gateway received an invalid response.
    pub const BAD_GATEWAY: Self = Self(1014);
    /// 1015: the TLS handshake failed (never sent on the wire).
    pub const TLS: Self = Self(1015);

    /// Whether the code may appear in a close frame: 1000–1003, 1007–1014 and 3000–4999.
    pub const fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(v: u16) -> Self {
        Self(v)
    }
}

impl From<CloseCode> for u16 {
    fn from(c: CloseCode) -> u16 {
        c.0
    }
}

impl std::fmt::Display for CloseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Longest close reason: a control payload is at most 125 bytes, two of which are the code.
pub const MAX_REASON_LEN: usize = 123;

/// The body of a close frame: a code and a UTF-8 reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason, at most [`MAX_REASON_LEN`] bytes of UTF-8.
    pub reason: crate::Utf8Bytes,
}

impl CloseFrame {
    /// A close frame with `code` and `reason`, checked as for sending: the code must be valid
    /// on the wire and the reason at most 123 bytes.
    pub fn new(code: impl Into<CloseCode>, reason: &str) -> Result<Self, ProtocolError> {
        let code = code.into();
        if !code.is_valid_on_wire() {
            return Err(ProtocolError::InvalidCloseCode(code.0));
        }
        if reason.len() > MAX_REASON_LEN {
            return Err(ProtocolError::CloseReasonTooLong(reason.len()));
        }
        Ok(Self {
            code,
            reason: crate::Utf8Bytes::from(reason.to_owned()),
        })
    }

    /// Parses a received close payload: empty (no status), or a valid code and a UTF-8 reason.
    pub fn parse(payload: &Bytes) -> Result<Option<Self>, ProtocolError> {
        match payload.len() {
            0 => Ok(None),
            1 => Err(ProtocolError::InvalidClosePayload),
            _ => {
                let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
                if !code.is_valid_on_wire() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason = crate::Utf8Bytes::try_from(payload.slice(2..))
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
                Ok(Some(Self { code, reason }))
            }
        }
    }

    /// Writes the payload of this close frame.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16(self.code.0);
        out.extend_from_slice(self.reason.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity_table() {
        for c in 0..=5000u16 {
            let expect = matches!(c, 1000..=1003 | 1007..=1014 | 3000..=4999);
            assert_eq!(CloseCode(c).is_valid_on_wire(), expect, "{c}");
        }
        assert!(!CloseCode(u16::MAX).is_valid_on_wire());
    }

    #[test]
    fn parse_rules() {
        assert_eq!(CloseFrame::parse(&Bytes::new()).unwrap(), None);
        assert!(matches!(
            CloseFrame::parse(&Bytes::from_static(&[3])),
            Err(ProtocolError::InvalidClosePayload)
        ));
        assert!(matches!(
            CloseFrame::parse(&Bytes::from_static(&[0x03, 0xed])), // 1005
            Err(ProtocolError::InvalidCloseCode(1005))
        ));
        assert!(matches!(
            CloseFrame::parse(&Bytes::from_static(&[0x03, 0xe8, 0xff])),
            Err(ProtocolError::InvalidUtf8)
        ));
        let ok = CloseFrame::parse(&Bytes::from_static(b"\x0f\xa0bye"))
            .unwrap()
            .unwrap();
        assert_eq!(ok.code, CloseCode(4000));
        assert_eq!(ok.reason.as_str(), "bye");
    }

    #[test]
    fn new_validates_arguments() {
        assert!(CloseFrame::new(1006, "").is_err());
        assert!(CloseFrame::new(1000, &"x".repeat(124)).is_err());
        assert!(CloseFrame::new(1000, &"x".repeat(123)).is_ok());
    }
}
