//! WebSockets over HTTP/2 for the client (RFC 8441): an [`Http2Connection`] to an origin opens
//! each WebSocket as an extended CONNECT stream, and [`ClientBuilder`] keeps one per origin
//! (as browsers do) for the `wss://` WebSockets it opens when the server offers ALPN `h2`.
//! The h2 crate does the framing and the flow control.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::Response;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::oneshot;
use url::Url;
use wsx_proto::Role;

use crate::client::ClientBuilder;
use crate::error::{Error, Result};
use crate::http2_stream::Http2Stream;
use crate::stream::MaybeTlsStream;
use crate::websocket::{Info, WebSocket};

/// Each stream's receive window, and the connection's: room for 256 streams' windows, so one
/// WebSocket that stops reading does not stop the others (as the server does).
const STREAM_WINDOW: u32 = 64 * 1024;
const CONN_WINDOW: u32 = STREAM_WINDOW * 256;

/// An HTTP/2 connection to one origin whose server takes WebSockets as streams (it sent
/// `SETTINGS_ENABLE_CONNECT_PROTOCOL`). Cheap to clone; the connection ends when the last
/// clone and the last WebSocket on it are gone.
///
/// ```no_run
/// # async fn run() -> wsx::Result<()> {
/// let b = wsx::ClientBuilder::new("wss://example.com/chat");
/// let conn = wsx::Http2Connection::connect(&b).await?;
/// let (a, _) = conn.websocket(&b).await?;
/// let (b2, _) = conn.websocket(&b.clone().protocol("v2")).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Http2Connection {
    send: h2::client::SendRequest<Bytes>,
    scheme: &'static str,
    /// Set when the connection has ended.
    closed: Arc<AtomicBool>,
}

impl Http2Connection {
    /// Opens an HTTP/2 connection to the origin of `builder`'s URL, through its proxy and TLS
    /// settings: `wss://` over TLS with ALPN `h2` only, `ws://` as cleartext `h2c` with prior
    /// knowledge. Fails with [`Error::Http2`] if the server does not speak HTTP/2 or takes no
    /// WebSockets over it.
    pub async fn connect(builder: &ClientBuilder) -> Result<Self> {
        let url = crate::client::parse_url(builder.url())?;
        let timeout = builder.timeout();
        let connect = async {
            let io = builder.open(&url, crate::client::Alpn::H2Only).await?;
            #[cfg(feature = "rustls")]
            if let MaybeTlsStream::ClientTls(t) = &io {
                if t.get_ref().1.alpn_protocol() != Some(b"h2") {
                    return Err(Error::http2("the server did not agree to ALPN h2", None));
                }
            }
            Self::handshake(io, &url).await
        };
        tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| Error::HandshakeTimeout(timeout))?
    }

    /// The HTTP/2 handshake on `io`, then the wait for the server's first SETTINGS: they say
    /// whether it takes WebSockets (RFC 8441 §3: no extended CONNECT before that).
    pub(crate) async fn handshake(io: MaybeTlsStream, url: &Url) -> Result<Self> {
        let (tx, rx) = oneshot::channel();
        let io = FirstSettings {
            io,
            head: Vec::new(),
            tx: Some(tx),
        };
        let (send, conn) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONN_WINDOW)
            .max_header_list_size(16 * 1024)
            .handshake::<_, Bytes>(io)
            .await
            .map_err(|e| Error::http2("handshake failed", Some(e.into())))?;
        let closed = Arc::new(AtomicBool::new(false));
        let ended = closed.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("HTTP/2 connection ended: {e}");
            }
            ended.store(true, Ordering::Release);
        });
        match rx.await {
            Ok(true) => Ok(Self {
                send,
                scheme: if url.scheme() == "wss" {
                    "https"
                } else {
                    "http"
                },
                closed,
            }),
            Ok(false) => Err(Error::http2(
                "the server takes no WebSockets over HTTP/2 (no SETTINGS_ENABLE_CONNECT_PROTOCOL)",
                None,
            )),
            Err(_) => Err(Error::http2(
                "the connection ended before the server's SETTINGS",
                None,
            )),
        }
    }

    /// Opens a WebSocket as a new stream of this connection, with `builder`'s path,
    /// subprotocols, headers, origin, permessage-deflate offer and options (its URL should
    /// name this connection's origin).
    pub async fn websocket(
        &self,
        builder: &ClientBuilder,
    ) -> Result<(WebSocket<MaybeTlsStream>, Response<()>)> {
        let url = crate::client::parse_url(builder.url())?;
        let timeout = builder.timeout();
        tokio::time::timeout(timeout, self.websocket_at(builder, &url))
            .await
            .map_err(|_| Error::HandshakeTimeout(timeout))?
    }

    pub(crate) async fn websocket_at(
        &self,
        builder: &ClientBuilder,
        url: &Url,
    ) -> Result<(WebSocket<MaybeTlsStream>, Response<()>)> {
        let request = builder.client_request(url)?;
        let mut req = request.h2_request(self.scheme)?;
        req.extensions_mut()
            .insert(h2::ext::Protocol::from_static("websocket"));
        let mut send = self
            .send
            .clone()
            .ready()
            .await
            .map_err(|e| Error::http2("the connection is closed", Some(e.into())))?;
        let (response, stream) = send
            .send_request(req, false)
            .map_err(|e| Error::http2("the CONNECT request failed", Some(e.into())))?;
        let resp = response
            .await
            .map_err(|e| Error::http2("the CONNECT request failed", Some(e.into())))?;
        let negotiated = request.verify_h2(&resp)?;
        let (mut parts, recv) = resp.into_parts();
        parts.extensions.clear();
        let out = Response::from_parts(parts, ());
        let info = Info {
            protocol: negotiated.protocol.map(Into::into),
            extensions: out
                .headers()
                .get(http::header::SEC_WEBSOCKET_EXTENSIONS)
                .and_then(|v| v.to_str().ok())
                .map(Into::into),
            url: Some(crate::client::shown_url(url).into()),
            peer_addr: None,
        };
        let io = MaybeTlsStream::Http2(Box::new(Http2Stream::new(stream, recv)));
        let ws = WebSocket::from_parts(
            io,
            Role::Client,
            negotiated.deflate,
            builder.opts().clone(),
            BytesMut::new(),
            info,
        );
        Ok((ws, out))
    }

    /// Whether the connection has ended (no WebSocket can be opened on it any more).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// How a `wss://` WebSocket goes to an origin, as [`ClientBuilder`] found out.
pub(crate) enum Route {
    /// A stream of this connection.
    Http2(Http2Connection),
    /// HTTP/1.1 on this stream (the server chose it in ALPN).
    Http1(MaybeTlsStream),
    /// HTTP/1.1 on a new connection offering only `http/1.1` (the server speaks HTTP/2 but
    /// takes no WebSockets over it).
    Http1Fresh,
}

/// What the pool knows of an origin.
enum Slot {
    Unknown,
    Open(Http2Connection),
    /// Speaks HTTP/2 but takes no WebSockets over it: offer only `http/1.1` from now on.
    NoWebSockets,
}

type Pool = Mutex<HashMap<u64, Arc<tokio::sync::Mutex<Slot>>>>;

/// One entry per origin and connection settings (proxy, trust, client certificate, TLS
/// configuration): WebSockets share a connection only where they would have made the same.
static POOL: LazyLock<Pool> = LazyLock::new(Pool::default);

/// The route to `url` for `builder`: the pooled HTTP/2 connection of its origin, or a new
/// connection offering ALPN `h2` and `http/1.1` (pooled if the server chose `h2` and takes
/// WebSockets, else used for HTTP/1.1). WebSockets opened at once to the same origin wait
/// for the first connection rather than each opening one.
pub(crate) async fn route(builder: &ClientBuilder, url: &Url) -> Result<Route> {
    let slot = slot(builder, url);
    let mut slot = slot.lock().await;
    match &*slot {
        Slot::Open(c) if !c.is_closed() => return Ok(Route::Http2(c.clone())),
        Slot::NoWebSockets => return Ok(Route::Http1Fresh),
        _ => {}
    }
    let io = builder.open(url, crate::client::Alpn::H2AndHttp1).await?;
    let h2 = match &io {
        #[cfg(feature = "rustls")]
        MaybeTlsStream::ClientTls(t) => t.get_ref().1.alpn_protocol() == Some(b"h2"),
        _ => false,
    };
    if !h2 {
        *slot = Slot::Unknown;
        return Ok(Route::Http1(io));
    }
    match Http2Connection::handshake(io, url).await {
        Ok(c) => {
            *slot = Slot::Open(c.clone());
            Ok(Route::Http2(c))
        }
        Err(Error::Http2 { message, .. }) => {
            tracing::debug!(%url, "HTTP/2 without WebSockets ({message}): HTTP/1.1 from now on");
            *slot = Slot::NoWebSockets;
            Ok(Route::Http1Fresh)
        }
        Err(e) => Err(e),
    }
}

/// The pooled HTTP/2 connection to `url`'s origin, or a new one (HTTP/2 only: no fallback).
pub(crate) async fn pooled(builder: &ClientBuilder, url: &Url) -> Result<Http2Connection> {
    let slot = slot(builder, url);
    let mut slot = slot.lock().await;
    if let Slot::Open(c) = &*slot {
        if !c.is_closed() {
            return Ok(c.clone());
        }
    }
    let io = builder.open(url, crate::client::Alpn::H2Only).await?;
    #[cfg(feature = "rustls")]
    if let MaybeTlsStream::ClientTls(t) = &io {
        if t.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(Error::http2("the server did not agree to ALPN h2", None));
        }
    }
    let c = Http2Connection::handshake(io, url).await?;
    *slot = Slot::Open(c.clone());
    Ok(c)
}

fn slot(builder: &ClientBuilder, url: &Url) -> Arc<tokio::sync::Mutex<Slot>> {
    let mut key = std::collections::hash_map::DefaultHasher::new();
    (url.scheme(), url.host_str(), url.port_or_known_default()).hash(&mut key);
    builder.connection_key().hash(&mut key);
    POOL.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(key.finish())
        .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(Slot::Unknown)))
        .clone()
}

/// `io`, watching the first frame the server sends: its SETTINGS (RFC 9113 §3.4), of which
/// it reports `SETTINGS_ENABLE_CONNECT_PROTOCOL` (RFC 8441 §3). hyper applies the settings
/// itself but offers no way to wait for them, which RFC 8441 asks of a client before its
/// first extended CONNECT.
struct FirstSettings<S> {
    io: S,
    /// The first frame's bytes so far (its 9-byte header, then its payload).
    head: Vec<u8>,
    tx: Option<oneshot::Sender<bool>>,
}

/// `SETTINGS`, and `SETTINGS_ENABLE_CONNECT_PROTOCOL`.
const SETTINGS: u8 = 0x4;
const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;

impl<S> FirstSettings<S> {
    fn watch(&mut self, new: &[u8]) {
        if self.tx.is_none() {
            return;
        }
        self.head.extend_from_slice(new);
        if self.head.len() < 9 {
            return;
        }
        let len = u32::from_be_bytes([0, self.head[0], self.head[1], self.head[2]]) as usize;
        if self.head[3] != SETTINGS || self.head[4] & 1 != 0 || len > 16 * 1024 {
            self.report(false);
            return;
        }
        if self.head.len() < 9 + len {
            return;
        }
        let enabled = self.head[9..9 + len].chunks_exact(6).any(|e| {
            u16::from_be_bytes([e[0], e[1]]) == ENABLE_CONNECT_PROTOCOL
                && u32::from_be_bytes([e[2], e[3], e[4], e[5]]) == 1
        });
        self.report(enabled);
    }

    fn report(&mut self, enabled: bool) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(enabled);
        }
        self.head = Vec::new();
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstSettings<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if this.tx.is_some() {
            if let Poll::Ready(Ok(())) = r {
                this.watch(&buf.filled()[before..]);
            }
        }
        r
    }
}

crate::forward_write::forward_write!(FirstSettings);

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(entries: &[(u16, u32)]) -> Vec<u8> {
        let len = entries.len() * 6;
        let mut f = vec![0, (len >> 8) as u8, len as u8, SETTINGS, 0, 0, 0, 0, 0];
        for (id, v) in entries {
            f.extend_from_slice(&id.to_be_bytes());
            f.extend_from_slice(&v.to_be_bytes());
        }
        f
    }

    fn watch(bytes: &[u8], step: usize) -> Option<bool> {
        let (tx, mut rx) = oneshot::channel();
        let mut w = FirstSettings {
            io: (),
            head: Vec::new(),
            tx: Some(tx),
        };
        for chunk in bytes.chunks(step) {
            w.watch(chunk);
        }
        rx.try_recv().ok()
    }

    #[test]
    fn the_first_settings_say_whether_websockets_are_taken() {
        let on = settings(&[(0x3, 256), (ENABLE_CONNECT_PROTOCOL, 1)]);
        let off = settings(&[(0x3, 256), (0x4, 65535)]);
        for step in [1, 5, 100] {
            assert_eq!(watch(&on, step), Some(true));
            assert_eq!(watch(&off, step), Some(false));
        }
        assert_eq!(watch(&on[..on.len() - 1], 1), None, "not yet whole");
        assert_eq!(
            watch(&settings(&[(ENABLE_CONNECT_PROTOCOL, 0)]), 3),
            Some(false)
        );
        // A first frame other than SETTINGS: no WebSockets.
        let mut ping = settings(&[]);
        ping[3] = 0x6;
        assert_eq!(watch(&ping, 9), Some(false));
    }
}
