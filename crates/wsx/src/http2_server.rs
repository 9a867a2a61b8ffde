//! HTTP/2 connections accepted by [`Server`](crate::Server): each WebSocket arrives as an
//! extended CONNECT stream (RFC 8441), is checked by the same [`Acceptor`] as an HTTP/1.1
//! upgrade and handed to the same handler. The h2 crate does the framing, the flow control and
//! the stream limits; each WebSocket reads and writes its stream's halves directly
//! ([`Http2Stream`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use http::{Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::accept::{Acceptor, ConnectProtocol, Rejection};
use crate::active::ActiveGuard;
use crate::http2_stream::Http2Stream;
use crate::metrics::{self, Reject};
use crate::stream::MaybeTlsStream;
use crate::websocket::WebSocket;

/// The connection preface an HTTP/2 client sends first (RFC 9113 §3.4): a server that sees
/// its first bytes on a cleartext connection speaks `h2c` with prior knowledge.
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Concurrent streams (so WebSockets) per connection.
const MAX_STREAMS: u32 = 256;
/// Each stream's flow-control window. The connection's window holds every stream's, so one
/// stream that stops reading cannot stop the others' data.
const STREAM_WINDOW: u32 = 64 * 1024;
/// The largest request head (as hyper's default): h2's own default is 16 MiB.
const MAX_HEADER_LIST: u32 = 16 * 1024;

/// What a connection needs from its server.
pub(crate) struct Context<O> {
    pub(crate) acceptor: Arc<Acceptor>,
    pub(crate) open: Arc<O>,
    pub(crate) active: Arc<AtomicUsize>,
    pub(crate) max_connections: usize,
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// Serves one HTTP/2 connection until the peer closes it or the server shuts down (then it
/// sends GOAWAY and lets open streams finish: their WebSockets get the server's 1001).
pub(crate) async fn serve<I, O>(io: I, peer: SocketAddr, cx: Context<O>)
where
    I: AsyncRead + AsyncWrite + Unpin,
    O: Fn(WebSocket<MaybeTlsStream>, Request<()>, SocketAddr, ActiveGuard) + Send + Sync + 'static,
{
    let Context {
        acceptor,
        open,
        active,
        max_connections,
        mut shutdown,
    } = cx;
    let handshake = h2::server::Builder::new()
        .enable_connect_protocol()
        .max_concurrent_streams(MAX_STREAMS)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(STREAM_WINDOW * MAX_STREAMS)
        .max_header_list_size(MAX_HEADER_LIST)
        .handshake::<_, Bytes>(io);
    let mut conn = match tokio::time::timeout(acceptor.handshake_timeout, handshake).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            tracing::debug!(%peer, "HTTP/2 handshake failed: {e}");
            return;
        }
        Err(_) => {
            metrics::rejected(Reject::Timeout);
            return;
        }
    };
    let mut stopping = false;
    loop {
        let next = tokio::select! {
            next = conn.accept() => next,
            () = crate::shutdown_signal::wait_shutdown(&mut shutdown), if !stopping => {
                stopping = true;
                conn.graceful_shutdown();
                continue;
            }
        };
        match next {
            Some(Ok((req, respond))) => {
                stream(
                    req,
                    respond,
                    peer,
                    &acceptor,
                    &*open,
                    &active,
                    max_connections,
                );
            }
            Some(Err(e)) => {
                tracing::debug!(%peer, "HTTP/2 connection ended: {e}");
                return;
            }
            None => return,
        }
    }
}

/// Answers one stream: a WebSocket is accepted (`200`) and handed to `open`; anything else
/// gets the acceptor's refusal.
fn stream<O>(
    req: Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    peer: SocketAddr,
    acceptor: &Acceptor,
    open: &O,
    active: &Arc<AtomicUsize>,
    max_connections: usize,
) where
    O: Fn(WebSocket<MaybeTlsStream>, Request<()>, SocketAddr, ActiveGuard),
{
    let start = std::time::Instant::now();
    let (mut parts, recv) = req.into_parts();
    let protocol = parts.extensions.remove::<h2::ext::Protocol>();
    let mut head = Request::from_parts(parts, ());
    head.extensions_mut().clear();
    if let Some(p) = protocol {
        head.extensions_mut()
            .insert(ConnectProtocol(p.as_str().into()));
    }
    if active.load(Ordering::Acquire) >= max_connections {
        metrics::rejected(Reject::MaxConnections);
        let r = Rejection::new(StatusCode::SERVICE_UNAVAILABLE, "Too many connections\n");
        refuse(respond, &r);
        return;
    }
    let accepted = match acceptor.negotiate(&head, Some(peer)) {
        Ok(a) => a,
        Err(r) => {
            refuse(respond, &r);
            return;
        }
    };
    let (parts, ()) = accepted.response.clone().into_parts();
    let send = match respond.send_response(Response::from_parts(parts, ()), false) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(%peer, "HTTP/2 WebSocket not opened: {e}");
            return;
        }
    };
    metrics::handshake_took(start.elapsed());
    metrics::http2_accepted();
    let io = MaybeTlsStream::Http2(Box::new(Http2Stream::new(send, recv)));
    let ws = acceptor.wrap(io, accepted, BytesMut::new(), Some(peer));
    open(ws, head, peer, ActiveGuard::new(active));
}

/// Sends a refusal as an HTTP/2 response (without HTTP/1.1's connection headers).
fn refuse(mut respond: h2::server::SendResponse<Bytes>, r: &Rejection) {
    let (mut parts, body) = r.to_response().into_parts();
    parts.headers.remove(http::header::CONNECTION);
    if let Ok(mut send) = respond.send_response(Response::from_parts(parts, ()), false) {
        let _ = send.send_data(Bytes::from(body), true);
    }
}
