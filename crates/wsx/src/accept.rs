//! The server side of the opening handshake: validation, path routing, the verify hook,
//! subprotocol selection and permessage-deflate acceptance, over any stream or a hyper request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wsx_proto::handshake::{self, HandshakeError};
use wsx_proto::{DeflateConfig, DeflateParams, Role};

use crate::budget::MemoryBudget;
use crate::error::{Error, Result};
use crate::metrics::{self, Reject};
use crate::websocket::{Info, Options, WebSocket};

/// A refused handshake: the HTTP response to send instead of `101`.
#[derive(Debug, Clone)]
pub struct Rejection(Box<RejectionParts>);

#[derive(Debug, Clone)]
struct RejectionParts {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Rejection {
    /// A rejection with `status` and a body.
    pub fn new(status: StatusCode, body: impl Into<String>) -> Self {
        Self(Box::new(RejectionParts {
            status,
            headers: HeaderMap::new(),
            body: body.into(),
        }))
    }

    /// Adds a response header.
    pub fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.0.headers.append(name, value);
        self
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The extra headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.0.headers
    }

    /// The body.
    pub fn body(&self) -> &str {
        &self.0.body
    }

    pub(crate) fn to_response(&self) -> Response<String> {
        let mut r = Response::new(self.0.body.clone());
        *r.status_mut() = self.0.status;
        r.headers_mut().extend(self.0.headers.clone());
        r.headers_mut()
            .entry(header::CONTENT_TYPE)
            .or_insert(HeaderValue::from_static("text/plain; charset=utf-8"));
        r.headers_mut()
            .entry(header::CONNECTION)
            .or_insert(HeaderValue::from_static("close"));
        r
    }

    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        let r = self.to_response();
        handshake::write_response(&r, r.body().as_bytes(), out);
    }
}

impl From<HandshakeError> for Rejection {
    fn from(e: HandshakeError) -> Self {
        let r = e.response();
        let (parts, body) = r.into_parts();
        Self(Box::new(RejectionParts {
            status: parts.status,
            headers: parts.headers,
            body,
        }))
    }
}

/// The `:protocol` of an HTTP/2 extended CONNECT (RFC 8441), which `http::Request` does not
/// carry: put in the extensions of the request given to [`Acceptor::negotiate`] (the hyper
/// upgrade does it from hyper's own extension).
#[derive(Debug, Clone)]
pub struct ConnectProtocol(pub Box<str>);

/// What the verify hook sees of an upgrade request (ws's `verifyClient` info; WebSocket-Node's
/// `request`).
#[derive(Debug)]
pub struct HandshakeRequest<'a> {
    /// The request (method, URI, headers).
    pub request: &'a Request<()>,
    /// The peer's address, when known.
    pub peer_addr: Option<SocketAddr>,
    /// Subprotocols the client offered.
    pub protocols: &'a [String],
}

impl HandshakeRequest<'_> {
    /// The request path.
    pub fn path(&self) -> &str {
        self.request.uri().path()
    }
    /// The query string, if any.
    pub fn query(&self) -> Option<&str> {
        self.request.uri().query()
    }
    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        self.request.headers()
    }
    /// The `Origin` header.
    pub fn origin(&self) -> Option<&str> {
        self.request
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
    }
}

type VerifyFn = dyn Fn(&HandshakeRequest<'_>) -> std::result::Result<(), Rejection> + Send + Sync;
type SelectFn = dyn Fn(&[String], &Request<()>) -> Option<String> + Send + Sync;

/// How a server accepts connections: options, hooks and negotiation preferences. Cheap to
/// clone; used by [`Server`](crate::Server), the hyper/axum upgrade and [`Acceptor::accept`]
/// on any stream.
#[derive(Clone)]
pub struct Acceptor {
    pub(crate) opts: Options,
    deflate: Option<DeflateConfig>,
    protocols: Vec<String>,
    select_protocol: Option<Arc<SelectFn>>,
    verify: Option<Arc<VerifyFn>>,
    paths: Vec<String>,
    origins: Option<Vec<String>>,
    pub(crate) handshake_timeout: Duration,
    /// Whether accepted connections keep the peer's address (`WebSocket::peer_addr`). Event-
    /// driven connections ask the socket instead and save the allocation.
    pub(crate) keep_peer_addr: bool,
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor")
            .field("opts", &self.opts)
            .field("deflate", &self.deflate)
            .field("protocols", &self.protocols)
            .field("paths", &self.paths)
            .field("origins", &self.origins)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for Acceptor {
    fn default() -> Self {
        metrics::register();
        Self {
            opts: Options::default(),
            deflate: Some(DeflateConfig::default()),
            protocols: Vec::new(),
            select_protocol: None,
            verify: None,
            paths: Vec::new(),
            origins: None,
            handshake_timeout: Duration::from_secs(10),
            keep_peer_addr: true,
        }
    }
}

/// A handshake that passed every check, ready to answer with `101`.
#[derive(Debug)]
pub struct Accepted {
    /// The `101 Switching Protocols` response (`200` to an HTTP/2 extended CONNECT).
    pub response: Response<()>,
    pub(crate) deflate: Option<DeflateParams>,
    pub(crate) protocol: Option<String>,
    pub(crate) extensions: Option<String>,
}

impl Acceptor {
    /// Default options: permessage-deflate accepted, any path, no subprotocol, 10 s handshake
    /// deadline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Connection options (limits, close timeout, send queue, heartbeat).
    pub fn options(mut self, opts: Options) -> Self {
        self.opts = opts;
        self
    }

    /// permessage-deflate preferences; `None` refuses compression.
    pub fn deflate(mut self, cfg: Option<DeflateConfig>) -> Self {
        self.deflate = cfg;
        self
    }

    /// Subprotocols this server speaks, in order of preference. By default the first protocol
    /// of the client's list that is also in this list is selected.
    pub fn protocols<I: IntoIterator<Item = impl Into<String>>>(mut self, protocols: I) -> Self {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Overrides subprotocol selection (ws's `handleProtocols`): given the client's offers,
    /// return one of them or `None`.
    pub fn select_protocol(
        mut self,
        f: impl Fn(&[String], &Request<()>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.select_protocol = Some(Arc::new(f));
        self
    }

    /// A hook that sees every upgrade request and may refuse it with any response.
    pub fn verify(
        mut self,
        f: impl Fn(&HandshakeRequest<'_>) -> std::result::Result<(), Rejection> + Send + Sync + 'static,
    ) -> Self {
        self.verify = Some(Arc::new(f));
        self
    }

    /// Accept only this path (repeatable); other paths get 404.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.paths.push(path.into());
        self
    }

    /// Accept only these `Origin` values (exact match, case-insensitive); others get 403.
    pub fn allow_origins<I: IntoIterator<Item = impl Into<String>>>(mut self, origins: I) -> Self {
        self.origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Largest message accepted (ws's `maxPayload`); larger ones close with 1009.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.opts.config = self.opts.config.clone().max_payload(bytes);
        self
    }

    /// Counts the connections' buffers and send queues against `budget`, shared with
    /// whatever else uses it (see [`MemoryBudget`]).
    pub fn memory_budget(mut self, budget: MemoryBudget) -> Self {
        self.opts.memory_budget = Some(budget);
        self
    }

    /// Ping every `interval`; terminate clients that do not answer within `timeout`.
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.opts.heartbeat = Some((interval, timeout));
        self
    }

    /// Deadline for a client to send its whole request (slowloris protection).
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.handshake_timeout = d;
        self
    }

    /// Checks a parsed upgrade request: RFC 6455 rules, path, origin, the verify hook; then
    /// selects the subprotocol and accepts permessage-deflate.
    pub fn negotiate(
        &self,
        req: &Request<()>,
        peer_addr: Option<SocketAddr>,
    ) -> std::result::Result<Accepted, Rejection> {
        let refuse = |why, r: Rejection| {
            metrics::rejected(why);
            Err(r)
        };
        if !self.paths.is_empty() && !self.paths.iter().any(|p| p == req.uri().path()) {
            return refuse(
                Reject::NotFound,
                Rejection::new(StatusCode::NOT_FOUND, "Not Found\n"),
            );
        }
        let h2 = req.version() == http::Version::HTTP_2 && req.method() == http::Method::CONNECT;
        let up = if h2 {
            let protocol = req.extensions().get::<ConnectProtocol>().map(|p| &*p.0);
            handshake::validate_h2_request(req, protocol)
        } else {
            handshake::validate_request(req)
        };
        let up = match up {
            Ok(up) => up,
            Err(e) => return refuse(Reject::Handshake, e.into()),
        };
        let hr = HandshakeRequest {
            request: req,
            peer_addr,
            protocols: &up.protocols,
        };
        if let Some(allowed) = &self.origins {
            let ok = hr
                .origin()
                .is_some_and(|o| allowed.iter().any(|a| a.eq_ignore_ascii_case(o)));
            if !ok {
                return refuse(
                    Reject::Origin,
                    Rejection::new(StatusCode::FORBIDDEN, "Origin not allowed\n"),
                );
            }
        }
        // No let chain: the crate's rust-version is 1.85.
        if let Some(Err(r)) = self.verify.as_ref().map(|v| v(&hr)) {
            return refuse(Reject::Verify, r);
        }
        let protocol = match &self.select_protocol {
            Some(f) => f(&up.protocols, req).filter(|p| up.protocols.contains(p)),
            None => up
                .protocols
                .iter()
                .find(|p| self.protocols.contains(p))
                .cloned(),
        };
        let (deflate, extensions) =
            match self.deflate.as_ref().and_then(|d| d.accept(&up.extensions)) {
                Some((p, h)) => (Some(p), Some(h)),
                None => (None, None),
            };
        Ok(Accepted {
            response: if h2 {
                handshake::h2_accept_response(protocol.as_deref(), extensions.as_deref())
            } else {
                handshake::accept_response(&up.key, protocol.as_deref(), extensions.as_deref())
            },
            deflate,
            protocol,
            extensions,
        })
    }

    /// Performs the server handshake on `io`: reads the request (bounded in bytes and time),
    /// answers `101` or an error response, and returns the connection and the request.
    pub async fn accept<S>(
        &self,
        io: S,
        peer_addr: Option<SocketAddr>,
    ) -> Result<(WebSocket<S>, Request<()>)>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.accept_from(io, peer_addr, BytesMut::with_capacity(1024), false)
            .await
    }

    /// As [`accept`](Self::accept), with `read` the bytes already read from `io`. With
    /// `queue`, the `101` is queued as the connection's first output instead of written:
    /// whoever drives the connection writes it, ahead of any message sent meanwhile (the
    /// event driver registers a connection before its client can see the handshake complete,
    /// so a broadcast sent after the client's `open` reaches it).
    pub(crate) async fn accept_from<S>(
        &self,
        mut io: S,
        peer_addr: Option<SocketAddr>,
        read: BytesMut,
        queue: bool,
    ) -> Result<(WebSocket<S>, Request<()>)>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (req, leftover) = self.read_request(&mut io, read).await?;
        if !queue {
            let ws = self.accept_request(io, &req, leftover, peer_addr).await?;
            return Ok((ws, req));
        }
        let accepted = self.negotiate_or_refuse(&mut io, &req, peer_addr).await?;
        let mut out = Vec::with_capacity(256);
        handshake::write_response(&accepted.response, b"", &mut out);
        let ws = self.wrap(io, accepted, leftover, peer_addr);
        ws.queue_raw(&out);
        Ok((ws, req))
    }

    /// Reads a request head (bounded in bytes and time); a malformed one is answered with its
    /// error response.
    async fn read_request<S>(
        &self,
        io: &mut S,
        mut buf: BytesMut,
    ) -> Result<(Request<()>, BytesMut)>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let max = self.opts.config.max_header_bytes;
        let read = async {
            loop {
                if let Some((req, n)) = handshake::parse_request(&buf, max)? {
                    let _ = buf.split_to(n);
                    return Ok::<_, Error>((req, buf));
                }
                if io.read_buf(&mut buf).await? == 0 {
                    return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
                }
            }
        };
        let Ok(parsed) = tokio::time::timeout(self.handshake_timeout, read).await else {
            metrics::rejected(Reject::Timeout);
            return Err(Error::HandshakeTimeout(self.handshake_timeout));
        };
        match parsed {
            Ok(v) => Ok(v),
            Err(Error::Handshake(e)) => {
                metrics::rejected(Reject::Handshake);
                let mut out = Vec::new();
                Rejection::from(e.clone()).write_to(&mut out);
                let _ = io.write_all(&out).await;
                let _ = io.shutdown().await;
                Err(e.into())
            }
            Err(e) => Err(e),
        }
    }

    /// [`negotiate`](Self::negotiate), writing the error response and shutting `io` down when
    /// the request is refused.
    async fn negotiate_or_refuse<S>(
        &self,
        io: &mut S,
        req: &Request<()>,
        peer_addr: Option<SocketAddr>,
    ) -> Result<Accepted>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match self.negotiate(req, peer_addr) {
            Ok(a) => Ok(a),
            Err(rej) => {
                let mut out = Vec::new();
                rej.write_to(&mut out);
                let _ = io.write_all(&out).await;
                let _ = io.shutdown().await;
                Err(Error::Handshake(HandshakeError::UnexpectedStatus {
                    status: rej.status().as_u16(),
                    location: None,
                }))
            }
        }
    }

    /// Completes the handshake of an upgrade request already read from `io` (by a server that
    /// routes requests itself): checks it as [`negotiate`](Self::negotiate) does, writes the
    /// `101` response, or the error response followed by a shutdown, and returns the
    /// connection. `leftover` holds the bytes read after the request head, if any.
    pub async fn accept_request<S>(
        &self,
        mut io: S,
        req: &Request<()>,
        leftover: BytesMut,
        peer_addr: Option<SocketAddr>,
    ) -> Result<WebSocket<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let accepted = self.negotiate_or_refuse(&mut io, req, peer_addr).await?;
        let mut out = Vec::with_capacity(256);
        handshake::write_response(&accepted.response, b"", &mut out);
        io.write_all(&out).await?;
        io.flush().await?;
        Ok(self.wrap(io, accepted, leftover, peer_addr))
    }

    pub(crate) fn wrap<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: S,
        accepted: Accepted,
        leftover: BytesMut,
        peer_addr: Option<SocketAddr>,
    ) -> WebSocket<S> {
        let info = Info {
            protocol: accepted.protocol.map(Into::into),
            extensions: accepted.extensions.map(Into::into),
            url: None,
            peer_addr: peer_addr.filter(|_| self.keep_peer_addr),
        };
        WebSocket::from_parts(
            io,
            Role::Server,
            accepted.deflate,
            self.opts.clone(),
            leftover,
            info,
        )
    }
}

/// Accepts a WebSocket on `io` with default options (permessage-deflate on, any path).
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(io: S) -> Result<WebSocket<S>> {
    Acceptor::default().accept(io, None).await.map(|(ws, _)| ws)
}
