//! socket.io-adapter's `ClusterAdapter`, the protocol that the sharded and the streams
//! adapters both speak: every message is `{type, data, uid, nsp}`, carried on sharded Pub/Sub
//! channels by the one and as stream entries by the other. Written here once:
//! - [`message`]: the message types, and the `data` each carries;
//! - [`incoming`]: what a node does with another node's message;
//! - [`requests`]: what a namespace's adapter asks of the other nodes ([`ClusterAdapter`],
//!   Node's class of that name), each adapter saying only how its messages travel and how it
//!   counts the nodes.

mod incoming;
mod message;
mod requests;

pub(crate) use incoming::{Reply, on_message};
pub(crate) use message::{Request, broadcast_data, kind, read_ack_reply};
pub(crate) use requests::{ClusterAdapter, cluster_requests};
