//! Frame headers (RFC 6455 §5.2): opcodes, FIN/RSV bits, 7/16/64-bit lengths, masking keys.

use crate::error::ProtocolError;

/// A frame opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// Decodes the low four bits of a first header byte; reserved opcodes are an error.
    pub fn from_u8(v: u8) -> Result<Self, ProtocolError> {
        Ok(match v {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xa => Self::Pong,
            other => return Err(ProtocolError::ReservedOpCode(other)),
        })
    }

    /// The wire value.
    pub const fn as_u8(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xa,
        }
    }

    /// Close, ping and pong are control frames.
    pub const fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// Largest payload a control frame may carry.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Longest possible frame header: 2 + 8 (length) + 4 (mask).
pub const MAX_HEADER_LEN: usize = 14;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Final fragment of a message.
    pub fin: bool,
    /// RSV1 (used by permessage-deflate: "compressed").
    pub rsv1: bool,
    /// RSV2 (no extension defined here uses it).
    pub rsv2: bool,
    /// RSV3 (no extension defined here uses it).
    pub rsv3: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present on frames sent by a client.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Parses a header from the start of `buf`.
    ///
    /// Returns `Ok(None)` when more bytes are needed, else the header and its length. Every
    /// rule that can be judged from the bytes already present is checked before waiting for
    /// more (a reserved opcode fails on the first byte), so a bad frame fails as early as
    /// possible. Non-minimal length encodings are accepted; a 64-bit length with its most
    /// significant bit set is not.
    ///
    /// ```
    /// use wsx_proto::frame::{FrameHeader, OpCode};
    /// let (h, len) = FrameHeader::parse(&[0x81, 0x05, b'H']).unwrap().unwrap();
    /// assert_eq!((h.opcode, h.fin, h.payload_len, len), (OpCode::Text, true, 5, 2));
    /// assert!(FrameHeader::parse(&[0x83]).is_err()); // reserved opcode 0x3
    /// ```
    pub fn parse(buf: &[u8]) -> Result<Option<(Self, usize)>, ProtocolError> {
        let Some(&b0) = buf.first() else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let opcode = OpCode::from_u8(b0 & 0x0f)?;
        if opcode.is_control() && !fin {
            return Err(ProtocolError::FragmentedControlFrame);
        }
        let Some(&b1) = buf.get(1) else {
            return Ok(None);
        };
        let masked = b1 & 0x80 != 0;
        let len7 = b1 & 0x7f;
        if opcode.is_control() && len7 as usize > MAX_CONTROL_PAYLOAD {
            return Err(ProtocolError::ControlFrameTooLong);
        }
        let (payload_len, mut pos) = match len7 {
            126 => {
                let Some(b) = buf.get(2..4) else {
                    return Ok(None);
                };
                (u16::from_be_bytes([b[0], b[1]]) as u64, 4)
            }
            127 => {
                let Some(b) = buf.get(2..10) else {
                    return Ok(None);
                };
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                let n = u64::from_be_bytes(a);
                if n >> 63 != 0 {
                    return Err(ProtocolError::InvalidLength);
                }
                (n, 10)
            }
            n => (n as u64, 2),
        };
        let mask = if masked {
            let Some(b) = buf.get(pos..pos + 4) else {
                return Ok(None);
            };
            pos += 4;
            Some([b[0], b[1], b[2], b[3]])
        } else {
            None
        };
        Ok(Some((
            Self {
                fin,
                rsv1: b0 & 0x40 != 0,
                rsv2: b0 & 0x20 != 0,
                rsv3: b0 & 0x10 != 0,
                opcode,
                mask,
                payload_len,
            },
            pos,
        )))
    }

    /// Encodes the header into `out` with the shortest length form; returns its length.
    ///
    /// ```
    /// use wsx_proto::frame::{FrameHeader, OpCode};
    /// let h = FrameHeader { fin: true, rsv1: false, rsv2: false, rsv3: false,
    ///     opcode: OpCode::Binary, mask: None, payload_len: 300 };
    /// let mut out = [0u8; 14];
    /// let n = h.encode(&mut out);
    /// assert_eq!(&out[..n], &[0x82, 126, 0x01, 0x2c]);
    /// assert_eq!(FrameHeader::parse(&out[..n]).unwrap(), Some((h, n)));
    /// ```
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (self.fin as u8) << 7
            | (self.rsv1 as u8) << 6
            | (self.rsv2 as u8) << 5
            | (self.rsv3 as u8) << 4
            | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut pos = if self.payload_len < 126 {
            out[1] = mask_bit | self.payload_len as u8;
            2
        } else if self.payload_len <= u16::MAX as u64 {
            out[1] = mask_bit | 126;
            out[2..4].copy_from_slice(&(self.payload_len as u16).to_be_bytes());
            4
        } else {
            out[1] = mask_bit | 127;
            out[2..10].copy_from_slice(&self.payload_len.to_be_bytes());
            10
        };
        if let Some(key) = self.mask {
            out[pos..pos + 4].copy_from_slice(&key);
            pos += 4;
        }
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(opcode: OpCode, len: u64, mask: Option<[u8; 4]>) -> FrameHeader {
        FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask,
            payload_len: len,
        }
    }

    #[test]
    fn roundtrip_every_length_form() {
        for len in [0, 1, 125, 126, 127, 65535, 65536, 1 << 40] {
            for mask in [None, Some([9, 8, 7, 6])] {
                let h = header(OpCode::Binary, len, mask);
                let mut out = [0u8; MAX_HEADER_LEN];
                let n = h.encode(&mut out);
                assert_eq!(FrameHeader::parse(&out[..n]).unwrap(), Some((h, n)));
                // Every strict prefix needs more bytes.
                for k in 0..n {
                    assert_eq!(FrameHeader::parse(&out[..k]).unwrap(), None);
                }
            }
        }
    }

    #[test]
    fn non_minimal_lengths_are_accepted() {
        let (h, n) = FrameHeader::parse(&[0x82, 126, 0, 5]).unwrap().unwrap();
        assert_eq!((h.payload_len, n), (5, 4));
        let (h, n) = FrameHeader::parse(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5])
            .unwrap()
            .unwrap();
        assert_eq!((h.payload_len, n), (5, 10));
    }

    #[test]
    fn msb_of_64_bit_length_must_be_zero() {
        let r = FrameHeader::parse(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1]);
        assert!(matches!(r, Err(ProtocolError::InvalidLength)));
    }

    #[test]
    fn reserved_opcodes_fail_on_the_first_byte() {
        for op in [3u8, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
            assert!(matches!(
                FrameHeader::parse(&[0x80 | op]),
                Err(ProtocolError::ReservedOpCode(o)) if o == op
            ));
        }
    }

    #[test]
    fn control_frame_rules() {
        assert!(matches!(
            FrameHeader::parse(&[0x09]),
            Err(ProtocolError::FragmentedControlFrame)
        ));
        assert!(matches!(
            FrameHeader::parse(&[0x89, 126]),
            Err(ProtocolError::ControlFrameTooLong)
        ));
        assert!(FrameHeader::parse(&[0x89, 125]).unwrap().is_some());
    }
}
