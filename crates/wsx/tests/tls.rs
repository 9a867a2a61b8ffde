//! wss:// end to end: a wsx TLS server and the wsx client trusting a custom CA, refusing an
//! unknown certificate, and the explicit insecure mode.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use wsx::tls::Trust;
use wsx::{ClientBuilder, Message, Server};

fn self_signed() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    (
        c.cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_pair.serialize_der())),
    )
}

async fn tls_echo() -> (std::net::SocketAddr, CertificateDer<'static>) {
    let (cert, key) = self_signed();
    let cfg = wsx::tls::server_config(vec![cert.clone()], key).unwrap();
    let (addr, ..) = echo_server(Server::builder().tls(cfg)).await;
    (addr, cert)
}

#[tokio::test]
async fn wss_round_trip_with_a_custom_ca() {
    let (addr, cert) = tls_echo().await;
    let url = format!("wss://localhost:{}/", addr.port());
    let (mut ws, _) = within(
        ClientBuilder::new(&url)
            .trust(Trust::Custom(vec![cert]))
            .connect(),
    )
    .await
    .unwrap();
    let big = Message::binary(vec![7u8; 1 << 20]);
    ws.send(big.clone()).await.unwrap();
    assert_eq!(within(ws.recv()).await.unwrap().unwrap(), big);
    ws.send(Message::text("over tls")).await.unwrap();
    assert_eq!(
        within(ws.recv()).await.unwrap().unwrap(),
        Message::text("over tls")
    );
}

#[tokio::test]
async fn unknown_certificate_is_refused_unless_insecure() {
    let (addr, _cert) = tls_echo().await;
    let url = format!("wss://localhost:{}/", addr.port());
    let err = within(ClientBuilder::new(&url).connect())
        .await
        .unwrap_err();
    assert!(matches!(err, wsx::Error::Tls(_)), "{err}");
    let (mut ws, _) = within(ClientBuilder::new(&url).trust(Trust::Insecure).connect())
        .await
        .unwrap();
    ws.send(Message::text("x")).await.unwrap();
    assert_eq!(
        within(ws.recv()).await.unwrap().unwrap(),
        Message::text("x")
    );
}

#[tokio::test]
async fn ca_file_must_hold_a_certificate() {
    let dir = std::env::temp_dir().join(format!("wsx-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    assert!(Trust::ca_file(&empty).is_err());
    assert!(Trust::ca_file(&dir.join("missing.pem")).is_err());
}
