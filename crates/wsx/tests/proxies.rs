//! The client through real proxies from Debian's packages, started here on 127.0.0.1:
//! `tinyproxy` (HTTP CONNECT with Basic auth) and `microsocks` (SOCKS5 with a username and
//! password). `interop/setup.sh` installs both; without them these tests fail, never skip.
//! Also credentials in the URL sent as Basic auth.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use wsx::tls::Trust;
use wsx::{ClientBuilder, Error, Message, Proxy, ProxyError, Server};

const USER: &str = "wsx";
const PASSWORD: &str = "s3cret";

/// A proxy process, killed when dropped.
struct Running {
    child: Child,
    port: u16,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn require(bin: &str) {
    assert!(
        Path::new(bin).exists(),
        "{bin} is missing: run interop/setup.sh first (it installs Debian's tinyproxy and microsocks)"
    );
}

/// Waits until something listens on `port` (the proxy is up), bounded.
async fn listening(port: u16, child: &mut Child) {
    within(async {
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the proxy exited before listening: {status}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

async fn tinyproxy() -> Running {
    require("/usr/bin/tinyproxy");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("tinyproxy.conf");
    // No ConnectPort line: CONNECT is allowed to every port. `User` only matters as root.
    std::fs::write(
        &conf,
        format!(
            "User nobody\nGroup nogroup\nPort {port}\nListen 127.0.0.1\nTimeout 30\n\
             MaxClients 50\nLogLevel Connect\nBasicAuth {USER} {PASSWORD}\n"
        ),
    )
    .unwrap();
    let mut child = Command::new("/usr/bin/tinyproxy")
        .arg("-d")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    listening(port, &mut child).await;
    Running {
        child,
        port,
        _dir: Some(dir),
    }
}

async fn microsocks() -> Running {
    require("/usr/bin/microsocks");
    let port = free_port();
    let mut child = Command::new("/usr/bin/microsocks")
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-u", USER, "-P", PASSWORD])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    listening(port, &mut child).await;
    Running {
        child,
        port,
        _dir: None,
    }
}

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
