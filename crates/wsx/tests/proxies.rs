//! The client through real proxies from Debian's packages, started here on 127.0.0.1:
//! `tinyproxy` (HTTP CONNECT with Basic auth) and `microsocks` (SOCKS5 with a username and
//! password), see `tests-support/proxies.rs`. Also credentials in the URL sent as Basic auth.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use common::*;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use wsx::tls::Trust;
use wsx::{ClientBuilder, Error, Message, Proxy, ProxyError, Server};

#[path = "../../../tests-support/proxies.rs"]
mod proxy_procs;

use proxy_procs::{PASSWORD, Running, USER, free_port, microsocks, tinyproxy};

fn proxy(scheme: &str, p: &Running, password: Option<&str>) -> Proxy {
    let url = match password {
        Some(pw) => format!("{scheme}://{USER}:{pw}@127.0.0.1:{}", p.port),
        None => format!("{scheme}://127.0.0.1:{}", p.port),
    };
    Proxy::parse(&url).unwrap()
}

async fn echo_once(builder: ClientBuilder) -> wsx::Result<()> {
    let (mut ws, _) = within(builder.connect()).await?;
    let big = Message::binary(vec![9u8; 300_000]);
    ws.send(big.clone()).await?;
    assert_eq!(within(ws.recv()).await.unwrap()?, big);
    ws.send(Message::text("through")).await?;
    assert_eq!(within(ws.recv()).await.unwrap()?, Message::text("through"));
    ws.close(wsx::CloseCode::NORMAL, "").await?;
    Ok(())
}

#[tokio::test]
async fn ws_through_tinyproxy_with_basic_auth() {
    let p = tinyproxy().await;
    let (addr, ..) = echo_server(Server::builder()).await;
    let target = url(addr, "/");
    echo_once(ClientBuilder::new(&target).proxy(proxy("http", &p, Some(PASSWORD))))
        .await
        .unwrap();
    for wrong in [Some("nope"), None] {
        let err = echo_once(ClientBuilder::new(&target).proxy(proxy("http", &p, wrong)))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Proxy(ProxyError::AuthRequired)),
            "{wrong:?}: {err}"
        );
    }
}

fn self_signed() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    (
        c.cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_pair.serialize_der())),
    )
}

#[tokio::test]
async fn wss_through_tinyproxy_and_socks5h() {
    let (cert, key) = self_signed();
    let cfg = wsx::tls::server_config(vec![cert.clone()], key).unwrap();
    let (addr, ..) = echo_server(Server::builder().tls(cfg)).await;
    // The name the certificate is for: resolved by the HTTP proxy, and by the SOCKS5 proxy
    // with socks5h (this client resolves nothing).
    let target = format!("wss://localhost:{}/", addr.port());
    let http = tinyproxy().await;
    let socks = microsocks().await;
    for p in [
        proxy("http", &http, Some(PASSWORD)),
        proxy("socks5h", &socks, Some(PASSWORD)),
    ] {
        echo_once(
            ClientBuilder::new(&target)
                .trust(Trust::Custom(vec![cert.clone()]))
                .proxy(p.clone()),
        )
        .await
        .unwrap_or_else(|e| panic!("{p}: {e}"));
    }
}

#[tokio::test]
async fn ws_through_microsocks_with_a_password() {
    let p = microsocks().await;
    let (addr, ..) = echo_server(Server::builder()).await;
    let target = url(addr, "/");
    for scheme in ["socks5", "socks5h"] {
        echo_once(ClientBuilder::new(&target).proxy(proxy(scheme, &p, Some(PASSWORD))))
            .await
            .unwrap_or_else(|e| panic!("{scheme}: {e}"));
    }
    let err = echo_once(ClientBuilder::new(&target).proxy(proxy("socks5", &p, Some("nope"))))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Proxy(ProxyError::SocksAuth)), "{err}");
    let err = echo_once(ClientBuilder::new(&target).proxy(proxy("socks5", &p, None)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Proxy(ProxyError::SocksNoMethod)),
        "{err}"
    );
    // A port nothing listens on: the proxy's refusal comes back as its reply code.
    let closed = format!("ws://127.0.0.1:{}/", free_port());
    let err = echo_once(ClientBuilder::new(&closed).proxy(proxy("socks5", &p, Some(PASSWORD))))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Proxy(ProxyError::SocksConnect(_))),
        "{err}"
    );
}

#[tokio::test]
async fn credentials_in_the_url_are_sent_as_basic_auth() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let server = Server::builder().verify(move |req| {
        let auth = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_owned());
        tx.send(auth).unwrap();
        Ok(())
    });
    let (addr, ..) = echo_server(server).await;
    let addr: SocketAddr = addr;
    // "pa ss:w" percent-encoded; the header is Basic base64("alice:pa ss:w").
    let target = format!("ws://alice:pa%20ss%3Aw@{addr}/room");
    let (ws, _) = within(ClientBuilder::new(&target).connect()).await.unwrap();
    assert_eq!(
        rx.recv().await.unwrap().as_deref(),
        Some("Basic YWxpY2U6cGEgc3M6dw==")
    );
    assert_eq!(ws.url(), Some(format!("ws://{addr}/room").as_str()));
    // A header set on the builder wins.
    let (_ws, _) = within(
        ClientBuilder::new(&target)
            .header("authorization", "Bearer t")
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(rx.recv().await.unwrap().as_deref(), Some("Bearer t"));
}
