//! A TCP stream that remembers when the kernel received the bytes it last read
//! (`SO_TIMESTAMPNS`: each `recvmsg` carries the receive time of the newest segment it
//! returned), so a delivery is timed when it reached the driver's socket rather than when the
//! driver's one thread got round to it. With 1,000 receivers and a few µs of driver work per
//! delivery, that difference is milliseconds on "send → last receiver".
//!
//! Where the kernel gives no timestamp, [`RxClock::instant`] falls back to `Instant::now()`
//! and counts it ([`fallbacks`]).

use std::cell::Cell;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

static KERNEL: AtomicU64 = AtomicU64::new(0);
static FALLBACK: AtomicU64 = AtomicU64::new(0);

/// Deliveries timed by the kernel's receive timestamp.
pub fn kernel_timed() -> u64 {
    KERNEL.load(Ordering::Relaxed)
}

/// Deliveries timed by `Instant::now()` because no kernel timestamp was there.
pub fn fallbacks() -> u64 {
    FALLBACK.load(Ordering::Relaxed)
}

/// The receive time of the newest bytes read from a [`RxStream`] (shared with it).
#[derive(Debug, Clone, Default)]
pub struct RxClock {
    /// CLOCK_REALTIME nanoseconds, 0 when there is none (or timestamps are off).
    ns: Arc<AtomicU64>,
    enabled: bool,
    /// The last timestamp converted and what it gave: the messages of one read share their
    /// timestamp, and reading the clocks for each would cost the driver more than the rest.
    last: Cell<(u64, Option<Instant>)>,
}

impl RxClock {
    /// A clock that always answers `Instant::now()` (the `--clock driver` mode).
    pub fn driver() -> RxClock {
        RxClock::default()
    }

    /// When the bytes of the message just read reached the socket, as an `Instant`.
    pub fn instant(&self) -> Instant {
        if !self.enabled {
            return Instant::now();
        }
        let ts = self.ns.load(Ordering::Relaxed);
        if let (last, Some(at)) = self.last.get()
            && last == ts
            && ts != 0
        {
            KERNEL.fetch_add(1, Ordering::Relaxed);
            return at;
        }
        let now = Instant::now();
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        // The age of the timestamp in the realtime clock, applied to the monotonic one. An
        // absent or absurd timestamp (older than 60 s, or in the future) is not used.
        match real.checked_sub(ts) {
            Some(age) if ts != 0 && age < 60_000_000_000 => {
                KERNEL.fetch_add(1, Ordering::Relaxed);
                let at = now
                    .checked_sub(std::time::Duration::from_nanos(age))
                    .unwrap_or(now);
                self.last.set((ts, Some(at)));
                at
            }
            _ => {
                FALLBACK.fetch_add(1, Ordering::Relaxed);
                now
            }
        }
    }
}

/// A [`TcpStream`] read with `recvmsg`, keeping the `SCM_TIMESTAMPNS` of every read.
#[derive(Debug)]
pub struct RxStream {
    inner: TcpStream,
    clock: RxClock,
}

impl RxStream {
    /// Wraps `inner`; with `kernel` it asks for receive timestamps (if that fails, the clock
    /// falls back to `Instant::now()`). `clock` is shared across reconnections.
    pub fn new(inner: TcpStream, clock: &RxClock) -> RxStream {
        let mut clock = clock.clone();
        if clock.enabled {
            clock.enabled = enable(&inner).is_ok();
        }
        RxStream { inner, clock }
    }
}

impl RxClock {
    /// A clock in kernel mode, for a new connection (and its reconnections).
    pub fn kernel() -> RxClock {
        RxClock {
            ns: Arc::new(AtomicU64::new(0)),
            enabled: true,
            last: Cell::new((0, None)),
        }
    }
}

fn enable(s: &TcpStream) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a pointer to a c_int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One non-blocking `recvmsg` into `buf`; the bytes read and the timestamp, if any.
fn recv_ts(fd: i32, buf: &mut [MaybeUninit<u8>]) -> io::Result<(usize, Option<u64>)> {
    // Room for one or two control messages; u64s for the alignment cmsghdr needs.
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain old data; all zeroes is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&control) as _;
    // SAFETY: `msg` points at one iovec over `buf` (writable for its length; recvmsg only
    // writes initialised bytes into it) and at `control`, both alive for the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut ts = None;
    // SAFETY: the CMSG_* helpers walk the control buffer recvmsg filled, within
    // msg_controllen; a SCM_TIMESTAMPNS payload is a timespec (read unaligned).
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let t: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                ts = Some(t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64);
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, ts))
}

impl AsyncRead for RxStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.clock.enabled {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        loop {
            ready!(this.inner.poll_read_ready(cx))?;
            let fd = this.inner.as_raw_fd();
            // SAFETY: recv_ts only writes initialised bytes into the unfilled part, and we
            // mark as initialised exactly the `n` bytes it wrote.
            let unfilled = unsafe { buf.unfilled_mut() };
            match this
                .inner
                .try_io(Interest::READABLE, || recv_ts(fd, unfilled))
            {
                Ok((n, ts)) => {
                    // SAFETY: recvmsg wrote `n` bytes at the start of the unfilled part.
                    unsafe { buf.assume_init(n) };
                    buf.advance(n);
                    if let Some(ts) = ts {
                        this.clock.ns.store(ts, Ordering::Relaxed);
                    }
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for RxStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
