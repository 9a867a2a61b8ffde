//! HTTP/2 connections accepted by [`Server`](crate::Server): each WebSocket arrives as an
//! extended CONNECT stream (RFC 8441), is checked by the same [`Acceptor`] as an HTTP/1.1
//! upgrade and handed to the same handler. hyper's HTTP/2 server does the framing, the flow
//! control and the stream limits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::accept::{Acceptor, Rejection};
use crate::active::ActiveGuard;
use crate::metrics::{self, Reject};
use crate::stream::MaybeTlsStream;
use crate::websocket::WebSocket;

/// The connection preface an HTTP/2 client sends first (RFC 9113 §3.4): a server that sees
/// its first bytes on a cleartext connection speaks `h2c` with prior knowledge.
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Concurrent streams (so WebSockets) per connection.
pub const MAX_STREAMS: u32 = 256;
/// Each stream's flow-control window. The connection's window holds every stream's, so one
/// stream that stops reading cannot stop the others' data.
pub const STREAM_WINDOW: u32 = 64 * 1024;

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
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    O: Fn(WebSocket<MaybeTlsStream>, Request<()>, SocketAddr, ActiveGuard) + Send + Sync + 'static,
{
    let Context {
        acceptor,
        open,
        active,
        max_connections,
        mut shutdown,
    } = cx;
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let response = stream(&mut req, peer, &acceptor, &open, &active, max_connections);
        std::future::ready(Ok::<_, std::convert::Infallible>(response))
    });
    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .enable_connect_protocol()
        .max_concurrent_streams(MAX_STREAMS)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(STREAM_WINDOW * MAX_STREAMS)
        .adaptive_window(false)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, "HTTP/2 connection ended: {e}");
            }
        }
        () = crate::server::wait_shutdown(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Answers one stream: a WebSocket is accepted (`200`) and opened once hyper hands the stream
/// over; anything else gets the acceptor's refusal.
fn stream<O>(
    req: &mut Request<Incoming>,
    peer: SocketAddr,
    acceptor: &Acceptor,
    open: &Arc<O>,
    active: &Arc<AtomicUsize>,
    max_connections: usize,
) -> Response<String>
where
    O: Fn(WebSocket<MaybeTlsStream>, Request<()>, SocketAddr, ActiveGuard) + Send + Sync + 'static,
{
    if active.load(Ordering::Acquire) >= max_connections {
        metrics::rejected(Reject::MaxConnections);
        return Rejection::new(StatusCode::SERVICE_UNAVAILABLE, "Too many connections\n")
            .into_response();
    }
    req.extensions_mut().insert(peer);
    let wrap = |io| MaybeTlsStream::Http2(Box::new(io));
    match crate::hyper::upgrade_with(req, acceptor, wrap) {
        Ok((response, head, fut)) => {
            let guard = ActiveGuard::new(active);
            let open = open.clone();
            tokio::spawn(async move {
                match fut.await {
                    Ok(ws) => open(ws, head, peer, guard),
                    Err(e) => tracing::debug!(%peer, "HTTP/2 WebSocket not opened: {e}"),
                }
            });
            response
        }
        Err(rejection) => rejection.into_response(),
    }
}
