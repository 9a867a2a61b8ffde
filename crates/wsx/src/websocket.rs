//! `WebSocket<S>`: a connection over any `AsyncRead + AsyncWrite`, as a `Stream` of messages and
//! a `Sink` of messages, with split halves and cloneable send handles.
//!
//! All state lives in one `Inner` behind a mutex that is only held for the length of a poll.
//! Whoever polls the read side also drives pending output, so auto-pongs, close replies and
//! frames queued through handles go out without a task or channel per connection.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use wsx_proto::{CloseCode, Config, Connection, Message, OpCode, PreparedFrame, ReadyState, Role};

use crate::budget::{Account, MemoryBudget};
use crate::error::{Error, Result};
use crate::queue::{QUIETED, Queue, SendStatus, SharedQueue, with_queue};

/// What to do with a connection whose send queue is over [`Options::max_buffered`] when a
/// non-blocking send (a [`Sender`], a broadcast) adds to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowConsumer {
    /// Discard the new message and report [`SendStatus::Dropped`].
    Drop,
    /// Terminate the connection (the peer sees the TCP connection close; close code 1006).
    Close,
}

/// Per-connection options of the I/O layer (the protocol limits are in [`Config`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Protocol limits and behaviour.
    pub config: Config,
    /// How long to wait for the peer's close frame (or, on a client, for the server to close
    /// TCP) after sending ours, before dropping the connection (default 5 s).
    pub close_timeout: Duration,
    /// Send-queue size above which `send().await` waits and non-blocking sends apply
    /// [`Options::slow_consumer`] (default 16 MiB).
    pub max_buffered: usize,
    /// What non-blocking sends do past `max_buffered` (default [`SlowConsumer::Close`]).
    pub slow_consumer: SlowConsumer,
    /// Ping every `interval`; terminate if no pong within `timeout` (default off).
    pub heartbeat: Option<(Duration, Duration)>,
    /// A memory budget shared with other connections (default none: only the per-connection
    /// limits apply).
    pub memory_budget: Option<MemoryBudget>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            config: Config::default(),
            close_timeout: Duration::from_secs(5),
            max_buffered: 16 << 20,
            slow_consumer: SlowConsumer::Close,
            heartbeat: None,
            memory_budget: None,
        }
    }
}

/// Facts about a connection fixed by its handshake.
#[derive(Debug, Default)]
pub(crate) struct Info {
    pub protocol: Option<Box<str>>,
    pub extensions: Option<Box<str>>,
    pub url: Option<Box<str>>,
    pub peer_addr: Option<SocketAddr>,
}

impl Info {
    /// Connections that know nothing of their handshake (upgrades through hyper, raw
    /// streams) share one empty `Info` instead of allocating one each.
    fn shared(info: Info) -> Arc<Info> {
        static EMPTY: std::sync::OnceLock<Arc<Info>> = std::sync::OnceLock::new();
        let empty = info.protocol.is_none()
            && info.extensions.is_none()
            && info.url.is_none()
            && info.peer_addr.is_none();
        if empty {
            EMPTY.get_or_init(|| Arc::new(Info::default())).clone()
        } else {
            Arc::new(info)
        }
    }
}

struct Heartbeat {
    interval: Duration,
    timeout: Duration,
    timer: Pin<Box<Sleep>>,
    awaiting_pong: bool,
}

/// The parts of [`Options`] a connection consults after it starts (the protocol limits live
/// in its `Connection`, the heartbeat in `Heartbeat`).
struct Limits {
    max_buffered: usize,
    /// Milliseconds (saturating at 49 days): 8 bytes fewer per connection than a `Duration`.
    close_timeout_ms: u32,
    slow_consumer: SlowConsumer,
}

impl Limits {
    fn close_timeout(&self) -> Duration {
        Duration::from_millis(self.close_timeout_ms.into())
    }
}

pub(crate) struct Inner<S> {
    io: S,
    conn: Connection,
    rbuf: BytesMut,
    read_eof: bool,
    done: bool,
    /// Boxed, like the heartbeat: rare, and an idle connection's size is a goal.
    error: Option<Box<Error>>,
    terminated: Option<Box<Error>>,
    reader: Option<Waker>,
    /// The reader returned `Pending` until output drains (backpressure, or a close frame
    /// still to write): whoever drains it must wake the reader.
    reader_waits_output: bool,
    writer: Option<Waker>,
    /// A batch flush (see [`crate::batch`]) will write this connection's output.
    flush_scheduled: bool,
    /// A graceful shutdown began ([`Queue::go_away`]): nothing more is read until our close
    /// frame is queued, and data that comes after it is not handed out.
    going_away: bool,
    /// Going away, the reader has handed out what it had read.
    quiet: bool,
    close_timer: Option<Pin<Box<Sleep>>>,
    heartbeat: Option<Box<Heartbeat>>,
    limits: Limits,
    /// This connection's share of a server-wide memory budget, if there is one.
    account: Option<Box<Account>>,
    /// The unwritten bytes counted in the `wsx_send_queue_bytes` gauge (server connections).
    #[cfg(feature = "metrics")]
    backlog: u32,
}

/// Reads smaller than this go through a per-thread scratch buffer, so an idle connection
/// holds no read buffer of its own. 64 KiB takes a 16 KiB message (a 16,392-byte frame) in one
/// read: 8 % less server CPU per message than 16 KiB at 100 × 16 KiB, no change at 1 KiB.
const SCRATCH: usize = 64 * 1024;

thread_local! {
    static SCRATCH_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; SCRATCH].into_boxed_slice());
}

impl<S: AsyncRead + AsyncWrite + Unpin> Inner<S> {
    fn new(
        io: S,
        role: Role,
        deflate: Option<wsx_proto::DeflateParams>,
        opts: Options,
        leftover: BytesMut,
    ) -> Self {
        let limits = Limits {
            close_timeout_ms: u32::try_from(opts.close_timeout.as_millis()).unwrap_or(u32::MAX),
            max_buffered: opts.max_buffered,
            slow_consumer: opts.slow_consumer,
        };
        let heartbeat = opts.heartbeat.map(|(interval, timeout)| {
            Box::new(Heartbeat {
                interval,
                timeout,
                timer: Box::pin(tokio::time::sleep(interval)),
                awaiting_pong: false,
            })
        });
        if role == Role::Server {
            crate::metrics::opened();
        }
        Self {
            io,
            conn: Connection::new(role, opts.config, deflate),
            rbuf: leftover,
            read_eof: false,
            done: false,
            error: None,
            terminated: None,
            reader: None,
            reader_waits_output: false,
            writer: None,
            flush_scheduled: false,
            going_away: false,
            quiet: false,
            close_timer: None,
            heartbeat,
            limits,
            account: opts.memory_budget.map(|b| Box::new(Account::new(b))),
            #[cfg(feature = "metrics")]
            backlog: 0,
        }
    }

    fn is_server(&self) -> bool {
        self.conn.role() == Role::Server
    }

    /// What this connection holds: its read buffer (or the frame in progress, whichever is
    /// larger: a frame's length is reserved once its header is read), the message being
    /// assembled, and the send queue's own bytes.
    fn held(&self) -> (usize, usize) {
        let pending = self.conn.pending_frame_bytes(self.rbuf.len());
        let read = self.rbuf.capacity().max(self.rbuf.len() + pending);
        let queued = self.conn.output().owned();
        (read + self.conn.assembly_bytes() + queued, queued)
    }

    /// Counts what the connection holds against the memory budget.
    fn settle(&mut self) {
        if self.account.is_none() {
            return;
        }
        let (held, queued) = if self.done { (0, 0) } else { self.held() };
        if let Some(a) = self.account.as_mut() {
            a.settle(held, queued, self.reader.as_ref());
        }
    }

    /// Whether the connection is in the middle of a frame or message (it may always read on
    /// to finish it).
    fn mid_message(&self) -> bool {
        !self.rbuf.is_empty() || self.conn.assembly_bytes() > 0
    }

    /// The memory budget told this connection to go: a connection holding mostly a send
    /// queue is dropped (its peer is not reading), any other is failed with 1013.
    fn evict(&mut self) {
        let (held, queued) = self.held();
        if queued * 2 >= held {
            self.terminate(Error::Terminated("memory budget: send queue"));
        } else {
            let e = wsx_proto::ProtocolError::OverBudget { size: held as u64 };
            if self.is_server() && !self.conn.close_received() {
                crate::metrics::closed(e.close_code().0);
            }
            tracing::debug!(held, "memory budget: failing connection");
            self.conn.fail(&e);
            self.rbuf = BytesMut::new();
            self.error.get_or_insert(Box::new(e.into()));
        }
    }

    /// Writes queued output. `Ready(Ok)` once everything is written and flushed.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let mut wrote = false;
        while !self.conn.output().is_empty() {
            let out = self.conn.output();
            // One segment (the usual case: small frames coalesce into the tail) is written
            // without building the slice array.
            let n = if out.segments() > 1 && self.io.is_write_vectored() {
                let mut slices = [IoSlice::new(&[]); 64];
                let k = out.io_slices(&mut slices);
                Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..k])
            } else {
                Pin::new(&mut self.io).poll_write(cx, out.first())
            };
            let n = match n {
                Poll::Ready(n) => n?,
                Poll::Pending => {
                    self.count_backlog();
                    return Poll::Pending;
                }
            };
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            if self.is_server() {
                crate::metrics::bytes_written(n);
            }
            self.conn.output_mut().advance(n);
            wrote = true;
        }
        #[cfg(feature = "metrics")]
        if self.backlog != 0 {
            // It drained: the gauge drops by what this connection had counted.
            self.count_backlog();
        }
        if wrote {
            ready!(Pin::new(&mut self.io).poll_flush(cx))?;
            // Another task may be waiting for the queue to drain.
            if let Some(w) = self.writer.take().filter(|w| !w.will_wake(cx.waker())) {
                w.wake();
            }
            if std::mem::take(&mut self.reader_waits_output) {
                if let Some(w) = self.reader.as_ref().filter(|w| !w.will_wake(cx.waker())) {
                    w.wake_by_ref();
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Reads more bytes into `rbuf`: large frames in progress are read in place, small reads go
    /// through the per-thread scratch buffer.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let pending = self.conn.pending_frame_bytes(self.rbuf.len());
        if pending > SCRATCH / 2 || self.rbuf.capacity() - self.rbuf.len() >= SCRATCH {
            self.rbuf.reserve(pending.clamp(SCRATCH, 1 << 20));
            let n = ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut self.io),
                cx,
                &mut self.rbuf
            ))?;
            return Poll::Ready(Ok(self.count_read(n)));
        }
        let n = ready!(SCRATCH_BUF.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let mut rb = ReadBuf::new(&mut scratch[..]);
            ready!(Pin::new(&mut self.io).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            self.rbuf.extend_from_slice(rb.filled());
            Poll::Ready(Ok::<_, std::io::Error>(n))
        }))?;
        Poll::Ready(Ok(self.count_read(n)))
    }

    #[inline]
    fn count_read(&self, n: usize) -> usize {
        if self.is_server() {
            crate::metrics::bytes_read(n);
        }
        n
    }

    /// Queues a message (the sends that wait: `send().await`, the `Sink`).
    fn send_message(
        &mut self,
        msg: Message,
        compress: bool,
    ) -> std::result::Result<(), wsx_proto::Error> {
        let data = msg.is_data();
        self.conn.send_with(msg, compress)?;
        if data {
            self.count_sent();
        }
        Ok(())
    }

    #[inline]
    fn count_sent(&self) {
        if self.is_server() {
            crate::metrics::message_sent();
        }
    }

    /// Keeps the `wsx_send_queue_bytes` gauge in step with this connection's unwritten bytes.
    #[inline]
    fn count_backlog(&mut self) {
        #[cfg(feature = "metrics")]
        if self.is_server() {
            let now = u32::try_from(self.conn.output().len()).unwrap_or(u32::MAX);
            crate::metrics::backlog(std::mem::replace(&mut self.backlog, now), now);
        }
    }

    fn register_reader(&mut self, cx: &Context<'_>) {
        match &self.reader {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => self.reader = Some(cx.waker().clone()),
        }
    }

    fn finish(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        // Best effort: a transport that will not shut down cleanly is dropped anyway.
        let _ = Pin::new(&mut self.io).poll_shutdown(cx);
        self.done = true;
        self.count_end();
        self.rbuf = BytesMut::new();
        if let Some(w) = self.writer.take() {
            w.wake();
        }
        Poll::Ready(self.error.take().map(|e| Err(*e)))
    }

    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        let r = self.poll_next_inner(cx);
        self.settle();
        r
    }

    fn poll_next_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        self.register_reader(cx);
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            if let Some(e) = self.terminated.take() {
                self.error = Some(e);
                return self.finish(cx);
            }
            if self.account.as_ref().is_some_and(|a| a.evicted()) && !self.conn.is_failed() {
                self.evict();
                continue;
            }
            let flushed = match self.poll_write_out(cx) {
                Poll::Ready(Ok(())) => true,
                Poll::Ready(Err(e)) => {
                    self.error.get_or_insert(Box::new(e.into()));
                    return self.finish(cx);
                }
                Poll::Pending => false,
            };
            if self.conn.ready_state() == ReadyState::Closed {
                if !flushed {
                    self.reader_waits_output = true;
                    return Poll::Pending;
                }
                // RFC 6455 §7.1.1: the server closes TCP first; a client waits (bounded) for
                // the server to do so.
                if self.conn.role() == Role::Server || self.read_eof {
                    return self.finish(cx);
                }
                if self.poll_close_timer(cx) {
                    return self.finish(cx);
                }
                self.rbuf.clear();
                match ready!(self.poll_fill(cx)) {
                    Ok(0) | Err(_) => self.read_eof = true,
                    Ok(_) => self.rbuf.clear(),
                }
                continue;
            }
            if self.conn.close_sent() && self.poll_close_timer(cx) {
                self.error = Some(Box::new(Error::CloseTimeout(self.limits.close_timeout())));
                return self.finish(cx);
            }
            if let Some(dead) = self.poll_heartbeat(cx) {
                self.error = Some(Box::new(dead));
                return self.finish(cx);
            }
            if !flushed && self.conn.output().len() > self.limits.max_buffered {
                // The peer is not reading what we owe it (pongs): stop reading until it does.
                self.reader_waits_output = true;
                return Poll::Pending;
            }
            if !self.rbuf.is_empty() {
                if self.account.is_some() {
                    // What the last decode took is counted before the room is measured.
                    self.settle();
                    if let Some(a) = &self.account {
                        self.conn.set_memory_room(a.budget().room());
                    }
                }
                match self.conn.decode(&mut self.rbuf) {
                    Ok(Some(msg)) if self.going_away && self.conn.close_sent() && msg.is_data() => {
                        // Sent after the shutdown's close frame was queued: not accepted.
                        continue;
                    }
                    Ok(Some(msg)) => {
                        if self.is_server() {
                            match &msg {
                                Message::Close(f) => crate::metrics::closed(
                                    f.as_ref().map_or(CloseCode::NO_STATUS.0, |f| f.code.0),
                                ),
                                m if m.is_data() => crate::metrics::message_received(),
                                _ => {}
                            }
                        }
                        if let (Message::Pong(_), Some(hb)) = (&msg, self.heartbeat.as_mut()) {
                            hb.awaiting_pong = false;
                            hb.timer.as_mut().reset(Instant::now() + hb.interval);
                        }
                        if !self.conn.output().is_empty() {
                            // Answer pings and close frames promptly.
                            if let Poll::Ready(Err(e)) = self.poll_write_out(cx) {
                                self.error = Some(Box::new(e.into()));
                            }
                        }
                        return Poll::Ready(Some(Ok(msg)));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        if self.is_server() {
                            crate::metrics::closed(e.close_code().0);
                        }
                        tracing::debug!(code = e.code(), close = %e.close_code(), "failing connection: {e}");
                        self.error = Some(Box::new(e.into()));
                        continue;
                    }
                }
            }
            if self.going_away {
                // Everything read before the shutdown began has been handed out (above), and
                // its handler asked for more: so it has answered it. Nothing more is read until
                // the close frame is queued (then the peer's reply is).
                if !self.quiet {
                    self.quiet = true;
                    QUIETED.notify_waiters();
                }
                if !self.conn.close_sent() {
                    return Poll::Pending;
                }
            }
            if self.read_eof {
                self.error = Some(Box::new(Error::AbnormalClosure));
                return self.finish(cx);
            }
            if !self.mid_message() && self.account.as_ref().is_some_and(|a| !a.may_read(cx)) {
                // Near the memory budget: read nothing new until memory is released.
                self.rbuf = BytesMut::new();
                self.conn.output_mut().release_if_empty();
                return Poll::Pending;
            }
            match self.poll_fill(cx) {
                Poll::Ready(Ok(0)) => self.read_eof = true,
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => {
                    self.error = Some(Box::new(e.into()));
                    return self.finish(cx);
                }
                Poll::Pending => {
                    if self.rbuf.is_empty() {
                        // Idle: hold no buffers.
                        self.rbuf = BytesMut::new();
                        self.conn.output_mut().release_if_empty();
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// Arms the close timer on first call; true once it has fired.
    fn poll_close_timer(&mut self, cx: &mut Context<'_>) -> bool {
        let timeout = self.limits.close_timeout();
        let t = self
            .close_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        t.as_mut().poll(cx).is_ready()
    }

    fn poll_heartbeat(&mut self, cx: &mut Context<'_>) -> Option<Error> {
        let hb = self.heartbeat.as_mut()?;
        if hb.timer.as_mut().poll(cx).is_pending() || self.conn.close_sent() {
            return None;
        }
        if hb.awaiting_pong {
            return Some(Error::HeartbeatTimeout(hb.timeout));
        }
        hb.awaiting_pong = true;
        hb.timer.as_mut().reset(Instant::now() + hb.timeout);
        // Re-poll so the timer registers this task.
        let _ = hb.timer.as_mut().poll(cx);
        let _ = self.conn.send(Message::Ping(Bytes::new()));
        match self.poll_write_out(cx) {
            Poll::Ready(Err(e)) => Some(e.into()),
            _ => None,
        }
    }

    fn check_open(&self) -> Result<()> {
        if self.done || self.terminated.is_some() || self.conn.close_sent() {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.account.as_ref().is_some_and(|a| a.evicted()) && !self.conn.is_failed() {
            self.evict();
        }
        self.check_open()?;
        if self.conn.output().len() >= self.limits.max_buffered {
            if let Err(e) = ready!(self.poll_write_out(cx)) {
                return Poll::Ready(Err(e.into()));
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let r = match self.poll_write_out(cx) {
            Poll::Ready(r) => Poll::Ready(r.map_err(Error::from)),
            Poll::Pending => {
                self.writer = Some(cx.waker().clone());
                Poll::Pending
            }
        };
        self.settle();
        r
    }

    /// Queues without waiting, applying the slow-consumer policy; then writes at once, or,
    /// when `defer` is set and the connection is already in a batch, leaves the write to the
    /// batch flush. The flag returned is set when the caller must list the connection in a
    /// batch (it was not in one yet).
    fn queue_now(
        &mut self,
        f: impl FnOnce(&mut Connection) -> std::result::Result<(), wsx_proto::Error>,
        defer: bool,
    ) -> (SendStatus, bool) {
        let r = self.queue_now_inner(f, defer);
        self.settle();
        r
    }

    fn queue_now_inner(
        &mut self,
        f: impl FnOnce(&mut Connection) -> std::result::Result<(), wsx_proto::Error>,
        defer: bool,
    ) -> (SendStatus, bool) {
        if self.account.as_ref().is_some_and(|a| a.evicted()) && !self.conn.is_failed() {
            self.evict();
        }
        if self.check_open().is_err() {
            return (SendStatus::Closed, false);
        }
        if self.conn.output().len() > self.limits.max_buffered {
            match self.limits.slow_consumer {
                SlowConsumer::Drop => {
                    crate::metrics::slow_consumer_dropped();
                    return (SendStatus::Dropped, false);
                }
                SlowConsumer::Close => {
                    crate::metrics::slow_consumer_closed();
                    self.terminate(Error::Terminated("slow consumer"));
                    return (SendStatus::Closed, false);
                }
            }
        }
        if f(&mut self.conn).is_err() {
            return (SendStatus::Closed, false);
        }
        if defer {
            if std::mem::replace(&mut self.flush_scheduled, true) {
                return (self.queued_status(), false);
            }
            // The first connections of a batch are written at once, so the first receivers
            // of a broadcast need not wait for the last to be queued; either way the
            // connection joins the batch, and the rest of the turn's sends to it coalesce.
            if crate::batch::eager() {
                return (self.write_now(), true);
            }
            return (self.queued_status(), true);
        }
        (self.write_now(), false)
    }

    fn queued_status(&self) -> SendStatus {
        if self.conn.output().len() > self.limits.max_buffered {
            SendStatus::Backpressure
        } else {
            SendStatus::Queued
        }
    }

    /// Writes what the socket takes now; if it takes less, the reading task finishes the job.
    fn write_now(&mut self) -> SendStatus {
        let mut cx = Context::from_waker(Waker::noop());
        match self.poll_write_out(&mut cx) {
            Poll::Ready(Ok(())) => SendStatus::Queued,
            Poll::Ready(Err(e)) => {
                self.terminate(e.into());
                SendStatus::Closed
            }
            Poll::Pending => {
                // A no-op waker now sits where the socket keeps its write waker: wake the
                // reader so it polls again with a real one.
                if let Some(w) = &self.reader {
                    w.wake_by_ref();
                }
                self.queued_status()
            }
        }
    }
}

impl<S> Inner<S> {
    pub(crate) fn io(&self) -> &S {
        &self.io
    }

    /// The connection ended (once: when its reader finishes, or when it is dropped unread).
    fn count_end(&mut self) {
        #[cfg(feature = "metrics")]
        if self.conn.role() == Role::Server {
            // A close frame or a failure was counted when it came; else none came.
            if !self.conn.close_received() && !self.conn.is_failed() {
                crate::metrics::closed(CloseCode::ABNORMAL.0);
            }
            crate::metrics::ended(std::mem::take(&mut self.backlog));
        }
    }

    fn terminate(&mut self, why: Error) {
        if self.terminated.is_none() && !self.done {
            self.terminated = Some(Box::new(why));
        }
        if let Some(w) = &self.reader {
            w.wake_by_ref();
        }
    }
}

#[cfg(feature = "metrics")]
impl<S> Drop for Inner<S> {
    fn drop(&mut self) {
        if !self.done {
            self.count_end();
        }
    }
}

pub(crate) type Shared<S> = Arc<Mutex<Inner<S>>>;

pub(crate) fn lock<S>(s: &Shared<S>) -> MutexGuard<'_, Inner<S>> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// A WebSocket connection.
///
/// Receive with [`recv`](WebSocket::recv) (or as a [`Stream`]), send with
/// [`send`](WebSocket::send) (or as a [`Sink`]). Pings are answered and the closing handshake
/// is completed automatically; `recv` returns `None` once the connection is closed.
///
/// ```no_run
/// # async fn run() -> wsx::Result<()> {
/// let (mut ws, _resp) = wsx::connect("ws://127.0.0.1:9001/").await?;
/// ws.send("hello".into()).await?;
/// while let Some(msg) = ws.recv().await {
///     println!("{:?}", msg?);
/// }
/// # Ok(()) }
/// ```
pub struct WebSocket<S> {
    shared: Shared<S>,
    info: Arc<Info>,
}

impl<S> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Wraps a stream on which the opening handshake is already done. `deflate` is what it
    /// negotiated; `leftover` holds bytes read past the handshake.
    pub fn from_raw(
        io: S,
        role: Role,
        deflate: Option<wsx_proto::DeflateParams>,
        opts: Options,
    ) -> Self {
        Self::from_parts(io, role, deflate, opts, BytesMut::new(), Info::default())
    }

    pub(crate) fn from_parts(
        io: S,
        role: Role,
        deflate: Option<wsx_proto::DeflateParams>,
        opts: Options,
        leftover: BytesMut,
        info: Info,
    ) -> Self {
        Self {
            shared: Arc::new(Mutex::new(Inner::new(io, role, deflate, opts, leftover))),
            info: Info::shared(info),
        }
    }

    /// Receives the next message; `None` once the connection is closed.
    pub async fn recv(&mut self) -> Option<Result<Message>> {
        poll_fn(|cx| lock(&self.shared).poll_next(cx)).await
    }

    /// Sends a message and waits until it is written.
    pub async fn send(&mut self, msg: Message) -> Result<()> {
        send_on(&self.shared, msg, true).await
    }

    /// Sends a message, choosing whether it may be compressed.
    pub async fn send_with(&mut self, msg: Message, compress: bool) -> Result<()> {
        send_on(&self.shared, msg, compress).await
    }

    /// Sends one frame of a message in fragments: `Text` or `Binary` first, then
    /// `Continuation` frames, `fin` on the last. Fragments are not compressed; other data
    /// messages cannot be sent until the last fragment (control frames can).
    pub async fn send_fragment(&mut self, opcode: OpCode, payload: Bytes, fin: bool) -> Result<()> {
        fragment_on(&self.shared, opcode, payload, fin).await
    }

    /// Starts the closing handshake with a code and reason (validated: a code allowed on the
    /// wire, at most 123 bytes of reason). Keep calling [`recv`](Self::recv) until it returns
    /// `None` to complete it.
    pub async fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<()> {
        close_on(&self.shared, code.into(), reason).await
    }

    /// Splits into a receiving and a sending half. Pings are still answered and the closing
    /// handshake completed by the receiving half alone.
    pub fn split(self) -> (ReadHalf<S>, WriteHalf<S>) {
        (
            ReadHalf {
                shared: self.shared.clone(),
                info: self.info.clone(),
            },
            WriteHalf {
                shared: self.shared,
                info: self.info,
            },
        )
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> WebSocket<S> {
    /// A cloneable handle that queues messages without waiting (for other tasks, registries and
    /// broadcast). The task that reads the connection writes out what handles queue.
    pub fn sender(&self) -> Sender {
        Sender::from_shared(self.shared.clone())
    }
}

impl<S> WebSocket<S> {
    /// `readyState` of the browser API.
    pub fn ready_state(&self) -> ReadyState {
        let g = lock(&self.shared);
        if g.done {
            ReadyState::Closed
        } else {
            g.conn.ready_state()
        }
    }

    /// Bytes queued but not yet written (`bufferedAmount`).
    pub fn buffered_amount(&self) -> usize {
        lock(&self.shared).conn.output().len()
    }

    /// The subprotocol the handshake selected (empty string if none, as in the browser API).
    pub fn protocol(&self) -> &str {
        self.info.protocol.as_deref().unwrap_or("")
    }

    /// The extensions the handshake negotiated (`Sec-WebSocket-Extensions` of the response).
    pub fn extensions(&self) -> &str {
        self.info.extensions.as_deref().unwrap_or("")
    }

    /// The URL connected to (client side).
    pub fn url(&self) -> Option<&str> {
        self.info.url.as_deref()
    }

    /// The peer's address (server side).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.info.peer_addr
    }

    /// Drops the connection at once without a closing handshake (ws's `terminate()`).
    pub fn terminate(&self) {
        lock(&self.shared).terminate(Error::Terminated("terminated locally"));
    }
}

impl<S> WebSocket<S> {
    #[allow(dead_code)]
    pub(crate) fn shared(&self) -> &Shared<S> {
        &self.shared
    }

    /// Queues raw bytes (a handshake response) ahead of any frame, to be written by whoever
    /// drives the connection next.
    pub(crate) fn queue_raw(&self, bytes: &[u8]) {
        lock(&self.shared).conn.output_mut().push_slice(bytes);
    }

    pub(crate) fn into_parts(self) -> (Shared<S>, Arc<Info>) {
        (self.shared, self.info)
    }
}

async fn send_on<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared<S>,
    msg: Message,
    compress: bool,
) -> Result<()> {
    poll_fn(|cx| lock(shared).poll_ready(cx)).await?;
    lock(shared).send_message(msg, compress)?;
    poll_fn(|cx| lock(shared).poll_flush(cx)).await
}

async fn fragment_on<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared<S>,
    opcode: OpCode,
    payload: Bytes,
    fin: bool,
) -> Result<()> {
    poll_fn(|cx| lock(shared).poll_ready(cx)).await?;
    {
        let mut g = lock(shared);
        g.conn.send_fragment(opcode, payload, fin)?;
        if fin && !opcode.is_control() {
            g.count_sent();
        }
    }
    poll_fn(|cx| lock(shared).poll_flush(cx)).await
}

async fn close_on<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared<S>,
    code: CloseCode,
    reason: &str,
) -> Result<()> {
    lock(shared).conn.close(code, reason)?;
    poll_fn(|cx| lock(shared).poll_flush(cx)).await
}

fn sink_start_send<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared<S>,
    msg: Message,
) -> Result<()> {
    let mut g = lock(shared);
    g.check_open()?;
    g.send_message(msg, false)?;
    Ok(())
}

fn sink_poll_close<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared<S>,
    cx: &mut Context<'_>,
) -> Poll<Result<()>> {
    let mut g = lock(shared);
    if !g.conn.close_sent() && !g.done {
        let _ = g.conn.close(CloseCode::NORMAL, "");
    }
    g.poll_flush(cx)
}

/// The receiving half of a split [`WebSocket`]. It also answers pings and completes the closing
/// handshake, and writes out what the other half and [`Sender`]s queued.
pub struct ReadHalf<S> {
    shared: Shared<S>,
    info: Arc<Info>,
}

/// The sending half of a split [`WebSocket`].
pub struct WriteHalf<S> {
    shared: Shared<S>,
    info: Arc<Info>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> ReadHalf<S> {
    /// Receives the next message; `None` once the connection is closed.
    pub async fn recv(&mut self) -> Option<Result<Message>> {
        poll_fn(|cx| lock(&self.shared).poll_next(cx)).await
    }

    /// Joins the halves again.
    pub fn unsplit(self, write: WriteHalf<S>) -> Option<WebSocket<S>> {
        Arc::ptr_eq(&self.shared, &write.shared).then_some(WebSocket {
            shared: self.shared,
            info: self.info,
        })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WriteHalf<S> {
    /// Sends a message and waits until it is written.
    pub async fn send(&mut self, msg: Message) -> Result<()> {
        send_on(&self.shared, msg, true).await
    }

    /// Sends one frame of a fragmented message (see [`WebSocket::send_fragment`]).
    pub async fn send_fragment(&mut self, opcode: OpCode, payload: Bytes, fin: bool) -> Result<()> {
        fragment_on(&self.shared, opcode, payload, fin).await
    }

    /// Starts the closing handshake; the read half sees the peer's reply and then `None`.
    pub async fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<()> {
        close_on(&self.shared, code.into(), reason).await
    }

    /// Bytes queued but not yet written.
    pub fn buffered_amount(&self) -> usize {
        lock(&self.shared).conn.output().len()
    }

    /// The negotiated subprotocol.
    pub fn protocol(&self) -> &str {
        self.info.protocol.as_deref().unwrap_or("")
    }
}

/// `Stream` of received messages for the types that read.
macro_rules! impl_stream {
    ($($t:ident),*) => {$(
        impl<S: AsyncRead + AsyncWrite + Unpin> Stream for $t<S> {
            type Item = Result<Message>;
            fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
                lock(&self.shared).poll_next(cx)
            }
        }
    )*};
}

/// `Sink` of messages for the types that send; `poll_close` starts the closing handshake
/// with 1000.
macro_rules! impl_sink {
    ($($t:ident),*) => {$(
        impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for $t<S> {
            type Error = Error;
            fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
                lock(&self.shared).poll_ready(cx)
            }
            fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
                sink_start_send(&self.shared, item)
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
                lock(&self.shared).poll_flush(cx)
            }
            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
                sink_poll_close(&self.shared, cx)
            }
        }
    )*};
}

impl_stream!(WebSocket, ReadHalf);
impl_sink!(WebSocket, WriteHalf);

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Queue for Inner<S> {
    fn queue_message(&mut self, msg: Message, compress: bool, defer: bool) -> (SendStatus, bool) {
        let data = msg.is_data();
        let r = self.queue_now(|c| c.send_with(msg, compress), defer);
        if data && matches!(r.0, SendStatus::Queued | SendStatus::Backpressure) {
            self.count_sent();
        }
        r
    }
    fn queue_prepared(&mut self, frame: &PreparedFrame, defer: bool) -> (SendStatus, bool) {
        let r = self.queue_now(|c| c.send_prepared(frame), defer);
        if matches!(r.0, SendStatus::Queued | SendStatus::Backpressure) {
            self.count_sent();
        }
        r
    }
    fn flush_batched(&mut self) {
        self.flush_scheduled = false;
        if !self.done && self.terminated.is_none() && !self.conn.output().is_empty() {
            self.write_now();
        }
    }
    fn queue_close(&mut self, code: CloseCode, reason: &str) -> SendStatus {
        let status = self.queue_now(|c| c.close(code, reason), false).0;
        if self.going_away {
            // The reader waits for this close without reading: it reads the reply now.
            if let Some(w) = &self.reader {
                w.wake_by_ref();
            }
        }
        status
    }
    fn kill(&mut self, why: &'static str) {
        self.terminate(Error::Terminated(why));
    }
    fn buffered(&self) -> usize {
        self.conn.output().len()
    }
    fn is_closed(&self) -> bool {
        self.done || self.terminated.is_some() || self.conn.close_sent()
    }
    fn go_away(&mut self) {
        if !std::mem::replace(&mut self.going_away, true) {
            if let Some(w) = &self.reader {
                w.wake_by_ref();
            }
        }
    }
    fn is_quiet(&self) -> bool {
        self.quiet || self.done || self.terminated.is_some()
    }
}

/// A cloneable, non-blocking send handle to a connection (see [`WebSocket::sender`]).
#[derive(Clone)]
pub struct Sender {
    inner: SharedQueue,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl Sender {
    pub(crate) fn from_shared<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
        shared: Shared<S>,
    ) -> Self {
        Self { inner: shared }
    }

    fn with<R>(&self, f: impl FnOnce(&mut dyn Queue) -> R) -> R {
        with_queue(&self.inner, f)
    }

    /// Queues a message (compressed if negotiated and over the threshold) and writes it at
    /// once if the socket takes it.
    pub fn send(&self, msg: Message) -> SendStatus {
        self.with(|q| q.queue_message(msg, true, false)).0
    }

    /// Queues a message, choosing whether it may be compressed.
    pub fn send_with(&self, msg: Message, compress: bool) -> SendStatus {
        self.with(|q| q.queue_message(msg, compress, false)).0
    }

    /// Queues an already encoded frame, shared by reference.
    pub fn send_prepared(&self, frame: &PreparedFrame) -> SendStatus {
        self.with(|q| q.queue_prepared(frame, false)).0
    }

    /// Sends with write batching (µWebSockets' cork): frames are queued until the current task
    /// yields, then a flush task writes each connection once. What fan-out wants: a burst of
    /// broadcasts costs one system call per receiver, not one per message and receiver. The
    /// first few connections of each batch are written at once, so a broadcast's first
    /// receivers need not wait for the last to be queued. Outside a tokio runtime every send
    /// is written at once.
    pub fn send_batched(&self, msg: Message, compress: bool) -> SendStatus {
        self.batched(|q| q.queue_message(msg, compress, true))
    }

    /// [`Sender::send_batched`] for an already encoded frame.
    pub fn send_prepared_batched(&self, frame: &PreparedFrame) -> SendStatus {
        self.batched(|q| q.queue_prepared(frame, true))
    }

    fn batched(&self, f: impl FnOnce(&mut dyn Queue) -> (SendStatus, bool)) -> SendStatus {
        let (status, schedule) = self.with(f);
        if schedule {
            crate::batch::schedule(&self.inner);
        }
        status
    }

    /// Starts the closing handshake.
    pub fn close(&self, code: impl Into<CloseCode>, reason: &str) -> SendStatus {
        let code = code.into();
        self.with(|q| q.queue_close(code, reason))
    }

    /// Drops the connection without a closing handshake.
    pub fn terminate(&self) {
        self.with(|q| q.kill("terminated locally"));
    }

    /// Bytes queued but not yet written.
    pub fn buffered_amount(&self) -> usize {
        self.with(|q| q.buffered())
    }

    /// Whether the connection is closing or closed.
    pub fn is_closed(&self) -> bool {
        self.with(|q| q.is_closed())
    }

    /// Whether `self` and `other` send to the same connection.
    pub fn same_connection(&self, other: &Sender) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.inner), Arc::as_ptr(&other.inner))
    }

    pub(crate) fn kill(&self, why: &'static str) {
        self.with(|q| q.kill(why));
    }

    /// See [`Queue::go_away`].
    pub(crate) fn go_away(&self) {
        self.with(|q| q.go_away());
    }

    /// See [`Queue::is_quiet`].
    pub(crate) fn is_quiet(&self) -> bool {
        self.with(|q| q.is_quiet())
    }
}

#[cfg(test)]
mod tests {
    /// Memory per idle connection is a goal: keep the state that every connection carries
    /// small (the rare parts, deflate and fragment reassembly, are boxed).
    #[test]
    fn connection_state_stays_small() {
        let size = std::mem::size_of::<super::Inner<tokio::net::TcpStream>>();
        // 320 + 8 for the memory budget's account (boxed: most servers have no budget), + 8
        // with the `metrics` feature for the connection's share of the send-queue gauge.
        let limit = if cfg!(feature = "metrics") { 336 } else { 328 };
        assert!(size <= limit, "Inner<TcpStream> grew to {size} bytes");
    }
}
