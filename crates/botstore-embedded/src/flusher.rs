//! The flusher thread: commits full memtables to redb (`Durability::None`) while the
//! writer goes on filling a new one, so redb's B-tree work overlaps the next groups.

use crate::memtable::MemTables;
use crate::tables;
use crate::Shared;
use botstore::{Error, Result};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The handle of the flusher thread.
pub struct Flusher {
    tx: Sender<Arc<MemTables>>,
    done: Receiver<Result<()>>,
    /// A flush was handed over and its result not collected yet.
    pub busy: bool,
    handle: JoinHandle<()>,
}

impl Flusher {
    /// Start the thread.
    pub fn start(shared: Arc<Shared>) -> Result<Flusher> {
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

    /// Hand a full memtable over (the caller has published it as the flushing one).
    pub fn send(&mut self, mem: Arc<MemTables>) -> Result<()> {
        self.tx
            .send(mem)
            .map_err(|_| Error::Closed("the flusher thread stopped".into()))?;
        self.busy = true;
        Ok(())
    }

    /// Wait for the flush in progress, if any.
    pub fn wait(&mut self) -> Result<()> {
        if !self.busy {
            return Ok(());
        }
        self.busy = false;
        self.done
            .recv()
            .map_err(|_| Error::Closed("the flusher thread stopped".into()))?
    }

    /// Collect a finished flush without waiting.
    pub fn poll(&mut self) -> Result<()> {
        if self.busy {
            if let Ok(r) = self.done.try_recv() {
                self.busy = false;
                return r;
            }
        }
        Ok(())
    }

    /// Stop the thread after the flush in progress.
    pub fn stop(self) {
        drop(self.tx);
        let _ = self.handle.join();
    }
}

/// Commit a memtable's writes to redb: `Durability::None`, or with `checkpoint: Some(next)`
/// an `Immediate` commit that also records `next` as the journal generation.
pub fn commit_memtable(shared: &Shared, mem: &MemTables, checkpoint: Option<u64>) -> Result<()> {
    tables::guard("a commit to redb", || {
        commit_memtable_unguarded(shared, mem, checkpoint)
    })
}

fn commit_memtable_unguarded(
    shared: &Shared,
    mem: &MemTables,
    checkpoint: Option<u64>,
) -> Result<()> {
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
        tables::set_journal_generation(&txn, next)?;
        // A store opened read-only on a full disk got its id only in memory.
        tables::set_store_id(&txn, shared.store_id)?;
    }
    txn.commit().map_err(Error::storage)?;
    shared
        .metrics
        .flushes
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}
