//! Getting a blocked writer going again ([`WriterState::retry`]), called by the next write
//! and by the upkeep thread, at most every 500 ms.
//!
//! * After a failed journal append (`Repair::Append`): the journal must have room for a
//!   frame again and its file must flush; then the next frame goes where the failed one
//!   was.
//! * After a failed journal `fdatasync` or redb commit (`Repair::Checkpoint`): everything
//!   acknowledged since the last checkpoint is made durable by a checkpoint, which also
//!   starts a new journal generation, so nothing written to the old one after the failure
//!   can be replayed. If redb failed, its handle refuses further use (redb's `PreviousIo`),
//!   so it is reopened first; the reopened file is at its last durable commit, so the
//!   memtable is first rebuilt from the journal (every frame of the current generation up
//!   to the last acknowledged LSN) under what memory still holds, and published, so that
//!   readers never miss an acknowledged write.

use crate::faults::{classify, Repair};
use crate::journal;
use crate::memtable::MemTables;
use crate::writer::WriterState;
use botstore::kv::WriteSet;
use botstore::{Error, Result};
use std::sync::Arc;
use std::time::Instant;

impl WriterState {
    /// Try to clear the block. `Ok`: writes go on; `Err`: the error writes answer now.
    pub fn retry(&mut self) -> Result<()> {
        let Some(b) = self.blocked.as_mut() else {
            return Ok(());
        };
        b.tried = Some(Instant::now());
        let (repair, reopen) = (b.repair, b.reopen_db);
        let r = match repair {
            Repair::Append => self.probe_journal(),
            Repair::Checkpoint => self.recover(reopen),
        };
        match r {
            Ok(()) => {
                self.unblock();
                Ok(())
            }
            Err(e) => {
                if let Some(b) = self.blocked.as_mut() {
                    if matches!(b.error, Error::ReadOnly(_)) {
                        b.last_retry = Some(e.to_string());
                    } else {
                        b.error = e;
                    }
                    let b = b.clone();
                    self.shared.set_blocked(Some(&b));
                    return Err(b.write_error());
                }
                Err(e)
            }
        }
    }

    /// Room for another frame like the last one, and a file that flushes.
    fn probe_journal(&mut self) -> Result<()> {
        let need = self.journal.offset() + self.journal.last_frame_len().max(4096);
        self.journal.allocate(need)?;
        self.journal
            .file()
            .sync_data()
            .map_err(|e| crate::faults::io_error("journal fdatasync failed", &e))
    }

    /// Rebuild (if redb failed), reopen redb (if it failed), checkpoint.
    fn recover(&mut self, reopen: bool) -> Result<()> {
        self.journal.ensure_allocated()?;
        let flushed = match self.flusher.as_mut() {
            Some(f) => f.wait(),
            None => Ok(()),
        };
        let reopen = reopen || flushed.is_err();
        if reopen {
            if let Some(b) = self.blocked.as_mut() {
                b.reopen_db = true;
            }
        }
        // Everything since the last checkpoint, in one memtable readers see before redb
        // goes back to its last durable commit. Once per blocked spell: after it, memory
        // holds everything since the last checkpoint, and a reopen finds the same commit.
        let rebuild = reopen && !self.blocked.as_ref().is_some_and(|b| b.rebuilt);
        let published = self.shared.memtables()?;
        if rebuild || !published.flushing.is_empty() {
            let mut mem = if rebuild {
                self.replay_journal()?
            } else {
                MemTables::default()
            };
            overlay(&mut mem, &published.flushing);
            overlay(&mut mem, &self.mem);
            self.mem = Arc::new(mem);
            let active = Arc::clone(&self.mem);
            self.shared.update_memtables(|m| {
                m.active = active;
                m.flushing = Arc::default();
            })?;
            if let Some(b) = self.blocked.as_mut() {
                b.rebuilt |= rebuild;
            }
        }
        if reopen {
            // Not while the disk is still full: the checkpoint would fail again, and the
            // reopen fails the reads in flight.
            let dir = self
                .shared
                .db_path
                .parent()
                .unwrap_or(std::path::Path::new("."));
            crate::faults::room_for_a_checkpoint(dir)?;
            self.shared.reopen_db()?;
            if let Some(b) = self.blocked.as_mut() {
                b.reopen_db = false;
            }
        }
        let r = self.checkpoint();
        if let Err(e) = &r {
            if crate::faults::is_io(e) {
                if let Some(b) = self.blocked.as_mut() {
                    b.reopen_db = true;
                }
            }
        }
        r.map_err(|e| classify("retry", e))
    }

    /// The writes of the journal's current generation, up to the last acknowledged LSN.
    /// Fails when the journal does not reach that LSN (it lost frames), rather than
    /// rebuild less than was acknowledged.
    fn replay_journal(&self) -> Result<MemTables> {
        let (frames, _) = journal::read_frames(self.journal.file(), self.journal.generation)?;
        let mut mem = MemTables::default();
        let mut last = None;
        for f in frames {
            if self.journal_last_lsn.is_none_or(|l| f.last_lsn > l) {
                break;
            }
            last = Some(f.last_lsn);
            let mut ws = WriteSet::new();
            for (t, k, v) in f.writes {
                ws.insert((t, k), v);
            }
            mem.insert(ws);
        }
        if last != self.journal_last_lsn {
            return Err(Error::Storage(format!(
                "cannot rebuild the unflushed writes from the journal: it ends at LSN {} \
                 but LSN {} was acknowledged; the store stays blocked for writes, reads go on",
                last.map_or("(none)".into(), |l| l.to_string()),
                self.journal_last_lsn.unwrap_or(0)
            )));
        }
        Ok(mem)
    }
}

/// Put every write of `top` over `mem` (newer wins, deletes included).
fn overlay(mem: &mut MemTables, top: &MemTables) {
    if top.is_empty() {
        return;
    }
    let mut ws = WriteSet::new();
    for (t, k, v) in top.iter() {
        ws.insert((t, k.to_vec()), v.map(<[u8]>::to_vec));
    }
    mem.insert(ws);
}
