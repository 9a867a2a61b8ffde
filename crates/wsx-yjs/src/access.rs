//! Who may do what: the request an auth hook sees and the access it grants.

use std::borrow::Cow;
use std::net::SocketAddr;

use http::{HeaderMap, Uri};

/// What a connection may do in its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read the document and awareness, send updates and awareness.
    ReadWrite,
    /// Read the document and awareness and send awareness (presence); document updates from
    /// this connection are dropped, as y-protocols' read-only rule says.
    ReadOnly,
}

/// The upgrade request an auth hook decides on.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub(crate) room: String,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) peer: Option<SocketAddr>,
}

impl AuthRequest {
    /// A request for `room` (for tests and other front ends than hyper).
    pub fn new(
        room: impl Into<String>,
        uri: Uri,
        headers: HeaderMap,
        peer: Option<SocketAddr>,
    ) -> Self {
        Self {
            room: room.into(),
            uri,
            headers,
            peer,
        }
    }

    /// The room (document) asked for.
    pub fn room(&self) -> &str {
        &self.room
    }

    /// The request's path.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The raw query string, if any.
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    /// The first value of query parameter `name`, percent-decoded (y-websocket's `params`
    /// option puts auth tokens there).
    ///
    /// ```
    /// # use wsx_yjs::AuthRequest;
    /// let req = AuthRequest::new("pad", "/yjs/pad?token=a%20b".parse().unwrap(), Default::default(), None);
    /// assert_eq!(req.query_param("token").as_deref(), Some("a b"));
    /// assert_eq!(req.query_param("other"), None);
    /// ```
    pub fn query_param(&self, name: &str) -> Option<Cow<'_, str>> {
        let q = self.uri.query()?;
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The request headers (cookies, `Authorization`, `Sec-WebSocket-Protocol`, ...).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The `Origin` header, if any.
    pub fn origin(&self) -> Option<&str> {
        self.headers
            .get(http::header::ORIGIN)
            .and_then(|v| v.to_str().ok())
    }

    /// The peer's address, when the server knows it.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }
}
