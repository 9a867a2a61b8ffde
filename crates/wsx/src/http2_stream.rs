//! `Http2Stream`: one stream of an HTTP/2 connection as a byte stream, for a WebSocket opened
//! by an extended CONNECT (RFC 8441). The h2 crate's send and receive halves are used as they
//! are: writes wait for flow-control capacity (so a peer that stops reading stops the writer,
//! not the connection) and reads give the window back as they are consumed. No task, channel
//! or copy besides the one into the HTTP/2 frame sits between the WebSocket and h2.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use h2::{RecvStream, SendStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream of an HTTP/2 connection carrying a WebSocket.
pub struct Http2Stream {
    send: SendStream<Bytes>,
    recv: RecvStream,
    /// Received data not read yet.
    buf: Bytes,
}

impl std::fmt::Debug for Http2Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http2Stream")
            .field("stream_id", &self.send.stream_id())
            .finish_non_exhaustive()
    }
}

impl Http2Stream {
    pub(crate) fn new(send: SendStream<Bytes>, recv: RecvStream) -> Self {
        Self {
            send,
            recv,
            buf: Bytes::new(),
        }
    }
}

fn io_error(e: h2::Error) -> std::io::Error {
    if e.is_io() {
        return e
            .into_io()
            .unwrap_or_else(|| std::io::ErrorKind::BrokenPipe.into());
    }
    match e.reason() {
        Some(h2::Reason::NO_ERROR | h2::Reason::CANCEL | h2::Reason::STREAM_CLOSED) => {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, e)
        }
        _ => std::io::Error::other(e),
    }
}

impl AsyncRead for Http2Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        while this.buf.is_empty() {
            match ready!(this.recv.poll_data(cx)) {
                None => return Poll::Ready(Ok(())),
                Some(Ok(b)) => this.buf = b,
                Some(Err(e)) => {
                    return Poll::Ready(match e.reason() {
                        // The peer ended the stream: the end of the bytes.
                        Some(h2::Reason::NO_ERROR | h2::Reason::CANCEL) => Ok(()),
                        _ => Err(io_error(e)),
                    });
                }
            }
        }
        let n = this.buf.len().min(out.remaining());
        out.put_slice(&this.buf[..n]);
        this.buf.advance(n);
        let _ = this.recv.flow_control().release_capacity(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Http2Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let this = self.get_mut();
        // Capacity is asked for only when there is something to send: reserved while idle,
        // it would pin part of the connection's window.
        this.send.reserve_capacity(buf.len());
        let mut cap = this.send.capacity();
        while cap == 0 {
            match ready!(this.send.poll_capacity(cx)) {
                Some(Ok(n)) => cap = n,
                Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
                None => return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into())),
            }
        }
        let n = cap.min(buf.len());
        // What was asked for beyond `n` stays asked for: the writer comes back with the rest.
        this.send
            .send_data(Bytes::copy_from_slice(&buf[..n]), false)
            .map_err(io_error)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // The connection writes what is queued; there is nothing to push from here.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // END_STREAM; an error means the stream is gone already, which is what was wanted.
        let _ = self.get_mut().send.send_data(Bytes::new(), true);
        Poll::Ready(Ok(()))
    }
}
