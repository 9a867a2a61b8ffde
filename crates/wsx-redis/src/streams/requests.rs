//! A streams namespace's requests to the other nodes: they are asked when known (heard from
//! within the heartbeat timeout), and a request waits for an answer from each node known when
//! it was sent, or for news that the node is gone.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use rmpv::Value as Mp;
use tokio::time::Instant;
use wsx_socketio::cluster::BoxFuture;

use super::namespace::{Heard, NsStream};
use crate::cluster_adapter::{Request, read_ack_reply};
use crate::lock::lock;
use crate::request::{AckReply, Waiter};

/// Sends `request` (its id registered first) to the other nodes known now: the request's end
/// of the table, and how many nodes are to answer; `None` when no other node is known.
pub(super) fn ask(
    st: Arc<NsStream>,
    request: Request,
) -> BoxFuture<Option<(Waiter<Heard>, usize)>> {
    Box::pin(async move {
        let expected = lock(&st.nodes).len();
        let send = || st.publish(request.kind, Some(request.data), None);
        Some((st.pending.ask(request.id, expected, send)?, expected))
    })
}

/// Sends `request` and gathers an answer from each node known when it is sent, until each has
/// answered or is gone, or `timeout` passed: the answers, and how many nodes were asked.
pub(super) fn request(
    st: Arc<NsStream>,
    request: Request,
    timeout: Duration,
) -> BoxFuture<(Vec<Mp>, usize)> {
    Box::pin(async move {
        let mut missing: HashSet<String> = lock(&st.nodes).keys().cloned().collect();
        let expected = missing.len();
        let send = || st.publish(request.kind, Some(request.data), None);
        let Some(mut waiter) = st.pending.ask(request.id, expected, send) else {
            return (Vec::new(), 0);
        };
        let deadline = Instant::now() + timeout;
        let mut answers = Vec::new();
        let what = "streams: a request";
        waiter
            .gather(deadline, expected, what, |heard| {
                match heard {
                    Heard::Answer(uid, r) => {
                        missing.remove(&uid);
                        answers.push(r);
                    }
                    Heard::Gone(uid) => {
                        missing.remove(&uid);
                    }
                }
                // Those asked that answered or are gone.
                expected - missing.len()
            })
            .await;
        (answers, expected)
    })
}

/// What a pending broadcast with acknowledgements hears: an answer, or nothing it counts.
pub(super) fn ack_reply(heard: &Heard) -> AckReply {
    match heard {
        Heard::Answer(_, r) => read_ack_reply(r),
        Heard::Gone(_) => AckReply::Other,
    }
}
