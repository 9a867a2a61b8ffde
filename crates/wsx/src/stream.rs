//! `MaybeTlsStream`: a TCP stream, plain or under TLS, for the server and the client.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A TCP stream, plain (`ws://`) or TLS (`wss://`).
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS accepted by a server.
    #[cfg(feature = "rustls")]
    ServerTls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// TLS opened by a client.
    #[cfg(feature = "rustls")]
    ClientTls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl MaybeTlsStream {
    /// The underlying TCP stream.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(s) => s,
            #[cfg(feature = "rustls")]
            Self::ServerTls(s) => s.get_ref().0,
            #[cfg(feature = "rustls")]
            Self::ClientTls(s) => s.get_ref().0,
        }
    }
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            MaybeTlsStream::Plain($s) => $e,
            #[cfg(feature = "rustls")]
            MaybeTlsStream::ServerTls($s) => $e,
            #[cfg(feature = "rustls")]
            MaybeTlsStream::ClientTls($s) => $e,
        }
    };
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        each!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write(cx, buf))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            #[cfg(feature = "rustls")]
            Self::ServerTls(s) => s.is_write_vectored(),
            #[cfg(feature = "rustls")]
            Self::ClientTls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        each!(self, s => Pin::new(s).poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        each!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}
