//! The engine's write path. The core's group commit ([`botstore::commit`]) hands each
//! group's finished write set to [`WriterState::write`], one group at a time: the write set
//! is framed into the journal with one `fdatasync` (`immediate`), inserted into the active
//! memtable and published to readers, then the call returns and the core acknowledges the
//! group. Full memtables go to the flusher thread ([`crate::flusher`]); checkpoints
//! ([`crate::checkpoint`]) happen when the journal is full, on a timer, on request and at
//! close. The upkeep thread ([`Upkeep`]) runs the timers while no writes arrive.

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
    /// Set after a storage error: every later write fails with it.
    pub failed: Option<String>,
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
            failed: None,
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

    /// Fails when the writer stopped after an error or was closed.
    pub fn usable(&self) -> Result<()> {
        if self.closed {
            return Err(Error::Closed("the store was closed".into()));
        }
        if let Some(why) = &self.failed {
            return Err(Error::Closed(format!(
                "the writer stopped after an error: {why}"
            )));
        }
        Ok(())
    }

    pub fn fail(&mut self, e: &Error) {
        if self.failed.is_none() {
            self.failed = Some(e.to_string());
        }
    }

    /// Journal, flush (immediate), publish; then the upkeep the group made due. Returns
    /// true when a relaxed-durability flush became pending (the upkeep thread must wake).
    pub fn write(&mut self, group: WriteGroup) -> Result<bool> {
        self.usable()?;
        let r = self.write_group(group);
        if let Err(e) = &r {
            self.fail(e);
        }
        r?;
        self.timers.dirty = true;
        let mut wake = false;
        if let Durability::Relaxed { .. } = self.opts.durability {
            if self.timers.unsynced_since.is_none() {
                self.timers.unsynced_since = Some(Instant::now());
                wake = true;
            }
        }
        if self.journal.is_full() {
            let _ = self.checkpoint_now(); // a failure marks the writer failed
        }
        // Under continuous load the upkeep thread may not get the lock in time.
        self.run_timers();
        Ok(wake)
    }

    fn write_group(&mut self, group: WriteGroup) -> Result<()> {
        self.journal
            .append(group.first_lsn, group.last_lsn, &group.writes)?;
        let m = &self.shared.metrics;
        if self.opts.durability == Durability::Immediate {
            let t = Instant::now();
            self.journal.sync()?;
            m.fsync_seconds.observe(t.elapsed().as_secs_f64());
            m.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        // Durable (or, relaxed, written): now visible to readers.
        let batches = group.batches;
        Arc::make_mut(&mut self.mem).insert(group.writes);
        let active = Arc::clone(&self.mem);
        self.shared.update_memtables(|m| m.active = active)?;
        if let Some(f) = self.flusher.as_mut() {
            f.poll()?;
        }
        if self.mem.bytes >= self.opts.memtable_bytes {
            self.start_flush()?;
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
    /// checkpoint interval has passed since the last one and something was written.
    pub fn run_timers(&mut self) {
        if self.usable().is_err() {
            return;
        }
        if let (Some(since), Durability::Relaxed { max_loss }) =
            (self.timers.unsynced_since, &self.opts.durability)
        {
            if since.elapsed() >= *max_loss {
                if let Err(e) = self.journal.sync() {
                    self.fail(&e);
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
        match (self.timers.unsynced_since, &self.opts.durability) {
            (Some(t), Durability::Relaxed { max_loss }) => max_loss.saturating_sub(t.elapsed()),
            _ if self.timers.dirty => self
                .opts
                .checkpoint_interval
                .saturating_sub(self.timers.last_checkpoint.elapsed()),
            _ => IDLE,
        }
    }

    /// Final checkpoint and stop the flusher; later writes fail.
    pub fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let r = if self.failed.is_none() {
            self.checkpoint()
        } else {
            Ok(())
        };
        self.closed = true;
        if let Some(f) = self.flusher.take() {
            f.stop();
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
        let wake = self.lock()?.write(group)?;
        if wake {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Close the write path and wake the upkeep thread so it ends. The thread is woken
    /// even when the lock is poisoned (a panic on the write path): it then ends at once,
    /// instead of sleeping out its timer while `close` waits for it.
    pub fn close(&self) -> Result<()> {
        let r = self.lock().and_then(|mut g| g.close());
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
            g.run_timers();
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
