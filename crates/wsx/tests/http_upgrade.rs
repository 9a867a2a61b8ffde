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
                    Ok(match wsx::hyper::upgrade(&mut req, &acceptor) {
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
                    })
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
