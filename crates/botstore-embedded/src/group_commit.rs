//! The single writer. It drains the queue of batches, applies them together on top of the
//! latest state ([`botstore::apply::apply_group`]), writes the group's write set to the
//! journal with one `fdatasync`, commits it to redb without an fsync, and then acknowledges
//! every batch in the group. Checkpoints (a redb `Immediate` commit) happen when the journal
//! is full, on a timer, on request and at shutdown.

use crate::journal::Journal;
use crate::memtable::MemTables;
use crate::tables::{self, META_JOURNAL_GENERATION};
use crate::{Durability, EmbeddedOptions, Shared};
use botstore::apply::{apply_group, Batch, BatchResults};
use botstore::codec::Table;
use botstore::{Error, Result};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

pub enum Request {
    Commit(Batch, oneshot::Sender<Result<BatchResults>>),
    Checkpoint(std::sync::mpsc::Sender<Result<()>>),
    Compact(std::sync::mpsc::Sender<Result<bool>>),
}

pub struct Writer {
    pub shared: Arc<Shared>,
    pub journal: Journal,
    pub opts: EmbeddedOptions,
    pub rx: Receiver<Request>,
    /// Set after a storage error: every later request fails with it.
    pub failed: Option<String>,
    /// The active memtable (also published in `shared` for readers).
    pub mem: Arc<MemTables>,
    /// The flusher thread, started on the first flush.
    pub flusher: Option<Flusher>,
}

/// The thread that commits full memtables to redb while the writer goes on.
pub struct Flusher {
    tx: std::sync::mpsc::Sender<Arc<MemTables>>,
    done: Receiver<Result<()>>,
    busy: bool,
    handle: std::thread::JoinHandle<()>,
}

impl Flusher {
    fn start(shared: Arc<Shared>) -> Result<Flusher> {
        let (tx, rx) = std::sync::mpsc::channel::<Arc<MemTables>>();
        let (done_tx, done) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("botstore-flusher".into())
            .spawn(move || {
                while let Ok(mem) = rx.recv() {
                    let r = commit_memtable(&shared, &mem, None);
                    // redb has it: readers may stop seeing the flushing memtable.
                    let r =
                        r.and_then(|_| shared.update_memtables(|m| m.flushing = Arc::default()));
                    if done_tx.send(r).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| Error::Storage(format!("cannot start the flusher thread: {e}")))?;
        Ok(Flusher {
            tx,
            done,
            busy: false,
            handle,
        })
    }

    /// Wait for the flush in progress, if any.
    fn wait(&mut self) -> Result<()> {
        if !self.busy {
            return Ok(());
        }
        self.busy = false;
        self.done
            .recv()
            .map_err(|_| Error::Closed("the flusher thread stopped".into()))?
    }

    /// Collect a finished flush without waiting.
    fn poll(&mut self) -> Result<()> {
        if self.busy {
            if let Ok(r) = self.done.try_recv() {
                self.busy = false;
                return r;
            }
        }
        Ok(())
    }
}

/// Commit a memtable's writes to redb: `Durability::None`, or with `checkpoint: Some(next)`
/// an `Immediate` commit that also records `next` as the journal generation.
fn commit_memtable(shared: &Shared, mem: &MemTables, checkpoint: Option<u64>) -> Result<()> {
    let db = shared.db()?;
    let mut txn = db.begin_write().map_err(Error::storage)?;
    match checkpoint {
        Some(_) => {
            txn.set_durability(redb::Durability::Immediate)
                .map_err(Error::storage)?;
            txn.set_quick_repair(true);
        }
        None => txn
            .set_durability(redb::Durability::None)
            .map_err(Error::storage)?,
    }
    tables::apply_writes(&txn, mem.iter())?;
    if let Some(next) = checkpoint {
        let mut meta = txn
            .open_table(tables::def(Table::Meta))
            .map_err(Error::storage)?;
        meta.insert(META_JOURNAL_GENERATION, &next.to_be_bytes()[..])
            .map_err(Error::storage)?;
    }
    txn.commit().map_err(Error::storage)?;
    shared
        .metrics
        .flushes
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

impl Writer {
    pub fn run(mut self) {
        let mut timers = Timers {
            last_checkpoint: Instant::now(),
            unsynced_since: None,
            dirty: false,
        };
        loop {
            let timeout = match (timers.unsynced_since, &self.opts.durability) {
                (Some(t), Durability::Relaxed { max_loss }) => max_loss.saturating_sub(t.elapsed()),
                _ if timers.dirty => self
                    .opts
                    .checkpoint_interval
                    .saturating_sub(timers.last_checkpoint.elapsed()),
                _ => IDLE,
            };
            let first = match self
                .spin_recv()
                .map_or_else(|| self.rx.recv_timeout(timeout), Ok)
            {
                Ok(r) => r,
                Err(RecvTimeoutError::Timeout) => {
                    self.run_timers(&mut timers);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            // Gather a group: the first request and whatever queued behind it.
            let mut batches = Vec::new();
            let mut replies = Vec::new();
            let mut control = Vec::new();
            let mut bytes = 0usize;
            let mut next = Some(first);
            while let Some(r) = next.take() {
                match r {
                    Request::Commit(b, tx) => {
                        bytes += batch_bytes(&b);
                        batches.push(b);
                        replies.push(tx);
                    }
                    other => control.push(other),
                }
                if batches.len() < self.opts.max_group
                    && bytes < self.opts.max_group_bytes
                    && control.is_empty()
                {
                    next = self.rx.try_recv().ok();
                }
            }
            if !batches.is_empty() {
                match self.commit_group(&batches) {
                    Ok((results, wrote)) => {
                        if wrote {
                            timers.dirty = true;
                            if let Durability::Relaxed { .. } = self.opts.durability {
                                timers.unsynced_since.get_or_insert_with(Instant::now);
                            }
                        }
                        for (tx, r) in replies.into_iter().zip(results) {
                            let _ = tx.send(Ok(r));
                        }
                    }
                    Err(e) => {
                        self.fail(&e);
                        for tx in replies {
                            let _ = tx.send(Err(e.clone()));
                        }
                    }
                }
                if self.journal.is_full() {
                    let _ = self.checkpoint_now(&mut timers); // a failure marks the writer failed
                }
                // Under continuous load the receive never times out: run the timers here too.
                self.run_timers(&mut timers);
            }
            for c in control {
                match c {
                    Request::Checkpoint(tx) => {
                        let r = self.checkpoint_now(&mut timers);
                        let _ = tx.send(r);
                    }
                    Request::Compact(tx) => {
                        let r = self
                            .checkpoint_now(&mut timers)
                            .and_then(|_| self.compact());
                        let _ = tx.send(r);
                    }
                    Request::Commit(..) => {}
                }
            }
        }
        // Every sender is gone: make everything durable and leave the journal empty.
        if self.failed.is_none() {
            let _ = self.checkpoint();
        }
        if let Some(f) = self.flusher.take() {
            drop(f.tx);
            let _ = f.handle.join();
        }
    }

    /// A request that arrives within [`SPIN`] of the last group, taken without parking:
    /// a writer that sleeps in the kernel takes tens of microseconds to wake on a busy
    /// VM, which a caller writing one item after another (a bot's turn loop) pays on
    /// every write.
    fn spin_recv(&self) -> Option<Request> {
        let start = Instant::now();
        loop {
            match self.rx.try_recv() {
                Ok(r) => return Some(r),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return None,
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
            }
            if start.elapsed() >= SPIN {
                return None;
            }
            std::hint::spin_loop();
        }
    }

    /// Flush the journal when the relaxed-durability bound is due; checkpoint when the
    /// checkpoint interval has passed since the last one and something was written.
    fn run_timers(&mut self, t: &mut Timers) {
        if let (Some(since), Durability::Relaxed { max_loss }) =
            (t.unsynced_since, &self.opts.durability)
        {
            if since.elapsed() >= *max_loss {
                if let Err(e) = self.journal.sync() {
                    self.fail(&e);
                }
                t.unsynced_since = None;
            }
        }
        if t.dirty && t.last_checkpoint.elapsed() >= self.opts.checkpoint_interval {
            let _ = self.checkpoint_now(t);
        }
    }

    fn checkpoint_now(&mut self, t: &mut Timers) -> Result<()> {
        let r = self.checkpoint();
        match &r {
            Ok(()) => {
                t.dirty = false;
                t.unsynced_since = None;
            }
            Err(e) => self.fail(e),
        }
        t.last_checkpoint = Instant::now();
        r
    }

    fn fail(&mut self, e: &Error) {
        if self.failed.is_none() {
            self.failed = Some(e.to_string());
        }
    }

    fn commit_group(&mut self, batches: &[Batch]) -> Result<(Vec<BatchResults>, bool)> {
        if let Some(why) = &self.failed {
            return Err(Error::Closed(format!(
                "the writer stopped after an error: {why}"
            )));
        }
        let applied = apply_group(&self.shared.view()?, batches)?;
        let (results, writes) = (applied.results, applied.writes);
        if writes.is_empty() {
            return Ok((results, false));
        }
        self.journal
            .append(applied.first_lsn, applied.last_lsn, &writes)?;
        if self.opts.durability == Durability::Immediate {
            let t = std::time::Instant::now();
            self.journal.sync()?;
            self.shared
                .metrics
                .fsync_seconds
                .observe(t.elapsed().as_secs_f64());
            self.shared
                .metrics
                .fsyncs
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        // Durable (or, relaxed, written): now visible to readers.
        Arc::make_mut(&mut self.mem).insert(writes);
        let active = Arc::clone(&self.mem);
        self.shared.update_memtables(|m| m.active = active)?;
        if let Some(f) = self.flusher.as_mut() {
            f.poll()?;
        }
        if self.mem.bytes >= self.opts.memtable_bytes {
            self.start_flush()?;
        }
        let m = &self.shared.metrics;
        m.group_batches.observe(batches.len() as f64);
        m.groups.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        m.batches
            .fetch_add(batches.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok((results, true))
    }

    /// Hand the active memtable to the flusher thread. If the previous flush is still
    /// running, keep filling the active memtable up to four times the threshold, then wait
    /// (back-pressure: memory stays bounded).
    fn start_flush(&mut self) -> Result<()> {
        if self.flusher.is_none() {
            self.flusher = Some(Flusher::start(Arc::clone(&self.shared))?);
        }
        let Some(f) = self.flusher.as_mut() else {
            return Ok(());
        };
        if f.busy {
            if self.mem.bytes < 4 * self.opts.memtable_bytes {
                return Ok(());
            }
            f.wait()?;
        }
        let full = std::mem::take(&mut self.mem);
        let (active, flushing) = (Arc::clone(&self.mem), Arc::clone(&full));
        self.shared.update_memtables(|m| {
            m.active = active;
            m.flushing = flushing;
        })?;
        f.tx.send(full)
            .map_err(|_| Error::Closed("the flusher thread stopped".into()))?;
        f.busy = true;
        Ok(())
    }

    /// Wait for the flusher, commit the active memtable to redb with an `Immediate` commit
    /// that records the next journal generation, then start that generation.
    pub fn checkpoint(&mut self) -> Result<()> {
        if let Some(why) = &self.failed {
            return Err(Error::Closed(format!(
                "the writer stopped after an error: {why}"
            )));
        }
        if let Some(f) = self.flusher.as_mut() {
            f.wait()?;
        }
        let next = self.journal.generation + 1;
        commit_memtable(&self.shared, &self.mem, Some(next))?;
        // Only now may readers stop seeing the memtable: redb has it.
        self.mem = Arc::default();
        self.shared
            .update_memtables(|m| *m = crate::Memtables::default())?;
        self.journal.restart(next);
        self.shared
            .metrics
            .checkpoints
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn compact(&mut self) -> Result<bool> {
        let mut db = self.shared.db_mut()?;
        db.compact()
            .map_err(|e| Error::Storage(format!("compaction failed: {e}")))
    }
}

fn batch_bytes(b: &Batch) -> usize {
    use botstore::Mutation;
    b.mutations
        .iter()
        .map(|m| match m {
            Mutation::Put { value, .. } => value.data.len() + 64,
            Mutation::Append { entries, .. } => entries.iter().map(|e| e.data.len() + 32).sum(),
            _ => 64,
        })
        .sum()
}

struct Timers {
    last_checkpoint: Instant,
    unsynced_since: Option<Instant>,
    dirty: bool,
}

/// How long the writer waits when idle before looking at its timers again.
pub const IDLE: Duration = Duration::from_secs(1);

/// How long the writer polls for the next request before it parks (see `spin_recv`).
pub const SPIN: Duration = Duration::from_micros(50);
