//! `Hub`: topics with publish/subscribe over a server's clients (µWebSockets' `publish`, `ws`'s
//! broadcast loop made a library): a message published to a topic is encoded once and the
//! same bytes are queued to every subscriber; a [`Relay`] carries publishes to other processes.

use std::sync::Arc;

use wsx_proto::{Message, PreparedFrame};

use crate::clients::Clients;
use crate::fanout::{BroadcastReport, send_all};
use crate::registry::ClientId;
use crate::relay::Relay;
use crate::websocket::Sender;

/// Topics over a set of [`Clients`]: the connections they subscribe, under the one
/// [`ClientId`] each connection has.
///
/// A server's hub ([`Server::hub`](crate::Server::hub)) works on the ids the server gave its
/// connections ([`Connected::id`](crate::Connected::id)), and a connection's subscriptions
/// end with it. A hub of its own ([`Hub::new`]) is for connections accepted elsewhere (axum,
/// hyper): [`add`](Hub::add) lists them and [`remove`](Hub::remove) ends them.
///
/// [`publish`](Hub::publish) encodes the message once as a [`PreparedFrame`] and queues the
/// same bytes to every subscriber through its non-blocking [`Sender`], batched
/// ([`Sender::send_prepared_batched`]): the writes happen once the publishing task yields, one
/// per subscriber for all the messages published until then. Each receiver's
/// slow-consumer policy ([`crate::Options::slow_consumer`]) applies: a receiver that stops
/// reading is dropped from the message or closed, never allowed to grow memory or slow the
/// others. Cloning a `Hub` gives another handle to the same hub.
///
/// ```no_run
/// use wsx::{Hub, Message, Server};
///
/// # async fn run() -> wsx::Result<()> {
/// let server = Server::bind("127.0.0.1:9001").await?;
/// let hub = server.hub();
/// server
///     .serve(move |mut c: wsx::Connected| {
///         let hub = hub.clone();
///         async move {
///             hub.subscribe(c.id, "news");
///             while let Some(Ok(msg)) = c.ws.recv().await {
///                 hub.publish("news", &msg);
///             }
///         }
///     })
///     .await
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Hub {
    clients: Clients,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.clients.read();
        f.debug_struct("Hub")
            .field("clients", &g.clients.len())
            .field("topics", &g.topics.len())
            .finish()
    }
}

impl From<Clients> for Hub {
    /// The topics of these clients (every hub over the same clients shares them).
    fn from(clients: Clients) -> Self {
        Self { clients }
    }
}

impl Hub {
    /// A hub with clients of its own.
    pub fn new() -> Self {
        Self::default()
    }

    /// The clients this hub's topics are over.
    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// Installs the relay that carries publishes to other processes, and tells it about the
    /// topics already subscribed here.
    pub fn set_relay(&self, relay: Arc<dyn Relay>) {
        self.clients.set_relay(relay.clone());
        let topics: Vec<Arc<str>> = self.clients.read().topics.keys().cloned().collect();
        for t in topics {
            relay.subscribed(&t);
        }
    }

    /// Lists a connection accepted elsewhere; it stays until [`Hub::remove`]. (A server's
    /// connections are listed already: use their [`Connected::id`](crate::Connected::id).)
    pub fn add(&self, sender: Sender) -> ClientId {
        self.clients.insert(sender)
    }

    /// Removes a connection and its subscriptions.
    pub fn remove(&self, id: ClientId) -> Option<Sender> {
        self.clients.remove(id)
    }

    /// Subscribes a client to `topic`; `false` if it was already subscribed or is unknown.
    pub fn subscribe(&self, id: ClientId, topic: &str) -> bool {
        let Some(created) = self.clients.write().subscribe(id, topic) else {
            return false;
        };
        if created {
            self.clients.notify_topics(&[topic], &[]);
        }
        true
    }

    /// Unsubscribes a client from `topic`; `false` if it was not subscribed.
    pub fn unsubscribe(&self, id: ClientId, topic: &str) -> bool {
        let Some(emptied) = self.clients.write().unsubscribe(id, topic) else {
            return false;
        };
        if emptied {
            self.clients.notify_topics(&[], &[topic]);
        }
        true
    }

    /// Whether a client subscribes to `topic`.
    pub fn is_subscribed(&self, id: ClientId, topic: &str) -> bool {
        self.clients
            .read()
            .topics
            .get(topic)
            .is_some_and(|m| m.contains_key(&id.0))
    }

    /// The topics a client subscribes to.
    pub fn topics_of(&self, id: ClientId) -> Vec<String> {
        self.clients
            .read()
            .clients
            .get(&id.0)
            .map(|e| e.topics.iter().map(|t| t.to_string()).collect())
            .unwrap_or_default()
    }

    /// Local subscribers of `topic`.
    pub fn subscribers(&self, topic: &str) -> usize {
        self.clients.read().topics.get(topic).map_or(0, |m| m.len())
    }

    /// Topics with at least one local subscriber.
    pub fn topics(&self) -> Vec<String> {
        self.clients
            .read()
            .topics
            .keys()
            .map(|t| t.to_string())
            .collect()
    }

    /// Connected clients.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether no client is connected.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// The send handle of a client.
    pub fn get(&self, id: ClientId) -> Option<Sender> {
        self.clients.get(id)
    }

    /// Publishes to the subscribers of `topic` here and, through the [`Relay`], in every
    /// other process.
    pub fn publish(&self, topic: &str, msg: &Message) -> BroadcastReport {
        self.publish_except(topic, msg, None)
    }

    /// Publishes to every subscriber of `topic` but `except` (typically the sender), here and
    /// in every other process.
    pub fn publish_except(
        &self,
        topic: &str,
        msg: &Message,
        except: Option<ClientId>,
    ) -> BroadcastReport {
        if let Some(relay) = self.clients.relay() {
            relay.publish(topic, msg);
        }
        self.publish_local_except(topic, msg, except)
    }

    /// Publishes to the subscribers of `topic` in this process only (what a [`Relay`] calls
    /// with what other processes published).
    pub fn publish_local(&self, topic: &str, msg: &Message) -> BroadcastReport {
        self.publish_local_except(topic, msg, None)
    }

    /// Encodes `msg` only if `topic` has subscribers here.
    fn publish_local_except(
        &self,
        topic: &str,
        msg: &Message,
        except: Option<ClientId>,
    ) -> BroadcastReport {
        match self.clients.read().topics.get(topic) {
            Some(members) => send_all(members, &PreparedFrame::new(msg), except),
            None => BroadcastReport::default(),
        }
    }

    /// Queues an encoded frame to the subscribers of `topic` in this process (but `except`).
    pub fn publish_prepared(
        &self,
        topic: &str,
        frame: &PreparedFrame,
        except: Option<ClientId>,
    ) -> BroadcastReport {
        match self.clients.read().topics.get(topic) {
            Some(members) => send_all(members, frame, except),
            None => BroadcastReport::default(),
        }
    }

    /// Sends to every client, subscribed or not, with one encode.
    pub fn broadcast(&self, msg: &Message) -> BroadcastReport {
        self.clients.broadcast(msg)
    }
}
