//! The core's group commit. One thread per store drains the queue of batches, applies them
//! together on top of a read view of the backend's latest state
//! ([`crate::apply::apply_group`], with the store's value codecs), hands the finished write
//! set to [`Backend::write`] and then acknowledges every batch of the group.
//!
//! Owning this loop in the core is what lets anything sit between the semantics and the
//! storage: the codec stack is applied before a backend sees a byte, and a layer that wraps
//! a backend sees every write set. Writers do not each pay a flush: a group of N batches is
//! one `Backend::write` (one `fdatasync` in the embedded engine).

use crate::apply::{apply_group, Batch, BatchResults};
use crate::backend::{Backend, Metric, MetricValue, WriteGroup};
use crate::error::{Error, Result};
use crate::metrics::{AtomicHistogram, SIZES};
use crate::model::Mutation;
use crate::value_codec::CodecStack;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How batches are grouped.
#[derive(Clone, Debug)]
pub struct CommitOptions {
    /// Most batches in one group (default 1024).
    pub max_group: usize,
    /// Most value bytes in one group (default 32 MiB).
    pub max_group_bytes: usize,
}

impl Default for CommitOptions {
    fn default() -> Self {
        CommitOptions {
            max_group: 1024,
            max_group_bytes: 32 << 20,
        }
    }
}

/// Counters of the group commit.
#[derive(Debug)]
pub struct CommitMetrics {
    /// Batches (requests) per commit group.
    pub group_batches: AtomicHistogram,
    /// Groups that wrote something.
    pub groups: AtomicU64,
    /// Batches committed.
    pub batches: AtomicU64,
}

impl Default for CommitMetrics {
    fn default() -> Self {
        CommitMetrics {
            group_batches: AtomicHistogram::new(SIZES),
            groups: AtomicU64::new(0),
            batches: AtomicU64::new(0),
        }
    }
}

impl CommitMetrics {
    /// As [`Metric`]s, for the server's `/metrics`.
    pub fn export(&self) -> Vec<Metric> {
        vec![
            Metric {
                name: "botstore_commit_group_batches",
                help: "Write batches (requests) made durable by one group commit.",
                value: MetricValue::Histogram(self.group_batches.snapshot()),
            },
            Metric {
                name: "botstore_commit_groups_total",
                help: "Group commits.",
                value: MetricValue::Counter(self.groups.load(Ordering::Relaxed)),
            },
            Metric {
                name: "botstore_commit_batches_total",
                help: "Write batches committed.",
                value: MetricValue::Counter(self.batches.load(Ordering::Relaxed)),
            },
        ]
    }
}

struct Job {
    batch: Batch,
    reply: oneshot::Sender<Result<BatchResults>>,
}

/// The handle of a store's commit thread. Dropping it stops the thread after the groups
/// already queued.
pub(crate) struct Committer {
    tx: Mutex<Option<Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    pub(crate) metrics: Arc<CommitMetrics>,
}

impl Committer {
    pub(crate) fn start(
        backend: Arc<dyn Backend>,
        codecs: Arc<CodecStack>,
        opts: CommitOptions,
    ) -> Result<Committer> {
        let (tx, rx) = mpsc::channel();
        let metrics = Arc::new(CommitMetrics::default());
        let worker = Worker {
            backend,
            codecs,
            opts,
            rx,
            metrics: Arc::clone(&metrics),
        };
        let thread = std::thread::Builder::new()
            .name("botstore-commit".into())
            .spawn(move || worker.run())
            .map_err(|e| Error::Storage(format!("cannot start the commit thread: {e}")))?;
        Ok(Committer {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            metrics,
        })
    }

    /// Queue a batch; the future resolves when its group was written.
    pub(crate) async fn submit(&self, batch: Batch) -> Result<BatchResults> {
        let (reply, rx) = oneshot::channel();
        {
            let g = self
                .tx
                .lock()
                .map_err(|_| Error::Closed("commit queue lock poisoned".into()))?;
            let tx = g
                .as_ref()
                .ok_or_else(|| Error::Closed("the store was closed".into()))?;
            tx.send(Job { batch, reply })
                .map_err(|_| Error::Closed("the commit thread has stopped".into()))?;
        }
        rx.await
            .map_err(|_| Error::Closed("the commit thread stopped before answering".into()))?
    }

    /// Stop taking batches, finish the queued ones and wait for the thread.
    pub(crate) fn stop(&self) -> Result<()> {
        drop(
            self.tx
                .lock()
                .map_err(|_| Error::Closed("commit queue lock poisoned".into()))?
                .take(),
        );
        let handle = self
            .thread
            .lock()
            .map_err(|_| Error::Closed("commit thread lock poisoned".into()))?
            .take();
        if let Some(h) = handle {
            // A store dropped from its own commit thread cannot join itself.
            if h.thread().id() != std::thread::current().id() {
                h.join()
                    .map_err(|_| Error::Storage("the commit thread panicked".into()))?;
            }
        }
        Ok(())
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

struct Worker {
    backend: Arc<dyn Backend>,
    codecs: Arc<CodecStack>,
    opts: CommitOptions,
    rx: Receiver<Job>,
    metrics: Arc<CommitMetrics>,
}

impl Worker {
    fn run(self) {
        loop {
            let first = match self
                .spin_recv()
                .map_or_else(|| self.rx.recv_timeout(IDLE), Ok)
            {
                Ok(j) => j,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            // Gather a group: the first batch and whatever queued behind it.
            let mut batches = vec![first.batch];
            let mut replies = vec![first.reply];
            let mut bytes = batch_bytes(&batches[0]);
            while batches.len() < self.opts.max_group && bytes < self.opts.max_group_bytes {
                match self.rx.try_recv() {
                    Ok(j) => {
                        bytes += batch_bytes(&j.batch);
                        batches.push(j.batch);
                        replies.push(j.reply);
                    }
                    Err(_) => break,
                }
            }
            match self.commit_group(&batches) {
                Ok(results) => {
                    for (tx, r) in replies.into_iter().zip(results) {
                        let _ = tx.send(Ok(r));
                    }
                }
                Err(e) => {
                    for tx in replies {
                        let _ = tx.send(Err(e.clone()));
                    }
                }
            }
        }
    }

    fn commit_group(&self, batches: &[Batch]) -> Result<Vec<BatchResults>> {
        // What the codecs must store before a value may use it (a new compression
        // dictionary) goes with this group; the values of this group do not use it yet.
        let extra = self.codecs.records_to_write();
        let r = self.apply_and_write(batches, extra.as_slice());
        if !extra.is_empty() {
            self.codecs.records_written(r.is_ok());
        }
        r
    }

    fn apply_and_write(
        &self,
        batches: &[Batch],
        extra: &[(crate::kv::Table, Vec<u8>, Vec<u8>)],
    ) -> Result<Vec<BatchResults>> {
        let mut applied = {
            let view = self.backend.read()?;
            apply_group(&*view, batches, &self.codecs)?
        };
        for (t, k, v) in extra {
            applied.writes.insert((*t, k.clone()), Some(v.clone()));
        }
        if applied.writes.is_empty() {
            return Ok(applied.results);
        }
        self.backend.write(WriteGroup {
            writes: applied.writes,
            first_lsn: applied.first_lsn,
            last_lsn: applied.last_lsn,
            batches: batches.len(),
        })?;
        let m = &self.metrics;
        m.group_batches.observe(batches.len() as f64);
        m.groups.fetch_add(1, Ordering::Relaxed);
        m.batches.fetch_add(batches.len() as u64, Ordering::Relaxed);
        Ok(applied.results)
    }

    /// A batch that arrives within [`SPIN`] of the last group, taken without parking: a
    /// thread that sleeps in the kernel takes tens of microseconds to wake on a busy VM,
    /// which a caller writing one item after another (a bot's turn loop) pays on every
    /// write.
    fn spin_recv(&self) -> Option<Job> {
        let start = Instant::now();
        loop {
            match self.rx.try_recv() {
                Ok(j) => return Some(j),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => {}
            }
            if start.elapsed() >= SPIN {
                return None;
            }
            std::hint::spin_loop();
        }
    }
}

fn batch_bytes(b: &Batch) -> usize {
    b.mutations
        .iter()
        .map(|m| match m {
            Mutation::Put { value, .. } => value.data.len() + 64,
            Mutation::Append { entries, .. } => entries.iter().map(|e| e.data.len() + 32).sum(),
            _ => 64,
        })
        .sum()
}

/// How long the commit thread waits when idle before it looks again.
const IDLE: Duration = Duration::from_secs(1);

/// How long the commit thread polls for the next batch before it parks.
pub const SPIN: Duration = Duration::from_micros(50);
