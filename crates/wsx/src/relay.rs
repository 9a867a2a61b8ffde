//! [`Relay`]: how a [`Hub`](crate::Hub)'s publishes reach the hubs of other processes.

use wsx_proto::Message;

/// Carries a [`Hub`](crate::Hub)'s publishes to the hubs of other processes (a Redis channel
/// per topic, in `wsx-redis`), and hears when this process starts or stops caring about a
/// topic.
///
/// The hub calls it outside its own lock, so a relay may call back into the hub, and a
/// relay delivers what other processes published with
/// [`Hub::publish_local`](crate::Hub::publish_local) (never
/// [`Hub::publish`](crate::Hub::publish), which would send it back out).
pub trait Relay: Send + Sync + 'static {
    /// A message was published here with [`Hub::publish`](crate::Hub::publish): send it to the
    /// other processes.
    fn publish(&self, topic: &str, msg: &Message);
    /// The first local subscriber joined `topic`.
    fn subscribed(&self, topic: &str) {
        let _ = topic;
    }
    /// The last local subscriber left `topic`.
    fn unsubscribed(&self, topic: &str) {
        let _ = topic;
    }
}
