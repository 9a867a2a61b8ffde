//! Shared by the integration tests: a document server on 127.0.0.1:0 behind hyper, with the
//! auth convention of `interop/yjs` (`?token=deny` → 403, `?token=ro` → read-only).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use wsx::Rejection;
use wsx_yjs::{Access, AuthRequest, YjsServerBuilder};

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The auth convention of the interop scripts.
pub async fn token_auth(req: AuthRequest) -> Result<Access, Rejection> {
    match req.query_param("token").as_deref() {
        Some("deny") => Err(Rejection::new(StatusCode::FORBIDDEN, "forbidden\n")),
        Some("ro") => Ok(Access::ReadOnly),
        _ => Ok(Access::ReadWrite),
    }
}

/// Serves `builder` (with the token auth) on an ephemeral port: rooms at `ws://ADDR/<room>`.
pub async fn serve(builder: YjsServerBuilder) -> (SocketAddr, wsx_yjs::YjsServer) {
    let yjs = builder.auth(token_auth).build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = yjs.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                continue;
            };
            let yjs = server.clone();
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
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (addr, yjs)
}
