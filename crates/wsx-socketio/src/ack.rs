//! Acknowledgements: answering a client's event ([`AckSender`]) and waiting for a client's
//! answer to ours ([`AckFuture`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};

use std::sync::{Arc, Weak};

use crate::args::IntoArgs;
use crate::socketio::Data;

/// The side of a socket acknowledgements reach: answering the client's events and forgetting
/// the answers we stopped waiting for. Implemented by the socket, which this file does not
/// name.
pub(crate) trait Acks: Send + Sync {
    /// Sends the acknowledgement `id` with `args` to the client; `false` if it is gone.
    fn send_ack(&self, id: u64, args: Vec<Data>) -> bool;
    /// Stops waiting for the client's acknowledgement `id`.
    fn forget_ack(&self, id: u64);
}

/// Why an acknowledgement did not come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// No answer within the timeout.
    #[error("operation has timed out")]
    Timeout,
    /// The socket disconnected before answering (or was not connected).
    #[error("socket has been disconnected")]
    Disconnected,
}

/// Answers one event the client emitted with an acknowledgement callback. Sending consumes it,
/// so an event is acknowledged at most once.
pub struct AckSender {
    pub(crate) socket: Arc<dyn Acks>,
    pub(crate) id: u64,
}

impl std::fmt::Debug for AckSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckSender")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl AckSender {
    /// Sends the acknowledgement with `args`; `false` if the socket is gone.
    pub fn send(self, args: impl IntoArgs) -> bool {
        self.socket.send_ack(self.id, args.into_args())
    }
}

/// Resolves to a client's acknowledgement of an event, or an [`AckError`].
///
/// The timeout counts from the emit; change it with [`timeout`](AckFuture::timeout).
pub struct AckFuture {
    rx: Option<oneshot::Receiver<Vec<Data>>>,
    sent: Instant,
    sleep: Pin<Box<Sleep>>,
    owner: Option<(Weak<dyn Acks>, u64)>,
}

impl std::fmt::Debug for AckFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckFuture").finish_non_exhaustive()
    }
}

impl AckFuture {
    pub(crate) fn new(
        rx: Option<oneshot::Receiver<Vec<Data>>>,
        timeout: Duration,
        owner: Option<(Weak<dyn Acks>, u64)>,
    ) -> Self {
        let sent = Instant::now();
        AckFuture {
            rx,
            sent,
            sleep: Box::pin(tokio::time::sleep_until(sent + timeout)),
            owner,
        }
    }

    /// Waits at most `timeout` from the emit.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.sleep.as_mut().reset(self.sent + timeout);
        self
    }
}

impl Future for AckFuture {
    type Output = Result<Vec<Data>, AckError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(rx) = self.rx.as_mut() else {
            return Poll::Ready(Err(AckError::Disconnected));
        };
        if let Poll::Ready(r) = Pin::new(rx).poll(cx) {
            self.owner = None;
            return Poll::Ready(r.map_err(|_| AckError::Disconnected));
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            if let Some((socket, id)) = self.owner.take() {
                if let Some(socket) = socket.upgrade() {
                    socket.forget_ack(id);
                }
            }
            return Poll::Ready(Err(AckError::Timeout));
        }
        Poll::Pending
    }
}

impl Drop for AckFuture {
    fn drop(&mut self) {
        if let Some((socket, id)) = self.owner.take() {
            if let Some(socket) = socket.upgrade() {
                socket.forget_ack(id);
            }
        }
    }
}
