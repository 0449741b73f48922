//! Bulk loading of a new store from primary-table records (backup restore).
//!
//! The records go straight into redb in large transactions, bypassing the journal and the
//! semantics engine; the derived tables (expiry index, namespace counters) are rebuilt at
//! the end with [`botstore::restore::DerivedBuilder`]. The database is built under a
//! temporary name (created the crash-safe way [`crate::EmbeddedBackend::open`] creates its
//! file) and renamed to `store.redb` only after a durable commit, so a crash mid-load never
//! leaves a half-loaded store that opens.

use crate::tables;
use botstore::codec::Table;
use botstore::restore::{self, DerivedBuilder};
use botstore::{Error, Result};
use redb::{Database, ReadableTable, WriteTransaction};
use std::path::{Path, PathBuf};

type WriteTable<'t> = redb::Table<'t, &'static [u8], &'static [u8]>;

/// One write of a load.
#[derive(Clone, Copy, Debug)]
pub enum LoadOp<'a> {
    Put(Table, &'a [u8], &'a [u8]),
    Delete(Table, &'a [u8]),
    /// Delete every key in `start .. end` (end excluded).
    DeleteRange(Table, &'a [u8], &'a [u8]),
}

/// What a finished load wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub items: u64,
    pub streams: u64,
    pub expiry_entries: u64,
    pub namespaces: u64,
    pub file_bytes: u64,
}

/// Bytes written per redb transaction before it is committed (non-durably).
const TXN_BYTES: usize = 64 << 20;
const TMP_NAME: &str = "store.redb.loading";

/// A store being loaded into a data folder that has no `store.redb` yet.
pub struct Loader {
    dir: PathBuf,
    tmp: PathBuf,
    db: Option<Database>,
    txn: Option<WriteTransaction>,
    pending: usize,
}

impl Loader {
    /// Start loading into `dir` (created if needed). With `replace`, an existing store in
    /// `dir` is replaced when [`Loader::finish`] succeeds; otherwise an existing
    /// `store.redb` is an error.
    pub fn create(dir: impl AsRef<Path>, replace: bool) -> Result<Loader> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::Storage(format!("cannot create data folder {}: {e}", dir.display()))
        })?;
        if !replace && dir.join("store.redb").exists() {
            return Err(Error::Storage(format!(
                "{} already holds a store",
                dir.display()
            )));
        }
        let tmp = dir.join(TMP_NAME);
        // Left by a load that was killed.
        let _ = std::fs::remove_file(&tmp);
        crate::create_database_file(&dir, &tmp)?;
        let db = Database::builder()
            .set_cache_size(256 << 20)
            .open(&tmp)
            .map_err(|e| Error::Storage(format!("cannot open {}: {e}", tmp.display())))?;
        let txn = db.begin_write().map_err(Error::storage)?;
        tables::create_all(&txn)?;
        Ok(Loader {
            dir,
            tmp,
            db: Some(db),
            txn: Some(txn),
            pending: 0,
        })
    }

    fn txn(&mut self) -> Result<&WriteTransaction> {
        if self.txn.is_none() {
            let db = self
                .db
                .as_ref()
                .ok_or_else(|| Error::Closed("loader finished".into()))?;
            self.txn = Some(db.begin_write().map_err(Error::storage)?);
        }
        self.txn
            .as_ref()
            .ok_or_else(|| Error::Closed("loader finished".into()))
    }

    /// Apply writes to primary tables, in order. Derived tables and the change feed are
    /// refused: they are rebuilt, never loaded.
    pub fn apply<'a>(&mut self, ops: impl IntoIterator<Item = LoadOp<'a>>) -> Result<()> {
        let mut written = 0usize;
        {
            let txn = self.txn()?;
            let mut open: Option<(Table, WriteTable)> = None;
            for op in ops {
                let t = match op {
                    LoadOp::Put(t, ..) | LoadOp::Delete(t, _) | LoadOp::DeleteRange(t, ..) => t,
                };
                if !restore::is_primary(t) {
                    return Err(Error::Corrupt(format!(
                        "a load may not write the derived table {}",
                        t.name()
                    )));
                }
                if open.as_ref().map(|(ot, _)| *ot) != Some(t) {
                    drop(open.take());
                    open = Some((t, txn.open_table(tables::def(t)).map_err(Error::storage)?));
                }
                let Some((_, tab)) = open.as_mut() else {
                    continue;
                };
                match op {
                    LoadOp::Put(_, k, v) => {
                        written += k.len() + v.len();
                        tab.insert(k, v).map_err(Error::storage)?;
                    }
                    LoadOp::Delete(_, k) => {
                        written += k.len();
                        tab.remove(k).map_err(Error::storage)?;
                    }
                    LoadOp::DeleteRange(_, start, end) => {
                        written += start.len() + end.len();
                        tab.retain_in::<&[u8], _>(start..end, |_, _| false)
                            .map_err(Error::storage)?;
                    }
                }
            }
        }
        self.pending += written;
        if self.pending >= TXN_BYTES {
            self.commit(redb::Durability::None)?;
        }
        Ok(())
    }

    /// The value of a key as loaded so far (sees this load's uncommitted writes). Point-in-
    /// time restore reads stream metas and entries through this while replaying changes.
    pub fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let txn = self.txn()?;
        let tab = txn.open_table(tables::def(table)).map_err(Error::storage)?;
        let v = tab.get(key).map_err(Error::storage)?;
        Ok(v.map(|v| v.value().to_vec()))
    }

    fn commit(&mut self, d: redb::Durability) -> Result<()> {
        if let Some(mut txn) = self.txn.take() {
            txn.set_durability(d).map_err(Error::storage)?;
            txn.commit().map_err(Error::storage)?;
        }
        self.pending = 0;
        Ok(())
    }

    /// Rebuild the derived tables, commit durably and move the file into place. The store
    /// then opens normally (`EmbeddedBackend::open`).
    pub fn finish(mut self) -> Result<LoadReport> {
        let mut report = LoadReport::default();
        {
            let txn = self.txn()?;
            let mut derived = DerivedBuilder::new();
            {
                let items = txn
                    .open_table(tables::def(Table::Items))
                    .map_err(Error::storage)?;
                let mut expiry = txn
                    .open_table(tables::def(Table::Expiry))
                    .map_err(Error::storage)?;
                for e in items.iter().map_err(Error::storage)? {
                    let (k, v) = e.map_err(Error::storage)?;
                    report.items += 1;
                    if let Some((ek, ev)) = derived.item(k.value(), v.value())? {
                        expiry.insert(&ek[..], &ev[..]).map_err(Error::storage)?;
                        report.expiry_entries += 1;
                    }
                }
                let streams = txn
                    .open_table(tables::def(Table::Streams))
                    .map_err(Error::storage)?;
                for e in streams.iter().map_err(Error::storage)? {
                    let (k, v) = e.map_err(Error::storage)?;
                    report.streams += 1;
                    derived.stream(k.value(), v.value())?;
                }
            }
            let mut ns = txn
                .open_table(tables::def(Table::Namespaces))
                .map_err(Error::storage)?;
            for (k, v) in derived.namespace_records() {
                ns.insert(&k[..], &v[..]).map_err(Error::storage)?;
                report.namespaces += 1;
            }
        }
        self.commit(redb::Durability::Immediate)?;
        drop(self.db.take());
        let io = |what: &str, e: std::io::Error| {
            Error::Storage(format!("{what} in {}: {e}", self.dir.display()))
        };
        // A journal of a store this load replaces must not be replayed onto it.
        match std::fs::remove_file(self.dir.join("wal.log")) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("cannot remove the old journal", e)),
        }
        let path = self.dir.join("store.redb");
        std::fs::rename(&self.tmp, &path).map_err(|e| io("cannot move the loaded store", e))?;
        std::fs::File::open(&self.dir)
            .and_then(|f| f.sync_all())
            .map_err(|e| io("cannot flush the data folder", e))?;
        report.file_bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
        Ok(report)
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        // Not finished: leave no half-loaded file behind.
        if self.db.is_some() {
            drop(self.txn.take());
            drop(self.db.take());
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
