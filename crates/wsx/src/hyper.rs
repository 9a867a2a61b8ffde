//! Upgrading requests of an existing hyper 1.x server (`ws`'s `noServer` + `handleUpgrade`).
//!
//! ```no_run
//! use hyper::{Request, body::Incoming};
//! # async fn handle(mut req: Request<Incoming>) -> hyper::Response<String> {
//! let acceptor = wsx::Acceptor::new().protocols(["chat"]);
//! match wsx::hyper::upgrade(&mut req, &acceptor) {
//!     Ok((response, fut)) => {
//!         tokio::spawn(async move {
//!             if let Ok(mut ws) = fut.await {
//!                 while let Some(Ok(m)) = ws.recv().await {
//!                     let _ = ws.send(m).await;
//!                 }
//!             }
//!         });
//!         response
//!     }
//!     Err(rejection) => rejection.into_response(),
//! }
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;

use bytes::BytesMut;
use http::{Request, Response};
use hyper_util::rt::TokioIo;

use crate::accept::{Acceptor, Rejection};
use crate::error::{Error, Result};
use crate::websocket::WebSocket;

/// The stream type of an upgraded hyper connection.
pub type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

/// Resolves to the WebSocket once hyper has sent the `101` response and handed over the
/// connection.
pub type UpgradeFut = Pin<Box<dyn Future<Output = Result<WebSocket<Upgraded>>> + Send>>;

/// Whether `req` asks for a WebSocket: an HTTP/1.1 `Upgrade: websocket`, or an HTTP/2
/// extended CONNECT (RFC 8441) with a `:protocol` (any: [`upgrade`] refuses other protocols
/// than `websocket` with 400).
pub fn is_upgrade_request<B>(req: &Request<B>) -> bool {
    if req.method() == http::Method::CONNECT {
        return req.extensions().get::<hyper::ext::Protocol>().is_some();
    }
    wsx_proto::handshake::header_tokens(req.headers(), &http::header::UPGRADE)
        .any(|t| t.eq_ignore_ascii_case("websocket"))
}

/// Whether `req` is an HTTP/2 extended CONNECT (RFC 8441): a WebSocket on a stream of an
/// HTTP/2 connection.
pub fn is_http2_websocket<B>(req: &Request<B>) -> bool {
    req.version() == http::Version::HTTP_2
        && req.method() == http::Method::CONNECT
        && req.extensions().get::<hyper::ext::Protocol>().is_some()
}

/// Checks an upgrade request with `acceptor` (RFC 6455 rules, path, origin, verify hook,
/// subprotocol, permessage-deflate). On success returns the `101` response to give hyper and a
/// future that yields the connection; on failure, the response to send instead.
pub fn upgrade<B>(
    req: &mut Request<B>,
    acceptor: &Acceptor,
) -> std::result::Result<(Response<String>, UpgradeFut), Rejection> {
    let mut head = Request::new(());
    *head.method_mut() = req.method().clone();
    *head.uri_mut() = req.uri().clone();
    *head.version_mut() = req.version();
    *head.headers_mut() = req.headers().clone();
    if let Some(p) = req.extensions().get::<hyper::ext::Protocol>() {
        head.extensions_mut()
            .insert(crate::accept::ConnectProtocol(p.as_str().into()));
    }
    let start = std::time::Instant::now();
    let peer = req.extensions().get::<std::net::SocketAddr>().copied();
    let accepted = acceptor.negotiate(&head, peer)?;
    let http2 = is_http2_websocket(req);
    let on_upgrade = hyper::upgrade::on(req);
    let (parts, ()) = accepted.response.clone().into_parts();
    let response = Response::from_parts(parts, String::new());
    let acceptor = acceptor.clone();
    let fut = Box::pin(async move {
        let upgraded = on_upgrade
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))?;
        crate::metrics::handshake_took(start.elapsed());
        if http2 {
            crate::metrics::http2_accepted();
        }
        Ok(acceptor.wrap(TokioIo::new(upgraded), accepted, BytesMut::new(), peer))
    });
    Ok((response, fut))
}

impl Rejection {
    /// This rejection as an HTTP response.
    pub fn into_response(self) -> Response<String> {
        self.to_response()
    }
}
