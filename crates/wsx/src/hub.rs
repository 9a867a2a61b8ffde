//! `Hub`: clients and topics with publish/subscribe (µWebSockets' `publish`, `ws`'s broadcast
//! loop made a library): a message published to a topic is encoded once and the same bytes
//! are queued to every subscriber; a [`Relay`] carries publishes to other processes.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use indexmap::IndexMap;
use wsx_proto::{Message, PreparedFrame};

use crate::server::{BroadcastReport, ClientId};
use crate::websocket::{SendStatus, Sender};

/// Carries a [`Hub`]'s publishes to the hubs of other processes (a Redis channel per topic, in
/// `wsx-redis`), and hears when this process starts or stops caring about a topic.
///
/// The hub calls it outside its own lock, so a relay may call back into the hub, and a
/// relay delivers what other processes published with [`Hub::publish_local`] (never
/// [`Hub::publish`], which would send it back out).
pub trait Relay: Send + Sync + 'static {
    /// A message was published here with [`Hub::publish`]: send it to the other processes.
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

#[derive(Default)]
struct State {
    next: u64,
    /// Members are kept insertion-ordered and dense, so a publish walks them roughly in the
    /// order their connections were allocated (see [`crate::Clients`]).
    clients: IndexMap<u64, Client>,
    topics: HashMap<Arc<str>, IndexMap<u64, Sender>>,
}

struct Client {
    sender: Sender,
    topics: Vec<Arc<str>>,
}

#[derive(Default)]
struct Shared {
    state: RwLock<State>,
    relay: RwLock<Option<Arc<dyn Relay>>>,
}

/// Connected clients and the topics they subscribe to.
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
/// let hub = Hub::new();
/// let server = Server::bind("127.0.0.1:9001").await?;
/// let h = hub.clone();
/// server
///     .serve(move |mut c: wsx::Connected| {
///         let hub = h.clone();
///         async move {
///             let id = hub.add(c.ws.sender());
///             hub.subscribe(id, "news");
///             while let Some(Ok(msg)) = c.ws.recv().await {
///                 hub.publish("news", &msg);
///             }
///             hub.remove(id);
///         }
///     })
///     .await
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<Shared>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.read();
        f.debug_struct("Hub")
            .field("clients", &g.clients.len())
            .field("topics", &g.topics.len())
            .finish()
    }
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn relay(&self) -> Option<Arc<dyn Relay>> {
        self.inner
            .relay
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Installs the relay that carries publishes to other processes, and tells it about the
    /// topics already subscribed here.
    pub fn set_relay(&self, relay: Arc<dyn Relay>) {
        *self.inner.relay.write().unwrap_or_else(|e| e.into_inner()) = Some(relay.clone());
        let topics: Vec<Arc<str>> = self.read().topics.keys().cloned().collect();
        for t in topics {
            relay.subscribed(&t);
        }
    }

    /// Registers a connection; it stays until [`Hub::remove`].
    pub fn add(&self, sender: Sender) -> ClientId {
        let mut g = self.write();
        g.next += 1;
        let id = g.next;
        g.clients.insert(
            id,
            Client {
                sender,
                topics: Vec::new(),
            },
        );
        ClientId(id)
    }

    /// Removes a connection and its subscriptions.
    pub fn remove(&self, id: ClientId) -> Option<Sender> {
        let mut emptied = Vec::new();
        let sender = {
            let mut g = self.write();
            let client = g.clients.swap_remove(&id.0)?;
            for t in &client.topics {
                if leave(&mut g.topics, t, id.0) {
                    emptied.push(t.clone());
                }
            }
            client.sender
        };
        self.notify(&[], &emptied);
        Some(sender)
    }

    /// Subscribes a client to `topic`; `false` if it was already subscribed or is unknown.
    pub fn subscribe(&self, id: ClientId, topic: &str) -> bool {
        let created = {
            let mut g = self.write();
            let State {
                clients, topics, ..
            } = &mut *g;
            let Some(client) = clients.get_mut(&id.0) else {
                return false;
            };
            if client.topics.iter().any(|t| &**t == topic) {
                return false;
            }
            let (key, created) = match topics.get_key_value(topic) {
                Some((k, _)) => (k.clone(), false),
                None => (Arc::<str>::from(topic), true),
            };
            topics
                .entry(key.clone())
                .or_default()
                .insert(id.0, client.sender.clone());
            client.topics.push(key);
            created
        };
        if created {
            self.notify(&[topic], &[]);
        }
        true
    }

    /// Unsubscribes a client from `topic`; `false` if it was not subscribed.
    pub fn unsubscribe(&self, id: ClientId, topic: &str) -> bool {
        let emptied = {
            let mut g = self.write();
            let State {
                clients, topics, ..
            } = &mut *g;
            let Some(client) = clients.get_mut(&id.0) else {
                return false;
            };
            let Some(i) = client.topics.iter().position(|t| &**t == topic) else {
                return false;
            };
            let key = client.topics.swap_remove(i);
            leave(topics, &key, id.0)
        };
        if emptied {
            self.notify(&[], &[topic]);
        }
        true
    }

    fn notify<T: AsRef<str>>(&self, created: &[T], emptied: &[T]) {
        if created.is_empty() && emptied.is_empty() {
            return;
        }
        if let Some(relay) = self.relay() {
            for t in created {
                relay.subscribed(t.as_ref());
            }
            for t in emptied {
                relay.unsubscribed(t.as_ref());
            }
        }
    }

    /// Whether a client subscribes to `topic`.
    pub fn is_subscribed(&self, id: ClientId, topic: &str) -> bool {
        self.read()
            .topics
            .get(topic)
            .is_some_and(|m| m.contains_key(&id.0))
    }

    /// The topics a client subscribes to.
    pub fn topics_of(&self, id: ClientId) -> Vec<String> {
        self.read()
            .clients
            .get(&id.0)
            .map(|c| c.topics.iter().map(|t| t.to_string()).collect())
            .unwrap_or_default()
    }

    /// Local subscribers of `topic`.
    pub fn subscribers(&self, topic: &str) -> usize {
        self.read().topics.get(topic).map_or(0, IndexMap::len)
    }

    /// Topics with at least one local subscriber.
    pub fn topics(&self) -> Vec<String> {
        self.read().topics.keys().map(|t| t.to_string()).collect()
    }

    /// Connected clients.
    pub fn len(&self) -> usize {
        self.read().clients.len()
    }

    /// Whether no client is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The send handle of a client.
    pub fn get(&self, id: ClientId) -> Option<Sender> {
        self.read().clients.get(&id.0).map(|c| c.sender.clone())
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
        if let Some(relay) = self.relay() {
            relay.publish(topic, msg);
        }
        self.publish_local_except(topic, msg, except)
    }

    /// Publishes to the subscribers of `topic` in this process only (what a [`Relay`] calls
    /// with what other processes published).
    pub fn publish_local(&self, topic: &str, msg: &Message) -> BroadcastReport {
        self.publish_local_except(topic, msg, None)
    }

    fn publish_local_except(
        &self,
        topic: &str,
        msg: &Message,
        except: Option<ClientId>,
    ) -> BroadcastReport {
        let g = self.read();
        match g.topics.get(topic) {
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
        let g = self.read();
        match g.topics.get(topic) {
            Some(members) => send_all(members, frame, except),
            None => BroadcastReport::default(),
        }
    }

    /// Sends to every client of this hub, subscribed or not, with one encode.
    pub fn broadcast(&self, msg: &Message) -> BroadcastReport {
        let frame = PreparedFrame::new(msg);
        let g = self.read();
        send_all(
            g.clients.iter().map(|(id, c)| (id, &c.sender)),
            &frame,
            None,
        )
    }
}

/// Removes `id` from `topic`'s members; `true` when the topic became empty (and was dropped).
fn leave(topics: &mut HashMap<Arc<str>, IndexMap<u64, Sender>>, topic: &str, id: u64) -> bool {
    let Some(members) = topics.get_mut(topic) else {
        return false;
    };
    members.swap_remove(&id);
    if members.is_empty() {
        topics.remove(topic);
        return true;
    }
    false
}

/// Queues `frame` to each sender but `except`, counting what happened.
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
