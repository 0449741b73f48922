//! Checkpoints: the active memtable committed to redb with `Durability::Immediate`, which
//! also records the next journal generation, after which the journal starts again at
//! offset 0 (frames of older generations are never replayed). And compaction, which runs
//! right after one.

use crate::flusher::commit_memtable;
use crate::writer::WriterState;
use botstore::{Error, Result};
use std::sync::Arc;

impl WriterState {
    /// Wait for the flusher, commit the active memtable to redb with an `Immediate` commit
    /// that records the next journal generation, then start that generation.
    pub fn checkpoint(&mut self) -> Result<()> {
        self.usable()?;
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

    /// [`WriterState::checkpoint`], keeping the timers and the failure state up to date.
    pub fn checkpoint_now(&mut self) -> Result<()> {
        let r = self.checkpoint();
        match &r {
            Ok(()) => {
                self.timers.dirty = false;
                self.timers.unsynced_since = None;
            }
            Err(e) => self.fail(e),
        }
        self.timers.last_checkpoint = std::time::Instant::now();
        r
    }

    /// Checkpoint, then let redb reclaim free pages. True when it changed the file.
    pub fn compact(&mut self) -> Result<bool> {
        self.checkpoint_now()?;
        let mut db = self.shared.db_mut()?;
        db.compact()
            .map_err(|e| Error::Storage(format!("compaction failed: {e}")))
    }
}
