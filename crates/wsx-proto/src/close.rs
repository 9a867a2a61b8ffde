//! Close frames (RFC 6455 §5.5.1): a close code and a reason, checked for sending and
//! parsed on receipt. The codes themselves are [`CloseCode`].

use bytes::{BufMut, Bytes, BytesMut};

pub use crate::close_code::CloseCode;
use crate::error::ProtocolError;
use crate::utf8_bytes::Utf8Bytes;

/// Longest close reason: a control payload is at most 125 bytes, two of which are the code.
pub const MAX_REASON_LEN: usize = 123;

/// The body of a close frame: a code and a UTF-8 reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason, at most [`MAX_REASON_LEN`] bytes of UTF-8.
    pub reason: Utf8Bytes,
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
            reason: Utf8Bytes::from(reason.to_owned()),
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
                let reason = Utf8Bytes::try_from(payload.slice(2..))
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
