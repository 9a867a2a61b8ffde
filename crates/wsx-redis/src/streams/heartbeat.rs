//! Heartbeats, by which the nodes of a streams cluster count each other: a namespace that has
//! published nothing for the heartbeat interval publishes a HEARTBEAT, and another node not
//! heard from for the heartbeat timeout is forgotten (the requests waiting for it are told).

use std::sync::Weak;
use std::time::Duration;

use tokio::time::Instant;

use super::entry::kind;
use super::namespace::NsStream;
use super::node::StreamsShared;
use crate::lock::lock;

/// Publishes heartbeats when the namespace has been silent, forgets silent nodes; ends with
/// the namespace's adapter.
pub(super) async fn heartbeat(shared: Weak<StreamsShared>, st: Weak<NsStream>) {
    // Often enough for both periods (Node checks for silent nodes every second).
    let tick = shared.upgrade().map_or(Duration::from_millis(250), |s| {
        (s.heartbeat_interval / 4)
            .min(s.heartbeat_timeout / 4)
            .clamp(Duration::from_millis(10), Duration::from_millis(250))
    });
    loop {
        tokio::time::sleep(tick).await;
        let (Some(shared), Some(st)) = (shared.upgrade(), st.upgrade()) else {
            return;
        };
        let now = Instant::now();
        let due = now.duration_since(*lock(&st.last_publish)) >= shared.heartbeat_interval;
        if due {
            st.publish(kind::HEARTBEAT, None, None);
        }
        let gone: Vec<String> = lock(&st.nodes)
            .iter()
            .filter(|(_, seen)| now.duration_since(**seen) > shared.heartbeat_timeout)
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in gone {
            tracing::info!(uid, "wsx-redis: streams: a node seems down");
            st.remove_node(&uid);
        }
    }
}
