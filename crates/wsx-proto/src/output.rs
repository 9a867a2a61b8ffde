//! The outgoing byte queue: small frames coalesce into one buffer, large payloads are queued as
//! shared `Bytes` without copying, and the whole queue is handed to vectored writes.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// Payloads at least this long are queued by reference instead of copied.
pub const COPY_THRESHOLD: usize = 2048;

/// Bytes waiting to be written to the transport, in order.
#[derive(Debug, Default)]
pub struct Output {
    /// Frozen segments, written before `tail`; boxed and made only for large payloads, so
    /// the queue of an idle or small-message connection is 24 bytes smaller.
    /// Each is marked `true` when shared with other connections' queues (a broadcast frame
    /// encoded once), so that it is not counted as this connection's memory.
    chunks: Option<Box<Chunks>>,
    /// The open segment small frames are appended to.
    tail: BytesMut,
    len: usize,
}

/// The frozen segments, and how many of their bytes are shared.
#[derive(Debug, Default)]
struct Chunks {
    queue: VecDeque<(Bytes, bool)>,
    shared: usize,
}

impl Output {
    /// Appends a copy of `data`.
    pub fn push_slice(&mut self, data: &[u8]) {
        self.tail.extend_from_slice(data);
        self.len += data.len();
    }

    /// Appends `data`, by reference when it is large.
    pub fn push_bytes(&mut self, data: Bytes) {
        if data.len() < COPY_THRESHOLD {
            self.push_slice(&data);
            return;
        }
        self.push_chunk(data, false);
    }

    fn push_chunk(&mut self, data: Bytes, shared: bool) {
        let chunks = self.chunks.get_or_insert_default();
        if !self.tail.is_empty() {
            chunks.queue.push_back((self.tail.split().freeze(), false));
        }
        self.len += data.len();
        if shared {
            chunks.shared += data.len();
        }
        chunks.queue.push_back((data, shared));
    }

    /// Appends a shared buffer: copied when small (no reference count touched), else queued
    /// by reference (one reference count increment) and not counted in
    /// [`owned`](Self::owned).
    pub fn push_shared(&mut self, data: &Bytes) {
        if data.len() < COPY_THRESHOLD {
            self.push_slice(data);
        } else {
            self.push_chunk(data.clone(), true);
        }
    }

    /// The memory this queue holds of its own: the open buffer's capacity and the queued
    /// segments that are not shared with other queues.
    pub fn owned(&self) -> usize {
        let shared = self.chunks.as_ref().map_or(0, |c| c.shared);
        self.tail.capacity() + (self.len - self.tail.len() - shared)
    }

    /// Number of separate segments queued (1 when everything is in one contiguous buffer).
    pub fn segments(&self) -> usize {
        self.chunks.as_ref().map_or(0, |c| c.queue.len()) + usize::from(!self.tail.is_empty())
    }

    /// The open tail, to append to in place (callers must call [`Output::commit`] after).
    pub(crate) fn tail_mut(&mut self) -> &mut BytesMut {
        &mut self.tail
    }

    /// Accounts for `n` bytes appended through [`Output::tail_mut`].
    pub(crate) fn commit(&mut self, n: usize) {
        self.len += n;
    }

    /// Bytes queued: the browser API's `bufferedAmount`.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fills `dst` with the queued segments in order; returns how many were filled.
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (c, _) in self.chunks.iter().flat_map(|c| c.queue.iter()) {
            if n == dst.len() {
                return n;
            }
            dst[n] = IoSlice::new(c);
            n += 1;
        }
        if n < dst.len() && !self.tail.is_empty() {
            dst[n] = IoSlice::new(&self.tail);
            n += 1;
        }
        n
    }

    /// The first queued segment (for transports without vectored writes).
    pub fn first(&self) -> &[u8] {
        match self.chunks.as_ref().and_then(|c| c.queue.front()) {
            Some((c, _)) => c,
            None => &self.tail,
        }
    }

    /// Marks `n` bytes as written.
    pub fn advance(&mut self, mut n: usize) {
        assert!(n <= self.len, "advance past the end of the output");
        self.len -= n;
        while n > 0 {
            let Some(chunks) = self.chunks.as_deref_mut().filter(|c| !c.queue.is_empty()) else {
                self.tail.advance(n);
                return;
            };
            let Some((front, shared)) = chunks.queue.front_mut() else {
                return;
            };
            let take = n.min(front.len());
            if *shared {
                chunks.shared -= take;
            }
            if take == front.len() {
                chunks.queue.pop_front();
            } else {
                front.advance(take);
            }
            n -= take;
        }
    }

    /// Frees the tail buffer when nothing is queued, so an idle connection holds no memory.
    pub fn release_if_empty(&mut self) {
        if self.len == 0 {
            self.tail = BytesMut::new();
            self.chunks = None;
        }
    }

    /// Takes everything queued as one contiguous buffer (tests and simple transports).
    pub fn take_all(&mut self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len);
        for (c, _) in self
            .chunks
            .take()
            .into_iter()
            .flat_map(|c| c.queue.into_iter())
        {
            v.extend_from_slice(&c);
        }
        v.extend_from_slice(&self.tail);
        self.tail.clear();
        self.len = 0;
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_small_buffers_are_copied_and_large_ones_referenced() {
        let mut o = Output::default();
        let small = Bytes::from(vec![1u8; 100]);
        o.push_shared(&small);
        o.push_shared(&small);
        assert_eq!(o.segments(), 1, "small frames coalesce into the tail");
        let big = Bytes::from(vec![2u8; COPY_THRESHOLD]);
        o.push_shared(&big);
        assert_eq!(o.segments(), 2);
        let mut s = [IoSlice::new(&[]); 4];
        assert_eq!(o.io_slices(&mut s), 2);
        assert_eq!(s[1].as_ptr(), big.as_ptr(), "large buffers are not copied");
        assert!(
            o.owned() >= 200 && o.owned() < 200 + COPY_THRESHOLD,
            "a shared buffer is not this queue's memory: {}",
            o.owned()
        );
        o.advance(200 + 10);
        assert_eq!(o.owned(), 0, "only the shared rest is left");
        assert_eq!(o.take_all().len(), COPY_THRESHOLD - 10);
    }

    #[test]
    fn order_is_kept_across_copied_and_shared_segments() {
        let mut o = Output::default();
        o.push_slice(b"ab");
        let big = Bytes::from(vec![7u8; COPY_THRESHOLD]);
        o.push_bytes(big.clone());
        o.push_slice(b"cd");
        assert_eq!(o.len(), 4 + COPY_THRESHOLD);
        assert!(o.owned() >= 4 + COPY_THRESHOLD, "an owned payload counts");
        let mut s = [IoSlice::new(&[]); 8];
        let n = o.io_slices(&mut s);
        assert_eq!(n, 3);
        o.advance(3);
        assert_eq!(o.first().len(), COPY_THRESHOLD - 1);
        let rest = o.take_all();
        assert_eq!(rest.len(), COPY_THRESHOLD + 1);
        assert_eq!(&rest[rest.len() - 2..], b"cd");
    }
}
