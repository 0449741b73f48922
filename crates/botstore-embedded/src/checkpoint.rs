//! Checkpoints: the active memtable committed to redb with `Durability::Immediate`, which
//! also records the next journal generation, after which the journal starts again at
//! offset 0 (frames of older generations are never replayed). And compaction, which runs
//! right after one.

use crate::faults::{classify, Repair};
use crate::flusher::commit_memtable;
use crate::writer::WriterState;
use botstore::{Error, Result};
use std::sync::Arc;

impl WriterState {
    /// Wait for the flusher, commit the active memtable to redb with an `Immediate` commit
    /// that records the next journal generation, then start that generation. On a failure
    /// nothing changes for readers: the memtables stay published (the journal has them).
    pub fn checkpoint(&mut self) -> Result<()> {
        self.usable()?;
        if let Some(f) = self.flusher.as_mut() {
            f.wait().map_err(|e| classify("memtable flush failed", e))?;
        }
        // Nothing was written since the last checkpoint (no frame of this generation, so
        // nothing in memory either): there is nothing to make durable. A commit anyway
        // writes redb for nothing, and right after `compact` it grows the file it just
        // shrank (redb extends a full file by about its size).
        if self.journal.offset() == 0 && self.mem.is_empty() {
            return Ok(());
        }
        let next = self.journal.generation + 1;
        commit_memtable(&self.shared, &self.mem, Some(next))
            .map_err(|e| classify("checkpoint failed", e))?;
        // Only now may readers stop seeing the memtable: redb has it.
        self.mem = Arc::default();
        self.shared
            .update_memtables(|m| *m = crate::Memtables::default())?;
        self.journal.restart(next);
        self.journal_last_lsn = None;
        self.shared
            .metrics
            .checkpoints
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// [`WriterState::checkpoint`], keeping the timers and the blocked state up to date: a
    /// failure blocks writes until a retry ([`WriterState::retry`]) checkpoints. While
    /// writes are blocked for a checkpoint, this is that retry.
    pub fn checkpoint_now(&mut self) -> Result<()> {
        let r = match self.blocked.as_ref().map(|b| b.repair) {
            Some(Repair::Checkpoint) => self.retry(),
            _ => self.checkpoint(),
        };
        match &r {
            Ok(()) => {
                self.timers.dirty = false;
                self.timers.unsynced_since = None;
            }
            Err(Error::Closed(_)) => {}
            // A failed retry has updated the blocked state itself.
            Err(_) if self.blocked.as_ref().map(|b| b.repair) == Some(Repair::Checkpoint) => {}
            Err(e) => self.block(e, Repair::Checkpoint, true),
        }
        self.timers.last_checkpoint = std::time::Instant::now();
        r
    }

    /// Checkpoint, then let redb reclaim free pages. True when it changed the file.
    pub fn compact(&mut self) -> Result<bool> {
        self.checkpoint_now()?;
        let r = self.shared.db_mut()?.compact();
        r.map_err(|e| {
            let e = classify("compaction failed", Error::storage(e));
            // redb refuses further use after an I/O error: reopen it before the next write.
            if crate::faults::is_io(&e) {
                self.block(&e, Repair::Checkpoint, true);
            }
            e
        })
    }
}
