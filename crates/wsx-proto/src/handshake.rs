//! The opening handshake (RFC 6455 §4): the client's request, the server's validation and
//! response, and the client's verification of that response.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version, header};
use sha1::{Digest, Sha1};

use crate::deflate::{DeflateConfig, DeflateParams};
use crate::extension::{Extension, parse_extensions};
pub use crate::handshake_error::HandshakeError;

const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Default limit on the bytes of a request or response head.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;

/// Most header lines accepted in a request or response head.
pub const MAX_HEADERS: usize = 96;

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
///
/// ```
/// // The example of RFC 6455 §1.3.
/// assert_eq!(wsx_proto::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
///            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(key);
    h.update(GUID);
    BASE64.encode(h.finalize())
}

/// A fresh random `Sec-WebSocket-Key`.
pub fn generate_key() -> String {
    BASE64.encode(rand::random::<[u8; 16]>())
}

/// Iterates the comma-separated tokens of every value of a header.
pub fn header_tokens<'a>(
    headers: &'a HeaderMap,
    name: &header::HeaderName,
) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn has_token(headers: &HeaderMap, name: &header::HeaderName, token: &str) -> bool {
    header_tokens(headers, name).any(|t| t.eq_ignore_ascii_case(token))
}

/// The length of a complete head within the limit, `None` while more bytes may complete it.
fn head_len(
    parsed: httparse::Result<usize>,
    buffered: usize,
    max: usize,
) -> Result<Option<usize>, HandshakeError> {
    match parsed {
        Err(httparse::Error::TooManyHeaders) => Err(HandshakeError::HeadersTooLarge(max)),
        Err(other) => Err(HandshakeError::Malformed(other.to_string())),
        Ok(httparse::Status::Complete(n)) if n <= max => Ok(Some(n)),
        Ok(httparse::Status::Partial) if buffered <= max => Ok(None),
        Ok(_) => Err(HandshakeError::HeadersTooLarge(max)),
    }
}

fn fill_headers(map: &mut HeaderMap, raw: &[httparse::Header<'_>]) -> Result<(), HandshakeError> {
    map.reserve(raw.len());
    for h in raw {
        let name = header::HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| HandshakeError::Malformed("bad header name".into()))?;
        let value = HeaderValue::from_bytes(h.value)
            .map_err(|_| HandshakeError::Malformed("bad header value".into()))?;
        map.append(name, value);
    }
    Ok(())
}

/// Parses a request head from the start of `buf`. `Ok(None)` means more bytes are needed; a
/// head longer than `max_bytes` fails with [`HandshakeError::HeadersTooLarge`].
pub fn parse_request(
    buf: &[u8],
    max_bytes: usize,
) -> Result<Option<(Request<()>, usize)>, HandshakeError> {
    let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut raw);
    let Some(n) = head_len(req.parse(buf), buf.len(), max_bytes)? else {
        return Ok(None);
    };
    let method = Method::from_bytes(req.method.unwrap_or("").as_bytes())
        .map_err(|_| HandshakeError::Malformed("bad method".into()))?;
    let mut out = Request::new(());
    *out.method_mut() = method;
    *out.uri_mut() = req
        .path
        .unwrap_or("/")
        .parse()
        .map_err(|_| HandshakeError::Malformed("bad request target".into()))?;
    *out.version_mut() = if req.version == Some(1) {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    fill_headers(out.headers_mut(), req.headers)?;
    Ok(Some((out, n)))
}

/// What a valid upgrade request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// The `Sec-WebSocket-Key`.
    pub key: String,
    /// Subprotocols offered, in the client's order of preference.
    pub protocols: Vec<String>,
    /// Extensions offered.
    pub extensions: Vec<Extension>,
}

/// Validates an upgrade request (RFC 6455 §4.2.1): GET, HTTP/1.1+, `Host`, `Upgrade:
/// websocket`, `Connection: upgrade` (token lists, case-insensitive), a 16-byte key, version 13.
pub fn validate_request<B>(req: &Request<B>) -> Result<UpgradeRequest, HandshakeError> {
    if req.method() != Method::GET {
        return Err(HandshakeError::MethodNotAllowed);
    }
    if req.version() < Version::HTTP_11 {
        return Err(HandshakeError::BadHttpVersion);
    }
    let h = req.headers();
    if !h.contains_key(header::HOST) && req.uri().authority().is_none() {
        return Err(HandshakeError::MissingHost);
    }
    if !has_token(h, &header::UPGRADE, "websocket") {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !has_token(h, &header::CONNECTION, "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    check_version(h)?;
    let mut keys = h.get_all(header::SEC_WEBSOCKET_KEY).iter();
    let key = match (keys.next(), keys.next()) {
        (Some(k), None) => k.to_str().map_err(|_| HandshakeError::InvalidKey)?.trim(),
        _ => return Err(HandshakeError::InvalidKey),
    };
    match BASE64.decode(key) {
        Ok(raw) if raw.len() == 16 => {}
        _ => return Err(HandshakeError::InvalidKey),
    }
    let (protocols, extensions) = offers(h)?;
    Ok(UpgradeRequest {
        key: key.to_owned(),
        protocols,
        extensions,
    })
}

/// Checks an HTTP/2 WebSocket request (RFC 8441 §4, §5): an extended CONNECT with
/// `:protocol` `websocket` (given as `protocol`: the `http` types do not carry the
/// pseudo-header; hyper puts it in the request's extensions) and `Sec-WebSocket-Version: 13`.
/// There is no key: the returned request's `key` is empty, and the answer is
/// [`h2_accept_response`].
///
/// ```
/// let req = http::Request::connect("https://example.com/chat")
///     .version(http::Version::HTTP_2)
///     .header("sec-websocket-version", "13")
///     .header("sec-websocket-protocol", "chat")
///     .body(())
///     .unwrap();
/// let up = wsx_proto::handshake::validate_h2_request(&req, Some("websocket")).unwrap();
/// assert_eq!(up.protocols, ["chat"]);
/// assert!(wsx_proto::handshake::validate_h2_request(&req, None).is_err());
/// ```
pub fn validate_h2_request<B>(
    req: &Request<B>,
    protocol: Option<&str>,
) -> Result<UpgradeRequest, HandshakeError> {
    if req.method() != Method::CONNECT {
        return Err(HandshakeError::MethodNotAllowed);
    }
    if req.version() != Version::HTTP_2 {
        return Err(HandshakeError::BadHttpVersion);
    }
    match protocol {
        Some(p) if p.eq_ignore_ascii_case("websocket") => {}
        Some(p) => return Err(HandshakeError::UnsupportedProtocol(p.to_owned())),
        None => return Err(HandshakeError::UnsupportedProtocol(String::new())),
    }
    let h = req.headers();
    check_version(h)?;
    let (protocols, extensions) = offers(h)?;
    Ok(UpgradeRequest {
        key: String::new(),
        protocols,
        extensions,
    })
}

/// `Sec-WebSocket-Version: 13`, once.
fn check_version(h: &HeaderMap) -> Result<(), HandshakeError> {
    let mut versions = h.get_all(header::SEC_WEBSOCKET_VERSION).iter();
    match (versions.next(), versions.next()) {
        (Some(v), None) if v.as_bytes().trim_ascii() == b"13" => Ok(()),
        _ => Err(HandshakeError::UnsupportedVersion),
    }
}

/// The subprotocols and extensions a request offers.
fn offers(h: &HeaderMap) -> Result<(Vec<String>, Vec<Extension>), HandshakeError> {
    let mut protocols: Vec<String> = Vec::new();
    for p in h.get_all(header::SEC_WEBSOCKET_PROTOCOL) {
        let p = p
            .to_str()
            .map_err(|_| HandshakeError::InvalidProtocolHeader)?;
        for t in p.split(',').map(str::trim) {
            if t.is_empty()
                || !t
                    .bytes()
                    .all(|c| c.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&c))
            {
                return Err(HandshakeError::InvalidProtocolHeader);
            }
            if protocols.iter().any(|q| q == t) {
                return Err(HandshakeError::InvalidProtocolHeader);
            }
            protocols.push(t.to_owned());
        }
    }
    let ext_values: Vec<&str> = h
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .map(|v| {
            v.to_str()
                .map_err(|_| HandshakeError::InvalidExtensionHeader)
        })
        .collect::<Result<_, _>>()?;
    let extensions = parse_extensions(ext_values)?;
    Ok((protocols, extensions))
}

/// The `101 Switching Protocols` response for a validated request.
pub fn accept_response(
    key: &str,
    protocol: Option<&str>,
    extensions: Option<&str>,
) -> Response<()> {
    let mut r = Response::new(());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept_key(key.as_bytes())) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Some(v) = protocol.and_then(|p| HeaderValue::from_str(p).ok()) {
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, v);
    }
    if let Some(v) = extensions.and_then(|e| HeaderValue::from_str(e).ok()) {
        h.insert(header::SEC_WEBSOCKET_EXTENSIONS, v);
    }
    r
}

/// The `200` an HTTP/2 server answers a validated extended CONNECT with (RFC 8441 §5): the
/// chosen subprotocol and extensions, no `Sec-WebSocket-Accept`.
pub fn h2_accept_response(protocol: Option<&str>, extensions: Option<&str>) -> Response<()> {
    let mut r = Response::new(());
    let h = r.headers_mut();
    if let Some(v) = protocol.and_then(|p| HeaderValue::from_str(p).ok()) {
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, v);
    }
    if let Some(v) = extensions.and_then(|e| HeaderValue::from_str(e).ok()) {
        h.insert(header::SEC_WEBSOCKET_EXTENSIONS, v);
    }
    r
}

/// Writes a response head (status line, headers, blank line) and `body`.
pub fn write_response<B>(resp: &Response<B>, body: &[u8], out: &mut Vec<u8>) {
    let status = resp.status();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
    write_headers(resp.headers(), out);
    if status != StatusCode::SWITCHING_PROTOCOLS
        && !resp.headers().contains_key(header::CONTENT_LENGTH)
    {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

fn write_headers(headers: &HeaderMap, out: &mut Vec<u8>) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// A client's upgrade request.
#[derive(Debug, Clone)]
pub struct ClientRequest {
    /// The `Host` header value (`host` or `host:port`).
    pub host: String,
    /// Path and query.
    pub path: String,
    /// The `Sec-WebSocket-Key`; [`ClientRequest::new`] generates a random one.
    pub key: String,
    /// Subprotocols to offer, in order of preference.
    pub protocols: Vec<String>,
    /// permessage-deflate to offer, if any.
    pub deflate: Option<DeflateConfig>,
    /// The `Origin` header.
    pub origin: Option<String>,
    /// Extra headers.
    pub headers: HeaderMap,
}

impl ClientRequest {
    /// The permessage-deflate offer made: none without the `deflate` feature, whatever
    /// [`deflate`](Self::deflate) says.
    fn offered_deflate(&self) -> Option<&DeflateConfig> {
        if cfg!(feature = "deflate") {
            self.deflate.as_ref()
        } else {
            None
        }
    }

    /// Whether the handshake writes header `name` itself (so a caller's own is left out).
    fn writes_itself(&self, name: &header::HeaderName) -> bool {
        matches!(
            name.as_str(),
            "host" | "upgrade" | "connection" | "sec-websocket-key" | "sec-websocket-version"
        ) || (name == header::SEC_WEBSOCKET_PROTOCOL && !self.protocols.is_empty())
            || (name == header::SEC_WEBSOCKET_EXTENSIONS && self.offered_deflate().is_some())
            || (name == header::ORIGIN && self.origin.is_some())
    }

    /// A request for `path` on `host`, with a fresh key and nothing else offered.
    pub fn new(host: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            path: path.into(),
            key: generate_key(),
            protocols: Vec::new(),
            deflate: None,
            origin: None,
            headers: HeaderMap::new(),
        }
    }

    /// Encodes the request head.
    ///
    /// ```
    /// use wsx_proto::handshake::ClientRequest;
    /// let mut r = ClientRequest::new("example.com", "/chat");
    /// r.protocols = vec!["chat".into(), "superchat".into()];
    /// let head = String::from_utf8(r.encode()).unwrap();
    /// assert!(head.starts_with("GET /chat HTTP/1.1\r\nhost: example.com\r\n"));
    /// assert!(head.contains("sec-websocket-protocol: chat, superchat\r\n"));
    /// assert!(head.ends_with("\r\n\r\n"));
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"GET ");
        out.extend_from_slice(if self.path.is_empty() {
            b"/"
        } else {
            self.path.as_bytes()
        });
        out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        // A caller's own Host header replaces the one derived from the URL.
        match self.headers.get(header::HOST) {
            Some(h) => out.extend_from_slice(h.as_bytes()),
            None => out.extend_from_slice(self.host.as_bytes()),
        }
        out.extend_from_slice(b"\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: ");
        out.extend_from_slice(self.key.as_bytes());
        out.extend_from_slice(b"\r\n");
        if !self.protocols.is_empty() {
            out.extend_from_slice(b"sec-websocket-protocol: ");
            out.extend_from_slice(self.protocols.join(", ").as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if let Some(d) = self.offered_deflate() {
            out.extend_from_slice(b"sec-websocket-extensions: ");
            out.extend_from_slice(d.offer().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if let Some(o) = &self.origin {
            out.extend_from_slice(b"origin: ");
            out.extend_from_slice(o.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        // The handshake's own headers are not duplicated by the caller's.
        for (name, value) in &self.headers {
            if !self.writes_itself(name) {
                out.extend_from_slice(name.as_str().as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(value.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// Checks the server's response (RFC 6455 §4.1): status 101, `Upgrade` and `Connection`,
    /// the accept hash, and that the subprotocol and extensions chosen were offered.
    pub fn verify<B>(&self, resp: &Response<B>) -> Result<Negotiated, HandshakeError> {
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(unexpected_status(resp));
        }
        let h = resp.headers();
        if !has_token(h, &header::UPGRADE, "websocket") {
            return Err(HandshakeError::MissingUpgrade);
        }
        if !has_token(h, &header::CONNECTION, "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        let expected = accept_key(self.key.as_bytes());
        match h.get(header::SEC_WEBSOCKET_ACCEPT) {
            Some(v) if v.as_bytes().trim_ascii() == expected.as_bytes() => {}
            _ => return Err(HandshakeError::InvalidAccept),
        }
        self.negotiated(h)
    }

    /// The request as an HTTP/2 extended CONNECT (RFC 8441 §4): `CONNECT` to
    /// `scheme://authority/path` with the same subprotocols, extensions, origin and headers
    /// as [`encode`](Self::encode), and no key. The `:protocol` pseudo-header (`websocket`) is
    /// the HTTP/2 library's to add.
    ///
    /// ```
    /// use wsx_proto::handshake::ClientRequest;
    /// let mut r = ClientRequest::new("example.com", "/chat?room=1");
    /// r.protocols = vec!["chat".into()];
    /// let req = r.h2_request("https").unwrap();
    /// assert_eq!(req.method(), "CONNECT");
    /// assert_eq!(req.uri(), "https://example.com/chat?room=1");
    /// assert_eq!(req.headers()["sec-websocket-version"], "13");
    /// assert_eq!(req.headers()["sec-websocket-protocol"], "chat");
    /// assert!(!req.headers().contains_key("sec-websocket-key"));
    /// ```
    pub fn h2_request(&self, scheme: &str) -> Result<Request<()>, HandshakeError> {
        let authority = match self.headers.get(header::HOST) {
            Some(h) => h
                .to_str()
                .map_err(|_| HandshakeError::Malformed("bad Host header".into()))?,
            None => self.host.as_str(),
        };
        let path = if self.path.is_empty() {
            "/"
        } else {
            self.path.as_str()
        };
        let uri: http::Uri = format!("{scheme}://{authority}{path}")
            .parse()
            .map_err(|_| HandshakeError::Malformed(format!("bad target {authority}{path}")))?;
        let mut req = Request::new(());
        *req.method_mut() = Method::CONNECT;
        *req.uri_mut() = uri;
        *req.version_mut() = Version::HTTP_2;
        let h = req.headers_mut();
        for (name, value) in &self.headers {
            if !self.writes_itself(name) {
                h.append(name.clone(), value.clone());
            }
        }
        h.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        let value = |s: &str| {
            HeaderValue::from_str(s)
                .map_err(|_| HandshakeError::Malformed(format!("bad header {s:?}")))
        };
        if !self.protocols.is_empty() {
            h.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                value(&self.protocols.join(", "))?,
            );
        }
        if let Some(d) = self.offered_deflate() {
            h.insert(header::SEC_WEBSOCKET_EXTENSIONS, value(&d.offer())?);
        }
        if let Some(o) = &self.origin {
            h.insert(header::ORIGIN, value(o)?);
        }
        Ok(req)
    }

    /// Checks the server's answer to [`h2_request`](Self::h2_request) (RFC 8441 §5): status
    /// 200, and that the subprotocol and extensions chosen were offered.
    pub fn verify_h2<B>(&self, resp: &Response<B>) -> Result<Negotiated, HandshakeError> {
        if resp.status() != StatusCode::OK {
            return Err(unexpected_status(resp));
        }
        self.negotiated(resp.headers())
    }

    /// The subprotocol and extensions a response settled, each checked against the offer.
    fn negotiated(&self, h: &HeaderMap) -> Result<Negotiated, HandshakeError> {
        let mut protocol = None;
        let mut protos = h.get_all(header::SEC_WEBSOCKET_PROTOCOL).iter();
        if let Some(p) = protos.next() {
            let p = p
                .to_str()
                .map_err(|_| HandshakeError::InvalidProtocolHeader)?
                .trim();
            if protos.next().is_some() || !self.protocols.iter().any(|o| o == p) {
                return Err(HandshakeError::UnexpectedProtocol(p.to_owned()));
            }
            protocol = Some(p.to_owned());
        }
        let ext_values: Vec<&str> = h
            .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .map(|v| {
                v.to_str()
                    .map_err(|_| HandshakeError::InvalidExtensionHeader)
            })
            .collect::<Result<_, _>>()?;
        let exts = parse_extensions(ext_values)?;
        let mut deflate = None;
        for e in &exts {
            match self.offered_deflate() {
                Some(cfg) if deflate.is_none() => deflate = Some(cfg.confirm(e)?),
                _ => return Err(HandshakeError::UnexpectedExtension(e.name.clone())),
            }
        }
        Ok(Negotiated { protocol, deflate })
    }
}

/// A response that is not the handshake's answer: its status, and where it redirects to.
fn unexpected_status<B>(resp: &Response<B>) -> HandshakeError {
    HandshakeError::UnexpectedStatus {
        status: resp.status().as_u16(),
        location: resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// What a handshake settled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Negotiated {
    /// The subprotocol, if one was selected.
    pub protocol: Option<String>,
    /// permessage-deflate parameters, if it was negotiated.
    pub deflate: Option<DeflateParams>,
}

/// Parses a response head from the start of `buf` (see [`parse_request`] for the contract).
pub fn parse_response(
    buf: &[u8],
    max_bytes: usize,
) -> Result<Option<(Response<()>, usize)>, HandshakeError> {
    let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut raw);
    let Some(n) = head_len(resp.parse(buf), buf.len(), max_bytes)? else {
        return Ok(None);
    };
    let mut out = Response::new(());
    *out.status_mut() = StatusCode::from_u16(resp.code.unwrap_or(0))
        .map_err(|_| HandshakeError::Malformed("bad status code".into()))?;
    *out.version_mut() = if resp.version == Some(1) {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    fill_headers(out.headers_mut(), resp.headers)?;
    Ok(Some((out, n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "GET /chat?x=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";

    /// An HTTP/2 extended CONNECT as hyper hands it over.
    fn h2(method: Method, version: Version, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder()
            .method(method)
            .version(version)
            .uri("https://example.com/chat");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn http2_extended_connect_rfc_8441() {
        let ok = h2(
            Method::CONNECT,
            Version::HTTP_2,
            &[
                ("sec-websocket-version", "13"),
                ("sec-websocket-protocol", "chat, superchat"),
                ("sec-websocket-extensions", "permessage-deflate"),
            ],
        );
        let up = validate_h2_request(&ok, Some("websocket")).unwrap();
        assert_eq!(up.protocols, ["chat", "superchat"]);
        assert_eq!(up.extensions.len(), 1);
        assert!(up.key.is_empty());
        // The :protocol is compared as a token, case-insensitively.
        assert!(validate_h2_request(&ok, Some("WebSocket")).is_ok());
        assert_eq!(
            validate_h2_request(&ok, Some("chat")),
            Err(HandshakeError::UnsupportedProtocol("chat".into()))
        );
        assert!(matches!(
            validate_h2_request(&ok, None),
            Err(HandshakeError::UnsupportedProtocol(_))
        ));
        let v = [("sec-websocket-version", "13")];
        assert_eq!(
            validate_h2_request(&h2(Method::GET, Version::HTTP_2, &v), Some("websocket")),
            Err(HandshakeError::MethodNotAllowed)
        );
        assert_eq!(
            validate_h2_request(
                &h2(Method::CONNECT, Version::HTTP_11, &v),
                Some("websocket")
            ),
            Err(HandshakeError::BadHttpVersion)
        );
        assert_eq!(
            validate_h2_request(
                &h2(Method::CONNECT, Version::HTTP_2, &[]),
                Some("websocket")
            ),
            Err(HandshakeError::UnsupportedVersion)
        );
        let r = h2_accept_response(Some("chat"), Some("permessage-deflate"));
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::SEC_WEBSOCKET_PROTOCOL], "chat");
        assert!(!r.headers().contains_key(header::SEC_WEBSOCKET_ACCEPT));
        assert!(!r.headers().contains_key(header::UPGRADE));
    }

    fn req(s: &str) -> Result<UpgradeRequest, HandshakeError> {
        let (r, _) = parse_request(s.as_bytes(), DEFAULT_MAX_HEADER_BYTES)?.expect("complete");
        validate_request(&r)
    }

    #[cfg(not(feature = "deflate"))]
    #[test]
    fn without_the_deflate_feature_nothing_offers_or_accepts_it() {
        let mut c = ClientRequest::new("h", "/");
        c.deflate = Some(DeflateConfig::default());
        let head = String::from_utf8(c.encode()).unwrap();
        assert!(!head.contains("sec-websocket-extensions"), "{head}");
        let offers = crate::deflate::parse_extensions(["permessage-deflate"]).unwrap();
        assert!(DeflateConfig::default().accept(&offers).is_none());
        // A server answering with it anyway is refused: it was not offered.
        assert!(matches!(
            c.verify(&accept_response(&c.key, None, Some("permessage-deflate"))),
            Err(HandshakeError::UnexpectedExtension(_))
        ));
    }

    #[test]
    fn valid_request_is_understood() {
        let u = req(GOOD).unwrap();
        assert_eq!(u.key, "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(u.protocols, ["chat", "superchat"]);
        assert_eq!(u.extensions[0].name, "permessage-deflate");
    }

    #[test]
    fn each_bad_header_gets_its_error_and_status() {
        let cases: &[(&str, &str, HandshakeError, u16)] = &[
            (
                "GET /chat",
                "POST /chat",
                HandshakeError::MethodNotAllowed,
                405,
            ),
            (
                "HTTP/1.1\r\nHost",
                "HTTP/1.0\r\nHost",
                HandshakeError::BadHttpVersion,
                505,
            ),
            (
                "Host: server.example.com\r\n",
                "",
                HandshakeError::MissingHost,
                400,
            ),
            (
                "Upgrade: WebSocket",
                "Upgrade: h2c",
                HandshakeError::MissingUpgrade,
                400,
            ),
            (
                "keep-alive, Upgrade",
                "keep-alive",
                HandshakeError::MissingConnectionUpgrade,
                400,
            ),
            (
                "dGhlIHNhbXBsZSBub25jZQ==",
                "dGhlIHNhbXBsZQ==",
                HandshakeError::InvalidKey,
                400,
            ),
            (
                "Version: 13",
                "Version: 8",
                HandshakeError::UnsupportedVersion,
                426,
            ),
            (
                "chat, superchat",
                "chat, chat",
                HandshakeError::InvalidProtocolHeader,
                400,
            ),
            (
                "; client_max_window_bits",
                ";;",
                HandshakeError::InvalidExtensionHeader,
                400,
            ),
        ];
        for (from, to, err, status) in cases {
            let e = req(&GOOD.replacen(from, to, 1)).unwrap_err();
            assert_eq!(&e, err, "{from} -> {to}");
            assert_eq!(e.status().as_u16(), *status);
        }
        let r = HandshakeError::UnsupportedVersion.response();
        assert_eq!(r.headers()["sec-websocket-version"], "13");
    }

    #[test]
    fn head_size_limit() {
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(100));
        assert!(matches!(
            parse_request(big.as_bytes(), 64),
            Err(HandshakeError::HeadersTooLarge(64))
        ));
        assert!(
            parse_request(b"GET / HTTP/1.1\r\nHost: a\r\n", 64)
                .unwrap()
                .is_none()
        );
    }

    #[cfg(feature = "deflate")]
    #[test]
    fn client_verifies_the_response() {
        let mut c = ClientRequest::new("h", "/");
        c.protocols = vec!["a".into()];
        c.deflate = Some(DeflateConfig::default());
        let good = accept_response(
            &c.key,
            Some("a"),
            Some("permessage-deflate; client_max_window_bits=12"),
        );
        let n = c.verify(&good).unwrap();
        assert_eq!(n.protocol.as_deref(), Some("a"));
        assert_eq!(n.deflate.unwrap().client_max_window_bits, 12);
        assert!(matches!(
            c.verify(&accept_response("AAAAAAAAAAAAAAAAAAAAAA==", None, None)),
            Err(HandshakeError::InvalidAccept)
        ));
        assert!(matches!(
            c.verify(&accept_response(&c.key, Some("b"), None)),
            Err(HandshakeError::UnexpectedProtocol(_))
        ));
        assert!(matches!(
            c.verify(&accept_response(&c.key, None, Some("x-foo"))),
            Err(HandshakeError::UnexpectedExtension(_))
        ));
        c.deflate = None;
        assert!(
            c.verify(&accept_response(&c.key, None, Some("permessage-deflate")))
                .is_err()
        );
    }

    #[test]
    fn caller_headers_never_duplicate_the_handshake_headers() {
        let mut c = ClientRequest::new("derived", "/");
        for (k, v) in [
            ("host", "custom:1"),
            ("sec-websocket-key", "x"),
            ("upgrade", "h2c"),
            ("x-extra", "1"),
        ] {
            c.headers.append(
                header::HeaderName::from_static(k),
                HeaderValue::from_static(v),
            );
        }
        let head = String::from_utf8(c.encode()).unwrap();
        let (req, _) = parse_request(head.as_bytes(), DEFAULT_MAX_HEADER_BYTES)
            .unwrap()
            .unwrap();
        assert_eq!(req.headers().get_all("host").iter().count(), 1);
        assert_eq!(req.headers()["host"], "custom:1");
        assert_eq!(req.headers().get_all("sec-websocket-key").iter().count(), 1);
        assert_eq!(req.headers()["upgrade"], "websocket");
        assert_eq!(req.headers()["x-extra"], "1");
        assert!(validate_request(&req).is_ok());
    }

    #[test]
    fn response_roundtrip() {
        let r = accept_response("dGhlIHNhbXBsZSBub25jZQ==", Some("chat"), None);
        let mut out = Vec::new();
        write_response(&r, b"", &mut out);
        let (p, n) = parse_response(&out, 1024).unwrap().unwrap();
        assert_eq!(n, out.len());
        assert_eq!(p.status(), 101);
        assert_eq!(
            p.headers()["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
