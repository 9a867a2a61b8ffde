//! A document server on a listener of its own: HTTP/1.1 with upgrades, the room being the
//! request's path (`ws://HOST/<room>`), as the Node reference server serves it.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::yjs_server::YjsServer;

impl YjsServer {
    /// Serves y-websocket clients on `listener` until the task is dropped: a connection to
    /// `ws://HOST/<room>` joins room `<room>`.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let yjs = wsx_yjs::YjsServer::builder().build();
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:1234").await?;
    /// yjs.serve_tcp(listener).await
    /// # }
    /// ```
    pub async fn serve_tcp(&self, listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (tcp, peer) = wsx::accept_tcp(&listener).await;
            let yjs = self.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |mut req: Request<Incoming>| {
                    let yjs = yjs.clone();
                    req.extensions_mut().insert(peer);
                    async move {
                        let room = req.uri().path().trim_start_matches('/').to_owned();
                        let (parts, body) = yjs.upgrade(&mut req, &room).await.into_parts();
                        Ok::<_, Infallible>(hyper::Response::from_parts(
                            parts,
                            Full::new(Bytes::from(body)),
                        ))
                    }
                });
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .with_upgrades()
                    .await
                {
                    tracing::debug!(%peer, "yjs http connection: {e}");
                }
            });
        }
    }
}
