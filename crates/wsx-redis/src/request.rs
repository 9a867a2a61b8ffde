//! Requests to the other nodes, shared by the three adapters: the table of requests waiting for
//! answers, gathering the answers until every node counted has answered or the timeout, the
//! requester's and the answerer's halves of a broadcast with acknowledgements.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmpv::Value as Mp;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use wsx_socketio::Data;
use wsx_socketio::cluster::{BoxFuture, BroadcastOptions, LocalNamespace, RemoteAck};
use wsx_socketio::socketio::{Packet, Payload};

use crate::codec;
use crate::lock::lock;
use crate::node::Node;
use crate::wire::{event_payload, options};

/// The requests of one namespace waiting for answers, by request id; `T` is what an answer is
/// handed over as.
pub(crate) struct Pending<T>(Mutex<HashMap<String, mpsc::UnboundedSender<T>>>);

impl<T> Default for Pending<T> {
    fn default() -> Self {
        Pending(Mutex::new(HashMap::new()))
    }
}

impl<T> Pending<T> {
    /// Registers request `id` (before it is published, so that no answer is missed); the
    /// request is forgotten when the returned [`Waiter`] is dropped.
    pub(crate) fn open(self: &Arc<Self>, id: String) -> Waiter<T> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.0).insert(id.clone(), tx);
        Waiter {
            rx,
            id,
            pending: self.clone(),
        }
    }

    /// Registers request `id` and sends it with `send`, if `others` nodes are to answer it
    /// (when none is, nothing is sent): the request's end of the table.
    pub(crate) fn ask(
        self: &Arc<Self>,
        id: String,
        others: usize,
        send: impl FnOnce(),
    ) -> Option<Waiter<T>> {
        if others == 0 {
            return None;
        }
        let waiter = self.open(id);
        send();
        Some(waiter)
    }

    /// Hands `msg` to request `id` if it still waits.
    pub(crate) fn deliver(&self, id: &str, msg: T) {
        if let Some(tx) = lock(&self.0).get(id) {
            let _ = tx.send(msg);
        }
    }

    /// Hands a message made by `msg` to every waiting request.
    pub(crate) fn deliver_all(&self, msg: impl Fn() -> T) {
        for tx in lock(&self.0).values() {
            let _ = tx.send(msg());
        }
    }
}

/// One request's end of the [`Pending`] table.
pub(crate) struct Waiter<T> {
    rx: mpsc::UnboundedReceiver<T>,
    id: String,
    pending: Arc<Pending<T>>,
}

impl<T> Drop for Waiter<T> {
    fn drop(&mut self) {
        lock(&self.pending.0).remove(&self.id);
    }
}

impl<T> Waiter<T> {
    /// Hands what arrives to `on`, which says how many of the `expected` nodes have answered
    /// so far, until every one has or `deadline` passes; a timeout is logged with `what` was
    /// waited for.
    pub(crate) async fn gather(
        &mut self,
        deadline: Instant,
        expected: usize,
        what: &str,
        mut on: impl FnMut(T) -> usize,
    ) {
        let mut answered = 0;
        while answered < expected {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(msg)) => answered = on(msg),
                _ => {
                    tracing::warn!(
                        answered,
                        expected,
                        "wsx-redis: {what} timed out waiting for other nodes"
                    );
                    return;
                }
            }
        }
    }

    /// One answer from each of `expected` nodes (at least one), or those that came before
    /// `deadline`; a timeout is logged with `what` the request was.
    pub(crate) async fn answers(
        mut self,
        expected: usize,
        deadline: Instant,
        what: &str,
    ) -> Vec<T> {
        let mut answers = Vec::new();
        self.gather(deadline, expected, what, |msg| {
            answers.push(msg);
            answers.len()
        })
        .await;
        answers
    }

    /// Hands everything that arrives before `deadline` to `on`.
    pub(crate) async fn drain(mut self, deadline: Instant, mut on: impl FnMut(T)) {
        while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            on(msg);
        }
    }
}

/// Sends request `id` to the other nodes that listen on its channel, counted by `listeners`
/// (the channel's subscribers, this node among them; when Redis cannot tell, the request
/// reaches no one, and `what` it was is logged): the request's end of the table and how many
/// nodes are to answer, or `None` when no other node listens.
pub(crate) async fn ask_listeners<T>(
    pending: &Arc<Pending<T>>,
    id: String,
    listeners: impl Future<Output = redis::RedisResult<usize>>,
    send: impl FnOnce(),
    what: &str,
) -> Option<(Waiter<T>, usize)> {
    let others = match listeners.await {
        Ok(n) => n.saturating_sub(1),
        Err(e) => {
            tracing::warn!(error = %e, "wsx-redis: counting the nodes failed; {what} reaches no other node");
            0
        }
    };
    Some((pending.ask(id, others, send)?, others))
}

/// What an answer to a broadcast with acknowledgements says.
pub(crate) enum AckReply {
    /// A node's count of the clients it sent the broadcast to.
    Count(usize),
    /// A client's acknowledgement (its first argument).
    Ack(Data),
    /// Anything else.
    Other,
}

/// The requester's half of a broadcast with acknowledgements, once published: gathers each of
/// the `expected` nodes' (at least one) client counts within `requests_timeout`, and hands every
/// acknowledgement to `on_ack`, those that come later too, until `ack_timeout` (on a task of
/// `handle`). Both times count from now. Returns how many remote clients were sent the packet.
async fn broadcast_acks<T: Send + 'static>(
    mut waiter: Waiter<T>,
    expected: usize,
    (requests_timeout, ack_timeout): (Duration, Duration),
    handle: &tokio::runtime::Handle,
    read: fn(&T) -> AckReply,
    on_ack: RemoteAck,
) -> usize {
    let start = Instant::now();
    let (mut answered, mut clients) = (0, 0);
    let what = "a broadcast with acks (the client counts)";
    waiter
        .gather(start + requests_timeout, expected, what, |msg| {
            match read(&msg) {
                AckReply::Count(n) => {
                    answered += 1;
                    clients += n;
                }
                AckReply::Ack(data) => on_ack(vec![data]),
                AckReply::Other => {}
            }
            answered
        })
        .await;
    // The acknowledgements go on arriving until the ack timeout.
    handle.spawn(waiter.drain(start + ack_timeout, move |msg| {
        if let AckReply::Ack(data) = read(&msg) {
            on_ack(vec![data]);
        }
    }));
    clients
}

/// The requester's half of a broadcast with acknowledgements of `packet` to the local sockets
/// of other nodes that `opts` selects: `ask` sends the event's arguments as a request, with
/// the ack timeout (`opts.flags.timeout`, else this node's requests timeout) for each node to
/// wait for its clients; then the answers are read with `read` ([`broadcast_acks`]). Returns
/// how many remote clients were sent the packet (none for a packet that is not an event).
pub(crate) fn broadcast_with_acks<T, F>(
    node: &Node,
    packet: &Packet,
    opts: &BroadcastOptions,
    ask: impl FnOnce(&Payload, Duration) -> F,
    read: fn(&T) -> AckReply,
    on_ack: RemoteAck,
) -> BoxFuture<usize>
where
    T: Send + 'static,
    F: Future<Output = Option<(Waiter<T>, usize)>> + Send + 'static,
{
    let Some(payload) = event_payload(packet) else {
        return Box::pin(async { 0 });
    };
    let ack_timeout = opts.flags.timeout.unwrap_or(node.requests_timeout);
    let asked = ask(payload, ack_timeout);
    let timeouts = (node.requests_timeout, ack_timeout);
    let handle = node.handle.clone();
    Box::pin(async move {
        let Some((waiter, expected)) = asked.await else {
            return 0;
        };
        broadcast_acks(waiter, expected, timeouts, &handle, read, on_ack).await
    })
}

/// The answerer's half of another node's broadcast with acknowledgements: `args` (the event
/// name first) go to the local sockets the request's `opts` select, with its ack timeout
/// (`opts.flags.timeout` in ms, else this node's requests timeout). `count` is told first how
/// many sockets that is (the client count answer), then `ack` gets each client's first answer
/// argument (the acknowledgement answers) as it comes, on a task of this node.
pub(crate) fn answer_broadcast_with_ack(
    node: &Node,
    ns: &dyn LocalNamespace,
    opts: &Value,
    mut args: Vec<Data>,
    count: impl FnOnce(usize),
    ack: impl Fn(Mp) + Send + Sync + 'static,
) {
    if args.is_empty() {
        return;
    }
    let Data::Json(Value::String(event)) = args.remove(0) else {
        return;
    };
    let timeout = opts["flags"]["timeout"]
        .as_u64()
        .map_or(node.requests_timeout, Duration::from_millis);
    let on_ack: RemoteAck = Arc::new(move |mut args: Vec<Data>| {
        ack(if args.is_empty() {
            Mp::Nil
        } else {
            codec::from_data(&args.remove(0))
        })
    });
    let (n, send) = ns.broadcast_with_ack(&event, args, &options(opts), timeout, on_ack);
    count(n);
    node.handle.spawn(send);
}
