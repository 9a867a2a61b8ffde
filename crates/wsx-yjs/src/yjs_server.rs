//! The document server: rooms by name, each loaded on its first connection and freed after its
//! last one leaves (plus a grace period), the auth hook, and the loop that serves a connection.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, OnceCell, Semaphore};
use wsx::{Acceptor, CloseCode, Message, Rejection, WebSocket};

use crate::access::{Access, AuthRequest};
use crate::cluster::{Cluster, RoomLink};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::journal::{Journal, JournalStats};
use crate::message;
use crate::room::Room;
use crate::store::Store;

type AuthFuture = Pin<Box<dyn Future<Output = std::result::Result<Access, Rejection>> + Send>>;
type AuthFn = dyn Fn(AuthRequest) -> AuthFuture + Send + Sync;

/// Builds a [`YjsServer`].
pub struct YjsServerBuilder {
    config: Config,
    store: Option<Box<dyn Store>>,
    cluster: Option<Arc<dyn Cluster>>,
    auth: Option<Arc<AuthFn>>,
    acceptor: Option<Acceptor>,
}

impl std::fmt::Debug for YjsServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YjsServerBuilder")
            .field("config", &self.config)
            .field("store", &self.store.is_some())
            .field("cluster", &self.cluster.is_some())
            .field("auth", &self.auth.is_some())
            .finish_non_exhaustive()
    }
}

impl YjsServerBuilder {
    /// Keeps documents in `store` (without one, a document lives only while it is open).
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Box::new(store));
        self
    }

    /// Shares rooms with other processes through `cluster` (e.g. `wsx_redis::YjsRedis`).
    pub fn cluster(mut self, cluster: impl Cluster) -> Self {
        self.cluster = Some(Arc::new(cluster));
        self
    }

    /// Decides each upgrade: `Ok(access)` or `Err(rejection)` (the HTTP status and body the
    /// client gets). Without a hook every connection may read and write.
    pub fn auth<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(AuthRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<Access, Rejection>> + Send + 'static,
    {
        self.auth = Some(Arc::new(move |req| Box::pin(f(req))));
        self
    }

    /// All settings at once.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// How long a document stays loaded after its last connection left.
    pub fn grace(mut self, d: Duration) -> Self {
        self.config.grace = d;
        self
    }

    /// After how long without renewal an awareness state is dropped.
    pub fn awareness_timeout(mut self, d: Duration) -> Self {
        self.config.awareness_timeout = d;
        self
    }

    /// After how long without updates a document is held encoded.
    pub fn encode_idle_after(mut self, d: Duration) -> Self {
        self.config.encode_idle_after = d;
        self
    }

    /// Below what size of its encoded state a document is held encoded while it is edited
    /// (see [`Config::keep_encoded_below`]).
    pub fn keep_encoded_below(mut self, bytes: usize) -> Self {
        self.config.keep_encoded_below = bytes;
        self
    }

    /// The largest message a client may send.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.config.max_message_size = bytes;
        self
    }

    /// Compaction thresholds: after `updates` updates or `bytes` bytes of updates.
    pub fn compact_after(mut self, updates: u64, bytes: u64) -> Self {
        self.config.compact_after_updates = updates.max(1);
        self.config.compact_after_bytes = bytes.max(1);
        self
    }

    /// The WebSocket settings for upgrades through [`YjsServer::upgrade`] (permessage-deflate,
    /// heartbeat, origins, ...). Its `max_payload` is set to the configured message size.
    pub fn acceptor(mut self, acceptor: Acceptor) -> Self {
        self.acceptor = Some(acceptor);
        self
    }

    /// Starts the server's tasks (the journal and the awareness sweeper) on the current tokio
    /// runtime.
    pub fn build(self) -> YjsServer {
        let config = Arc::new(self.config);
        let acceptor = self
            .acceptor
            .unwrap_or_default()
            .max_payload(config.max_message_size);
        let inner = Arc::new(Inner {
            rooms: Mutex::new(HashMap::new()),
            journal: self.store.map(Journal::start),
            cluster: self.cluster,
            auth: self.auth,
            acceptor,
            next_conn: AtomicU64::new(1),
            config,
            left: Notify::new(),
        });
        tokio::spawn(sweep(Arc::downgrade(&inner)));
        YjsServer { inner }
    }
}

/// A y-websocket-compatible Yjs document server.
///
/// ```no_run
/// # async fn demo() -> wsx_yjs::Result<()> {
/// use wsx_yjs::{Access, YjsServer, store::SqliteStore};
///
/// let yjs = YjsServer::builder()
///     .store(SqliteStore::open("docs.db")?)
///     .auth(|req| async move {
///         match req.query_param("token").as_deref() {
///             Some("viewer") => Ok(Access::ReadOnly),
///             _ => Ok(Access::ReadWrite),
///         }
///     })
///     .build();
/// // In a hyper service: `yjs.upgrade(&mut req, room).await` for requests under `/yjs/`.
/// # let _ = yjs; Ok(()) }
/// ```
#[derive(Clone)]
pub struct YjsServer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for YjsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YjsServer")
            .field("rooms", &self.open_rooms())
            .finish_non_exhaustive()
    }
}

struct Inner {
    rooms: Mutex<HashMap<Arc<str>, Slot>>,
    journal: Option<Journal>,
    cluster: Option<Arc<dyn Cluster>>,
    auth: Option<Arc<AuthFn>>,
    acceptor: Acceptor,
    next_conn: AtomicU64,
    config: Arc<Config>,
    /// Notified whenever a connection leaves (for [`YjsServer::shutdown`]).
    left: Notify,
}

/// A room's place in the map: loaded once by its first user, counted so it is freed only when
/// nobody holds it.
struct Slot {
    room: Arc<OnceCell<Arc<Room>>>,
    users: usize,
    generation: u64,
}

/// How long opening a room waits for the cluster to bring it up to date.
const CLUSTER_OPEN_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest room name accepted, in bytes.
const MAX_ROOM_LEN: usize = 1024;

impl YjsServer {
    /// A builder with the default [`Config`] and no store.
    pub fn builder() -> YjsServerBuilder {
        YjsServerBuilder {
            config: Config::default(),
            store: None,
            cluster: None,
            auth: None,
            acceptor: None,
        }
    }

    /// Rooms loaded now.
    pub fn open_rooms(&self) -> usize {
        self.inner.lock_rooms().len()
    }

    /// Rooms whose document is held encoded now, being idle (see
    /// [`Config::encode_idle_after`]).
    pub fn encoded_rooms(&self) -> usize {
        self.inner
            .loaded_rooms()
            .iter()
            .filter(|r| r.is_encoded())
            .count()
    }

    /// Connections in all rooms.
    pub fn connections(&self) -> usize {
        self.inner.loaded_rooms().iter().map(|r| r.members()).sum()
    }

    /// The journal's counters (`None` without a store).
    pub fn journal_stats(&self) -> Option<Arc<JournalStats>> {
        self.inner.journal.as_ref().map(|j| j.stats().clone())
    }

    /// Upgrades a hyper request to a connection in `room`: runs the auth hook, answers the
    /// handshake, and serves the connection on a task of its own. Returns the response to send
    /// (`101`, or the rejection). The peer's address is read from the request's extensions
    /// (a `SocketAddr`), where a server may put it.
    pub async fn upgrade<B>(&self, req: &mut Request<B>, room: &str) -> Response<String> {
        if room.is_empty() || room.len() > MAX_ROOM_LEN {
            return Rejection::new(StatusCode::NOT_FOUND, "no such document\n").into_response();
        }
        let peer = req.extensions().get::<SocketAddr>().copied();
        let access = match &self.inner.auth {
            None => Access::ReadWrite,
            Some(auth) => {
                let ask = AuthRequest::new(room, req.uri().clone(), req.headers().clone(), peer);
                match auth(ask).await {
                    Ok(a) => a,
                    Err(r) => return r.into_response(),
                }
            }
        };
        let (response, fut) = match wsx::hyper::upgrade(req, &self.inner.acceptor) {
            Ok(v) => v,
            Err(r) => return r.into_response(),
        };
        let server = self.clone();
        let room: Arc<str> = room.into();
        tokio::spawn(async move {
            match fut.await {
                Ok(ws) => server.serve(ws, room, access).await,
                Err(e) => tracing::debug!("yjs upgrade failed: {e}"),
            }
        });
        response
    }

    /// Serves an established connection in `room` with `access` until it closes.
    pub async fn serve<S>(&self, mut ws: WebSocket<S>, room: impl Into<Arc<str>>, access: Access)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let name: Arc<str> = room.into();
        let room = match self.inner.acquire(&name).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(room = %name, "cannot open document: {e}");
                let _ = ws.close(CloseCode::INTERNAL, "cannot open document").await;
                drain(&mut ws).await;
                self.inner.release(&name);
                return;
            }
        };
        let id = self.inner.next_conn.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = room.join(id, ws.sender(), access) {
            tracing::error!(room = %name, "cannot read document: {e}");
            let _ = ws.close(CloseCode::INTERNAL, "cannot read document").await;
            drain(&mut ws).await;
            self.inner.release(&name);
            return;
        }
        let in_flight = Arc::new(Semaphore::new(self.inner.config.in_flight_per_connection));
        let sender = ws.sender();
        let mut closing = false;
        while let Some(r) = ws.recv().await {
            let failure = match r {
                Ok(_) if closing => None,
                Ok(Message::Binary(frame)) => match message::read_frame(&frame) {
                    Ok(msgs) => {
                        let permit = if msgs.iter().any(|m| m.is_write()) {
                            in_flight.clone().acquire_owned().await.ok()
                        } else {
                            None
                        };
                        room.handle(id, msgs, permit).err()
                    }
                    Err(e) => Some(e),
                },
                Ok(Message::Text(_)) => Some(Error::TextFrame),
                Ok(_) => None,
                Err(e) => {
                    tracing::debug!(room = %name, "connection error: {e}");
                    None
                }
            };
            if let Some(e) = failure {
                tracing::debug!(room = %name, "closing a connection: {e}");
                sender.close(e.close_code(), &close_reason(&e));
                closing = true;
            }
        }
        room.leave(id);
        self.inner.release(&name);
        self.inner.left.notify_waiters();
    }

    /// Closes every connection with 1001 (going away), waits up to `timeout` for them to
    /// finish closing and until everything accepted is stored, then closes the store (its
    /// file is free for another server). The server takes no more updates after this.
    pub async fn shutdown(&self, timeout: Duration) {
        let rooms = self.inner.loaded_rooms();
        for r in &rooms {
            r.close_all(CloseCode::GOING_AWAY, "server shutting down");
        }
        let _ = tokio::time::timeout(timeout, async {
            loop {
                let left = self.inner.left.notified();
                if self.connections() == 0 {
                    break;
                }
                left.await;
            }
        })
        .await;
        for r in &rooms {
            r.compact_if_needed();
        }
        if let Some(j) = &self.inner.journal {
            j.stop().await;
        }
    }

    /// Waits until every update accepted so far is stored.
    pub async fn flush(&self) {
        if let Some(j) = &self.inner.journal {
            j.flush().await;
        }
    }

    /// The whole state of `room` as one v1 update, loading it if needed (for tests, exports
    /// and server-side readers).
    pub async fn snapshot(&self, room: &str) -> Result<Vec<u8>> {
        let name: Arc<str> = room.into();
        let r = self.inner.acquire(&name).await;
        let out = r.as_ref().map(|r| r.snapshot());
        if r.is_ok() {
            self.inner.release(&name);
        }
        out.map_err(|e| Error::store(e.to_string()))
    }
}

impl Inner {
    fn lock_rooms(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Slot>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The rooms loaded now.
    fn loaded_rooms(&self) -> Vec<Arc<Room>> {
        self.lock_rooms()
            .values()
            .filter_map(|s| s.room.get().cloned())
            .collect()
    }

    /// The room `name`, loaded if it is not; counted as used until [`Inner::release`].
    async fn acquire(&self, name: &Arc<str>) -> Result<Arc<Room>> {
        let cell = {
            let mut rooms = self.lock_rooms();
            let slot = rooms.entry(name.clone()).or_insert_with(|| Slot {
                room: Arc::new(OnceCell::new()),
                users: 0,
                generation: 0,
            });
            slot.users += 1;
            slot.generation += 1;
            slot.room.clone()
        };
        let room = cell
            .get_or_try_init(|| async {
                let stored: crate::store::Stored = match &self.journal {
                    Some(j) => j.load(name.clone()).await?,
                    None => Default::default(),
                };
                let had_history = stored.state.is_some() || !stored.updates.is_empty();
                let room = Arc::new(Room::load(
                    name.clone(),
                    stored,
                    self.journal.clone(),
                    self.cluster.clone(),
                    self.config.clone(),
                )?);
                if let Some(c) = &self.cluster {
                    let weak: std::sync::Weak<Room> = Arc::downgrade(&room);
                    let link = RoomLink {
                        name: name.clone(),
                        room: weak,
                        had_history,
                    };
                    match tokio::time::timeout(CLUSTER_OPEN_TIMEOUT, c.open(link)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::warn!(room = %name, "cluster: {e}; serving the local copy")
                        }
                        Err(_) => tracing::warn!(
                            room = %name,
                            "cluster: no answer in {CLUSTER_OPEN_TIMEOUT:?}; serving the local copy until it catches up"
                        ),
                    }
                }
                Ok::<_, Error>(room)
            })
            .await?;
        Ok(room.clone())
    }

    /// Gives back a use of `name`; the last one frees the room after the grace period.
    fn release(self: &Arc<Self>, name: &Arc<str>) {
        let generation = {
            let mut rooms = self.lock_rooms();
            let Some(slot) = rooms.get_mut(name) else {
                return;
            };
            slot.users -= 1;
            if slot.users > 0 {
                return;
            }
            if slot.room.get().is_none() {
                // It never loaded: nothing to keep.
                rooms.remove(name);
                return;
            }
            slot.generation
        };
        let weak = Arc::downgrade(self);
        let name = name.clone();
        let grace = self.config.grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let Some(inner) = weak.upgrade() else { return };
            let freed = {
                let mut rooms = inner.lock_rooms();
                match rooms.get(&name) {
                    Some(s) if s.users == 0 && s.generation == generation => rooms.remove(&name),
                    _ => None,
                }
            };
            if let Some(room) = freed.and_then(|s| s.room.get().cloned()) {
                if let Some(c) = &inner.cluster {
                    c.close(&name);
                }
                room.compact_if_needed();
                tracing::debug!(room = %name, "document freed");
            }
        });
    }
}

/// Drops stale awareness states of every open room, every tenth of the timeout.
async fn sweep(inner: Weak<Inner>) {
    let period = match inner.upgrade() {
        Some(i) => (i.config.awareness_timeout / 10).max(Duration::from_millis(100)),
        None => return,
    };
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let rooms = inner.loaded_rooms();
        drop(inner);
        let now = crate::room::now_ms();
        for r in rooms {
            r.sweep(now);
        }
    }
}

/// A close reason within the 123 bytes a close frame allows.
fn close_reason(e: &Error) -> String {
    let mut s = e.to_string();
    if s.len() > 120 {
        let mut end = 120;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

async fn drain<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(ws: &mut WebSocket<S>) {
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while ws.recv().await.is_some() {}
    })
    .await;
}
