//! Client redirects: followed up to the maximum, refused beyond it and from wss:// to ws://.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsx::{ClientBuilder, Error, Message, Server};

/// A server answering every request with `status` and `Location: location`.
async fn redirector(status: u16, location: String) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            let location = location.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 {status} Moved\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
                );
                let _ = s.write_all(head.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn redirects_are_followed_up_to_the_maximum() {
    let (target, ..) = echo_server(Server::builder().path("/final")).await;
    let hop2 = redirector(307, url(target, "/final")).await;
    // A relative Location on the first hop.
    let hop1 = redirector(301, format!("http://{hop2}/next")).await;
    let (mut ws, _) = within(
        ClientBuilder::new(url(hop1, "/start"))
            .max_redirects(2)
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(ws.url(), Some(url(target, "/final").as_str()));
    ws.send(Message::text("arrived")).await.unwrap();
    assert_eq!(
        within(ws.recv()).await.unwrap().unwrap(),
        Message::text("arrived")
    );

    let err = within(
        ClientBuilder::new(url(hop1, "/start"))
            .max_redirects(1)
            .connect(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Redirect { .. }), "{err}");
    let err = within(wsx::connect(&url(hop1, "/start")))
        .await
        .unwrap_err();
    assert!(wsx::is_refused(&err, 301), "not followed by default: {err}");
}

#[tokio::test]
async fn relative_location_is_resolved_against_the_current_url() {
    // One server: /old/page redirects with a relative Location to ../new, which it accepts.
    let b = Server::builder().verify(|r| match r.path() {
        "/new" => Ok(()),
        _ => Err(wsx::Rejection::new(http::StatusCode::FOUND, "").header(
            http::header::LOCATION,
            http::HeaderValue::from_static("../new"),
        )),
    });
    let (addr, ..) = echo_server(b).await;
    let (ws, _) = within(
        ClientBuilder::new(url(addr, "/old/page"))
            .max_redirects(1)
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(ws.url(), Some(url(addr, "/new").as_str()));
}

#[tokio::test]
async fn wss_to_ws_downgrade_is_refused() {
    // The TLS redirector is not needed: the client refuses before connecting to the target.
    let (cert, key) = {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        (
            c.cert.der().clone(),
            rustls_pki_types::PrivateKeyDer::Pkcs8(rustls_pki_types::PrivatePkcs8KeyDer::from(
                c.key_pair.serialize_der(),
            )),
        )
    };
    let cfg = wsx::tls::server_config(vec![cert.clone()], key).unwrap();
    let server = Server::builder().tls(cfg).verify(|_| {
        Err(
            wsx::Rejection::new(http::StatusCode::MOVED_PERMANENTLY, "").header(
                http::header::LOCATION,
                http::HeaderValue::from_static("ws://127.0.0.1:1/"),
            ),
        )
    });
    let (addr, ..) = echo_server(server).await;
    let err = within(
        ClientBuilder::new(format!("wss://localhost:{}/", addr.port()))
            .trust(wsx::tls::Trust::Custom(vec![cert]))
            .max_redirects(5)
            .connect(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::Redirect { message: m, .. } if m.contains("downgrade")),
        "{err}"
    );
}
