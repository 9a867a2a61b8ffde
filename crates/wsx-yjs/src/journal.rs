//! The journal: accepted updates on their way to the store, written in group commits, each
//! commit followed, in order, by what waited for it (the broadcast of those updates, a
//! SyncStep2 that must not show anything not yet durable).
//!
//! One task owns the queue. It takes every job waiting (up to a bound), writes their updates in
//! one store transaction on a blocking thread, then runs their completions in queue order on the
//! runtime, so a broadcast is batched like any other. Because a room queues its updates in the
//! order it applies them, and the journal completes them in queue order, every client sees a
//! room's updates in the order they were applied, and only once they are stored. A load goes
//! through the same queue, so a document reopened right after it was freed sees every write
//! queued before.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::store::{Store, Stored, Write};

/// What runs once the writes queued before it are durable.
pub(crate) type Done = Box<dyn FnOnce() + Send>;

enum Job {
    Append {
        doc: Arc<str>,
        update: Bytes,
        done: Done,
    },
    Compact {
        doc: Arc<str>,
        state: Bytes,
    },
    Barrier(Done),
    Load {
        doc: Arc<str>,
        reply: oneshot::Sender<Result<Stored>>,
    },
    /// Closes the store once everything before is written.
    Stop(oneshot::Sender<()>),
}

/// Jobs and bytes one group commit takes at most.
const MAX_BATCH_JOBS: usize = 4096;
const MAX_BATCH_BYTES: usize = 16 << 20;

/// Counters of the journal's work.
#[derive(Debug, Default)]
pub struct JournalStats {
    /// Store transactions committed.
    pub commits: AtomicU64,
    /// Updates appended.
    pub appends: AtomicU64,
    /// Compactions written.
    pub compactions: AtomicU64,
    /// Failed store writes (each retried until it succeeds).
    pub failures: AtomicU64,
}

/// A handle to the journal task.
#[derive(Clone)]
pub(crate) struct Journal {
    tx: mpsc::UnboundedSender<Job>,
    stats: Arc<JournalStats>,
}

impl Journal {
    /// Starts the journal task on the current runtime.
    pub(crate) fn start(store: Box<dyn Store>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(JournalStats::default());
        tokio::spawn(run(rx, Arc::new(Mutex::new(store)), stats.clone()));
        Self { tx, stats }
    }

    pub(crate) fn stats(&self) -> &Arc<JournalStats> {
        &self.stats
    }

    /// Appends `update` to `doc`; `done` runs once it is stored.
    pub(crate) fn append(&self, doc: Arc<str>, update: Bytes, done: Done) {
        let _ = self.tx.send(Job::Append { doc, update, done });
    }

    /// Replaces what is stored for `doc` until now by `state`.
    pub(crate) fn compact(&self, doc: Arc<str>, state: Bytes) {
        let _ = self.tx.send(Job::Compact { doc, state });
    }

    /// Runs `done` once everything queued before is stored.
    pub(crate) fn barrier(&self, done: Done) {
        let _ = self.tx.send(Job::Barrier(done));
    }

    /// Waits until everything queued before is stored.
    pub(crate) async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        self.barrier(Box::new(move || {
            let _ = tx.send(());
        }));
        let _ = rx.await;
    }

    /// Writes everything queued, then closes the store (releasing its file); later jobs are
    /// ignored.
    pub(crate) async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Job::Stop(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Loads `doc` once every write queued before is stored.
    pub(crate) async fn load(&self, doc: Arc<str>) -> Result<Stored> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::Load { doc, reply })
            .map_err(|_| Error::store("the journal has stopped"))?;
        rx.await
            .map_err(|_| Error::store("the journal has stopped"))?
    }
}

type SharedStore = Arc<Mutex<Box<dyn Store>>>;

async fn run(mut rx: mpsc::UnboundedReceiver<Job>, store: SharedStore, stats: Arc<JournalStats>) {
    let mut batch = VecDeque::new();
    while let Some(first) = rx.recv().await {
        batch.push_back(first);
        let mut bytes = 0;
        while batch.len() < MAX_BATCH_JOBS && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(job) => {
                    bytes += match &job {
                        Job::Append { update, .. } => update.len(),
                        Job::Compact { state, .. } => state.len(),
                        _ => 0,
                    };
                    batch.push_back(job);
                }
                Err(_) => break,
            }
        }
        while !batch.is_empty() {
            if let Some(stopped) = process(&mut batch, &store, &stats).await {
                drop(store);
                let _ = stopped.send(());
                return;
            }
        }
    }
}

/// Writes the jobs at the front of `batch` up to the first stop in one store transaction,
/// serves their loads in the same blocking call, completes them in order, and returns the
/// stop if there is one.
///
/// A load served with the batch also sees the batch's writes queued after it. Those can only
/// be of other documents, or the compaction an earlier copy of the same room queued when it
/// was freed, which changes nothing of what the load reads; so many rooms opening at once cost
/// one round trip to the store, not one each.
async fn process(
    batch: &mut VecDeque<Job>,
    store: &SharedStore,
    stats: &Arc<JournalStats>,
) -> Option<oneshot::Sender<()>> {
    let upto = batch
        .iter()
        .position(|j| matches!(j, Job::Stop(_)))
        .unwrap_or(batch.len());
    let jobs: Vec<Job> = batch.drain(..upto).collect();
    let writes: Arc<Vec<(bool, Arc<str>, Bytes)>> = Arc::new(
        jobs.iter()
            .filter_map(|j| match j {
                Job::Append { doc, update, .. } => Some((false, doc.clone(), update.clone())),
                Job::Compact { doc, state } => Some((true, doc.clone(), state.clone())),
                _ => None,
            })
            .collect(),
    );
    let loads: Arc<Vec<Arc<str>>> = Arc::new(
        jobs.iter()
            .filter_map(|j| match j {
                Job::Load { doc, .. } => Some(doc.clone()),
                _ => None,
            })
            .collect(),
    );
    let mut loaded = Vec::new();
    if !writes.is_empty() || !loads.is_empty() {
        let mut backoff = Duration::from_millis(50);
        loop {
            let (s, w, l) = (store.clone(), writes.clone(), loads.clone());
            let r = tokio::task::spawn_blocking(move || {
                let mut store = lock(&s);
                if !w.is_empty() {
                    write(&mut **store, &w)?;
                }
                Ok::<_, Error>(l.iter().map(|d| store.load(d)).collect::<Vec<_>>())
            })
            .await;
            match r {
                Ok(Ok(results)) => {
                    loaded = results;
                    break;
                }
                Ok(Err(e)) => tracing::error!("yjs store write failed (retrying): {e}"),
                Err(e) => tracing::error!("yjs store writer panicked (retrying): {e}"),
            }
            stats.failures.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        if !writes.is_empty() {
            stats.commits.fetch_add(1, Ordering::Relaxed);
        }
        for (compact, ..) in writes.iter() {
            let c = if *compact {
                &stats.compactions
            } else {
                &stats.appends
            };
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
    let mut loaded = loaded.into_iter();
    for job in jobs {
        match job {
            Job::Append { done, .. } | Job::Barrier(done) => done(),
            Job::Load { reply, .. } => {
                let r = loaded
                    .next()
                    .unwrap_or_else(|| Err(Error::store("the store returned no answer")));
                let _ = reply.send(r);
            }
            Job::Compact { .. } | Job::Stop(_) => {}
        }
    }
    match batch.pop_front() {
        Some(Job::Stop(stopped)) => Some(stopped),
        _ => None,
    }
}

fn lock(store: &SharedStore) -> std::sync::MutexGuard<'_, Box<dyn Store>> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}

fn write(store: &mut dyn Store, writes: &[(bool, Arc<str>, Bytes)]) -> Result<()> {
    let batch: Vec<Write<'_>> = writes
        .iter()
        .map(|(compact, doc, data)| {
            if *compact {
                Write::Compact { doc, state: data }
            } else {
                Write::Append { doc, update: data }
            }
        })
        .collect();
    store.write(&batch)
}
