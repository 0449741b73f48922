//! The engine's write path. The core's group commit ([`botstore::commit`]) hands each
//! group's finished write set to [`WriterState::write`], one group at a time: the write set
//! is framed into the journal with one `fdatasync` (`immediate`), inserted into the active
//! memtable and published to readers, then the call returns and the core acknowledges the
//! group. Full memtables go to the flusher thread ([`crate::flusher`]); checkpoints
//! ([`crate::checkpoint`]) happen when the journal is full, on a timer, on request and at
//! close. The upkeep thread ([`Upkeep`]) runs the timers while no writes arrive.
//!
//! A storage error does not stop the writer for good: the groups in hand fail with a
//! typed error (`NoSpace` for a full disk, `Storage` for other I/O errors), the writer
//! remembers why it is blocked ([`crate::faults::Blocked`]), reads go on, and writes
//! resume once a retry succeeds ([`crate::recovery`]): the next write, or the upkeep
//! thread every 500 ms, so readiness comes back without traffic.

use crate::faults::{Blocked, Repair, RETRY};
use crate::flusher::Flusher;
use crate::journal::Journal;
use crate::memtable::MemTables;
use crate::{Durability, EmbeddedOptions, Shared};
use botstore::backend::WriteGroup;
use botstore::{Error, Result};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Everything the write path changes, behind one mutex ([`Writer`]).
pub struct WriterState {
    pub shared: Arc<Shared>,
    pub journal: Journal,
    pub opts: EmbeddedOptions,
    /// Set after a storage error (or at an open on a full disk) until a retry succeeds.
    pub blocked: Option<Blocked>,
    /// The last LSN acknowledged through the journal's current generation (`None`: none
    /// yet). A rebuild from the journal takes the frames up to it and no further.
    pub journal_last_lsn: Option<u64>,
    /// Set by close: every later write fails.
    pub closed: bool,
    /// The active memtable (also published in `shared` for readers).
    pub mem: Arc<MemTables>,
    /// The flusher thread, started on the first flush.
    pub flusher: Option<Flusher>,
    pub timers: Timers,
}

/// When the journal was last flushed and checkpointed.
pub struct Timers {
    pub last_checkpoint: Instant,
    /// The first write the journal has not flushed yet (relaxed durability).
    pub unsynced_since: Option<Instant>,
    /// Something was written since the last checkpoint.
    pub dirty: bool,
}

impl WriterState {
    pub fn new(shared: Arc<Shared>, journal: Journal, opts: EmbeddedOptions) -> Self {
        WriterState {
            shared,
            journal,
            opts,
            blocked: None,
            journal_last_lsn: None,
            closed: false,
            mem: Arc::default(),
            flusher: None,
            timers: Timers {
                last_checkpoint: Instant::now(),
                unsynced_since: None,
                dirty: false,
            },
        }
    }

    /// Fails when the store was closed.
    pub fn usable(&self) -> Result<()> {
        if self.closed {
            return Err(Error::Closed("the store was closed".into()));
        }
        Ok(())
    }

    /// Remember a storage error: writes are blocked until `repair` succeeds. A later error
    /// keeps the first one's time but takes the stronger repair and the newer cause.
    pub fn block(&mut self, e: &Error, repair: Repair, reopen_db: bool) {
        match &mut self.blocked {
            Some(b) => {
                if !matches!(b.error, Error::ReadOnly(_)) {
                    b.error = e.clone();
                }
                if repair == Repair::Checkpoint {
                    b.repair = Repair::Checkpoint;
                }
                b.reopen_db |= reopen_db;
            }
            None => {
                tracing::error!(error = %e, "writes blocked until a retry succeeds; reads go on");
                self.blocked = Some(Blocked::new(e.clone(), repair, reopen_db));
            }
        }
        self.shared.set_blocked(self.blocked.as_ref());
    }

    /// Writes are no longer blocked.
    pub fn unblock(&mut self) {
        if let Some(b) = self.blocked.take() {
            let secs = b.since.elapsed().map_or(0.0, |d| d.as_secs_f64());
            tracing::warn!("writes resumed after {secs:.1} s blocked ({})", b.error);
        }
        self.shared.set_blocked(None);
    }

    /// Journal, flush (immediate), publish; then the upkeep the group made due. Returns
    /// true when a relaxed-durability flush became pending (the upkeep thread must wake).
    ///
    /// While writes are blocked, a write first retries the repair (at most every 500 ms;
    /// in between it fails at once with the blocking error).
    pub fn write(&mut self, group: WriteGroup) -> Result<bool> {
        self.usable()?;
        if let Some(b) = &self.blocked {
            if b.repair == Repair::Checkpoint {
                if !b.due() {
                    return Err(b.write_error());
                }
                self.retry()?;
            }
        }
        let after_append_failure = self.repair_pending() == Some(Repair::Append);
        self.write_group(group)?;
        // This write cleared an append failure, unless its publish met a new failure
        // (a failed flush: then a checkpoint repair is pending).
        if after_append_failure && self.repair_pending() == Some(Repair::Append) {
            self.unblock();
        }
        self.timers.dirty = true;
        let mut wake = false;
        if let Durability::Relaxed { .. } = self.opts.durability {
            if self.timers.unsynced_since.is_none() {
                self.timers.unsynced_since = Some(Instant::now());
                wake = true;
            }
        }
        if self.journal.is_full() {
            let _ = self.checkpoint_now(); // a failure blocks later writes, not this one
        }
        // Under continuous load the upkeep thread may not get the lock in time.
        self.run_timers();
        Ok(wake)
    }

    /// Journal the group and publish it. An error before the publish fails the group (it
    /// is not in the journal and no reader saw it); after the publish the group is
    /// acknowledged whatever happens, and a failed flush only blocks later writes.
    fn write_group(&mut self, group: WriteGroup) -> Result<()> {
        if let Err(e) = self
            .journal
            .append(group.first_lsn, group.last_lsn, &group.writes)
        {
            self.block(&e, Repair::Append, false);
            return Err(e);
        }
        let m = &self.shared.metrics;
        if self.opts.durability == Durability::Immediate {
            let t = Instant::now();
            if let Err(e) = self.journal.sync() {
                // Not acknowledged: the frame must never be replayed.
                self.journal.retract(self.journal.last_frame_len());
                self.block(&e, Repair::Checkpoint, false);
                return Err(e);
            }
            m.fsync_seconds.observe(t.elapsed().as_secs_f64());
            m.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        self.journal_last_lsn = Some(group.last_lsn);
        // Durable (or, relaxed, written): now visible to readers.
        let batches = group.batches;
        Arc::make_mut(&mut self.mem).insert(group.writes);
        let active = Arc::clone(&self.mem);
        self.shared.update_memtables(|m| m.active = active)?;
        let flushed = match self.flusher.as_mut() {
            Some(f) => f.poll(),
            None => Ok(()),
        };
        let flushed = flushed.and_then(|()| {
            if self.mem.bytes >= self.opts.memtable_bytes {
                self.start_flush()
            } else {
                Ok(())
            }
        });
        if let Err(e) = flushed {
            let e = crate::faults::classify("memtable flush failed", e);
            self.block(&e, Repair::Checkpoint, true);
        }
        let m = &self.shared.metrics;
        m.group_batches.observe(batches as f64);
        m.groups.fetch_add(1, Ordering::Relaxed);
        m.batches.fetch_add(batches as u64, Ordering::Relaxed);
        Ok(())
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
        f.send(full)
    }

    /// Flush the journal when the relaxed-durability bound is due; checkpoint when the
    /// checkpoint interval has passed since the last one and something was written. While
    /// writes are blocked, retry the repair instead (when due).
    pub fn run_timers(&mut self) {
        if self.usable().is_err() {
            return;
        }
        if self.blocked.as_ref().is_some_and(Blocked::due) {
            let _ = self.retry();
        }
        // Blocked for a checkpoint, nothing else may touch the journal or redb. Blocked
        // after a failed append, acknowledged frames (relaxed) must still be flushed.
        if self.repair_pending() == Some(Repair::Checkpoint) {
            return;
        }
        if let (Some(since), Durability::Relaxed { max_loss }) =
            (self.timers.unsynced_since, &self.opts.durability)
        {
            if since.elapsed() >= *max_loss {
                if let Err(e) = self.journal.sync() {
                    // Acknowledged frames may not be on disk: only a checkpoint (the
                    // memtable has them all) makes them durable now.
                    self.block(&e, Repair::Checkpoint, false);
                    if let Some(b) = self.blocked.as_mut() {
                        b.journal_in_doubt = true;
                    }
                    return;
                }
                self.timers.unsynced_since = None;
            }
        }
        if self.timers.dirty
            && self.timers.last_checkpoint.elapsed() >= self.opts.checkpoint_interval
        {
            let _ = self.checkpoint_now();
        }
    }

    /// How long until the next timer is due.
    fn next_due(&self) -> Duration {
        let retry = self.blocked.as_ref().map(|b| {
            b.tried
                .map_or(Duration::ZERO, |t| RETRY.saturating_sub(t.elapsed()))
        });
        let timers = match (self.timers.unsynced_since, &self.opts.durability) {
            (Some(t), Durability::Relaxed { max_loss }) => max_loss.saturating_sub(t.elapsed()),
            _ if self.timers.dirty => self
                .opts
                .checkpoint_interval
                .saturating_sub(self.timers.last_checkpoint.elapsed()),
            _ => IDLE,
        };
        retry.map_or(timers, |r| r.min(timers))
    }

    /// What a blocked writer waits for, if it is blocked.
    pub fn repair_pending(&self) -> Option<Repair> {
        self.blocked.as_ref().map(|b| b.repair)
    }

    /// Final checkpoint and stop the flusher; later writes fail. When the checkpoint
    /// fails (a full disk), the journal is flushed instead: it holds every acknowledged
    /// write of its generation, and the next open replays them. The error says so.
    pub fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let r = match self.blocked.as_ref().map(|b| b.repair) {
            Some(Repair::Checkpoint) => self.retry(),
            _ => self.checkpoint_now(),
        };
        let r = r.map_err(|e| {
            let in_doubt = self.blocked.as_ref().is_some_and(|b| b.journal_in_doubt);
            let journal = if self.journal.sync().is_ok() && !in_doubt {
                "the journal keeps every acknowledged write for the next open"
            } else {
                "the journal could not be made durable either: writes acknowledged since the \
                 last checkpoint under relaxed durability may be lost"
            };
            let msg = format!("final checkpoint failed: {e}; {journal}");
            match e {
                Error::NoSpace(_) => Error::NoSpace(msg),
                _ => Error::Storage(msg),
            }
        });
        self.closed = true;
        if let Some(f) = self.flusher.take() {
            f.stop();
        }
        if r.is_ok() && self.journal.offset() == 0 {
            if let Err(e) = self.journal.truncate_after_checkpoint() {
                tracing::warn!("{e}; the journal keeps its size until the next checkpoint");
            }
        }
        r
    }
}

/// The write path's state and the condition the upkeep thread waits on.
pub struct Writer {
    state: Mutex<WriterState>,
    wake: Condvar,
}

impl Writer {
    pub fn new(state: WriterState) -> Arc<Writer> {
        Arc::new(Writer {
            state: Mutex::new(state),
            wake: Condvar::new(),
        })
    }

    pub fn lock(&self) -> Result<MutexGuard<'_, WriterState>> {
        self.state
            .lock()
            .map_err(|_| Error::Closed("the writer's lock is poisoned".into()))
    }

    /// Write one group (see [`WriterState::write`]).
    pub fn write(&self, group: WriteGroup) -> Result<()> {
        let mut g = self.lock()?;
        // A panic of redb's on a damaged page is an error here, and never poisons the lock.
        let r = crate::tables::guard("a write", || g.write(group));
        if let Err(e) = &r {
            g.shared.metrics.count_failure(e);
        }
        drop(g);
        if r.is_err() {
            // The upkeep thread may be asleep until a distant checkpoint: a blocked writer
            // needs it for the retries every 500 ms.
            self.wake.notify_one();
        }
        let wake = r?;
        if wake {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Run `f` on the writer (a checkpoint, a compaction; `what` names it if redb panics).
    /// A failure may block writes, so it wakes the upkeep thread for the retries, as a
    /// failed write does: the thread may be asleep until a distant checkpoint, and
    /// readiness must come back without traffic.
    pub fn run<T>(&self, what: &str, f: impl FnOnce(&mut WriterState) -> Result<T>) -> Result<T> {
        let mut g = self.lock()?;
        let r = crate::tables::guard(what, || f(&mut g));
        drop(g);
        if r.is_err() {
            self.wake.notify_one();
        }
        r
    }

    /// Close the write path and wake the upkeep thread so it ends. The thread is woken
    /// even when the lock is poisoned (a panic on the write path): it then ends at once,
    /// instead of sleeping out its timer while `close` waits for it.
    pub fn close(&self) -> Result<()> {
        let r = self
            .lock()
            .and_then(|mut g| crate::tables::guard("closing", || g.close()));
        self.wake.notify_all();
        r
    }
}

/// The thread that runs the timers (relaxed flushes, periodic checkpoints) while no writes
/// arrive to run them.
pub struct Upkeep {
    handle: Option<JoinHandle<()>>,
}

impl Upkeep {
    pub fn start(writer: Arc<Writer>) -> Result<Upkeep> {
        let handle = std::thread::Builder::new()
            .name("botstore-upkeep".into())
            .spawn(move || Self::run(&writer))
            .map_err(|e| Error::Storage(format!("cannot start the upkeep thread: {e}")))?;
        Ok(Upkeep {
            handle: Some(handle),
        })
    }

    fn run(writer: &Writer) {
        let Ok(mut g) = writer.lock() else { return };
        loop {
            if g.closed {
                return;
            }
            let due = g.next_due();
            g = match writer.wake.wait_timeout(g, due) {
                Ok((g, _)) => g,
                Err(_) => return,
            };
            let _ = crate::tables::guard("upkeep", || {
                g.run_timers();
                Ok(())
            });
        }
    }

    /// Wait for the thread (after [`Writer::close`]).
    pub fn join(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// How long the upkeep thread sleeps when nothing is due.
pub const IDLE: Duration = Duration::from_secs(1);
