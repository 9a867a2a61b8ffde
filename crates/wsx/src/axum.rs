//! An axum extractor: `WebSocketUpgrade`, then `on_upgrade` with the connection handler.
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
#[derive(Debug)]
pub struct WebSocketUpgrade {
    head: Request<()>,
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
    acceptor: Acceptor,
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
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let ws = acceptor.wrap(
                        hyper_util::rt::TokioIo::new(upgraded),
                        accepted,
                        bytes::BytesMut::new(),
                        None,
                    );
                    callback(ws).await;
                }
                Err(e) => tracing::debug!("upgrade failed: {e}"),
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
        // Validate early so non-WebSocket requests get a clear 4xx from the extractor.
        if let Err(e) = wsx_proto::handshake::validate_request(&head) {
            return Err(UpgradeRejection(e.into()));
        }
        Ok(Self {
            head,
            on_upgrade: parts.extensions.remove::<hyper::upgrade::OnUpgrade>(),
            acceptor: Acceptor::default(),
        })
    }
}
