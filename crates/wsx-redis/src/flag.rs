//! Waiting, for a while at most, for a flag that a task sets: whether an adapter listens on
//! its channels, whether the relay is subscribed.

use std::time::Duration;

use tokio::sync::watch;

/// Whether `flag` is set, or gets set within `timeout`.
pub(crate) async fn set_within(flag: &watch::Sender<bool>, timeout: Duration) -> bool {
    let mut rx = flag.subscribe();
    tokio::time::timeout(timeout, rx.wait_for(|set| *set))
        .await
        .is_ok_and(|r| r.is_ok())
}
