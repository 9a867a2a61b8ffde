//! Payloads: every message carries its connection id and sequence number, so each echo is
//! checked byte for byte against what was sent, and in order.

use bytes::{Bytes, BytesMut};
use wsx::{Message, Utf8Bytes};

/// Length of the id/sequence header: 16 lowercase hex digits of `conn << 40 | seq`.
const HEADER: usize = 16;
/// Sequence bits in the header (the rest hold the connection id).
const SEQ_BITS: u32 = 40;
/// Most connections whose ids fit the header.
pub const MAX_CONNECTIONS: usize = 1 << (64 - SEQ_BITS);
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Makes and checks the payloads of one connection. Payloads are cut from a shared chunk
/// (`BytesMut::split`), so making one costs a copy of `size` bytes, not an allocation.
pub struct Payloads {
    size: usize,
    conn: u64,
    binary: bool,
    /// The filler after the header: ASCII letters, shifted per connection.
    template: Box<[u8]>,
    arena: BytesMut,
    chunk: usize,
}

impl Payloads {
    /// Payloads of `size` bytes for connection `conn` (ASCII, so valid as text too).
    pub fn new(conn: u32, size: usize, binary: bool) -> Self {
        let template = (0..size)
            .map(|i| b'a' + ((i + conn as usize) % 26) as u8)
            .collect();
        Self {
            size,
            conn: u64::from(conn),
            binary,
            template,
            arena: BytesMut::new(),
            // Enough for a few dozen small messages per allocation, without holding much
            // memory per connection when there are many.
            chunk: size.max(size.saturating_mul(16).clamp(1024, 64 * 1024)),
        }
    }

    /// The header digits for `seq`; a payload shorter than the header keeps its last digits
    /// (the ones that change from message to message).
    fn header(&self, seq: u64) -> [u8; HEADER] {
        let v = (self.conn << SEQ_BITS) | (seq & ((1 << SEQ_BITS) - 1));
        let mut h = [0u8; HEADER];
        for (i, b) in h.iter_mut().enumerate() {
            *b = HEX[((v >> (60 - 4 * i)) & 0xf) as usize];
        }
        h
    }

    fn header_len(&self) -> usize {
        self.size.min(HEADER)
    }

    /// The message with sequence number `seq`.
    pub fn message(&mut self, seq: u64) -> Message {
        let h = self.header(seq);
        let hl = self.header_len();
        if self.arena.capacity() < self.size {
            self.arena.reserve(self.chunk);
        }
        self.arena.extend_from_slice(&h[HEADER - hl..]);
        self.arena.extend_from_slice(&self.template[hl..]);
        let b: Bytes = self.arena.split().freeze();
        if self.binary {
            return Message::Binary(b);
        }
        // Always ASCII; were it not, the binary fallback would show up as a wrong-type echo.
        match Utf8Bytes::try_from(b.clone()) {
            Ok(t) => Message::Text(t),
            Err(_) => Message::Binary(b),
        }
    }

    /// Whether `data` is exactly the payload of message `seq`.
    pub fn verify(&self, seq: u64, data: &[u8]) -> bool {
        if data.len() != self.size {
            return false;
        }
        let hl = self.header_len();
        let h = self.header(seq);
        data[..hl] == h[HEADER - hl..] && data[hl..] == self.template[hl..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(m: &Message) -> Vec<u8> {
        m.as_payload().to_vec()
    }

    #[test]
    fn echoes_verify_and_tampering_does_not() {
        for size in [0, 1, 5, 16, 20, 1000, 70_000] {
            for binary in [false, true] {
                let mut p = Payloads::new(7, size, binary);
                for seq in 0..50 {
                    let m = p.message(seq);
                    assert_eq!(matches!(m, Message::Binary(_)), binary);
                    let b = bytes(&m);
                    assert_eq!(b.len(), size);
                    assert!(b.is_ascii());
                    assert!(p.verify(seq, &b));
                    if size > 0 {
                        let mut bad = b.clone();
                        bad[size / 2] ^= 1;
                        assert!(!p.verify(seq, &bad), "size {size}");
                        bad.truncate(size - 1);
                        assert!(!p.verify(seq, &bad));
                    }
                    if size >= 2 {
                        assert!(!p.verify(seq + 1, &b), "out of order must fail");
                    }
                }
            }
        }
    }

    #[test]
    fn connections_differ() {
        let mut a = Payloads::new(1, 32, false);
        let b = Payloads::new(2, 32, false);
        let m = bytes(&a.message(3));
        assert!(!b.verify(3, &m));
        assert_eq!(&m[..16], b"0000010000000003");
    }
}
