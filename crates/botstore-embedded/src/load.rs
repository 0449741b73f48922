//! Bulk loading of a new store from primary-table records (backup restore).
//!
//! The records go straight into redb in large transactions, bypassing the journal and the
//! semantics engine; the derived tables (expiry index, namespace counters) are kept up to
//! date while loading with [`botstore::restore::DerivedBuilder`] (or, after a range delete
//! of items or streams, rebuilt from a scan at the end). The database is built under a
//! temporary name (created the crash-safe way [`crate::EmbeddedBackend::open`] creates its
//! file) and renamed to `store.redb` only after a durable commit, so a crash mid-load never
//! leaves a half-loaded store that opens.

use crate::tables;
use botstore::codec::{self, Table};
use botstore::model::NamespaceStats;
use botstore::record_check::{self, sealed};
use botstore::restore::{self, DerivedBuilder};
use botstore::{Error, Result};
use redb::{Database, ReadableTable, ReadableTableMetadata, WriteTransaction};
use std::path::{Path, PathBuf};

type WriteTable<'t> = redb::Table<'t, &'static [u8], &'static [u8]>;

pub use botstore::load::{LoadOp, LoadReport};

/// Bytes written per redb transaction before it is committed (non-durably). Kept well
/// under the cache so a transaction's dirty pages stay in it: 16 MiB restored ~10% faster
/// than 64 MiB (whose dirty pages overflow the 64 MiB cache and are written and read back).
const TXN_BYTES: usize = 16 << 20;
/// redb's page cache while loading. The load writes keys in order and reads back little,
/// so a large cache buys no speed, but it is most of a restore's peak memory (a 2 GiB
/// store restored in 305 MiB with 256 MiB, 99 MiB with 64 MiB, at the same speed).
const CACHE_BYTES: usize = 64 << 20;
const TMP_NAME: &str = "store.redb.loading";

/// A store being loaded into a data folder that has no `store.redb` yet.
pub struct Loader {
    dir: PathBuf,
    /// Names the file in errors about damaged records.
    origin: String,
    tmp: PathBuf,
    db: Option<Database>,
    txn: Option<WriteTransaction>,
    pending: usize,
    /// The derived tables, kept up to date while loading (every item or stream record
    /// written is added, every one it replaces or deletes subtracted), so that `finish`
    /// need not read the whole file back. `None` after a range delete of items or streams
    /// (which names no records): `finish` then rebuilds them from a scan.
    derived: Option<Derived>,
}

#[derive(Default)]
struct Derived {
    /// Every record added, and every record replaced or deleted since.
    added: DerivedBuilder,
    removed: DerivedBuilder,
    items: u64,
    streams: u64,
    expiry_entries: u64,
}

impl Derived {
    fn add(&mut self, t: Table, k: &[u8], v: &[u8], expiry: &mut WriteTable) -> Result<()> {
        if t == Table::Streams {
            self.streams += 1;
            return self.added.stream(k, v);
        }
        self.items += 1;
        if let Some((ek, ev)) = self.added.item(k, v)? {
            expiry
                .insert(&ek[..], &sealed(Table::Expiry, &ek, &ev)[..])
                .map_err(Error::storage)?;
            self.expiry_entries += 1;
        }
        Ok(())
    }

    /// `old`, the record of `k` in `t`, was replaced or deleted.
    fn remove(&mut self, t: Table, k: &[u8], old: &[u8], expiry: &mut WriteTable) -> Result<()> {
        if t == Table::Streams {
            self.streams = self.streams.saturating_sub(1);
            return self.removed.stream(k, old);
        }
        self.items = self.items.saturating_sub(1);
        if let Some((ek, _)) = self.removed.item(k, old)? {
            expiry.remove(&ek[..]).map_err(Error::storage)?;
            self.expiry_entries = self.expiry_entries.saturating_sub(1);
        }
        Ok(())
    }

    /// The `namespaces` records: what was added minus what was removed.
    fn namespace_records(self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut removed = std::collections::HashMap::new();
        for (k, v) in self.removed.namespace_records() {
            removed.insert(
                k,
                (codec::decode_ns_stats(&v)?, codec::decode_ns_stored(&v)?),
            );
        }
        let mut out = Vec::new();
        for (k, v) in self.added.namespace_records() {
            let mut s = codec::decode_ns_stats(&v)?;
            let mut st = codec::decode_ns_stored(&v)?;
            if let Some((r, rt)) = removed.get(&k) {
                s.items = s.items.saturating_sub(r.items);
                s.item_bytes = s.item_bytes.saturating_sub(r.item_bytes);
                s.streams = s.streams.saturating_sub(r.streams);
                s.stream_entries = s.stream_entries.saturating_sub(r.stream_entries);
                s.stream_bytes = s.stream_bytes.saturating_sub(r.stream_bytes);
                st.items = st.items.saturating_sub(rt.items);
                st.entries = st.entries.saturating_sub(rt.entries);
            }
            if s != NamespaceStats::default() {
                out.push((k, codec::encode_ns_record(&s, &st)));
            }
        }
        Ok(out)
    }
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
            .set_cache_size(CACHE_BYTES)
            .open(&tmp)
            .map_err(|e| Error::Storage(format!("cannot open {}: {e}", tmp.display())))?;
        let txn = db.begin_write().map_err(Error::storage)?;
        tables::create_all(&txn)?;
        // Everything this load writes is sealed (botstore::record_check).
        let origin = format!("the store being loaded in {}", dir.display());
        tables::seal_unchecked_records(&txn, &origin)?;
        Ok(Loader {
            origin,
            dir,
            tmp,
            db: Some(db),
            txn: Some(txn),
            pending: 0,
            derived: Some(Derived::default()),
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
        let origin = self.origin.clone();
        let mut written = 0usize;
        let mut derived = self.derived.take();
        {
            let txn = self.txn()?;
            let mut open: Option<(Table, WriteTable)> = None;
            let mut expiry = match derived {
                Some(_) => Some(
                    txn.open_table(tables::def(Table::Expiry))
                        .map_err(tables::table_error)?,
                ),
                None => None,
            };
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
                    open = Some((
                        t,
                        txn.open_table(tables::def(t))
                            .map_err(tables::table_error)?,
                    ));
                }
                let Some((_, tab)) = open.as_mut() else {
                    continue;
                };
                // Keep the derived tables up to date on writes of items and streams.
                let track = match (&mut derived, &mut expiry) {
                    (Some(d), Some(e)) if matches!(t, Table::Items | Table::Streams) => {
                        Some((d, e))
                    }
                    _ => None,
                };
                match op {
                    LoadOp::Put(_, k, v) => {
                        written += k.len() + v.len();
                        let old = tab
                            .insert(k, &sealed(t, k, v)[..])
                            .map_err(Error::storage)?;
                        if let Some((d, e)) = track {
                            if let Some(old) = old.map(|o| o.value().to_vec()) {
                                d.remove(t, k, record_check::open(t, k, &old, &origin)?, e)?;
                            }
                            d.add(t, k, v, e)?;
                        }
                    }
                    LoadOp::Delete(_, k) => {
                        written += k.len();
                        let old = tab.remove(k).map_err(Error::storage)?;
                        if let Some((d, e)) = track {
                            if let Some(old) = old.map(|o| o.value().to_vec()) {
                                d.remove(t, k, record_check::open(t, k, &old, &origin)?, e)?;
                            }
                        }
                    }
                    LoadOp::DeleteRange(_, start, end) => {
                        written += start.len() + end.len();
                        tab.retain_in::<&[u8], _>(start..end, |_, _| false)
                            .map_err(Error::storage)?;
                        if track.is_some() {
                            derived = None;
                        }
                    }
                }
            }
        }
        self.derived = derived;
        self.pending += written;
        if self.pending >= TXN_BYTES {
            self.commit(redb::Durability::None)?;
        }
        Ok(())
    }

    /// The value of a key as loaded so far (sees this load's uncommitted writes). Point-in-
    /// time restore reads stream metas and entries through this while replaying changes.
    pub fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let origin = self.origin.clone();
        let txn = self.txn()?;
        let tab = txn
            .open_table(tables::def(table))
            .map_err(tables::table_error)?;
        let v = tab.get(key).map_err(Error::storage)?;
        v.map(|v| record_check::open(table, key, v.value(), &origin).map(<[u8]>::to_vec))
            .transpose()
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
        let origin = self.origin.clone();
        let mut report = LoadReport::default();
        let built = self.derived.take();
        {
            let txn = self.txn()?;
            let mut expiry = txn
                .open_table(tables::def(Table::Expiry))
                .map_err(tables::table_error)?;
            let records = match built {
                Some(d) => {
                    report.items = d.items;
                    report.streams = d.streams;
                    report.expiry_entries = d.expiry_entries;
                    d.namespace_records()?
                }
                None => {
                    // Entries written while the load was still all new are stale now.
                    expiry.retain(|_, _| false).map_err(Error::storage)?;
                    let mut derived = DerivedBuilder::new();
                    let items = txn
                        .open_table(tables::def(Table::Items))
                        .map_err(tables::table_error)?;
                    for e in items.iter().map_err(Error::storage)? {
                        let (k, v) = e.map_err(Error::storage)?;
                        report.items += 1;
                        let v = record_check::open(Table::Items, k.value(), v.value(), &origin)?;
                        if let Some((ek, ev)) = derived.item(k.value(), v)? {
                            expiry
                                .insert(&ek[..], &sealed(Table::Expiry, &ek, &ev)[..])
                                .map_err(Error::storage)?;
                            report.expiry_entries += 1;
                        }
                    }
                    let streams = txn
                        .open_table(tables::def(Table::Streams))
                        .map_err(tables::table_error)?;
                    for e in streams.iter().map_err(Error::storage)? {
                        let (k, v) = e.map_err(Error::storage)?;
                        report.streams += 1;
                        derived.stream(
                            k.value(),
                            record_check::open(Table::Streams, k.value(), v.value(), &origin)?,
                        )?;
                    }
                    derived.namespace_records().collect()
                }
            };
            drop(expiry);
            let mut ns = txn
                .open_table(tables::def(Table::Namespaces))
                .map_err(tables::table_error)?;
            for (k, v) in records {
                report.stream_entries += codec::decode_ns_stats(&v)?.stream_entries;
                ns.insert(&k[..], &sealed(Table::Namespaces, &k, &v)[..])
                    .map_err(Error::storage)?;
                report.namespaces += 1;
            }
            let leases = txn
                .open_table(tables::def(Table::Leases))
                .map_err(tables::table_error)?;
            report.leases = leases.len().map_err(Error::storage)?;
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

impl botstore::load::BulkLoader for Loader {
    fn apply(&mut self, ops: &[LoadOp<'_>]) -> Result<()> {
        Loader::apply(self, ops.iter().copied())
    }
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Loader::get(self, table, key)
    }
    fn finish(self: Box<Self>) -> Result<LoadReport> {
        Loader::finish(*self)
    }
}
