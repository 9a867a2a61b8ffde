//! A tunnel through a proxy to the WebSocket server: HTTP `CONNECT` (RFC 9110 §9.3.6) or
//! SOCKS5 (RFC 1928, with RFC 1929's username and password). What is returned is the TCP
//! connection to the proxy, now carrying bytes to and from the target.

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{Error, Result};
use crate::proxy::{Proxy, ProxyError, ProxyKind};

/// The longest answer to `CONNECT` read before giving up on it.
const MAX_CONNECT_RESPONSE: usize = 16 * 1024;

/// Connects to `proxy` and opens a tunnel to `host:port` through it.
pub(crate) async fn open(proxy: &Proxy, host: &str, port: u16) -> Result<TcpStream> {
    let mut tcp = TcpStream::connect(proxy.address()).await?;
    let _ = tcp.set_nodelay(true);
    match proxy.kind() {
        ProxyKind::Http => http_connect(&mut tcp, proxy, host, port).await?,
        ProxyKind::Socks5 { remote_dns } => {
            socks5_connect(&mut tcp, proxy, host, port, remote_dns).await?
        }
    }
    tracing::debug!(%proxy, host, port, "tunnel open");
    Ok(tcp)
}

/// `host:port` as a request target, brackets around an IPv6 address.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `Basic base64(user:password)`.
pub(crate) fn basic_auth(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

async fn http_connect(tcp: &mut TcpStream, proxy: &Proxy, host: &str, port: u16) -> Result<()> {
    let target = authority(host, port);
    let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some((user, password)) = proxy.auth() {
        req.push_str("Proxy-Authorization: ");
        req.push_str(&basic_auth(user, password));
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    tcp.write_all(req.as_bytes()).await?;

    // Read the head only: nothing may follow it before we speak through the tunnel, so a
    // byte past it is the proxy's error.
    let mut buf = Vec::with_capacity(256);
    let head_len = loop {
        let mut chunk = [0u8; 1024];
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Err(ProxyError::BadResponse("the proxy closed the connection".into()).into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find_head_end(&buf) {
            break end;
        }
        if buf.len() > MAX_CONNECT_RESPONSE {
            return Err(ProxyError::BadResponse(format!(
                "no end of head within {MAX_CONNECT_RESPONSE} bytes"
            ))
            .into());
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let status = match resp.parse(&buf[..head_len]) {
        Ok(httparse::Status::Complete(_)) => resp.code.unwrap_or(0),
        Ok(httparse::Status::Partial) => {
            return Err(ProxyError::BadResponse("an incomplete head".into()).into());
        }
        Err(e) => return Err(ProxyError::BadResponse(e.to_string()).into()),
    };
    match status {
        200..=299 if buf.len() == head_len => Ok(()),
        200..=299 => {
            Err(ProxyError::BadResponse("data after the head of its 2xx answer".into()).into())
        }
        // 407 is the proxy's own; some (tinyproxy 1.11) answer 401 to a CONNECT instead.
        401 | 407 => Err(ProxyError::AuthRequired.into()),
        status => Err(ProxyError::Refused { status }.into()),
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// SOCKS5's version byte, and RFC 1929's sub-negotiation version.
const SOCKS5: u8 = 5;
const USER_PASS_VERSION: u8 = 1;
/// Authentication methods.
const NO_AUTH: u8 = 0;
const USER_PASS: u8 = 2;
const NO_ACCEPTABLE: u8 = 0xff;
/// The CONNECT command and the address types.
const CMD_CONNECT: u8 = 1;
const ATYP_IPV4: u8 = 1;
const ATYP_DOMAIN: u8 = 3;
const ATYP_IPV6: u8 = 4;

async fn socks5_connect(
    tcp: &mut TcpStream,
    proxy: &Proxy,
    host: &str,
    port: u16,
    remote_dns: bool,
) -> Result<()> {
    // The target's address: an IP as such; a name sent to the proxy (socks5h) or resolved
    // here first (socks5).
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) if remote_dns => None,
        Err(_) => Some(
            tokio::net::lookup_host((host, port))
                .await?
                .next()
                .ok_or_else(|| {
                    Error::Io(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("{host} resolves to no address"),
                    ))
                })?
                .ip(),
        ),
    };
    let mut request = vec![SOCKS5, CMD_CONNECT, 0];
    match ip {
        Some(std::net::IpAddr::V4(v4)) => {
            request.push(ATYP_IPV4);
            request.extend_from_slice(&v4.octets());
        }
        Some(std::net::IpAddr::V6(v6)) => {
            request.push(ATYP_IPV6);
            request.extend_from_slice(&v6.octets());
        }
        None => {
            let name = u8::try_from(host.len())
                .map_err(|_| ProxyError::SocksProtocol("a host name over 255 bytes"))?;
            request.push(ATYP_DOMAIN);
            request.push(name);
            request.extend_from_slice(host.as_bytes());
        }
    }
    request.extend_from_slice(&port.to_be_bytes());

    // Greeting: the methods we can do.
    let auth = proxy.auth();
    let greeting: &[u8] = if auth.is_some() {
        &[SOCKS5, 2, NO_AUTH, USER_PASS]
    } else {
        &[SOCKS5, 1, NO_AUTH]
    };
    tcp.write_all(greeting).await?;
    let mut choice = [0u8; 2];
    tcp.read_exact(&mut choice).await?;
    if choice[0] != SOCKS5 {
        return Err(ProxyError::SocksProtocol("not a SOCKS5 server").into());
    }
    match (choice[1], auth) {
        (NO_AUTH, _) => {}
        (USER_PASS, Some((user, password))) => {
            let (Ok(ulen), Ok(plen)) = (u8::try_from(user.len()), u8::try_from(password.len()))
            else {
                return Err(
                    ProxyError::SocksProtocol("a username or password over 255 bytes").into(),
                );
            };
            let mut msg = vec![USER_PASS_VERSION, ulen];
            msg.extend_from_slice(user.as_bytes());
            msg.push(plen);
            msg.extend_from_slice(password.as_bytes());
            tcp.write_all(&msg).await?;
            let mut status = [0u8; 2];
            tcp.read_exact(&mut status).await?;
            if status[1] != 0 {
                return Err(ProxyError::SocksAuth.into());
            }
        }
        (NO_ACCEPTABLE, _) => return Err(ProxyError::SocksNoMethod.into()),
        _ => return Err(ProxyError::SocksProtocol("it chose a method not offered").into()),
    }

    tcp.write_all(&request).await?;
    let mut reply = [0u8; 4];
    tcp.read_exact(&mut reply).await?;
    if reply[0] != SOCKS5 {
        return Err(ProxyError::SocksProtocol("a reply of another version").into());
    }
    if reply[1] != 0 {
        return Err(ProxyError::SocksConnect(reply[1]).into());
    }
    // The bound address, which a client has no use for: read past it.
    let skip = match reply[3] {
        ATYP_IPV4 => 4,
        ATYP_IPV6 => 16,
        ATYP_DOMAIN => {
            let mut len = [0u8; 1];
            tcp.read_exact(&mut len).await?;
            usize::from(len[0])
        }
        _ => return Err(ProxyError::SocksProtocol("an unknown address type").into()),
    };
    let mut bound = vec![0u8; skip + 2];
    tcp.read_exact(&mut bound).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A one-shot proxy answering `answer` to whatever it is sent first.
    async fn fake_proxy(answer: &'static [u8]) -> (Proxy, tokio::task::JoinHandle<Vec<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy::parse(&format!("http://u:p@{}", l.local_addr().unwrap())).unwrap();
        let task = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut got = vec![0u8; 4096];
            let n = s.read(&mut got).await.unwrap();
            got.truncate(n);
            s.write_all(answer).await.unwrap();
            got
        });
        (proxy, task)
    }

    #[tokio::test]
    async fn connect_sends_the_target_and_basic_auth() {
        let (proxy, task) = fake_proxy(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
        open(&proxy, "::1", 8080).await.unwrap();
        let sent = String::from_utf8(task.await.unwrap()).unwrap();
        assert_eq!(
            sent,
            "CONNECT [::1]:8080 HTTP/1.1\r\nHost: [::1]:8080\r\nProxy-Authorization: Basic dTpw\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn connect_refusals_are_told_apart() {
        let (proxy, _t) = fake_proxy(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").await;
        let e = open(&proxy, "h", 1).await.unwrap_err();
        assert!(matches!(e, Error::Proxy(ProxyError::AuthRequired)), "{e}");
        let (proxy, _t) = fake_proxy(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n").await;
        let e = open(&proxy, "h", 1).await.unwrap_err();
        assert!(
            matches!(e, Error::Proxy(ProxyError::Refused { status: 403 })),
            "{e}"
        );
        let (proxy, _t) = fake_proxy(b"SSH-2.0-OpenSSH\r\n\r\n").await;
        let e = open(&proxy, "h", 1).await.unwrap_err();
        assert!(matches!(e, Error::Proxy(ProxyError::BadResponse(_))), "{e}");
        let (proxy, _t) = fake_proxy(b"HTTP/1.1 200 OK\r\n\r\nsurprise").await;
        let e = open(&proxy, "h", 1).await.unwrap_err();
        assert!(matches!(e, Error::Proxy(ProxyError::BadResponse(_))), "{e}");
    }

    #[tokio::test]
    async fn socks5_refusals_are_told_apart() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy::parse(&format!("socks5h://{}", l.local_addr().unwrap())).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut greeting = [0u8; 3];
            s.read_exact(&mut greeting).await.unwrap();
            assert_eq!(greeting, [5, 1, 0]);
            s.write_all(&[5, 0]).await.unwrap();
            let mut req = [0u8; 4 + 1 + 11 + 2];
            s.read_exact(&mut req).await.unwrap();
            assert_eq!(&req[..5], &[5, 1, 0, 3, 11]);
            assert_eq!(&req[5..16], b"example.com");
            assert_eq!(&req[16..], &443u16.to_be_bytes());
            s.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await.unwrap();
        });
        let e = open(&proxy, "example.com", 443).await.unwrap_err();
        assert!(
            matches!(e, Error::Proxy(ProxyError::SocksConnect(5))),
            "{e}"
        );
        assert!(e.to_string().contains("connection refused"), "{e}");
        server.await.unwrap();
    }
}
