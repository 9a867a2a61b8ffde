//! The client: `connect(url)` and a builder for subprotocols, headers, Origin, TLS trust,
//! handshake timeout, redirects, proxies and permessage-deflate.

use std::time::Duration;

use bytes::BytesMut;
use http::{HeaderMap, HeaderName, HeaderValue, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;
use wsx_proto::handshake::{self, ClientRequest};
use wsx_proto::{DeflateConfig, Role};

use crate::error::{Error, Result};
use crate::proxy::Proxy;
use crate::stream::MaybeTlsStream;
#[cfg(feature = "rustls")]
use crate::tls::{Identity, Trust};
use crate::websocket::{Info, Options, WebSocket};

/// Builds a client connection.
///
/// Credentials in the URL (`ws://user:pass@host/`) are sent as HTTP Basic auth unless an
/// `Authorization` header is set. A proxy is taken from the environment as curl takes it
/// (`http_proxy` for `ws://`, `https_proxy` for `wss://`, `all_proxy`, `no_proxy`: see
/// [`Proxy::from_env`]) unless [`proxy`](Self::proxy) or [`no_proxy`](Self::no_proxy) says
/// otherwise.
///
/// ```no_run
/// # async fn run() -> wsx::Result<()> {
/// let (ws, _response) = wsx::ClientBuilder::new("wss://example.com/chat")
///     .protocol("chat.v2")
///     .header("authorization", "Bearer t0k3n")
///     .origin("https://example.com")
///     .max_redirects(3)
///     .connect()
///     .await?;
/// assert_eq!(ws.protocol(), "chat.v2");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    pub(crate) url: String,
    protocols: Vec<String>,
    headers: HeaderMap,
    pub(crate) header_error: Option<String>,
    origin: Option<String>,
    host: Option<String>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_redirects: usize,
    deflate: Option<DeflateConfig>,
    opts: Options,
    proxy: ProxyChoice,
    #[cfg(feature = "rustls")]
    trust: Trust,
    #[cfg(feature = "rustls")]
    identity: Option<Identity>,
    #[cfg(feature = "rustls")]
    tls_config: Option<std::sync::Arc<rustls::ClientConfig>>,
    #[cfg(feature = "http2")]
    pub(crate) http2: Http2Choice,
}

/// Whether WebSockets go over HTTP/2.
#[cfg(feature = "http2")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Http2Choice {
    /// HTTP/1.1 only.
    Off,
    /// `wss://`: offer ALPN `h2` and `http/1.1`, use what the server chose (the default).
    Offer,
    /// `ws://` and `wss://`: HTTP/2 only (`h2c` with prior knowledge in cleartext).
    Only,
}

/// The ALPN protocols a TLS connection offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alpn {
    Http1,
    #[cfg(feature = "http2")]
    H2AndHttp1,
    #[cfg(feature = "http2")]
    H2Only,
}

impl ClientBuilder {
    /// A builder for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            protocols: Vec::new(),
            headers: HeaderMap::new(),
            header_error: None,
            origin: None,
            host: None,
            handshake_timeout: Duration::from_secs(10),
            max_redirects: 0,
            deflate: Some(DeflateConfig::default()),
            opts: Options::default(),
            proxy: ProxyChoice::FromEnv,
            #[cfg(feature = "rustls")]
            trust: Trust::default(),
            #[cfg(feature = "rustls")]
            identity: None,
            #[cfg(feature = "rustls")]
            tls_config: None,
            #[cfg(feature = "http2")]
            http2: Http2Choice::Offer,
        }
    }

    /// A builder from an `http::Request`: its URI (absolute: `ws://`, `wss://`, `http://` or
    /// `https://`) and headers. `Sec-WebSocket-Protocol` becomes the subprotocols offered and
    /// `Origin` the origin; the headers the handshake writes itself (`Host`, `Upgrade`,
    /// `Connection`, `Sec-WebSocket-Key`, `-Version`, `-Extensions`) are left out. The body
    /// is ignored.
    pub fn from_request<B>(req: http::Request<B>) -> Self {
        use http::header;
        let (parts, _body) = req.into_parts();
        let mut b = Self::new(parts.uri.to_string());
        for (name, value) in &parts.headers {
            match *name {
                header::HOST
                | header::UPGRADE
                | header::CONNECTION
                | header::SEC_WEBSOCKET_KEY
                | header::SEC_WEBSOCKET_VERSION
                | header::SEC_WEBSOCKET_EXTENSIONS => {}
                header::SEC_WEBSOCKET_PROTOCOL => match value.to_str() {
                    Ok(list) => b.protocols.extend(
                        list.split(',')
                            .map(str::trim)
                            .filter(|p| !p.is_empty())
                            .map(str::to_owned),
                    ),
                    Err(_) => b.header_error = Some("invalid Sec-WebSocket-Protocol".into()),
                },
                header::ORIGIN => match value.to_str() {
                    Ok(o) => b.origin = Some(o.to_owned()),
                    Err(_) => b.header_error = Some("invalid Origin".into()),
                },
                _ => {
                    b.headers.append(name.clone(), value.clone());
                }
            }
        }
        b
    }

    /// Offers a subprotocol (repeatable, in order of preference).
    pub fn protocol(mut self, p: impl Into<String>) -> Self {
        self.protocols.push(p.into());
        self
    }

    /// Adds a request header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            _ => self.header_error = Some(format!("invalid header {name:?}")),
        }
        self
    }

    /// HTTP Basic authentication: the `Authorization` header (as credentials in the URL,
    /// `ws://user:pass@host/`, would send it).
    pub fn basic_auth(self, user: &str, password: &str) -> Self {
        let value = crate::tunnel::basic_auth(user, password);
        self.header("authorization", &value)
    }

    /// Sets the `Origin` header.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Sends this `Host` header instead of the URL's host and port (the connection still goes
    /// to the URL's, and TLS still checks the URL's name): for virtual hosts reached by
    /// address, or a server behind a name it does not know itself by.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        let host = host.into();
        if HeaderValue::from_str(&host).is_err() || host.is_empty() {
            self.header_error = Some(format!("invalid Host {host:?}"));
        }
        self.host = Some(host);
        self
    }

    /// Deadline for TCP connect, TLS and the WebSocket handshake together (default 10 s).
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.handshake_timeout = d;
        self
    }

    /// Follow up to `n` redirects (301, 302, 303, 307, 308); never from `wss://` to `ws://`.
    pub fn max_redirects(mut self, n: usize) -> Self {
        self.max_redirects = n;
        self
    }

    /// permessage-deflate offer; `None` offers no compression.
    pub fn deflate(mut self, cfg: Option<DeflateConfig>) -> Self {
        self.deflate = cfg;
        self
    }

    /// Connection options (limits, close timeout, send queue, heartbeat).
    pub fn options(mut self, opts: Options) -> Self {
        self.opts = opts;
        self
    }

    /// Largest message accepted.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.opts.config = self.opts.config.clone().max_payload(bytes);
        self
    }

    /// Goes through `proxy`, whatever the environment says.
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = ProxyChoice::Use(proxy);
        self
    }

    /// Connects directly, whatever the environment says.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxyChoice::Direct;
        self
    }

    /// Whom to trust for `wss://`.
    #[cfg(feature = "rustls")]
    pub fn trust(mut self, trust: Trust) -> Self {
        self.trust = trust;
        self.tls_config = None;
        self
    }

    /// A client certificate and key, presented to servers that ask for one (mutual TLS).
    #[cfg(feature = "rustls")]
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self.tls_config = None;
        self
    }

    /// A ready rustls configuration for `wss://` (overrides [`trust`](Self::trust) and
    /// [`identity`](Self::identity)); share one
    /// across many connections to avoid rebuilding it and to resume TLS sessions.
    #[cfg(feature = "rustls")]
    pub fn tls_config(mut self, cfg: std::sync::Arc<rustls::ClientConfig>) -> Self {
        self.tls_config = Some(cfg);
        self
    }

    /// Whether `wss://` WebSockets may go over HTTP/2 (on by default with the `http2`
    /// feature): the TLS handshake offers ALPN `h2` and `http/1.1`; if the server chooses
    /// `h2` and takes WebSockets over it (RFC 8441), the WebSocket is a stream of one HTTP/2
    /// connection per origin, shared by every WebSocket this process opens there with the
    /// same proxy and TLS settings; if not, it is HTTP/1.1 (on a new connection when the
    /// server speaks HTTP/2 but takes no WebSockets over it, which is then remembered).
    /// `false`: HTTP/1.1 only.
    #[cfg(feature = "http2")]
    pub fn http2(mut self, on: bool) -> Self {
        self.http2 = if on {
            Http2Choice::Offer
        } else {
            Http2Choice::Off
        };
        self
    }

    /// HTTP/2 only: `ws://` as cleartext `h2c` with prior knowledge, `wss://` with ALPN `h2`
    /// alone; no fallback to HTTP/1.1. Connections are pooled per origin as with
    /// [`http2`](Self::http2).
    #[cfg(feature = "http2")]
    pub fn http2_only(mut self) -> Self {
        self.http2 = Http2Choice::Only;
        self
    }

    #[cfg(feature = "http2")]
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    #[cfg(feature = "http2")]
    pub(crate) fn timeout(&self) -> Duration {
        self.handshake_timeout
    }

    #[cfg(feature = "http2")]
    pub(crate) fn opts(&self) -> &Options {
        &self.opts
    }

    /// What tells apart connections this builder makes to one origin from another builder's:
    /// the proxy and the TLS settings.
    #[cfg(feature = "http2")]
    pub(crate) fn connection_key(&self) -> String {
        #[cfg(feature = "rustls")]
        let tls = format!(
            "|{:?}|{:?}|{:?}",
            self.trust,
            self.identity.as_ref().map(|id| &id.certs),
            self.tls_config.as_ref().map(std::sync::Arc::as_ptr)
        );
        #[cfg(not(feature = "rustls"))]
        let tls = "";
        format!("{:?}{tls}", self.proxy)
    }

    pub(crate) async fn open(&self, url: &Url, alpn: Alpn) -> Result<MaybeTlsStream> {
        let host = url.host_str().ok_or_else(|| Error::url("missing host"))?;
        let port = url.port_or_known_default().unwrap_or(80);
        let proxy = match &self.proxy {
            ProxyChoice::FromEnv => Proxy::from_env(url),
            ProxyChoice::Use(p) => Some(p.clone()),
            ProxyChoice::Direct => None,
        };
        let tcp = match proxy {
            Some(proxy) => crate::tunnel::open(&proxy, host, port).await?,
            None => {
                let tcp = TcpStream::connect(format!("{host}:{port}")).await?;
                let _ = tcp.set_nodelay(true);
                tcp
            }
        };
        if url.scheme() == "wss" {
            #[cfg(feature = "rustls")]
            {
                let cfg = match (&self.tls_config, &self.identity) {
                    (Some(c), _) => c.clone(),
                    (None, None) => self.trust.client_config()?,
                    (None, Some(id)) => self.trust.client_config_with(Some(id))?,
                };
                let cfg = match alpn {
                    Alpn::Http1 => cfg,
                    #[cfg(feature = "http2")]
                    Alpn::H2AndHttp1 | Alpn::H2Only => {
                        let mut c = (*cfg).clone();
                        c.alpn_protocols = vec![b"h2".to_vec()];
                        if alpn == Alpn::H2AndHttp1 {
                            c.alpn_protocols.push(b"http/1.1".to_vec());
                        }
                        std::sync::Arc::new(c)
                    }
                };
                let name = crate::tls::server_name(host)?;
                let tls = tokio_rustls::TlsConnector::from(cfg)
                    .connect(name, tcp)
                    .await
                    .map_err(|e| Error::tls(format!("handshake with {host} failed"), e))?;
                return Ok(MaybeTlsStream::ClientTls(Box::new(tls)));
            }
            #[cfg(not(feature = "rustls"))]
            return Err(Error::url("wss:// needs the `rustls` feature (or `tls`)"));
        }
        let _ = alpn;
        Ok(MaybeTlsStream::Plain(tcp))
    }

    pub(crate) async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: S,
        url: &Url,
    ) -> Result<(WebSocket<S>, Response<()>)> {
        let req = self.client_request(url)?;
        client_handshake(io, &req, self.opts.clone(), Some(&shown_url(url))).await
    }

    /// The handshake request for `url`: host, path, subprotocols, permessage-deflate offer,
    /// origin, headers, and the URL's credentials as Basic auth.
    pub(crate) fn client_request(&self, url: &Url) -> Result<ClientRequest> {
        let host = self.host.clone().unwrap_or_else(|| host_header(url));
        let mut req = ClientRequest::new(host, path_and_query(url));
        req.protocols = self.protocols.clone();
        req.deflate = self.deflate.clone();
        req.origin = self.origin.clone();
        req.headers = self.headers.clone();
        if !url.username().is_empty() && !req.headers.contains_key(http::header::AUTHORIZATION) {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let auth = crate::tunnel::basic_auth(
                &decode(url.username()),
                &decode(url.password().unwrap_or("")),
            );
            let value = HeaderValue::from_str(&auth)
                .map_err(|_| Error::url("credentials that do not fit a header"))?;
            req.headers.insert(http::header::AUTHORIZATION, value);
        }
        Ok(req)
    }
}

/// The URL a connection reports: without its credentials.
pub(crate) fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.into()
}

/// Performs the client handshake with `req` on an already connected stream.
pub async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    req: &ClientRequest,
    opts: Options,
    url: Option<&str>,
) -> Result<(WebSocket<S>, Response<()>)> {
    io.write_all(&req.encode()).await?;
    io.flush().await?;
    let max = opts.config.max_header_bytes;
    let mut buf = BytesMut::with_capacity(1024);
    let (resp, n) = loop {
        if let Some(r) = handshake::parse_response(&buf, max)? {
            break r;
        }
        if io.read_buf(&mut buf).await? == 0 {
            return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    };
    let _ = buf.split_to(n);
    let negotiated = req.verify(&resp)?;
    let extensions = resp
        .headers()
        .get(http::header::SEC_WEBSOCKET_EXTENSIONS)
        .and_then(|v| v.to_str().ok())
        .map(Into::into);
    let info = Info {
        protocol: negotiated.protocol.map(Into::into),
        extensions,
        url: url.map(Into::into),
        peer_addr: None,
    };
    let ws = WebSocket::from_parts(io, Role::Client, negotiated.deflate, opts, buf, info);
    Ok((ws, resp))
}

impl<B> From<http::Request<B>> for ClientBuilder {
    fn from(req: http::Request<B>) -> Self {
        Self::from_request(req)
    }
}

/// Where the connection goes through.
#[derive(Debug, Clone)]
enum ProxyChoice {
    /// The proxy the environment sets, if any (the default).
    FromEnv,
    /// This proxy.
    Use(Proxy),
    /// None.
    Direct,
}

pub(crate) fn parse_url(s: &str) -> Result<Url> {
    let mut u = Url::parse(s).map_err(|e| Error::Url {
        message: format!("{s:?} does not parse"),
        source: Some(e),
    })?;
    let scheme = match u.scheme() {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        other => {
            return Err(Error::url(format!(
                "unsupported scheme {other:?} (use ws:// or wss://)"
            )));
        }
    };
    if u.scheme() != scheme {
        u = Url::parse(&format!("{scheme}{}", &u.as_str()[u.scheme().len()..])).map_err(|e| {
            Error::Url {
                message: format!("{s:?} with the scheme {scheme}:// does not parse"),
                source: Some(e),
            }
        })?;
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(Error::url(format!("{s}: missing host")));
    }
    if u.fragment().is_some() {
        return Err(Error::url(format!(
            "{s}: a WebSocket URL cannot have a fragment"
        )));
    }
    Ok(u)
}

fn host_header(u: &Url) -> String {
    let host = u.host_str().unwrap_or("");
    match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    }
}

fn path_and_query(u: &Url) -> String {
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_becomes_a_builder() {
        let req = http::Request::builder()
            .uri("wss://example.com:8443/chat?room=1")
            .header("sec-websocket-protocol", "v2, v1")
            .header("origin", "https://example.com")
            .header("authorization", "Bearer t")
            .header("x-trace", "a")
            .header("x-trace", "b")
            .header("host", "ignored")
            .header("sec-websocket-key", "ignored")
            .body(())
            .unwrap();
        let b = ClientBuilder::from(req);
        assert_eq!(b.url, "wss://example.com:8443/chat?room=1");
        assert_eq!(b.protocols, ["v2", "v1"]);
        assert_eq!(b.origin.as_deref(), Some("https://example.com"));
        assert_eq!(b.headers.get_all("x-trace").iter().count(), 2);
        assert_eq!(b.headers["authorization"], "Bearer t");
        assert!(!b.headers.contains_key("host"));
        assert!(!b.headers.contains_key("sec-websocket-key"));
        assert!(b.header_error.is_none());
    }

    #[test]
    fn urls() {
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("ws://x/#frag").is_err());
        let u = parse_url("https://example.com:8443/a?b=c").unwrap();
        assert_eq!(u.scheme(), "wss");
        assert_eq!(host_header(&u), "example.com:8443");
        assert_eq!(path_and_query(&u), "/a?b=c");
        let u = parse_url("ws://[::1]:80/").unwrap();
        assert_eq!(host_header(&u), "[::1]");
    }
}
