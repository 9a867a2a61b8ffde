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
    assert!(matches!(err, wsx::Error::Tls { .. }), "{err}");
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

/// A CA, a server certificate for `localhost` and a client certificate, both signed by it.
struct Pki {
    ca: CertificateDer<'static>,
    server: (CertificateDer<'static>, PrivateKeyDer<'static>),
    client: (CertificateDer<'static>, PrivateKeyDer<'static>),
}

fn make_pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "wsx test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf = |names: Vec<String>, cn: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        (
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    };
    Pki {
        ca: ca.der().clone(),
        server: leaf(vec!["localhost".into()], "localhost"),
        client: leaf(vec![], "alice"),
    }
}

async fn mtls_echo(pki: &Pki, auth: wsx::tls::ClientAuth) -> String {
    let (cert, key) = (pki.server.0.clone(), pki.server.1.clone_key());
    let cfg = wsx::tls::ServerTls::new(vec![cert], key)
        .client_auth(auth)
        .build()
        .unwrap();
    let (addr, ..) = echo_server(Server::builder().tls(cfg)).await;
    format!("wss://localhost:{}/", addr.port())
}

async fn round_trip(builder: ClientBuilder) -> wsx::Result<()> {
    let (mut ws, _) = within(builder.connect()).await?;
    ws.send(Message::text("who")).await?;
    match within(ws.recv()).await {
        Some(Ok(m)) => {
            assert_eq!(m, Message::text("who"));
            Ok(())
        }
        Some(Err(e)) => Err(e),
        None => Err(wsx::Error::Closed),
    }
}

#[tokio::test]
async fn mutual_tls_required_and_optional() {
    use wsx::tls::{ClientAuth, Identity};
    let pki = make_pki();
    let trust = Trust::Custom(vec![pki.ca.clone()]);
    let alice = Identity::new(vec![pki.client.0.clone()], pki.client.1.clone_key());

    let url = mtls_echo(&pki, ClientAuth::Required(vec![pki.ca.clone()])).await;
    round_trip(
        ClientBuilder::new(&url)
            .trust(trust.clone())
            .identity(alice.clone()),
    )
    .await
    .unwrap();
    // Without a certificate: TLS 1.3 lets the client finish first, so the refusal arrives as
    // the server's alert on the first read or as the connection dropped.
    let err = round_trip(ClientBuilder::new(&url).trust(trust.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            wsx::Error::Io(_) | wsx::Error::Tls { .. } | wsx::Error::AbnormalClosure
        ),
        "{err}"
    );
    // A certificate from another CA is refused as well.
    let stranger = make_pki();
    let mallory = Identity::new(
        vec![stranger.client.0.clone()],
        stranger.client.1.clone_key(),
    );
    assert!(
        round_trip(
            ClientBuilder::new(&url)
                .trust(trust.clone())
                .identity(mallory)
        )
        .await
        .is_err()
    );

    let url = mtls_echo(&pki, ClientAuth::Optional(vec![pki.ca.clone()])).await;
    round_trip(
        ClientBuilder::new(&url)
            .trust(trust.clone())
            .identity(alice),
    )
    .await
    .unwrap();
    round_trip(ClientBuilder::new(&url).trust(trust))
        .await
        .unwrap();

    // Asking for client certificates with no CA to check them against is a set-up error.
    let (cert, key) = (pki.server.0.clone(), pki.server.1.clone_key());
    let err = wsx::tls::ServerTls::new(vec![cert], key)
        .client_auth(ClientAuth::Required(vec![]))
        .build()
        .unwrap_err();
    assert!(matches!(err, wsx::Error::Tls { .. }), "{err}");
}

#[tokio::test]
async fn tls_errors_keep_their_cause() {
    let (addr, _cert) = tls_echo().await;
    let url = format!("wss://localhost:{}/", addr.port());
    let err = within(
        ClientBuilder::new(&url)
            .trust(Trust::Custom(vec![make_pki().ca]))
            .connect(),
    )
    .await
    .unwrap_err();
    let wsx::Error::Tls { message, .. } = &err else {
        panic!("{err}");
    };
    assert!(message.contains("localhost"), "{message}");
    // The cause is rustls' own error, reachable through the source chain.
    let mut cause = std::error::Error::source(&err);
    let mut found = None;
    while let Some(c) = cause {
        if let Some(r) = c.downcast_ref::<rustls::Error>() {
            found = Some(r.clone());
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if let Some(r) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                found = Some(r.clone());
            }
        }
        cause = c.source();
    }
    assert!(
        matches!(found, Some(rustls::Error::InvalidCertificate(_))),
        "{found:?}"
    );
    // A URL that does not parse keeps the parser's error.
    let err = within(ClientBuilder::new("ws://[::1").connect())
        .await
        .unwrap_err();
    let source = std::error::Error::source(&err).expect("a source");
    assert!(
        source.downcast_ref::<url::ParseError>().is_some(),
        "{source}"
    );
}

#[cfg(feature = "native-roots")]
#[tokio::test]
async fn the_platforms_roots_verify_and_refuse_an_unknown_ca() {
    // This machine's store (Debian's ca-certificates, or SSL_CERT_FILE) has roots, and none
    // of them signed our test certificate.
    Trust::Native.client_config().unwrap();
    let (addr, _cert) = tls_echo().await;
    let url = format!("wss://localhost:{}/", addr.port());
    let err = within(ClientBuilder::new(&url).trust(Trust::Native).connect())
        .await
        .unwrap_err();
    assert!(matches!(err, wsx::Error::Tls { .. }), "{err}");
}
