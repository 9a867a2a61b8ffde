//! Shared by the integration tests: a document server on 127.0.0.1:0 with the auth convention
//! of `interop/yjs` (`?token=deny` → 403, `?token=ro` → read-only).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use http::StatusCode;
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
    tokio::spawn(async move { server.serve_tcp(listener).await });
    (addr, yjs)
}
