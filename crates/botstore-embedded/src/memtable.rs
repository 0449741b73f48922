//! The memtable: groups that are durable in the journal but not yet in redb.
//!
//! After a group's frame is flushed, its write set goes into persistent ordered maps
//! (`imbl`, values as `Bytes` so that copy-on-write copies only pointers); readers take an
//! O(1) snapshot of them and overlay it on a redb read transaction. redb then gets a few
//! large commits instead of one per group: redb is copy-on-write, so every commit re-copies
//! each page it touches, and random keys touch a different leaf per write.

use crate::tables::RedbView;
use botstore::codec::Table;
use botstore::kv::{KvRead, WriteSet};
use botstore::Result;
use bytes::Bytes;
use imbl::OrdMap;
use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;

type Map = OrdMap<Bytes, Option<Bytes>>;

/// One map per table: `Some(value)` is a put, `None` a delete (a tombstone over redb).
#[derive(Clone, Default)]
pub struct MemTables {
    tables: [Map; Table::ALL.len()],
    /// Approximate bytes held (keys and values).
    pub bytes: usize,
}

impl MemTables {
    pub fn is_empty(&self) -> bool {
        self.tables.iter().all(|m| m.is_empty())
    }

    pub fn insert(&mut self, writes: WriteSet) {
        for ((t, k), v) in writes {
            self.bytes += k.len() + v.as_ref().map_or(0, Vec::len) + 64;
            self.tables[t as usize - 1].insert(Bytes::from(k), v.map(Bytes::from));
        }
    }

    /// Every write, ordered by table and key.
    pub fn iter(&self) -> impl Iterator<Item = (Table, &[u8], Option<&[u8]>)> {
        Table::ALL.into_iter().flat_map(move |t| {
            self.tables[t as usize - 1]
                .iter()
                .map(move |(k, v)| (t, k.as_ref(), v.as_deref()))
        })
    }

    fn get(&self, t: Table, key: &[u8]) -> Option<&Option<Bytes>> {
        self.tables[t as usize - 1].get(key)
    }
}

/// A memtable snapshot over another view: its puts and deletes win over what is below.
pub struct Overlay<B> {
    pub mem: Arc<MemTables>,
    pub below: B,
}

/// A consistent read view: the active memtable over the one being flushed (if any) over a
/// redb read transaction. The memtable snapshots must be taken before the transaction is
/// opened (see `Shared::view`): a group can then be in two places, which is harmless (same
/// bytes), but never in none.
pub type EngineView = Overlay<Overlay<RedbView>>;

impl<B: KvRead> KvRead for Overlay<B> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.mem.get(table, key) {
            Some(v) => Ok(v.as_ref().map(|b| b.to_vec())),
            None => self.below.get(table, key),
        }
    }

    fn scan(
        &self,
        table: Table,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let m = &self.mem.tables[table as usize - 1];
        if m.is_empty() {
            return self.below.scan(table, range, reverse, visit);
        }
        let mem_it = m.range::<_, [u8]>(range);
        let mut mem: Box<dyn Iterator<Item = (&Bytes, &Option<Bytes>)>> = if reverse {
            Box::new(mem_it.rev())
        } else {
            Box::new(mem_it)
        };
        // Keys come ascending, or descending when reversed.
        let order = |a: &[u8], b: &[u8]| {
            let o = a.cmp(b);
            if reverse {
                o.reverse()
            } else {
                o
            }
        };
        let mut pending = mem.next();
        let mut done = false;
        self.below.scan(table, range, reverse, &mut |k, v| {
            // First the memtable's entries that come before this redb key.
            while let Some((mk, mv)) = pending {
                match order(mk, k) {
                    Ordering::Less => {
                        pending = mem.next();
                        if let Some(mv) = mv {
                            if !visit(mk, mv)? {
                                done = true;
                                return Ok(false);
                            }
                        }
                    }
                    Ordering::Equal => {
                        // The memtable's entry replaces redb's, or deletes it.
                        pending = mem.next();
                        let go = match mv {
                            Some(mv) => visit(mk, mv)?,
                            None => true,
                        };
                        done = !go;
                        return Ok(go);
                    }
                    Ordering::Greater => break,
                }
            }
            let go = visit(k, v)?;
            done = !go;
            Ok(go)
        })?;
        if !done {
            while let Some((mk, mv)) = pending {
                pending = mem.next();
                if let Some(mv) = mv {
                    if !visit(mk, mv)? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}
