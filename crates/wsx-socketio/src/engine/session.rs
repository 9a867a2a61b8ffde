//! One Engine.IO session: its sid, its transport, the queue the polling transport drains,
//! the heartbeat and the close.

use std::any::Any;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::task::{Wake, Waker};
use std::time::SystemTime;

use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, Request, Uri};
use tokio::sync::Notify;
use tokio::time::Instant;
use wsx::{SendStatus, Utf8Bytes};

use super::budget::QueueAccount;
use super::heartbeat::{Beat, Beating, Heartbeats};
use super::{Engine, EngineInner};
use crate::engineio::{self, Handshake, RECORD_SEPARATOR};

/// A message of the application, without the Engine.IO `4` prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageData {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

/// The transport a session currently uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

impl TransportKind {
    /// Engine.IO's name of the transport: `polling` or `websocket`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Polling => "polling",
            TransportKind::WebSocket => "websocket",
        }
    }
}

/// Why a session closed, with Node's reason strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client closed: a `1` packet, the WebSocket closing, or an aborted long-poll.
    TransportClose,
    /// The transport failed: a WebSocket error, an oversized message, overlapping requests.
    TransportError,
    /// No pong within the ping timeout.
    PingTimeout,
    /// The client sent a packet that does not decode.
    ParseError,
    /// The server closed the session ([`Session::close`]).
    ForcedClose,
    /// The server is shutting down.
    ServerShutdown,
    /// The client did not read its queued packets fast enough.
    SlowConsumer,
}

impl CloseReason {
    /// Node's reason string (`"transport close"`, `"ping timeout"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TransportClose => "transport close",
            CloseReason::TransportError => "transport error",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ParseError => "parse error",
            CloseReason::ForcedClose => "forced close",
            CloseReason::ServerShutdown => "server shutting down",
            CloseReason::SlowConsumer => "transport error",
        }
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the handshake request said: its URI, headers and peer address.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// The request URI (path and query).
    pub uri: Uri,
    /// The headers as `name \n value \n` pairs in one allocation: a `HeaderMap` costs
    /// about 600 bytes per client for a handful of headers, kept for the session's life and
    /// mostly never read. [`RequestInfo::headers`] builds one on first use.
    raw_headers: Box<[u8]>,
    /// Boxed: the map (about 100 bytes even empty) is for the few sessions that ask.
    headers: OnceLock<Box<HeaderMap>>,
    /// The client's address, when the server recorded it.
    pub remote_addr: Option<SocketAddr>,
    /// When the session was created.
    pub issued: SystemTime,
}

impl RequestInfo {
    /// Copies what the session keeps of the request. hyper's header values and URI are
    /// slices of its 8 KiB read buffer: cloning them would keep that whole buffer alive for
    /// the life of the session, so the bytes are copied out instead.
    pub(crate) fn from_request<B>(req: &Request<B>) -> Self {
        let size = req
            .headers()
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 2)
            .sum();
        let mut raw = Vec::with_capacity(size);
        for (name, value) in req.headers() {
            // Header values never hold a line feed, so it can separate them.
            raw.extend_from_slice(name.as_str().as_bytes());
            raw.push(b'\n');
            raw.extend_from_slice(value.as_bytes());
            raw.push(b'\n');
        }
        let uri = req
            .uri()
            .path_and_query()
            .and_then(|pq| Uri::try_from(pq.as_str()).ok())
            .unwrap_or_else(|| req.uri().clone());
        RequestInfo {
            uri,
            raw_headers: raw.into_boxed_slice(),
            headers: OnceLock::new(),
            remote_addr: super::peer_addr(req),
            issued: SystemTime::now(),
        }
    }

    fn header_pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut parts = self.raw_headers.split(|&b| b == b'\n');
        std::iter::from_fn(move || Some((parts.next()?, parts.next()?)))
    }

    /// The request headers (built from the compact copy on first use).
    pub fn headers(&self) -> &HeaderMap {
        self.headers.get_or_init(|| {
            let mut map = HeaderMap::new();
            for (name, value) in self.header_pairs() {
                if let (Ok(n), Ok(v)) = (
                    http::HeaderName::from_bytes(name),
                    http::HeaderValue::from_bytes(value),
                ) {
                    map.append(n, v);
                }
            }
            Box::new(map)
        })
    }

    /// The first value of header `name` (any case), without building the header map.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.header_pairs()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The value of query parameter `name`, percent-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        let query = self.uri.query()?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// A packet ready for either transport.
#[derive(Debug, Clone)]
pub(crate) enum Out {
    /// The whole text packet, type digit included.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Out {
    fn len(&self) -> usize {
        match self {
            Out::Text(t) => t.len(),
            Out::Binary(b) => b.len() * 4 / 3 + 4,
        }
    }

    pub(crate) fn to_ws(&self) -> wsx::Message {
        match self {
            Out::Text(t) => wsx::Message::Text(t.clone()),
            Out::Binary(b) => wsx::Message::Binary(b.clone()),
        }
    }

    fn write_polling(&self, buf: &mut BytesMut) {
        match self {
            Out::Text(t) => buf.put_slice(t.as_bytes()),
            Out::Binary(b) => {
                buf.put_u8(b'b');
                let start = buf.len();
                buf.resize(start + base64::encoded_len(b.len(), true).unwrap_or(0), 0);
                let n = base64::engine::general_purpose::STANDARD
                    .encode_slice(b, &mut buf[start..])
                    .unwrap_or(0);
                buf.truncate(start + n);
            }
        }
    }

    /// A text frame we encoded ourselves (valid UTF-8 by construction).
    pub(crate) fn text(b: Bytes) -> Self {
        Out::Text(utf8(b))
    }

    pub(crate) fn message(message: MessageData) -> Self {
        match message {
            MessageData::Binary(b) => Out::Binary(b),
            MessageData::Text(t) => {
                let mut buf = BytesMut::with_capacity(1 + t.len());
                buf.put_u8(b'4');
                buf.put_slice(t.as_bytes());
                Out::Text(utf8(buf.freeze()))
            }
        }
    }

    fn packet(packet: &engineio::Packet<'_>) -> Self {
        let mut buf = BytesMut::new();
        packet.encode_text(&mut buf);
        Out::Text(utf8(buf.freeze()))
    }
}

/// Bytes we encoded ourselves from `str` data.
fn utf8(b: Bytes) -> Utf8Bytes {
    Utf8Bytes::try_from(b).unwrap_or_default()
}

pub(crate) enum Transport {
    Polling,
    WebSocket(wsx::Sender),
}

struct State {
    transport: Transport,
    queue: VecDeque<Out>,
    queued_bytes: usize,
    /// The queue's share of the server's memory budget, if it has one.
    account: Option<Box<QueueAccount>>,
    /// A GET is waiting for packets.
    poll_waiting: bool,
    /// A POST is being read.
    post_active: bool,
    /// A WebSocket answered the probe and waits for `5`.
    probe: Option<wsx::Sender>,
    closed: Option<CloseReason>,
    /// A close is scheduled, for this reason: accept no more packets. The session closes for
    /// it even if its transport ends first (a slow consumer's connection, terminated by the
    /// send that found it over its limit, wakes its reader before the scheduled close runs).
    closing: Option<CloseReason>,
    /// What a pending GET gets once the session is closed: `1`, or `6` when the client closed.
    farewell: Option<Out>,
    awaiting_pong: bool,
    /// When the current (or next) ping is due, on the ideal schedule: the session is dead at
    /// `ping_due + ping_timeout` unless a pong moved it, however late the timer runs.
    ping_due: Instant,
}

/// Closes its session when the memory budget needs its queue gone, from a task of its own
/// (the budget wakes it from wherever memory was counted, possibly under the session's lock).
struct Evictor(Weak<Session>);

impl Wake for Evictor {
    fn wake(self: Arc<Self>) {
        let Some(session) = self.0.upgrade() else {
            return;
        };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            tracing::debug!(
                sid = session.sid(),
                "memory budget: closing a polling session"
            );
            rt.spawn(async move { session.close(CloseReason::SlowConsumer) });
        }
    }
}

impl State {
    /// Counts the polling queue against the memory budget.
    fn settle(&mut self) {
        let queued = self.queued_bytes;
        if let Some(a) = self.account.as_mut() {
            a.settle(queued);
        }
    }
}

/// An Engine.IO session (one client, whatever its transport).
pub struct Session {
    sid: Arc<str>,
    info: Arc<RequestInfo>,
    state: Mutex<State>,
    poll_notify: Notify,
    engine: Weak<EngineInner>,
    data: OnceLock<Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("sid", &self.sid)
            .field("transport", &self.transport())
            .finish_non_exhaustive()
    }
}

/// A fresh 20-character session id (15 random bytes, URL-safe base64), like Node's `base64id`.
pub(crate) fn generate_id() -> String {
    let bytes: [u8; 15] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Session {
    pub(crate) fn new(info: RequestInfo, transport: Transport, engine: &Engine) -> Arc<Self> {
        Arc::new_cyclic(|me| Session {
            sid: generate_id().into(),
            info: Arc::new(info),
            state: Mutex::new(State {
                transport,
                queue: VecDeque::new(),
                queued_bytes: 0,
                account: engine
                    .inner
                    .config
                    .memory_budget
                    .as_ref()
                    .map(|b| QueueAccount::new(b, Waker::from(Arc::new(Evictor(me.clone()))))),
                poll_waiting: false,
                post_active: false,
                probe: None,
                closed: None,
                closing: None,
                farewell: None,
                awaiting_pong: false,
                ping_due: Instant::now() + engine.inner.config.ping_interval,
            }),
            poll_notify: Notify::new(),
            engine: Arc::downgrade(&engine.inner),
            data: OnceLock::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session id.
    pub fn sid(&self) -> &str {
        &self.sid
    }

    pub(crate) fn sid_arc(&self) -> Arc<str> {
        self.sid.clone()
    }

    /// The handshake request.
    pub fn request(&self) -> &RequestInfo {
        &self.info
    }

    /// The handshake request, shared (the sockets of every namespace point to it).
    pub fn request_shared(&self) -> Arc<RequestInfo> {
        self.info.clone()
    }

    /// The current transport.
    pub fn transport(&self) -> TransportKind {
        match self.state().transport {
            Transport::Polling => TransportKind::Polling,
            Transport::WebSocket(_) => TransportKind::WebSocket,
        }
    }

    /// Whether the session is closed.
    pub fn is_closed(&self) -> bool {
        self.state().closed.is_some()
    }

    /// Attaches the handler's state to the session (once; later calls are ignored).
    pub fn set_data(&self, data: Arc<dyn Any + Send + Sync>) {
        let _ = self.data.set(data);
    }

    /// The handler's state, if set and of type `T`.
    pub fn data<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.data.get().cloned()?.downcast::<T>().ok()
    }

    /// Bytes waiting for the client (polling queue or WebSocket send queue).
    pub fn buffered_amount(&self) -> usize {
        let st = self.state();
        match &st.transport {
            Transport::Polling => st.queued_bytes,
            Transport::WebSocket(s) => s.buffered_amount(),
        }
    }

    /// Whether a packet sent now would go out at once: a long-poll is waiting, or the
    /// WebSocket's send queue is empty.
    pub fn writable(&self) -> bool {
        let st = self.state();
        st.closed.is_none()
            && match &st.transport {
                Transport::Polling => st.poll_waiting,
                Transport::WebSocket(s) => s.buffered_amount() == 0,
            }
    }

    /// Sends a message. Returns `false` if the session is closed (or was just closed as a slow
    /// consumer).
    pub fn send(self: &Arc<Self>, message: MessageData) -> bool {
        self.send_out([Out::message(message)])
    }

    /// Sends pre-encoded packets, in order and atomically (no other packet in between).
    pub(crate) fn send_out(self: &Arc<Self>, packets: impl IntoIterator<Item = Out>) -> bool {
        self.send_out_with(packets, true, false)
    }

    /// [`send_out`](Self::send_out), choosing whether WebSocket frames may be compressed,
    /// and whether they are written at once or with the other frames of this turn's
    /// broadcasts (`batched`, [`wsx::Sender::send_batched`]): a room broadcast wants one
    /// write per receiver for a burst of messages, an ack to its sender wants no wait.
    pub(crate) fn send_out_with(
        self: &Arc<Self>,
        packets: impl IntoIterator<Item = Out>,
        compress: bool,
        batched: bool,
    ) -> bool {
        let mut st = self.state();
        if st.closed.is_some() || st.closing.is_some() {
            return false;
        }
        match &st.transport {
            Transport::WebSocket(sender) => {
                for p in packets {
                    let status = if batched {
                        sender.send_batched(p.to_ws(), compress)
                    } else {
                        sender.send_with(p.to_ws(), compress)
                    };
                    match status {
                        SendStatus::Queued | SendStatus::Backpressure => {}
                        SendStatus::Dropped | SendStatus::Closed => {
                            drop(st);
                            self.close_later(CloseReason::SlowConsumer);
                            return false;
                        }
                    }
                }
                true
            }
            Transport::Polling => {
                for p in packets {
                    st.queued_bytes += p.len();
                    st.queue.push_back(p);
                }
                st.settle();
                let over = st.queued_bytes > self.max_buffered();
                drop(st);
                if over {
                    self.close_later(CloseReason::SlowConsumer);
                    return false;
                }
                self.poll_notify.notify_one();
                true
            }
        }
    }

    fn max_buffered(&self) -> usize {
        self.engine
            .upgrade()
            .map_or(usize::MAX, |e| e.config.max_buffered)
    }

    /// Closes the session: a pending long-poll ends with a `1` packet, a WebSocket is closed.
    /// Packets already queued are still delivered first. Does nothing if already closed.
    pub fn close(self: &Arc<Self>, reason: CloseReason) {
        self.close_with(reason, Out::packet(&engineio::Packet::Close), false);
    }

    /// The WebSocket this session writes to, while it is open, and whether permessage-deflate
    /// is configured for it (then frames to it may be compressed).
    pub(crate) fn ws_sender(&self) -> Option<(wsx::Sender, bool)> {
        let st = self.state();
        if st.closed.is_some() || st.closing.is_some() {
            return None;
        }
        let Transport::WebSocket(sender) = &st.transport else {
            return None;
        };
        let deflate = self
            .engine
            .upgrade()
            .is_some_and(|e| e.config.ws_deflate.is_some());
        Some((sender.clone(), deflate))
    }

    /// A send straight to this session's WebSocket found it gone or over its limit: close the
    /// session as a slow consumer, as [`send_out`](Self::send_out) does (once).
    pub(crate) fn slow_consumer(self: &Arc<Self>) {
        let st = self.state();
        if st.closed.is_some() || st.closing.is_some() {
            return;
        }
        drop(st);
        self.close_later(CloseReason::SlowConsumer);
    }

    /// Closes from a send path: the session is marked closed at once (later sends fail), but
    /// the close handlers run on a new task, so that a sender holding its own locks (a room
    /// being broadcast to) is never re-entered by a disconnect handler.
    fn close_later(self: &Arc<Self>, reason: CloseReason) {
        let session = self.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                self.state().closing = Some(reason);
                rt.spawn(async move { session.close(reason) });
            }
            Err(_) => session.close(reason),
        }
    }

    /// The client sent `1`: a pending long-poll gets `6`.
    pub(crate) fn close_by_client(self: &Arc<Self>) {
        self.close_with(
            CloseReason::TransportClose,
            Out::packet(&engineio::Packet::Noop),
            true,
        );
    }

    fn close_with(self: &Arc<Self>, reason: CloseReason, farewell: Out, by_client: bool) {
        let (ws, probe, linger, reason) = {
            let mut st = self.state();
            if st.closed.is_some() {
                return;
            }
            let reason = st.closing.unwrap_or(reason);
            st.closed = Some(reason);
            st.farewell = Some(farewell);
            let ws = match &st.transport {
                Transport::WebSocket(s) => Some(s.clone()),
                Transport::Polling => None,
            };
            // A polling client with no GET waiting gets its farewell on the next GET (Node's
            // `shouldClose`): the sid stays routable until then, or for a grace period.
            let linger = by_client && ws.is_none() && !st.poll_waiting;
            if reason == CloseReason::SlowConsumer || (!linger && !st.poll_waiting) {
                // Nobody will read the queue: free it (and its share of the memory budget).
                st.queue = VecDeque::new();
                st.queued_bytes = 0;
                st.settle();
            }
            (ws, st.probe.take(), linger, reason)
        };
        tracing::debug!(sid = %self.sid, %reason, "engine.io session closed");
        let transport = if ws.is_some() {
            TransportKind::WebSocket
        } else {
            TransportKind::Polling
        };
        super::metrics::closed(transport.as_str(), reason.as_str());
        for s in ws.iter().chain(probe.iter()) {
            let _ = s.close(wsx::CloseCode::NORMAL, "");
        }
        self.poll_notify.notify_one();
        if let Some(engine) = self.engine.upgrade() {
            if linger {
                let grace = engine.config.ping_interval + engine.config.ping_timeout;
                let session = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    session.forget();
                });
            } else {
                engine.sessions().remove(&*self.sid);
            }
            engine.handler.on_close(self, reason);
        }
    }

    /// Removes the closed session from the engine's routing table.
    fn forget(&self) {
        if let Some(engine) = self.engine.upgrade() {
            let mut sessions = engine.sessions();
            if sessions
                .get(&*self.sid)
                .is_some_and(|s| std::ptr::eq(Arc::as_ptr(s), self))
            {
                sessions.remove(&*self.sid);
            }
        }
    }

    /// The `open` packet for this session.
    pub(crate) fn open_packet(&self, engine: &EngineInner, upgrades: Vec<String>) -> Out {
        let c = &engine.config;
        Out::packet(&engineio::Packet::Open(Handshake {
            sid: self.sid.to_string(),
            upgrades,
            ping_interval: c.ping_interval.as_millis() as u64,
            ping_timeout: c.ping_timeout.as_millis() as u64,
            max_payload: c.max_payload as u64,
        }))
    }

    /// Handles a packet from the client (either transport).
    pub(crate) fn on_packet(self: &Arc<Self>, packet: engineio::Packet<'_>) {
        use engineio::Packet as P;
        match packet {
            P::Pong(_) => {
                let Some(engine) = self.engine.upgrade() else {
                    return;
                };
                let next = {
                    let mut st = self.state();
                    if !st.awaiting_pong || st.closed.is_some() {
                        return;
                    }
                    st.awaiting_pong = false;
                    st.ping_due = Instant::now() + engine.config.ping_interval;
                    st.ping_due
                };
                engine.heartbeats.schedule(self, Beat::Ping, next);
            }
            P::Message(text) => self.deliver(MessageData::Text(Utf8Bytes::from(&*text))),
            P::Binary(data) => self.deliver(MessageData::Binary(data)),
            P::Close => self.close_by_client(),
            P::Open(_) | P::Ping(_) | P::Upgrade | P::Noop => {}
        }
    }

    pub(crate) fn deliver(self: &Arc<Self>, message: MessageData) {
        if let Some(engine) = self.engine.upgrade() {
            engine.handler.on_message(self, message);
        }
    }

    // ----- heartbeat -----

    /// Schedules the first ping (Node sends it `ping_interval` after the handshake).
    pub(crate) fn start_heartbeat(self: &Arc<Self>) {
        if let Some(engine) = self.engine.upgrade() {
            let due = self.state().ping_due;
            engine.heartbeats.schedule(self, Beat::Ping, due);
        }
    }

    /// Whether the client missed its pong deadline (checked on every request, so that a
    /// timer running late never keeps a dead session answering).
    pub(crate) fn expired(&self) -> bool {
        let Some(engine) = self.engine.upgrade() else {
            return false;
        };
        let st = self.state();
        st.closed.is_none() && Instant::now() >= st.ping_due + engine.config.ping_timeout
    }

    // ----- polling transport -----

    /// Registers a GET; `Err` if the session is not polling (or closed), `Ok(false)` if another
    /// GET is already waiting.
    pub(crate) fn begin_poll(&self) -> Result<bool, ()> {
        let mut st = self.state();
        let lingering = st.closed == Some(CloseReason::TransportClose) && st.farewell.is_some();
        if (st.closed.is_some() && !lingering) || !matches!(st.transport, Transport::Polling) {
            return Err(());
        }
        if st.poll_waiting {
            return Ok(false);
        }
        st.poll_waiting = true;
        Ok(true)
    }

    /// The body for the waiting GET, if it can be answered now.
    pub(crate) fn take_poll_body(&self) -> Option<Bytes> {
        let mut st = self.state();
        let upgrading = st.probe.is_some();
        let polling = matches!(st.transport, Transport::Polling);
        let farewell = if st.closed.is_some() {
            let farewell = st.farewell.take();
            if farewell.is_some() {
                self.forget();
            }
            farewell
        } else if !polling || (upgrading && st.queue.is_empty()) {
            Some(Out::packet(&engineio::Packet::Noop))
        } else {
            None
        };
        if st.queue.is_empty() && farewell.is_none() {
            return None;
        }
        let mut buf = BytesMut::with_capacity(st.queued_bytes + 8);
        for (i, p) in st.queue.drain(..).chain(farewell).enumerate() {
            if i > 0 {
                buf.put_u8(RECORD_SEPARATOR);
            }
            p.write_polling(&mut buf);
        }
        st.queued_bytes = 0;
        st.settle();
        st.poll_waiting = false;
        Some(buf.freeze())
    }

    /// Waits until the pending GET may be answered.
    pub(crate) fn poll_notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.poll_notify.notified()
    }

    /// A GET was aborted by the client.
    pub(crate) fn abort_poll(self: &Arc<Self>) {
        let was_waiting = std::mem::replace(&mut self.state().poll_waiting, false);
        if was_waiting {
            self.close(CloseReason::TransportClose);
        }
    }

    /// Starts reading a POST; `Err(true)` if another POST is being read, `Err(false)` if the
    /// session is not polling.
    pub(crate) fn begin_post(&self) -> Result<(), bool> {
        let mut st = self.state();
        if st.closed.is_some() || !matches!(st.transport, Transport::Polling) {
            return Err(false);
        }
        if st.post_active {
            return Err(true);
        }
        st.post_active = true;
        Ok(())
    }

    pub(crate) fn end_post(&self) {
        self.state().post_active = false;
    }

    // ----- upgrade -----

    /// Whether a WebSocket may upgrade this session now.
    pub(crate) fn can_upgrade(&self) -> bool {
        let st = self.state();
        st.closed.is_none() && matches!(st.transport, Transport::Polling) && st.probe.is_none()
    }

    /// The probe succeeded on `ws`: answer the pending GET with `6` so the client pauses
    /// polling.
    pub(crate) fn begin_upgrade(&self, ws: &wsx::Sender) -> bool {
        {
            let mut st = self.state();
            if st.closed.is_some() || st.probe.is_some() {
                return false;
            }
            st.probe = Some(ws.clone());
        }
        self.poll_notify.notify_one();
        true
    }

    /// The client sent `5` on `ws`: move the queue to it and make it the transport.
    pub(crate) fn finish_upgrade(&self, ws: &wsx::Sender) -> bool {
        let mut st = self.state();
        if st.closed.is_some() || st.probe.is_none() {
            return false;
        }
        st.probe = None;
        for p in st.queue.drain(..) {
            let _ = ws.send(p.to_ws());
        }
        st.queued_bytes = 0;
        st.settle();
        st.transport = Transport::WebSocket(ws.clone());
        drop(st);
        super::metrics::upgraded();
        self.poll_notify.notify_one();
        true
    }

    /// The upgrade failed or timed out: stay on polling.
    pub(crate) fn cancel_upgrade(&self, ws: &wsx::Sender) {
        let mut st = self.state();
        if st.probe.as_ref().is_some_and(|p| same_sender(p, ws)) {
            st.probe = None;
        }
    }

    /// The addresses of the queued frames' bytes (to check that broadcasts share them).
    #[cfg(test)]
    pub(crate) fn queued_frame_ptrs(&self) -> Vec<*const u8> {
        self.state()
            .queue
            .iter()
            .map(|o| match o {
                Out::Text(t) => t.as_bytes().as_ptr(),
                Out::Binary(b) => b.as_ptr(),
            })
            .collect()
    }

    /// Whether `ws` is this session's transport.
    pub(crate) fn is_transport(&self, ws: &wsx::Sender) -> bool {
        matches!(&self.state().transport, Transport::WebSocket(s) if same_sender(s, ws))
    }
}

impl Beating for Session {
    /// A heartbeat event came due (see [`super::heartbeat`]); stale ones are ignored.
    fn beat(self: &Arc<Self>, beat: Beat, heartbeats: &Arc<Heartbeats<Self>>) {
        let Some(engine) = self.engine.upgrade() else {
            return;
        };
        let now = Instant::now();
        match beat {
            Beat::Ping => {
                let deadline = {
                    let mut st = self.state();
                    if st.closed.is_some() || st.awaiting_pong || now < st.ping_due {
                        return;
                    }
                    st.awaiting_pong = true;
                    st.ping_due + engine.config.ping_timeout
                };
                if self.send_out([Out::packet(&engineio::Packet::ping())]) {
                    heartbeats.schedule(self, Beat::PongDeadline, deadline);
                }
            }
            Beat::PongDeadline => {
                let dead = {
                    let st = self.state();
                    st.closed.is_none()
                        && st.awaiting_pong
                        && now >= st.ping_due + engine.config.ping_timeout
                };
                if dead {
                    self.close(CloseReason::PingTimeout);
                }
            }
        }
    }
}

fn same_sender(a: &wsx::Sender, b: &wsx::Sender) -> bool {
    a.same_connection(b)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::Bytes;
    use http::{HeaderValue, Request};

    use super::RequestInfo;

    #[test]
    fn the_kept_request_does_not_pin_the_servers_read_buffer() {
        // hyper hands out header values and URIs that are slices of its read buffer.
        let buffer = Bytes::from(vec![b'x'; 8192]);
        let range = buffer.as_ptr() as usize..buffer.as_ptr() as usize + buffer.len();
        let value = HeaderValue::from_maybe_shared(buffer.slice(0..16)).unwrap();
        assert!(range.contains(&(value.as_bytes().as_ptr() as usize)));
        let req = Request::builder()
            .uri("/socket.io/?EIO=4&transport=polling")
            .header("x-long", value)
            .body(())
            .unwrap();
        let info = RequestInfo::from_request(&req);
        assert_eq!(info.header("X-Long"), Some(&[b'x'; 16][..]));
        let kept = info.headers().get("x-long").unwrap();
        assert_eq!(kept.as_bytes(), &[b'x'; 16]);
        assert!(
            !range.contains(&(kept.as_bytes().as_ptr() as usize)),
            "copied out, not shared"
        );
        assert_eq!(info.uri, "/socket.io/?EIO=4&transport=polling");
        assert_eq!(info.query("transport").as_deref(), Some("polling"));
    }
}
