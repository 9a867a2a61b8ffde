//! Connecting: [`ClientBuilder::connect`] over HTTP/2 or HTTP/1.1, as configured and as the
//! server offers, following redirects. Above both the builder (`client.rs`) and the HTTP/2
//! client (`http2_client.rs`), which it chooses between.

use http::Response;
use url::Url;
use wsx_proto::handshake::HandshakeError;

use crate::client::ClientBuilder;
use crate::error::{Error, Result};
use crate::stream::MaybeTlsStream;
use crate::websocket::WebSocket;

/// Connects to `url` (`ws://` or `wss://`) with default options: permessage-deflate offered,
/// 10 s handshake timeout, no redirects followed, the proxy the environment sets (as curl).
pub async fn connect(url: &str) -> Result<(WebSocket<MaybeTlsStream>, Response<()>)> {
    ClientBuilder::new(url).connect().await
}

impl ClientBuilder {
    /// Connects, following redirects as configured.
    pub async fn connect(self) -> Result<(WebSocket<MaybeTlsStream>, Response<()>)> {
        if let Some(e) = &self.header_error {
            return Err(Error::url(e.clone()));
        }
        let timeout = self.handshake_timeout;
        tokio::time::timeout(timeout, self.connect_inner())
            .await
            .map_err(|_| Error::HandshakeTimeout(timeout))?
    }

    async fn connect_inner(&self) -> Result<(WebSocket<MaybeTlsStream>, Response<()>)> {
        let mut url = crate::client::parse_url(&self.url)?;
        let mut redirects = 0;
        loop {
            match self.connect_once(&url).await {
                Err(Error::Handshake(HandshakeError::UnexpectedStatus {
                    status: 301 | 302 | 303 | 307 | 308,
                    location: Some(loc),
                })) if self.max_redirects > 0 => {
                    redirects += 1;
                    if redirects > self.max_redirects {
                        return Err(Error::redirect(format!(
                            "more than {} redirects",
                            self.max_redirects
                        )));
                    }
                    let next = url.join(&loc).map_err(|e| Error::Redirect {
                        message: format!("bad Location {loc:?}"),
                        source: Some(e),
                    })?;
                    let next = crate::client::parse_url(next.as_str())?;
                    if url.scheme() == "wss" && next.scheme() == "ws" {
                        return Err(Error::redirect(format!(
                            "refusing to downgrade from wss:// to {next}"
                        )));
                    }
                    tracing::debug!(from = %url, to = %next, "following redirect");
                    url = next;
                }
                other => return other,
            }
        }
    }

    /// One WebSocket to `url`, over HTTP/2 or HTTP/1.1 as configured and as the server offers.
    async fn connect_once(&self, url: &Url) -> Result<(WebSocket<MaybeTlsStream>, Response<()>)> {
        #[cfg(feature = "http2")]
        match (self.http2, url.scheme()) {
            (crate::client::Http2Choice::Off, _) | (crate::client::Http2Choice::Offer, "ws") => {}
            (crate::client::Http2Choice::Offer, _) => {
                use crate::http2_client::Route;
                match crate::http2_client::route(self, url).await? {
                    Route::Http2(c) => return c.websocket_at(self, url).await,
                    Route::Http1(io) => return self.handshake(io, url).await,
                    Route::Http1Fresh => {}
                }
            }
            (crate::client::Http2Choice::Only, _) => {
                let c = crate::http2_client::pooled(self, url).await?;
                return c.websocket_at(self, url).await;
            }
        }
        let io = self.open(url, crate::client::Alpn::Http1).await?;
        self.handshake(io, url).await
    }
}
