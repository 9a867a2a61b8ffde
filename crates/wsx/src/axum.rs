//! An axum extractor: `WebSocketUpgrade`, then `on_upgrade` with the connection handler.
//!
//! The peer's address comes from axum's `ConnectInfo<SocketAddr>` when the app is served with
//! `into_make_service_with_connect_info::<SocketAddr>()` ([`WebSocketUpgrade::peer_addr`], and
//! the connection's `peer_addr()`); [`WebSocketUpgrade::on_failed_upgrade`] is told when the
//! HTTP connection could not be taken over after the 101.
//!
//! ```no_run
//! use axum::{Router, routing::get, response::Response};
//! use wsx::axum::WebSocketUpgrade;
//!
//! async fn ws_handler(up: WebSocketUpgrade) -> Response {
//!     up.protocols(["chat"]).on_upgrade(|mut ws| async move {
//!         while let Some(Ok(m)) = ws.recv().await {
//!             if ws.send(m).await.is_err() { break; }
//!         }
//!     })
//! }
//! let app: Router = Router::new().route("/ws", get(ws_handler));
//! ```

use std::future::Future;
use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{Request, StatusCode};

use crate::accept::{Acceptor, Rejection};
use crate::hyper::Upgraded;
use crate::websocket::WebSocket;

/// Extractor for a WebSocket upgrade request. Configure it, then call
/// [`on_upgrade`](WebSocketUpgrade::on_upgrade).
pub struct WebSocketUpgrade {
    head: Request<()>,
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
    acceptor: Acceptor,
    peer_addr: Option<SocketAddr>,
    on_failed_upgrade: Option<Box<dyn FnOnce(crate::Error) + Send>>,
}

impl std::fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("head", &self.head)
            .field("acceptor", &self.acceptor)
            .field("peer_addr", &self.peer_addr)
            .finish_non_exhaustive()
    }
}

impl WebSocketUpgrade {
    /// Replaces the acceptor (options, hooks, deflate preferences).
    pub fn acceptor(mut self, acceptor: Acceptor) -> Self {
        self.acceptor = acceptor;
        self
    }

    /// Subprotocols spoken, in order of preference.
    pub fn protocols<I: IntoIterator<Item = impl Into<String>>>(mut self, p: I) -> Self {
        self.acceptor = self.acceptor.protocols(p);
        self
    }

    /// Largest message accepted.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.acceptor = self.acceptor.max_payload(bytes);
        self
    }

    /// The peer's address, from axum's `ConnectInfo<SocketAddr>` (`None` unless the app is
    /// served with `into_make_service_with_connect_info::<SocketAddr>()`).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer_addr
    }

    /// The request's head (method, URI, headers).
    pub fn request(&self) -> &Request<()> {
        &self.head
    }

    /// Called, instead of the connection handler, with the error when the HTTP connection
    /// could not be taken over after the 101 (the client went away, a proxy refused it…).
    /// Without it such failures are only logged, at debug level.
    pub fn on_failed_upgrade(
        mut self,
        callback: impl FnOnce(crate::Error) + Send + 'static,
    ) -> Self {
        self.on_failed_upgrade = Some(Box::new(callback));
        self
    }

    /// Answers the handshake and runs `callback` with the connection once upgraded.
    pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(WebSocket<Upgraded>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let accepted = match self.acceptor.negotiate(&self.head, None) {
            Ok(a) => a,
            Err(rej) => return rejection_response(rej),
        };
        let Some(on_upgrade) = self.on_upgrade else {
            return rejection_response(Rejection::new(
                StatusCode::UPGRADE_REQUIRED,
                "connection cannot be upgraded\n",
            ));
        };
        let (parts, ()) = accepted.response.clone().into_parts();
        let acceptor = self.acceptor;
        let peer_addr = self.peer_addr;
        let on_failed = self.on_failed_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let ws = acceptor.wrap(
                        hyper_util::rt::TokioIo::new(upgraded),
                        accepted,
                        bytes::BytesMut::new(),
                        peer_addr,
                    );
                    callback(ws).await;
                }
                Err(e) => match on_failed {
                    Some(f) => f(crate::Error::Io(std::io::Error::other(e))),
                    None => tracing::debug!("upgrade failed: {e}"),
                },
            }
        });
        Response::from_parts(parts, Body::empty())
    }
}

fn rejection_response(rej: Rejection) -> Response {
    let (parts, body) = rej.into_response().into_parts();
    Response::from_parts(parts, Body::from(body))
}

/// Why the extractor refused the request.
#[derive(Debug)]
pub struct UpgradeRejection(Rejection);

impl IntoResponse for UpgradeRejection {
    fn into_response(self) -> Response {
        rejection_response(self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = UpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut head = Request::new(());
        *head.method_mut() = parts.method.clone();
        *head.uri_mut() = parts.uri.clone();
        *head.version_mut() = parts.version;
        *head.headers_mut() = parts.headers.clone();
        // HTTP/2 (RFC 8441): an extended CONNECT, its `:protocol` from hyper's extension.
        let protocol = parts.extensions.get::<hyper::ext::Protocol>();
        if let Some(p) = protocol {
            head.extensions_mut()
                .insert(crate::accept::ConnectProtocol(p.as_str().into()));
        }
        // Validate early so non-WebSocket requests get a clear 4xx from the extractor.
        let valid =
            if parts.version == http::Version::HTTP_2 && parts.method == http::Method::CONNECT {
                wsx_proto::handshake::validate_h2_request(&head, protocol.map(|p| p.as_str()))
            } else {
                wsx_proto::handshake::validate_request(&head)
            };
        if let Err(e) = valid {
            return Err(UpgradeRejection(e.into()));
        }
        let peer_addr = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Ok(Self {
            head,
            on_upgrade: parts.extensions.remove::<hyper::upgrade::OnUpgrade>(),
            acceptor: Acceptor::default(),
            peer_addr,
            on_failed_upgrade: None,
        })
    }
}
