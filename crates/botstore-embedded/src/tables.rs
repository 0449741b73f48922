//! The store's tables as redb tables, and a read view over a redb read transaction.

use botstore::codec::Table;
use botstore::kv::{KvRead, WriteSet};
use botstore::{Error, Result};
use redb::{ReadOnlyTable, ReadTransaction, TableDefinition, WriteTransaction};
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

/// Backend-private meta key: the journal generation that follows the last checkpoint.
pub const META_JOURNAL_GENERATION: &[u8] = b"journal_generation";

/// A read view: a redb read transaction with tables opened on first use.
pub struct RedbView {
    txn: ReadTransaction,
    // Boxed: an opened table is ~170 bytes, and most views open one or two of the nine.
    tables: [OnceCell<Option<Box<ReadTable>>>; 9],
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
                Err(e) => return Err(Error::storage(e)),
            };
            let _ = cell.set(opened);
        }
        Ok(cell.get().and_then(Option::as_deref))
    }
}

impl KvRead for RedbView {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(t) = self.table(table)? else {
            return Ok(None);
        };
        Ok(t.get(key)
            .map_err(Error::storage)?
            .map(|g| g.value().to_vec()))
    }

    fn scan(
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
        let mut step = |e: Entry| {
            let (k, v) = e.map_err(Error::storage)?;
            visit(k.value(), v.value())
        };
        if reverse {
            for e in it.rev() {
                if !step(e)? {
                    break;
                }
            }
        } else {
            for e in it {
                if !step(e)? {
                    break;
                }
            }
        }
        Ok(())
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
            open = Some((t, txn.open_table(def(t)).map_err(Error::storage)?));
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

/// Create every table so read views never meet a missing one.
pub fn create_all(txn: &WriteTransaction) -> Result<()> {
    for t in Table::ALL {
        txn.open_table(def(t)).map_err(Error::storage)?;
    }
    Ok(())
}
