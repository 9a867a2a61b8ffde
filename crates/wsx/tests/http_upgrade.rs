//! Attaching to an existing HTTP server: upgrading hyper 1.x requests and the axum extractor.
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;

use common::*;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use wsx::{Acceptor, ClientBuilder, Message};

/// Upgrades `req` with `acceptor` and echoes on the connection; the refusal otherwise.
fn echo_upgrade(
    req: &mut hyper::Request<Incoming>,
    acceptor: &Acceptor,
) -> hyper::Response<String> {
    match wsx::hyper::upgrade(req, acceptor) {
        Ok((resp, fut)) => {
            tokio::spawn(async move {
                let mut ws = fut.await.unwrap();
                while let Some(Ok(m)) = ws.recv().await {
                    if m.is_data() && ws.send(m).await.is_err() {
                        break;
                    }
                }
            });
            resp
        }
        Err(rej) => rej.into_response(),
    }
}

async fn hyper_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let svc = service_fn(|mut req: hyper::Request<Incoming>| async move {
                    if !wsx::hyper::is_upgrade_request(&req) {
                        return Ok::<_, Infallible>(hyper::Response::new("plain http".to_string()));
                    }
                    let acceptor = Acceptor::new().path("/ws").protocols(["echo"]);
                    Ok(echo_upgrade(&mut req, &acceptor))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn hyper_requests_upgrade_and_plain_requests_still_work() {
    let addr = hyper_server().await;
    let (mut ws, resp) = within(
        ClientBuilder::new(url(addr, "/ws"))
            .protocol("echo")
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(ws.protocol(), "echo");
    assert_eq!(
        resp.headers()["sec-websocket-extensions"],
        "permessage-deflate"
    );
    let m = Message::text("é".repeat(10_000));
    ws.send(m.clone()).await.unwrap();
    assert_eq!(within(ws.recv()).await.unwrap().unwrap(), m);
    let err = within(wsx::connect(&url(addr, "/other")))
        .await
        .unwrap_err();
    assert!(wsx::is_refused(&err, 404), "{err}");
    let (head, _) = raw_request(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[tokio::test]
async fn axum_extractor_upgrades() {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/ws",
        get(|up: wsx::axum::WebSocketUpgrade| async move {
            up.protocols(["v1"]).on_upgrade(|mut ws| async move {
                while let Some(Ok(m)) = ws.recv().await {
                    if m.is_data() && ws.send(m).await.is_err() {
                        break;
                    }
                }
            })
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (mut ws, _) = within(
        ClientBuilder::new(url(addr, "/ws"))
            .protocol("v1")
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(ws.protocol(), "v1");
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(
        within(ws.recv()).await.unwrap().unwrap(),
        Message::binary(vec![1u8, 2, 3])
    );
    // A plain GET to the route is refused by the extractor with a clear 4xx.
    let (head, _) = raw_request(addr, "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
}

#[tokio::test]
async fn axum_extractor_gives_the_peer_address_and_reports_failed_upgrades() {
    use axum::routing::get;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};
    use tokio::sync::{mpsc, oneshot};

    let (peer_tx, mut peer_rx) =
        mpsc::unbounded_channel::<(Option<SocketAddr>, Option<SocketAddr>)>();
    let (reached_tx, mut reached_rx) = mpsc::unbounded_channel::<()>();
    let (failed_tx, mut failed_rx) = mpsc::unbounded_channel::<String>();
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let go = Arc::new(Mutex::new(Some(go_rx)));
    let app = axum::Router::new()
        .route(
            "/ws",
            get(move |up: wsx::axum::WebSocketUpgrade| async move {
                let seen = up.peer_addr();
                up.on_upgrade(move |ws| async move {
                    peer_tx.send((seen, ws.peer_addr())).unwrap();
                })
            }),
        )
        .route(
            "/slow",
            get(move |up: wsx::axum::WebSocketUpgrade| async move {
                let resp = up
                    .on_failed_upgrade(move |e| failed_tx.send(e.to_string()).unwrap())
                    .on_upgrade(|_ws| async { panic!("this connection was reset") });
                // The 101 goes out only once the client has reset the connection.
                reached_tx.send(()).unwrap();
                let rx = go.lock().unwrap().take().unwrap();
                let _ = rx.await;
                resp
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });

    let (_ws, _) = within(ClientBuilder::new(url(addr, "/ws")).connect())
        .await
        .unwrap();
    let (seen, kept) = within(peer_rx.recv()).await.unwrap();
    let seen = seen.expect("ConnectInfo reaches the extractor");
    assert_eq!(seen.ip(), addr.ip());
    assert_ne!(seen.port(), addr.port());
    assert_eq!(kept, Some(seen), "the connection knows its peer too");

    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut s = s;
    tokio::io::AsyncWriteExt::write_all(&mut s, upgrade_head("/slow", "").as_bytes())
        .await
        .unwrap();
    within(reached_rx.recv()).await.unwrap();
    s.set_zero_linger().unwrap();
    drop(s);
    go_tx.send(()).unwrap();
    let err = within(failed_rx.recv()).await.unwrap();
    assert!(!err.is_empty());
}

/// Runs Node's own `http2` client (`interop/node/h2_ws_client.js`) against `url`: `streams`
/// WebSockets to `path` as streams of one HTTP/2 connection (RFC 8441). Its JSON report.
async fn node_h2_client(url: &str, path: &str, streams: usize) -> serde_json::Value {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/node/h2_ws_client.js");
    let out = within(
        tokio::process::Command::new("node")
            .arg(script)
            .args([url, path, &streams.to_string()])
            .output(),
    )
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

#[tokio::test]
async fn axum_extractor_takes_http2_websockets_rfc_8441() {
    use axum::routing::any;
    let app = axum::Router::new().route(
        "/ws",
        any(|up: wsx::axum::WebSocketUpgrade| async move {
            up.on_upgrade(|mut ws| async move {
                while let Some(Ok(m)) = ws.recv().await {
                    if m.is_data() && ws.send(m).await.is_err() {
                        break;
                    }
                }
            })
        }),
    );
    // HTTP/1.1 and HTTP/2 (prior knowledge) on one port, extended CONNECT enabled.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let svc = hyper_util::service::TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let mut b = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                );
                b.http2().enable_connect_protocol();
                let _ = b
                    .serve_connection_with_upgrades(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    let report = node_h2_client(&format!("http://{addr}"), "/ws", 4).await;
    assert_eq!(report["alpn"], "h2c", "{report}");
    assert_eq!(report["streams"], 4, "{report}");
    assert_eq!(report["unknownProtocol"], 400, "{report}");
    assert_eq!(report["noVersion"], 426, "{report}");
    // HTTP/1.1 on the same port still upgrades.
    let (mut ws, _) = within(ClientBuilder::new(url(addr, "/ws")).connect())
        .await
        .unwrap();
    ws.send(Message::text("h1")).await.unwrap();
    assert_eq!(
        within(ws.recv()).await.unwrap().unwrap(),
        Message::text("h1")
    );
}

#[tokio::test]
async fn hyper_upgrade_takes_http2_websockets_rfc_8441() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let svc = service_fn(|mut req: hyper::Request<Incoming>| async move {
                    assert!(
                        wsx::hyper::is_http2_websocket(&req)
                            || !wsx::hyper::is_upgrade_request(&req)
                    );
                    let acceptor = Acceptor::new().path("/h2");
                    Ok::<_, Infallible>(echo_upgrade(&mut req, &acceptor))
                });
                let _ =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .enable_connect_protocol()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
            });
        }
    });
    let report = node_h2_client(&format!("http://{addr}"), "/h2", 3).await;
    assert_eq!(report["streams"], 3, "{report}");
    assert_eq!(report["unknownProtocol"], 400, "{report}");
}
