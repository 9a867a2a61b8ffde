//! Connection state recovery: a client that reconnects within the window gets back its socket
//! id, rooms and data, and the packets it missed (`connectionStateRecovery` in Node).
//!
//! Wire protocol (as Node 4.6+): the CONNECT answer carries a private session id,
//! `{"sid":…,"pid":…}`; every EVENT sent through a broadcast without ack and not volatile
//! gets an extra last argument, its offset; a reconnecting client sends
//! `{"pid":…,"offset":…}` in its CONNECT payload. Sessions are kept only for disconnections
//! the client did not ask for (transport close or error, ping timeout, forced close, server
//! shutdown).
//!
//! This is the single-node store (Node's in-memory `SessionAwareAdapter`): a packet log per
//! namespace, bounded in age and in count. An adapter that keeps sessions and offsets for a
//! whole cluster ([`Cluster::recovers_sessions`], the Redis streams adapter) replaces it: the
//! store then hands broadcasts, persisted sessions and restorations to the adapter's hooks.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::cluster::{BoxFuture, Cluster, SessionState};
use crate::options::BroadcastOptions;
use crate::socketio::{Packet, PacketData};

/// Settings of connection state recovery.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecoveryConfig {
    /// How long a disconnected session (and the packets it may miss) is kept (default 2 min).
    pub max_disconnection_duration: Duration,
    /// Whether a recovered socket skips the namespace's middleware (default true).
    pub skip_middlewares: bool,
    /// The most packets a namespace's log keeps; older ones are dropped first, and a client
    /// whose offset is gone reconnects as new (default 100,000).
    pub max_packets: usize,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
            max_packets: 100_000,
        }
    }
}

impl RecoveryConfig {
    /// Sets how long sessions and packets are kept.
    pub fn max_disconnection_duration(mut self, d: Duration) -> Self {
        self.max_disconnection_duration = d;
        self
    }

    /// Sets whether recovered sockets skip the middleware.
    pub fn skip_middlewares(mut self, skip: bool) -> Self {
        self.skip_middlewares = skip;
        self
    }

    /// Sets the log's packet bound.
    pub fn max_packets(mut self, n: usize) -> Self {
        self.max_packets = n;
        self
    }
}

struct Logged {
    offset: u64,
    at: Instant,
    rooms: Vec<String>,
    except: Vec<String>,
    packet: Packet,
}

/// What a disconnected socket leaves behind.
#[derive(Debug, Clone)]
pub(crate) struct Persisted {
    pub(crate) sid: String,
    pub(crate) rooms: Vec<String>,
    pub(crate) data: Value,
    at: Instant,
}

/// A session found again, with the packets to replay before the CONNECT answer.
#[derive(Debug)]
pub(crate) struct Restored {
    pub(crate) sid: String,
    pub(crate) rooms: Vec<String>,
    pub(crate) data: Value,
    pub(crate) missed: Vec<Packet>,
}

#[derive(Default)]
struct State {
    log: VecDeque<Logged>,
    next: u64,
    sessions: HashMap<String, Persisted>,
    last_prune: Option<Instant>,
}

/// One namespace's recovery store.
pub(crate) struct Recovery {
    config: RecoveryConfig,
    /// The namespace's cluster, when it keeps sessions for the whole cluster.
    cluster: Option<Arc<dyn Cluster>>,
    /// Distinguishes this process's offsets from another's (or a previous run's).
    prefix: String,
    state: Mutex<State>,
}

impl Recovery {
    pub(crate) fn new(config: RecoveryConfig, cluster: &Arc<dyn Cluster>) -> Self {
        Recovery {
            config,
            cluster: cluster.recovers_sessions().then(|| cluster.clone()),
            prefix: crate::engine::generate_id()[..8].to_owned(),
            state: Mutex::new(State::default()),
        }
    }

    pub(crate) fn config(&self) -> &RecoveryConfig {
        &self.config
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn offset_string(&self, n: u64) -> String {
        format!("{}{n:x}", self.prefix)
    }

    fn parse_offset(&self, s: &str) -> Option<u64> {
        u64::from_str_radix(s.strip_prefix(&self.prefix)?, 16).ok()
    }

    /// Appends the offset argument to an EVENT about to be broadcast and logs it.
    fn record(&self, packet: &mut Packet, opts: &BroadcastOptions) {
        let now = Instant::now();
        let mut st = self.state();
        let n = st.next;
        st.next += 1;
        if let PacketData::Event { payload, .. } = &mut packet.data {
            payload.args.push(Value::String(self.offset_string(n)));
        }
        st.log.push_back(Logged {
            offset: n,
            at: now,
            rooms: opts.rooms.clone(),
            except: opts.except.clone(),
            packet: packet.clone(),
        });
        while st.log.len() > self.config.max_packets {
            st.log.pop_front();
        }
        self.prune(&mut st, now);
    }

    /// Gives a recoverable EVENT its offset. Without a cluster that keeps offsets (or for a
    /// [`local`](BroadcastOptions) broadcast) this store logs it and returns it with its
    /// offset, to deliver and forward at once. Otherwise the cluster publishes it first
    /// ([`Cluster::broadcast_with_offset`]) and `deliver` gets it, with the offset the cluster
    /// gave it, for this node's sockets; `None` is returned (as Node's
    /// `ClusterAdapter.broadcast`).
    pub(crate) fn stamp(
        &self,
        mut packet: Packet,
        opts: &BroadcastOptions,
        deliver: impl FnOnce(&Packet) + Send + 'static,
    ) -> Option<Packet> {
        let Some(cluster) = self.cluster.as_ref().filter(|_| !opts.flags.local) else {
            self.record(&mut packet, opts);
            return Some(packet);
        };
        let sent = packet.clone();
        let with_offset = Box::new(move |offset: Option<String>| {
            if let (Some(offset), PacketData::Event { payload, .. }) = (offset, &mut packet.data) {
                payload.args.push(Value::String(offset));
            }
            deliver(&packet);
        });
        cluster.broadcast_with_offset(&sent, opts, with_offset);
        None
    }

    /// Keeps a disconnected socket's state.
    pub(crate) fn persist(&self, pid: &str, sid: &str, rooms: Vec<String>, data: Value) {
        if let Some(cluster) = &self.cluster {
            let session = SessionState {
                sid: sid.to_owned(),
                pid: pid.to_owned(),
                rooms,
                data,
            };
            cluster.persist_session(session, self.config.max_disconnection_duration);
            return;
        }
        let now = Instant::now();
        let mut st = self.state();
        st.sessions.insert(
            pid.to_owned(),
            Persisted {
                sid: sid.to_owned(),
                rooms,
                data,
                at: now,
            },
        );
        self.prune(&mut st, now);
    }

    /// [`restore`](Self::restore), or the cluster adapter's restoration.
    pub(crate) fn restore_any(&self, pid: &str, offset: &str) -> BoxFuture<Option<Restored>> {
        let Some(cluster) = &self.cluster else {
            let restored = self.restore(pid, offset);
            return Box::pin(async move { restored });
        };
        let fut = cluster.restore_session(pid, offset);
        Box::pin(async move {
            fut.await.map(|r| Restored {
                sid: r.session.sid,
                rooms: r.session.rooms,
                data: r.session.data,
                missed: r.missed,
            })
        })
    }

    /// Takes back session `pid` if it is still kept and `offset` is still in the log.
    pub(crate) fn restore(&self, pid: &str, offset: &str) -> Option<Restored> {
        let now = Instant::now();
        let mut st = self.state();
        self.prune(&mut st, now);
        let session = st.sessions.remove(pid)?;
        if now.duration_since(session.at) > self.config.max_disconnection_duration {
            return None;
        }
        let n = self.parse_offset(offset)?;
        let first = st.log.front()?.offset;
        let index = usize::try_from(n.checked_sub(first)?).ok()?;
        if st.log.get(index)?.offset != n {
            return None;
        }
        let missed = st
            .log
            .iter()
            .skip(index + 1)
            .filter(|p| {
                let included =
                    p.rooms.is_empty() || session.rooms.iter().any(|r| p.rooms.contains(r));
                let excluded = session.rooms.iter().any(|r| p.except.contains(r));
                included && !excluded
            })
            .map(|p| p.packet.clone())
            .collect();
        Some(Restored {
            sid: session.sid,
            rooms: session.rooms,
            data: session.data,
            missed,
        })
    }

    /// Drops what is older than the window (at most once a second).
    fn prune(&self, st: &mut State, now: Instant) {
        if st
            .last_prune
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        st.last_prune = Some(now);
        let max = self.config.max_disconnection_duration;
        while st
            .log
            .front()
            .is_some_and(|p| now.duration_since(p.at) > max)
        {
            st.log.pop_front();
        }
        st.sessions.retain(|_, s| now.duration_since(s.at) <= max);
    }
}
