//! How the load threads open connections: through [`ClientBuilder`], or, with `--source`,
//! from local addresses taken round-robin (one source address has at most ~28,000 ephemeral
//! ports towards one server port, so tens of thousands of connections need several).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::TcpSocket;
use wsx::proto::handshake::ClientRequest;
use wsx::{ClientBuilder, DeflateConfig, MaybeTlsStream, Options, WebSocket};

/// Deadline for one connection and handshake from a source address (as `ClientBuilder`'s).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens one connection at a time; cheap to clone.
#[derive(Clone)]
pub enum Dialer {
    /// Through the builder (TLS, redirects; the kernel picks the source address).
    Builder(Box<ClientBuilder>),
    /// Plain `ws://` from the given source addresses, round-robin.
    Bound(Arc<Bound>),
    /// `--http2 N`: WebSockets as streams of HTTP/2 connections, N on each.
    Http2(Arc<Http2Dial>),
}

/// `--http2 N`: the HTTP/2 connection being filled, and how many WebSockets it has.
pub struct Http2Dial {
    builder: ClientBuilder,
    per_conn: usize,
    current: tokio::sync::Mutex<Option<(wsx::Http2Connection, usize)>>,
}

impl Http2Dial {
    pub fn new(builder: ClientBuilder, per_conn: usize) -> Self {
        Self {
            builder,
            per_conn,
            current: tokio::sync::Mutex::new(None),
        }
    }

    async fn connect(&self) -> wsx::Result<WebSocket<MaybeTlsStream>> {
        let conn = {
            let mut cur = self.current.lock().await;
            match &mut *cur {
                Some((c, n)) if *n < self.per_conn && !c.is_closed() => {
                    *n += 1;
                    c.clone()
                }
                _ => {
                    let c = wsx::Http2Connection::connect(&self.builder).await?;
                    *cur = Some((c.clone(), 1));
                    c
                }
            }
        };
        conn.websocket(&self.builder).await.map(|(ws, _)| ws)
    }
}

/// `--source`: where to connect, and from where.
pub struct Bound {
    server: SocketAddr,
    sources: Vec<IpAddr>,
    next: AtomicUsize,
    host: String,
    path: String,
    url: String,
    opts: Options,
    deflate: Option<DeflateConfig>,
    /// `-H` headers.
    pub headers: http::HeaderMap,
    /// `--protocol`s offered.
    pub protocols: Vec<String>,
}

impl Bound {
    /// `url` must be a `ws://` URL whose host resolves to `server`.
    pub fn new(
        url: &str,
        server: SocketAddr,
        sources: Vec<IpAddr>,
        opts: Options,
        deflate: Option<DeflateConfig>,
    ) -> Result<Self, String> {
        let u = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
        if u.scheme() != "ws" && u.scheme() != "http" {
            return Err("--source works with ws:// URLs only".into());
        }
        let host = match u.port() {
            Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
            None => u.host_str().unwrap_or_default().to_owned(),
        };
        let path = match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        };
        if sources.iter().any(|s| s.is_ipv4() != server.is_ipv4()) {
            return Err(format!(
                "--source addresses must be of the same family as the server ({server})"
            ));
        }
        Ok(Self {
            server,
            sources,
            next: AtomicUsize::new(0),
            host,
            path,
            url: url.to_owned(),
            opts,
            deflate,
            headers: http::HeaderMap::new(),
            protocols: Vec::new(),
        })
    }

    async fn connect(&self) -> wsx::Result<WebSocket<MaybeTlsStream>> {
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        let src = self.sources[k % self.sources.len()];
        let sock = if src.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        sock.bind(SocketAddr::new(src, 0))?;
        let tcp = sock.connect(self.server).await?;
        let _ = tcp.set_nodelay(true);
        let mut req = ClientRequest::new(self.host.clone(), self.path.clone());
        req.deflate = self.deflate.clone();
        req.headers = self.headers.clone();
        req.protocols = self.protocols.clone();
        let (ws, _) = wsx::client_handshake(
            MaybeTlsStream::Plain(tcp),
            &req,
            self.opts.clone(),
            Some(&self.url),
        )
        .await?;
        Ok(ws)
    }
}

impl Dialer {
    /// Opens a connection and completes the handshake.
    pub async fn connect(&self) -> wsx::Result<WebSocket<MaybeTlsStream>> {
        match self {
            Self::Builder(b) => (**b).clone().connect().await.map(|(ws, _)| ws),
            Self::Bound(b) => tokio::time::timeout(HANDSHAKE_TIMEOUT, b.connect())
                .await
                .map_err(|_| wsx::Error::HandshakeTimeout(HANDSHAKE_TIMEOUT))?,
            Self::Http2(h) => h.connect().await,
        }
    }
}

/// Parses `--source`: addresses and ranges separated by commas, e.g.
/// `127.0.0.2-127.0.0.20,127.0.1.1` (an IPv4 range varies its last octet or beyond).
pub fn parse_sources(s: &str) -> Result<Vec<IpAddr>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            None => out.push(
                part.parse::<IpAddr>()
                    .map_err(|_| format!("invalid source address {part:?}"))?,
            ),
            Some((a, b)) => {
                let bad = || format!("invalid source range {part:?} (e.g. 127.0.0.2-127.0.0.20)");
                let a: std::net::Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
                let b: std::net::Ipv4Addr = b.trim().parse().map_err(|_| bad())?;
                let (a, b) = (u32::from(a), u32::from(b));
                if b < a || b - a >= 65_536 {
                    return Err(bad());
                }
                out.extend((a..=b).map(|x| IpAddr::V4(x.into())));
            }
        }
    }
    if out.is_empty() {
        return Err("--source needs at least one address".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        let v = parse_sources("127.0.0.2-127.0.0.4, 127.0.1.1").expect("parse");
        let s: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(s, ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.1.1"]);
        assert_eq!(parse_sources("::1").expect("v6").len(), 1);
        assert_eq!(
            parse_sources("127.0.0.255-127.0.1.1").expect("carry").len(),
            3
        );
        assert!(parse_sources("127.0.0.4-127.0.0.2").is_err());
        assert!(parse_sources("").is_err());
        assert!(parse_sources("localhost").is_err());
    }
}
