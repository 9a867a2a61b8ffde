//! Engine.IO server settings and the CORS policy of the polling transport.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, Request, header};

use super::session::RequestInfo;

/// A predicate on the handshake request (`allowRequest` in Node): `false` answers 403.
pub type AllowRequest = Arc<dyn Fn(&RequestInfo) -> bool + Send + Sync>;

/// Engine.IO settings. The defaults are Node's `engine.io` defaults.
#[derive(Clone)]
#[non_exhaustive]
pub struct EngineConfig {
    /// The endpoint path (default `/engine.io/`; Socket.IO uses `/socket.io/`).
    pub path: String,
    /// Time between the server's pings (default 25 s).
    pub ping_interval: Duration,
    /// Time to wait for a pong before closing the session (default 20 s).
    pub ping_timeout: Duration,
    /// The largest message (WebSocket) or POST body (polling) accepted, in bytes (default
    /// 1,000,000, Node's `maxHttpBufferSize`).
    pub max_payload: usize,
    /// How long an upgrade may take from the WebSocket's opening to the `5` packet
    /// (default 10 s).
    pub upgrade_timeout: Duration,
    /// Accept the polling transport (default true).
    pub polling: bool,
    /// Accept the WebSocket transport (default true).
    pub websocket: bool,
    /// Bytes a session may have queued before it is closed as a slow consumer (default
    /// 16 MiB): on polling, the packets waiting for its next GET; on WebSocket, its send queue
    /// (wsx's [`Options::max_buffered`](wsx::Options::max_buffered)).
    pub max_buffered: usize,
    /// permessage-deflate on the WebSocket transport (default off, as in Node).
    pub ws_deflate: Option<wsx::DeflateConfig>,
    /// CORS headers for browsers polling from another origin (default none).
    pub cors: Option<Cors>,
    /// A predicate on every request before it is handled (default none: all allowed).
    pub allow_request: Option<AllowRequest>,
    /// A memory budget shared with other servers (default none): the WebSocket transport's
    /// buffers and the polling sessions' queues count against it, and past it the sessions
    /// that hold the most are closed (see [`wsx::MemoryBudget`]).
    pub memory_budget: Option<wsx::MemoryBudget>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            path: "/engine.io/".into(),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            max_payload: 1_000_000,
            upgrade_timeout: Duration::from_secs(10),
            polling: true,
            websocket: true,
            max_buffered: 16 << 20,
            ws_deflate: None,
            cors: None,
            allow_request: None,
            memory_budget: None,
        }
    }
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("path", &self.path)
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("max_payload", &self.max_payload)
            .field("upgrade_timeout", &self.upgrade_timeout)
            .field("polling", &self.polling)
            .field("websocket", &self.websocket)
            .field("cors", &self.cors)
            .finish_non_exhaustive()
    }
}

impl EngineConfig {
    /// Sets the endpoint path; a trailing `/` is added if missing.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        let mut path = path.into();
        if !path.ends_with('/') {
            path.push('/');
        }
        self.path = path;
        self
    }

    /// Sets the ping interval and timeout.
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.ping_interval = interval;
        self.ping_timeout = timeout;
        self
    }

    /// Sets the largest accepted message or POST body.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// Sets the send-queue bound past which a session is closed as a slow consumer.
    pub fn max_buffered(mut self, bytes: usize) -> Self {
        self.max_buffered = bytes;
        self
    }

    /// Chooses the transports (at least one should be on).
    pub fn transports(mut self, polling: bool, websocket: bool) -> Self {
        self.polling = polling;
        self.websocket = websocket;
        self
    }

    /// Sets the CORS policy.
    pub fn cors(mut self, cors: Cors) -> Self {
        self.cors = Some(cors);
        self
    }

    /// Counts the sessions' buffers against `budget`.
    pub fn memory_budget(mut self, budget: wsx::MemoryBudget) -> Self {
        self.memory_budget = Some(budget);
        self
    }

    /// Sets permessage-deflate for the WebSocket transport.
    pub fn ws_deflate(mut self, deflate: Option<wsx::DeflateConfig>) -> Self {
        self.ws_deflate = deflate;
        self
    }

    /// Sets the upgrade timeout.
    pub fn upgrade_timeout(mut self, timeout: Duration) -> Self {
        self.upgrade_timeout = timeout;
        self
    }

    /// Sets a predicate every request must pass (403 otherwise).
    pub fn allow_request(
        mut self,
        allow: impl Fn(&RequestInfo) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.allow_request = Some(Arc::new(allow));
        self
    }
}

/// Which cross-origin requests get CORS headers, like the `cors` option of Node's server.
///
/// ```
/// use wsx_socketio::engine::Cors;
/// let cors = Cors::origins(["https://example.com"]).credentials(true);
/// # let _ = cors;
/// ```
#[derive(Debug, Clone)]
pub struct Cors {
    origins: Option<Vec<String>>,
    credentials: bool,
    max_age: Option<u32>,
}

impl Cors {
    /// Any origin: its `Origin` is echoed back.
    pub fn any() -> Self {
        Cors {
            origins: None,
            credentials: false,
            max_age: None,
        }
    }

    /// Only these origins (`scheme://host[:port]`, compared exactly).
    pub fn origins<I: IntoIterator<Item = impl Into<String>>>(origins: I) -> Self {
        Cors {
            origins: Some(origins.into_iter().map(Into::into).collect()),
            credentials: false,
            max_age: None,
        }
    }

    /// Allows credentials (cookies) on cross-origin requests.
    pub fn credentials(mut self, on: bool) -> Self {
        self.credentials = on;
        self
    }

    /// How long browsers may cache a preflight answer, in seconds.
    pub fn max_age(mut self, seconds: u32) -> Self {
        self.max_age = Some(seconds);
        self
    }

    /// The CORS headers for `req`: none if it has no allowed `Origin`.
    pub(crate) fn headers_for<B>(&self, req: &Request<B>) -> HeaderMap {
        let mut h = HeaderMap::new();
        let Some(origin) = req.headers().get(header::ORIGIN) else {
            return h;
        };
        let allowed = match &self.origins {
            None => true,
            Some(list) => origin
                .to_str()
                .is_ok_and(|o| list.iter().any(|a| a.eq_ignore_ascii_case(o))),
        };
        if !allowed {
            return h;
        }
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        if self.credentials {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if req.method() == Method::OPTIONS {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET,HEAD,PUT,PATCH,POST,DELETE"),
            );
            if let Some(asked) = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
            }
            if let Some(age) = self.max_age {
                h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age));
            }
        }
        h
    }
}
