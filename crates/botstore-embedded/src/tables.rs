//! The store's tables as redb tables, and a read view over a redb read transaction.

use botstore::codec::Table;
use botstore::kv::{KvRead, WriteSet};
use botstore::{Error, Result};
use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};
use std::cell::OnceCell;
use std::ops::Bound;

pub type Def = TableDefinition<'static, &'static [u8], &'static [u8]>;
type ReadTable = ReadOnlyTable<&'static [u8], &'static [u8]>;
type WriteTable<'t> = redb::Table<'t, &'static [u8], &'static [u8]>;
type Entry<'a> = std::result::Result<
    (
        redb::AccessGuard<'a, &'static [u8]>,
        redb::AccessGuard<'a, &'static [u8]>,
    ),
    redb::StorageError,
>;

pub fn def(t: Table) -> Def {
    TableDefinition::new(t.name())
}

/// The engine's own table, beside the store's tables and never seen through the seam
/// (not in read views, not in backups): the engine's bookkeeping.
pub const ENGINE_META: Def = TableDefinition::new("engine_meta");

/// [`ENGINE_META`] key: the journal generation that follows the last checkpoint (be64).
/// Stores written before the engine had its own table kept it in the store's `meta` table
/// under the same name; open moves it.
pub const META_JOURNAL_GENERATION: &[u8] = b"journal_generation";

/// The journal generation recorded by the last checkpoint (0 for a new store), from the
/// engine's table or, in a store written by an older build, from the store's `meta` table.
pub fn journal_generation(txn: &ReadTransaction) -> Result<u64> {
    for t in [ENGINE_META, def(Table::Meta)] {
        match txn.open_table(t) {
            Ok(tab) => {
                if let Some(g) = tab.get(META_JOURNAL_GENERATION).map_err(Error::storage)? {
                    return botstore::codec::be64(g.value());
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(table_error(e)),
        }
    }
    Ok(0)
}

/// Record the journal generation in the engine's table (and drop an older build's copy
/// from the store's `meta` table).
pub fn set_journal_generation(txn: &WriteTransaction, generation: u64) -> Result<()> {
    txn.open_table(ENGINE_META)
        .map_err(table_error)?
        .insert(META_JOURNAL_GENERATION, &generation.to_be_bytes()[..])
        .map_err(Error::storage)?;
    txn.open_table(def(Table::Meta))
        .map_err(table_error)?
        .remove(META_JOURNAL_GENERATION)
        .map_err(Error::storage)?;
    Ok(())
}

/// [`ENGINE_META`] key: present (value `crc32`) once every record of the store carries its
/// record check (`botstore::record_check`). Stores written before record checks lack it;
/// open seals their records once.
pub const META_RECORD_CHECKS: &[u8] = b"record_checks";

/// Seal every record of a store written before record checks (and mark the store), in the
/// open's write transaction; a store that is marked already is left as it is. A new store
/// has no records, so this only marks it.
///
/// The marker's absence alone is not trusted: damage to `store.redb` can hide it, and
/// sealing records that carry checks already would seal their checks into their bodies
/// (every read would then return 4 bytes more) and turn damaged records into records that
/// pass (found by the fault tests' flips written while redb checkpoints). So every record is
/// looked at first, and the store is sealed only when no record carries a valid check. If
/// any does, the store was sealed and only the marker was lost: it is written again, and
/// records that fail their check stay as they are, so reads of them fail with `Corrupt` and
/// `verify` lists them, as for any damage. (A record written before checks passes one by
/// chance with odds of 1 in 2^32; such a store's other records then read as damaged: loud,
/// never other bytes.)
pub fn seal_unchecked_records(txn: &WriteTransaction, origin: &str) -> Result<()> {
    let mut meta = txn.open_table(ENGINE_META).map_err(table_error)?;
    if meta
        .get(META_RECORD_CHECKS)
        .map_err(Error::storage)?
        .is_some()
    {
        return Ok(());
    }
    let (mut checked, mut unchecked) = (0u64, 0u64);
    for t in Table::ALL {
        let tab = txn.open_table(def(t)).map_err(table_error)?;
        for e in tab.iter().map_err(Error::storage)? {
            let (k, v) = e.map_err(Error::storage)?;
            if botstore::record_check::open(t, k.value(), v.value(), origin).is_ok() {
                checked += 1;
            } else {
                unchecked += 1;
            }
        }
    }
    if checked > 0 && unchecked > 0 {
        tracing::warn!(
            "{origin} is damaged: the marker saying its records carry checks was gone, and \
             {unchecked} of {} records fail their check; reads of them fail, and `botstore \
             verify` lists them",
            checked + unchecked
        );
    }
    if checked == 0 && unchecked > 0 {
        for t in Table::ALL {
            seal_table(txn, t)?;
        }
    }
    meta.insert(META_RECORD_CHECKS, &b"crc32"[..])
        .map_err(Error::storage)?;
    Ok(())
}

/// Seal every record of table `t` (see [`seal_unchecked_records`]).
fn seal_table(txn: &WriteTransaction, t: Table) -> Result<()> {
    let mut tab = txn.open_table(def(t)).map_err(table_error)?;
    // In chunks, so that a large store is not held in memory at once.
    let mut after: Option<Vec<u8>> = None;
    loop {
        let mut chunk = Vec::new();
        {
            let lo = match &after {
                Some(k) => Bound::Excluded(&k[..]),
                None => Bound::Unbounded,
            };
            let it = tab
                .range::<&[u8]>((lo, Bound::Unbounded))
                .map_err(Error::storage)?;
            for e in it.take(4096) {
                let (k, v) = e.map_err(Error::storage)?;
                chunk.push((k.value().to_vec(), v.value().to_vec()));
            }
        }
        let Some((last, _)) = chunk.last() else {
            return Ok(());
        };
        after = Some(last.clone());
        for (k, v) in &chunk {
            tab.insert(&k[..], &botstore::record_check::sealed(t, k, v)[..])
                .map_err(Error::storage)?;
        }
    }
}

/// [`ENGINE_META`] key: the store's id (be64, random, set by the first open of a build that
/// has ids). Every journal frame carries it, so a journal from another store is noticed.
pub const META_STORE_ID: &[u8] = b"store_id";

/// The store's id, `None` for a store last opened by a build without ids.
pub fn store_id(txn: &ReadTransaction) -> Result<Option<u64>> {
    match txn.open_table(ENGINE_META) {
        Ok(tab) => match tab.get(META_STORE_ID).map_err(Error::storage)? {
            Some(g) => Ok(Some(botstore::codec::be64(g.value())?)),
            None => Ok(None),
        },
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(table_error(e)),
    }
}

/// Record the store's id.
pub fn set_store_id(txn: &WriteTransaction, id: u64) -> Result<()> {
    txn.open_table(ENGINE_META)
        .map_err(table_error)?
        .insert(META_STORE_ID, &id.to_be_bytes()[..])
        .map_err(Error::storage)?;
    Ok(())
}

/// A new random store id (never 0). `RandomState` is seeded from the operating system's
/// randomness once per process and advanced per instance, so no random crate is needed.
pub fn new_store_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish().max(1)
}

/// The store's last LSN as redb holds it (the prefix of the `meta` record: 8 bytes,
/// big-endian), `None` when there is none. Used only to report LSN ranges.
pub fn last_lsn(txn: &ReadTransaction) -> Result<Option<u64>> {
    match txn.open_table(def(Table::Meta)) {
        Ok(tab) => Ok(tab
            .get(botstore::codec::META_LAST_LSN)
            .map_err(Error::storage)?
            .and_then(|g| Some(u64::from_be_bytes(g.value().get(..8)?.try_into().ok()?)))),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(table_error(e)),
    }
}

/// A failed `open_table`: a table whose stored definition is not the one this engine
/// always writes (its key or value type, multimap or not) is damage to `store.redb`, so
/// `Corrupt`; so is what [`storage_error`] calls damage. Anything else is `Storage`.
pub fn table_error(e: redb::TableError) -> Error {
    use redb::TableError as T;
    match e {
        T::TableTypeMismatch { .. }
        | T::TableIsMultimap(_)
        | T::TableIsNotMultimap(_)
        | T::TypeDefinitionChanged { .. } => Error::Corrupt(format!("store.redb is damaged: {e}")),
        T::Storage(e) => storage_error(e),
        e => Error::storage(e),
    }
}

/// One of redb's storage errors: damage redb reports as such, and the poisoned locks a
/// redb panic leaves, are `Corrupt`; anything else is `Storage`.
fn storage_error(e: redb::StorageError) -> Error {
    match e {
        redb::StorageError::Corrupted(m) => Error::Corrupt(format!("store.redb is damaged: {m}")),
        e @ redb::StorageError::LockPoisoned(_) => Error::Corrupt(poisoned(&e.to_string())),
        e => Error::storage(e),
    }
}

/// What a poisoned redb lock means (`detail`: redb's own message).
fn poisoned(detail: &str) -> String {
    format!(
        "store.redb is damaged (redb stopped on it earlier and refuses to go on until the \
         store is opened again: {detail})"
    )
}

/// Run `f`, which calls redb, turning a panic into `Error::Corrupt`: redb answers some
/// damage to its pages (a flipped bit in a branch or a length) with a panic rather than an
/// error, and a panic would kill the thread that met it (the commit thread, the flusher)
/// and poison the locks it held. After one, the operation failed loudly; nothing it read
/// is returned.
///
/// A panic in redb also poisons redb's own locks: from then on redb answers every call
/// with "Poisoned internal lock". That is the same damage, so it is `Corrupt` too.
pub fn guard<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Error::Corrupt(format!(
            "{what}: store.redb is damaged (redb stopped with: {msg})"
        )))
    });
    match r {
        Err(Error::Storage(m)) if m.starts_with("Poisoned internal lock") => {
            Err(Error::Corrupt(format!("{what}: {}", poisoned(&m))))
        }
        r => r,
    }
}

/// A read view: a redb read transaction with tables opened on first use.
pub struct RedbView {
    txn: ReadTransaction,
    // Boxed: an opened table is ~170 bytes, and most views open one or two of the ten.
    tables: [OnceCell<Option<Box<ReadTable>>>; Table::ALL.len()],
}

impl RedbView {
    pub fn new(txn: ReadTransaction) -> Self {
        RedbView {
            txn,
            tables: Default::default(),
        }
    }

    fn table(&self, t: Table) -> Result<Option<&ReadTable>> {
        let cell = &self.tables[t as usize - 1];
        if cell.get().is_none() {
            let opened = match self.txn.open_table(def(t)) {
                Ok(tab) => Some(Box::new(tab)),
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(table_error(e)),
            };
            let _ = cell.set(opened);
        }
        Ok(cell.get().and_then(Option::as_deref))
    }
}

impl KvRead for RedbView {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        guard("a read", || {
            let Some(t) = self.table(table)? else {
                return Ok(None);
            };
            Ok(t.get(key)
                .map_err(Error::storage)?
                .map(|g| g.value().to_vec()))
        })
    }

    fn scan(
        &self,
        table: Table,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        guard("a scan", || {
            self.scan_unguarded(table, range, reverse, visit)
        })
    }
}

impl RedbView {
    #[allow(clippy::type_complexity)]
    fn scan_unguarded(
        &self,
        table: Table,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let Some(t) = self.table(table)? else {
            return Ok(());
        };
        let it = t.range::<&[u8]>(range).map_err(Error::storage)?;
        botstore::kv::visit_in_order(it, reverse, |e: Entry| {
            let (k, v) = e.map_err(Error::storage)?;
            visit(k.value(), v.value())
        })
    }
}

/// Apply a write set inside a write transaction (writes arrive ordered by table).
pub fn apply_writes<'a>(
    txn: &WriteTransaction,
    writes: impl IntoIterator<Item = (Table, &'a [u8], Option<&'a [u8]>)>,
) -> Result<()> {
    let mut open: Option<(Table, WriteTable)> = None;
    for (t, k, v) in writes {
        if open.as_ref().map(|(ot, _)| *ot) != Some(t) {
            drop(open.take());
            open = Some((t, txn.open_table(def(t)).map_err(table_error)?));
        }
        let Some((_, tab)) = open.as_mut() else {
            continue;
        };
        match v {
            Some(v) => {
                tab.insert(k, v).map_err(Error::storage)?;
            }
            None => {
                tab.remove(k).map_err(Error::storage)?;
            }
        }
    }
    Ok(())
}

pub fn write_set_iter(w: &WriteSet) -> impl Iterator<Item = (Table, &[u8], Option<&[u8]>)> {
    w.iter().map(|((t, k), v)| (*t, k.as_slice(), v.as_deref()))
}

/// Whether an open with no journal frames to replay has nothing to write: every table
/// exists, and the engine's table holds the journal generation, the store id and the
/// record-check marker (and the store's `meta` table no older build's generation). Such
/// an open commits nothing, so a store opened only to be read is never written.
pub fn settled(txn: &ReadTransaction) -> Result<bool> {
    for t in Table::ALL {
        match txn.open_table(def(t)) {
            Ok(_) => {}
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(false),
            Err(e) => return Err(table_error(e)),
        }
    }
    let engine = match txn.open_table(ENGINE_META) {
        Ok(tab) => tab,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(false),
        Err(e) => return Err(table_error(e)),
    };
    for k in [META_JOURNAL_GENERATION, META_STORE_ID, META_RECORD_CHECKS] {
        if engine.get(k).map_err(Error::storage)?.is_none() {
            return Ok(false);
        }
    }
    let meta = txn.open_table(def(Table::Meta)).map_err(table_error)?;
    Ok(meta
        .get(META_JOURNAL_GENERATION)
        .map_err(Error::storage)?
        .is_none())
}

/// Create every table so read views never meet a missing one.
pub fn create_all(txn: &WriteTransaction) -> Result<()> {
    for t in Table::ALL {
        txn.open_table(def(t)).map_err(table_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableDatabase;

    /// A store written before the engine had its own table kept the generation in the
    /// store's `meta` table: it is read from there, and the next checkpoint moves it.
    #[test]
    fn journal_generation_moves_out_of_the_store_meta_table() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("s.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        create_all(&txn).unwrap();
        txn.open_table(def(Table::Meta))
            .unwrap()
            .insert(META_JOURNAL_GENERATION, &5u64.to_be_bytes()[..])
            .unwrap();
        txn.commit().unwrap();
        assert_eq!(journal_generation(&db.begin_read().unwrap()).unwrap(), 5);

        let txn = db.begin_write().unwrap();
        set_journal_generation(&txn, 6).unwrap();
        txn.commit().unwrap();
        let r = db.begin_read().unwrap();
        assert_eq!(journal_generation(&r).unwrap(), 6);
        let view = RedbView::new(r);
        assert_eq!(
            view.get(Table::Meta, META_JOURNAL_GENERATION).unwrap(),
            None
        );
    }

    fn store_with(records: &[(Table, &[u8], Vec<u8>)], marked: bool) -> redb::Database {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("s.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        create_all(&txn).unwrap();
        for (t, k, v) in records {
            txn.open_table(def(*t)).unwrap().insert(*k, &v[..]).unwrap();
        }
        if marked {
            txn.open_table(ENGINE_META)
                .unwrap()
                .insert(META_RECORD_CHECKS, &b"crc32"[..])
                .unwrap();
        }
        txn.commit().unwrap();
        db
    }

    fn seal_and_read(db: &redb::Database, t: Table, k: &[u8]) -> Vec<u8> {
        let txn = db.begin_write().unwrap();
        seal_unchecked_records(&txn, "test").unwrap();
        txn.commit().unwrap();
        let r = db.begin_read().unwrap();
        let marker = r.open_table(ENGINE_META).unwrap();
        assert!(marker.get(META_RECORD_CHECKS).unwrap().is_some());
        let tab = r.open_table(def(t)).unwrap();
        let v = tab.get(k).unwrap().unwrap().value().to_vec();
        v
    }

    /// A store written before record checks: every record is sealed once.
    #[test]
    fn records_of_a_store_without_checks_are_sealed() {
        let db = store_with(&[(Table::Items, b"k1", b"plain".to_vec())], false);
        let v = seal_and_read(&db, Table::Items, b"k1");
        assert_eq!(
            botstore::record_check::open(Table::Items, b"k1", &v, "test").unwrap(),
            b"plain"
        );
    }

    /// The marker lost (damage) in a sealed store: nothing is sealed twice, and a damaged
    /// record stays damaged instead of being sealed into a record that passes.
    #[test]
    fn a_lost_marker_seals_nothing_twice() {
        let good = botstore::record_check::sealed(Table::Items, b"k1", b"value");
        let mut bad = botstore::record_check::sealed(Table::Items, b"k2", b"other");
        bad[0] ^= 1;
        let db = store_with(
            &[
                (Table::Items, b"k1", good.clone()),
                (Table::Items, b"k2", bad.clone()),
            ],
            false,
        );
        assert_eq!(seal_and_read(&db, Table::Items, b"k1"), good);
        let v = seal_and_read(&db, Table::Items, b"k2");
        assert_eq!(v, bad);
        assert!(matches!(
            botstore::record_check::open(Table::Items, b"k2", &v, "test"),
            Err(Error::Corrupt(_))
        ));
    }
}
