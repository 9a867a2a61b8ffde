//! The streams adapter: Node's `@socket.io/redis-streams-adapter` 0.2.x, one Redis stream
//! shared by every node, which gives connection state recovery across nodes.
//!
//! The protocol is socket.io-adapter's `ClusterAdapterWithHeartbeat`. Every message (requests
//! and responses too) is a stream entry `XADD <stream> MAXLEN ~ <maxLen> * uid <uid> nsp <nsp>
//! type "<n>" [data <d>]`, where `d` is the JSON text of the message's data, or base64 of its
//! msgpack when a broadcast, server-side emit or one of their answers holds binary. Every
//! node reads the stream with `XREAD BLOCK 5000 COUNT <readCount>` from the last entry it saw,
//! on a connection of its own. Nodes count each other by heartbeat, not by subscription: a
//! node announces itself with INITIAL_HEARTBEAT (1) when a namespace's adapter starts, every
//! node answers HEARTBEAT (2), a node publishes a HEARTBEAT after `heartbeatInterval` without
//! publishing anything, leaves with ADAPTER_CLOSE (13), and is forgotten after
//! `heartbeatTimeout` without news. A request (`fetchSockets`, `serverSideEmitWithAck`) waits
//! for an answer from each node known then.
//!
//! Recovery: a broadcast's stream entry id is its offset (appended as the EVENT's last
//! argument, on every node); a disconnected socket's session is stored with
//! `SET sio:session:<pid> base64(msgpack({sid,pid,rooms,data})) PX <maxDisconnectionDuration>`,
//! and restored (on any node) with `MULTI GET DEL EXEC` and `XRANGE` of the entries after the
//! client's offset, the broadcasts of the namespace to its rooms.
//!
//! Faults: publishes go through one ordered queue; when Redis cannot be reached they are kept
//! and retried (for at most [`StreamsAdapterBuilder::max_outage`]), and the reader resumes
//! from the last entry it read, so a short outage loses nothing. As with Node, a recoverable
//! broadcast (recovery on) reaches this node's own sockets once its entry is in the stream,
//! since its offset is the entry id: during an outage local delivery of those waits too.
//!
//! Where this differs from Node's adapter (0.2.3):
//! - the reader starts from the stream's last entry when the cluster connects, not from `$`
//!   at its first `XREAD`, so an entry added in between (another node's INITIAL_HEARTBEAT)
//!   is not missed;
//! - entries are kept and retried while Redis is unreachable (Node's client queues commands
//!   while it reconnects, and drops those in flight when the connection breaks); an entry
//!   whose `XADD` was executed just before the connection broke may be added twice;
//! - a restoration waits until the reader is past the replayed entries, then holds the
//!   reader until the socket is back in its rooms (at most 500 ms, e.g. while a middleware
//!   runs when `skip_middlewares` is off) and replays what the reader handed out meanwhile:
//!   a client recovering while broadcasts go on misses none and gets none twice (Node has a
//!   window for both);
//! - 0.3.x nodes are not understood: 0.3 publishes its requests and answers with Redis
//!   Pub/Sub (msgpack on `<prefix>#<nsp>#` and `<prefix>#<nsp>#<uid>#`) and counts nodes
//!   with `PUBSUB NUMSUB`, without heartbeats; a mixed cluster pins 0.2.x on the Node side.
//!
//! The module, from the stream up: [`entry`] (a message as an entry), [`offset`] (entry ids),
//! [`publisher`] (the queue and the task that writes the stream), [`namespace`] (a namespace's
//! state), [`node`] (what this node's parts share), [`incoming`] (what is done with an
//! entry), [`reader`] (the task that reads the stream), [`heartbeat`], [`requests`],
//! [`recovery`], [`adapter`] (a namespace's [`StreamsAdapter`]), [`cluster`]
//! ([`StreamsCluster`]) and [`builder`] ([`StreamsAdapterBuilder`]).

mod adapter;
mod builder;
mod cluster;
pub(crate) mod entry;
mod heartbeat;
mod incoming;
mod namespace;
mod node;
mod offset;
mod publisher;
mod reader;
mod recovery;
mod requests;

pub use adapter::StreamsAdapter;
pub use builder::StreamsAdapterBuilder;
pub use cluster::StreamsCluster;
