//! Collaborative editing over wsx: a Yjs document server that speaks the `y-websocket`
//! protocol, on `yrs`, with durable storage.
//!
//! Any front end that syncs through the `y-websocket` client (`WebsocketProvider`) works
//! unchanged against it: CodeMirror, ProseMirror/Tiptap, Quill, Monaco, BlockNote and the rest
//! of the Yjs ecosystem.
//!
//! # The protocol
//! A room is a URL path; each binary frame holds y-protocols messages (decoded with
//! `yrs::sync`'s own types). On connect the server sends SyncStep1 and every awareness state
//! it knows; it answers SyncStep1 with SyncStep2; it applies SyncStep2 and Update messages and
//! sends what each changed to every connection of the room, the sender included (as the Node
//! reference server does; the stock client reconnects after 30 s without a message, and
//! awareness renewals echoed back are what keep an idle one alive). Awareness updates are
//! relayed likewise; a connection's awareness states are removed (and the removal announced)
//! when it closes, and states not renewed for 30 s are dropped. QueryAwareness is answered.
//! Malformed input closes the connection (1007 for what does not decode, 1003 for unknown
//! message types and text frames, 1009 for messages over the size limit) and leaves the
//! document and the other connections untouched.
//!
//! # Guarantees
//! - **Stored before seen.** An update is appended to the store before any client is sent
//!   it, and a SyncStep2 waits for the updates applied before it: whatever a client has seen
//!   survives the process being killed right after (with [`store::SqliteStore`]'s default
//!   [`store::Sync::Normal`]; [`store::Sync::Full`] also survives a power loss).
//! - **One order per room.** Updates are applied under the room's lock and stored and sent in
//!   that order; each is encoded once and the same frame goes to every connection.
//! - **Bounded.** Messages are bounded in size; each connection has a bounded number of
//!   updates waiting for the store (then it is not read: TCP backpressure); the stored updates
//!   of a document are compacted into one state after a number of updates or bytes; a document
//!   leaves memory a grace period after its last connection.
//! - **Group commits.** One task writes every update waiting in one store transaction, so the
//!   store costs a commit per batch, not per keystroke.
//!
//! # Scale-out
//! The clients of one room may sit on several processes: a [`Cluster`] carries each process's
//! accepted updates and awareness to the others (`wsx_redis::YjsRedis` does it with a Redis
//! stream per room, compacted into a hash, replayable, so a process opening a room late or
//! after a Redis restart converges). A cluster needs to deliver every update at least once:
//! updates are idempotent and commute, so duplicates change nothing and are neither stored
//! again nor sent to clients.
//!
//! # Use
//! ```no_run
//! use wsx_yjs::{YjsServer, store::SqliteStore};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let yjs = YjsServer::builder().store(SqliteStore::open("docs.db")?).build();
//! // y-websocket clients: new WebsocketProvider('ws://127.0.0.1:1234', 'my-room', doc)
//! yjs.serve_tcp(tokio::net::TcpListener::bind("127.0.0.1:1234").await?).await?;
//! # Ok(()) }
//! ```
//! Inside an existing hyper server, [`YjsServer::upgrade`] takes a request and a room.

#![deny(missing_docs)]

mod access;
pub mod client;
mod cluster;
mod config;
mod document;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod journal;
mod listener;
mod message;
mod presence;
mod room;
pub mod store;
mod update_decoder;
mod yjs_server;

pub use access::{Access, AuthRequest};
pub use cluster::{BoxFuture, Cluster, RoomLink};
pub use config::Config;
pub use error::{Error, Result};
pub use journal::JournalStats;
pub use yjs_server::{YjsServer, YjsServerBuilder};
/// The yrs crate this server is built on (for documents on the Rust side, e.g. with
/// [`client::YjsClient`]).
pub use yrs;
