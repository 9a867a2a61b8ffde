//! Connections driven by callbacks instead of a task each (`Server::serve_events`): the way
//! µWebSockets and `ws`'s `on('message')` work, for servers that hold many mostly idle
//! connections.
//!
//! A handful of driver tasks (one per runtime worker) each own a slab of connections. A
//! connection's socket, timers and senders wake it through a small waker of its own that lists
//! it in its driver's ready queue; the driver polls the listed connections and calls the
//! [`Handler`]. An idle connection costs its state, its socket's registration, one slab entry
//! and one waker: no task, no future.

use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use http::Request;
use wsx_proto::{CloseCode, Message};

use crate::active::ActiveGuard;
use crate::clients::Clients;
use crate::error::Error;
use crate::queue::{Queue, SendStatus};
use crate::registry::ClientId;
use crate::stream::MaybeTlsStream;
use crate::websocket::{Info, Sender, Shared, lock};

/// Callbacks for [`Server::serve_events`](crate::Server::serve_events).
///
/// They run on the driver task that owns the connection, so they must not block: send with
/// the non-blocking [`Conn::send`], and spawn a task for slow work (give it a
/// [`Conn::sender`]). A callback that panics terminates its connection only.
pub trait Handler: Send + Sync + 'static {
    /// Per-connection state, made by [`open`](Handler::open) and handed to every later call.
    type State: Send + 'static;

    /// A client completed the handshake. `request` is the upgrade request (path, query,
    /// headers); it is not kept after this call.
    fn open(&self, conn: &Conn<'_>, request: &Request<()>) -> Self::State;

    /// A message arrived: text and binary, and also pings, pongs and the close frame, as
    /// [`WebSocket::recv`](crate::WebSocket::recv) returns them (pings are answered and the
    /// closing handshake completed without the handler's help).
    fn message(&self, state: &mut Self::State, conn: &Conn<'_>, msg: Message);

    /// The connection is gone; `error` is why, unless the closing handshake completed.
    fn close(&self, state: Self::State, conn: &Conn<'_>, error: Option<Error>) {
        let _ = (state, conn, error);
    }
}

/// A connection as the [`Handler`] sees it. Sends never wait: they are written at once if the
/// socket takes them and queued otherwise (the driver writes the rest), under the
/// connection's slow-consumer policy.
pub struct Conn<'a> {
    shared: &'a Shared<MaybeTlsStream>,
    info: Option<&'a Info>,
    id: ClientId,
    /// Known in `open`; asked of the socket later (not kept: 32 bytes per connection).
    peer: Option<SocketAddr>,
}

impl Conn<'_> {
    /// The client's id in [`Server::clients`](crate::Server::clients).
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// The peer's address (`None` once the socket is gone).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
            .or_else(|| lock(self.shared).io().tcp()?.peer_addr().ok())
    }

    /// The subprotocol the handshake selected (empty string if none).
    pub fn protocol(&self) -> &str {
        self.info.and_then(|i| i.protocol.as_deref()).unwrap_or("")
    }

    /// The extensions the handshake negotiated.
    pub fn extensions(&self) -> &str {
        self.info
            .and_then(|i| i.extensions.as_deref())
            .unwrap_or("")
    }

    /// Sends a message (compressed if negotiated and over the threshold).
    pub fn send(&self, msg: Message) -> SendStatus {
        lock(self.shared).queue_message(msg, true, false).0
    }

    /// Sends a message, choosing whether it may be compressed.
    pub fn send_with(&self, msg: Message, compress: bool) -> SendStatus {
        lock(self.shared).queue_message(msg, compress, false).0
    }

    /// Starts the closing handshake; [`Handler::close`] follows when it completes.
    pub fn close(&self, code: impl Into<CloseCode>, reason: &str) -> SendStatus {
        lock(self.shared).queue_close(code.into(), reason)
    }

    /// Drops the connection without a closing handshake.
    pub fn terminate(&self) {
        lock(self.shared).kill("terminated locally");
    }

    /// Bytes queued but not yet written.
    pub fn buffered_amount(&self) -> usize {
        lock(self.shared).buffered()
    }

    /// A cloneable handle for sending from elsewhere (another task, a registry).
    pub fn sender(&self) -> Sender {
        Sender::from_shared(self.shared.clone())
    }
}

/// One connection in a driver's slab.
struct Entry<T> {
    shared: Shared<MaybeTlsStream>,
    /// Only when the handshake selected a subprotocol or extensions.
    info: Option<Arc<Info>>,
    /// Set once the entry is in a driver's slab.
    waker: Option<Arc<EntryWaker<T>>>,
    id: ClientId,
    state: Option<T>,
}

impl<T> Entry<T> {
    fn conn(&self) -> Conn<'_> {
        Conn {
            shared: &self.shared,
            info: self.info.as_deref(),
            id: self.id,
            peer: None,
        }
    }
}

/// What wakers and the accept loop hand a driver.
struct Queues<T> {
    ready: Vec<u32>,
    incoming: Vec<Entry<T>>,
    waker: Option<Waker>,
    /// The server stopped: the driver ends once its connections have.
    stopped: bool,
}

struct Inbox<T> {
    queues: Mutex<Queues<T>>,
}

impl<T> Inbox<T> {
    fn lock(&self) -> MutexGuard<'_, Queues<T>> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self, f: impl FnOnce(&mut Queues<T>)) {
        let waker = {
            let mut q = self.lock();
            f(&mut q);
            q.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// A connection's waker: lists the connection in its driver's ready queue (once until the
/// driver polls it).
struct EntryWaker<T> {
    slot: u32,
    queued: AtomicBool,
    inbox: Arc<Inbox<T>>,
}

impl<T: Send + 'static> Wake for EntryWaker<T> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.inbox.notify(|q| q.ready.push(self.slot));
        }
    }
}

/// The accept loop's handle on the drivers: hands each new connection to the next one.
pub(crate) struct Drivers<H: Handler> {
    handler: Arc<H>,
    clients: Clients,
    inboxes: Vec<Arc<Inbox<H::State>>>,
    next: std::sync::atomic::AtomicUsize,
}

impl<H: Handler> Drivers<H> {
    /// Starts one driver per runtime worker.
    pub(crate) fn start(handler: Arc<H>, clients: Clients, active: Arc<AtomicUsize>) -> Arc<Self> {
        let workers = tokio::runtime::Handle::current()
            .metrics()
            .num_workers()
            .max(1);
        let inboxes = (0..workers)
            .map(|_| {
                let inbox = Arc::new(Inbox {
                    queues: Mutex::new(Queues {
                        ready: Vec::new(),
                        incoming: Vec::new(),
                        waker: None,
                        stopped: false,
                    }),
                });
                // Outside tokio's cooperative budget: with it, a poll that reaches many
                // ready connections would find all but the first hundred or so "out of
                // budget", and each would be polled, fail and be queued again. A poll is
                // bounded anyway: the connections ready when it began, at most PER_CONN
                // messages each; then other tasks run.
                tokio::spawn(tokio::task::unconstrained(Driver {
                    handler: handler.clone(),
                    clients: clients.clone(),
                    active: active.clone(),
                    inbox: inbox.clone(),
                    pages: Vec::new(),
                    free: Vec::new(),
                    live: 0,
                    batch: Vec::new(),
                }));
                inbox
            })
            .collect();
        Arc::new(Self {
            handler,
            clients,
            inboxes,
            next: Default::default(),
        })
    }

    /// Runs `open` for a connection that completed its handshake and hands it to a driver.
    pub(crate) fn adopt(
        &self,
        ws: crate::websocket::WebSocket<MaybeTlsStream>,
        request: Request<()>,
        peer: SocketAddr,
        guard: ActiveGuard,
    ) {
        let sender = ws.sender();
        let (shared, info) = ws.into_parts();
        let info = (info.protocol.is_some() || info.extensions.is_some()).then_some(info);
        let id = self.clients.insert(sender);
        let mut entry = Entry {
            shared,
            info,
            waker: None,
            id,
            state: None,
        };
        let conn = Conn {
            peer: Some(peer),
            ..entry.conn()
        };
        match catch_unwind(AssertUnwindSafe(|| self.handler.open(&conn, &request))) {
            Ok(state) => entry.state = Some(state),
            Err(_) => {
                tracing::error!(%peer, "the open handler panicked: connection dropped");
                self.clients.remove(id);
                return;
            }
        }
        drop(request);
        // The driver counts the connection as active until it ends (a guard in each entry
        // would cost 8 bytes per connection).
        std::mem::forget(guard);
        let n = self.next.fetch_add(1, Ordering::Relaxed) % self.inboxes.len();
        self.inboxes[n].notify(|q| q.incoming.push(entry));
    }
}

impl<H: Handler> Drop for Drivers<H> {
    fn drop(&mut self) {
        for inbox in &self.inboxes {
            inbox.notify(|q| q.stopped = true);
        }
    }
}

/// Most messages one connection is given in a row before the driver moves on. Also how many
/// broadcasts from one publisher share a batch (one write per receiver): at 16, 10,000
/// receivers and 32 broadcasts in flight cost 0.79 µs of server CPU per delivery, at 64
/// 0.65 µs (`bench/run.sh -c fanout10k`).
const PER_CONN: usize = 64;

/// Slab entries per page: the slab grows a page at a time, not by doubling.
const PAGE: usize = 64;

type Page<T> = Box<[Option<Entry<T>>]>;

struct Driver<H: Handler> {
    handler: Arc<H>,
    clients: Clients,
    active: Arc<AtomicUsize>,
    inbox: Arc<Inbox<H::State>>,
    pages: Vec<Page<H::State>>,
    free: Vec<u32>,
    live: usize,
    /// The ready list being worked through (swapped with the inbox's, to keep both buffers).
    batch: Vec<u32>,
}

impl<H: Handler> Driver<H> {
    fn entry(&mut self, slot: u32) -> Option<&mut Option<Entry<H::State>>> {
        let slot = slot as usize;
        self.pages.get_mut(slot / PAGE)?.get_mut(slot % PAGE)
    }

    fn insert(&mut self, mut entry: Entry<H::State>) {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                // Every slot of the pages is taken: add a page, its slots to the free list.
                let first = self.pages.len() * PAGE;
                self.pages.push(
                    (0..PAGE)
                        .map(|_| None)
                        .collect::<Vec<_>>()
                        .into_boxed_slice(),
                );
                self.free
                    .extend((first + 1..first + PAGE).rev().map(|s| s as u32));
                first as u32
            }
        };
        let waker = Arc::new(EntryWaker {
            slot,
            queued: AtomicBool::new(false),
            inbox: self.inbox.clone(),
        });
        // Polled once to register with the socket (and to read what came with the handshake).
        waker.wake_by_ref();
        entry.waker = Some(waker);
        if let Some(e) = self.entry(slot) {
            *e = Some(entry);
            self.live += 1;
        }
    }

    /// Polls one connection: delivers what it has received, ends it when it closed.
    fn run(&mut self, slot: u32) {
        let (handler, pages) = (&self.handler, &mut self.pages);
        let slot_ref = pages
            .get_mut(slot as usize / PAGE)
            .and_then(|p| p.get_mut(slot as usize % PAGE));
        let Some(Some(entry)) = slot_ref else {
            return; // a stale wake for a connection already gone
        };
        let Some(own) = entry.waker.clone() else {
            return;
        };
        // Cleared before the poll, so a wake during it lists the connection again.
        own.queued.store(false, Ordering::Release);
        let waker = Waker::from(own);
        let mut cx = Context::from_waker(&waker);
        let mut error = None;
        for n in 0.. {
            if n == PER_CONN {
                // Enough for now: come back after the others.
                waker.wake_by_ref();
                return;
            }
            let polled = lock(&entry.shared).poll_next(&mut cx);
            match polled {
                Poll::Pending => return,
                Poll::Ready(Some(Ok(msg))) => {
                    let Some(state) = entry.state.as_mut() else {
                        return;
                    };
                    let conn = Conn {
                        shared: &entry.shared,
                        info: entry.info.as_deref(),
                        id: entry.id,
                        peer: None,
                    };
                    if catch_unwind(AssertUnwindSafe(|| handler.message(state, &conn, msg)))
                        .is_err()
                    {
                        tracing::error!(
                            id = entry.id.0,
                            "the message handler panicked: connection terminated"
                        );
                        conn.terminate();
                    }
                }
                Poll::Ready(Some(Err(e))) => error = Some(e),
                Poll::Ready(None) => break,
            }
        }
        let Some(mut entry) = self.entry(slot).and_then(Option::take) else {
            return;
        };
        self.free.push(slot);
        self.live -= 1;
        self.active.fetch_sub(1, Ordering::AcqRel);
        self.clients.remove(entry.id);
        if let Some(state) = entry.state.take() {
            let handler = &self.handler;
            let conn = entry.conn();
            if catch_unwind(AssertUnwindSafe(|| handler.close(state, &conn, error))).is_err() {
                tracing::error!(id = entry.id.0, "the close handler panicked");
            }
        }
        if self.live == 0 {
            // Give the slab back after a burst of connections has gone.
            self.pages = Vec::new();
            self.free = Vec::new();
        }
    }
}

// The driver never pins what it holds.
impl<H: Handler> Unpin for Driver<H> {}

impl<H: Handler> std::future::Future for Driver<H> {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let (incoming, stopped) = {
            let mut q = this.inbox.lock();
            match &q.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => q.waker = Some(cx.waker().clone()),
            }
            std::mem::swap(&mut q.ready, &mut this.batch);
            (std::mem::take(&mut q.incoming), q.stopped)
        };
        for entry in incoming {
            this.insert(entry);
        }
        // Only what was ready when this poll began: what becomes ready meanwhile (a
        // connection out of tokio's cooperative budget wakes itself at once) waits for the
        // next poll, which the wake has already scheduled.
        let mut batch = std::mem::take(&mut this.batch);
        for &slot in &batch {
            this.run(slot);
        }
        batch.clear();
        this.batch = batch;
        if stopped && this.live == 0 {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}
