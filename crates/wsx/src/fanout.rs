//! Sending one encoded frame to many connections, and the [`BroadcastReport`] of what became
//! of it.

use wsx_proto::PreparedFrame;

use crate::queue::SendStatus;
use crate::registry::ClientId;
use crate::websocket::Sender;

/// What a broadcast did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BroadcastReport {
    /// Receivers the frame was written or queued to.
    pub queued: usize,
    /// Receivers whose queue was full (slow-consumer policy `Drop`).
    pub dropped: usize,
    /// Receivers closing or closed (including slow consumers just terminated).
    pub closed: usize,
}

/// Queues `frame` to each sender but `except`, batched (see [`Sender::send_prepared_batched`]),
/// counting what happened.
pub(crate) fn send_all<'a>(
    to: impl IntoIterator<Item = (&'a u64, &'a Sender)>,
    frame: &PreparedFrame,
    except: Option<ClientId>,
) -> BroadcastReport {
    let mut report = BroadcastReport::default();
    for (&id, s) in to {
        if Some(ClientId(id)) == except {
            continue;
        }
        match s.send_prepared_batched(frame) {
            SendStatus::Queued | SendStatus::Backpressure => report.queued += 1,
            SendStatus::Dropped => report.dropped += 1,
            SendStatus::Closed => report.closed += 1,
        }
    }
    report
}
